//! `strata parse`: a Dockerfile to BuildKit's dump, the typed model in
//! readable form, or JSON.

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{render, CliError};
use crate::syntax;

const EXAMPLES: &str = "\
Examples:
  strata parse Dockerfile
  strata parse --dump Dockerfile
  strata parse --format json Dockerfile | jq '.stages[0].from'
  cat Dockerfile | strata parse -";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ParseArgs {
    /// The Dockerfile to parse (`-` reads standard input).
    #[arg(value_name = "FILE")]
    pub file: String,

    /// Print BuildKit's parser dump (the `result` format) instead of the typed model.
    #[arg(long)]
    pub dump: bool,

    /// Output format of the typed model.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: &ParseArgs) -> Result<ExitCode, CliError> {
    let (name, source) = read_source(&args.file)?;
    let output = if args.dump {
        syntax::parse_ast(&source).map(|ast| syntax::dump(&ast))
    } else {
        syntax::parse(&source).map(|file| match args.format {
            Format::Text => crate::syntax::print::dockerfile_text(&file),
            Format::Json => render::json(&file),
        })
    };
    match output {
        Ok(text) => {
            std::io::stdout().lock().write_all(text.as_bytes()).map_err(CliError::Write)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("{}", render::parse_error(&name, &source, error));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Reads the Dockerfile; bytes that are not UTF-8 become U+FFFD.
fn read_source(file: &str) -> Result<(String, String), CliError> {
    let mut bytes = Vec::new();
    let read = if file == "-" { std::io::stdin().read_to_end(&mut bytes).map(drop) } else { fs_err::read(file).map(|b| bytes = b) };
    read.map_err(|source| CliError::Read { path: file.into(), source })?;
    let name = if file == "-" { "<stdin>".to_owned() } else { file.to_owned() };
    Ok((name, String::from_utf8_lossy(&bytes).into_owned()))
}
