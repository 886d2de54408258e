//! The command-line layer: clap types, one file per command family, and the
//! single place where errors are rendered and turned into exit codes.

mod parse;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  strata parse Dockerfile               show the typed instructions
  strata parse --dump Dockerfile        BuildKit's parser dump
  strata --root /tmp/store parse -      read the Dockerfile from stdin";

/// strata: build container images from Dockerfiles, without a daemon.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// The store directory (images, layers, cache). Default: /var/lib/strata
    /// as root, else $XDG_DATA_HOME/strata.
    #[arg(long, global = true, env = "STRATA_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse a Dockerfile and print its instructions, BuildKit's dump, or JSON.
    Parse(parse::ParseArgs),
}

/// Runs the CLI with the process arguments and returns the exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Parse(args) => parse::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{:?}", miette::Report::new(error));
            ExitCode::FAILURE
        }
    }
}

/// The store root: `--root`/`STRATA_ROOT`, else `/var/lib/strata` for root,
/// else `$XDG_DATA_HOME/strata` (or `~/.local/share/strata`).
pub fn store_root(flag: Option<PathBuf>) -> PathBuf {
    if let Some(root) = flag {
        return root;
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/strata");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("strata")
}

/// Errors the CLI reports itself (the library's errors render through miette).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write output")]
    Write(#[source] std::io::Error),
}
