//! `strata lint`: the build checks of a Dockerfile, located for people, or
//! as JSON or SARIF for CI.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{render, CliError};
use crate::build::{CheckSink, Checked};
use crate::lint::{self, History, LintError, LintOptions, Report};
use crate::store::Store;

const EXAMPLES: &str = "\
Examples:
  strata lint                                   ./Dockerfile
  strata lint -f docker/app.Dockerfile docker/
  strata lint --format sarif . > strata.sarif   for GitHub code scanning
  strata lint --build-arg BUILDKIT_DOCKERFILE_CHECK='skip=UnpinnedBaseImage;error=true' .
  cat Dockerfile | strata lint -f -

Exit status: 0 (also with warnings), 1 when `error=true` is set and a rule fired, or the Dockerfile does not parse.";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct LintArgs {
    /// The build context (the Dockerfile defaults to CONTEXT/Dockerfile).
    #[arg(value_name = "CONTEXT", default_value = ".")]
    pub context: PathBuf,
    /// The Dockerfile (`-` reads standard input).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output: located text, JSON, or SARIF 2.1.0.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// A build arg (`KEY=VALUE`); `BUILDKIT_DOCKERFILE_CHECK=skip=…;error=true` replaces the `# check=` directive.
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

/// `root`: the store, read (never created) for the build history checks.
pub fn run(root: &Path, args: &LintArgs) -> Result<ExitCode, CliError> {
    let path = args.file.clone().unwrap_or_else(|| args.context.join("Dockerfile"));
    let (name, source) = read(&path)?;
    // Only an existing store is read: linting never creates one.
    let history = if root.is_dir() && path.as_os_str() != "-" { crate::build::check_history(&Store::open(root)?, &path)? } else { History::default() };
    let ignore = crate::context::IgnoreFile::load(&args.context, &path).ok();
    let options = LintOptions { build_args: super::build::build_args(&args.build_args), history, ignore, ..LintOptions::default() };
    let report = match lint::lint(&source, &options) {
        Ok(report) => report,
        Err(error) => return Ok(failure(&name, &source, error)),
    };
    let output = match args.format {
        Format::Text => text(&name, &source, &report),
        Format::Json => lint::json(&name, &source, &report),
        Format::Sarif => lint::sarif(&name, &source, &report),
    };
    std::io::stdout().lock().write_all(output.as_bytes()).map_err(CliError::Write)?;
    Ok(if report.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Every finding located, then a count.
pub fn text(name: &str, source: &str, report: &Report) -> String {
    let mut out = render::lint_findings(name, source, report);
    let warnings = report.warnings().count();
    let notes = report.findings.len() - warnings;
    let noun = if report.error { "error" } else { "warning" };
    let notes = if notes == 0 { String::new() } else { format!(" and {notes} note{}", if notes == 1 { "" } else { "s" }) };
    out.push_str(&format!("{warnings} {noun}{}{notes} found in {name}\n", if warnings == 1 { "" } else { "s" }));
    out
}

/// Prints why the file could not be checked; exit 1.
pub fn failure(name: &str, source: &str, error: LintError) -> ExitCode {
    match error {
        LintError::Parse(error) => eprintln!("{}", render::parse_error(name, source, error)),
        LintError::Config(error) => eprintln!("error: {error}"),
    }
    ExitCode::FAILURE
}

/// Reads the Dockerfile; bytes that are not UTF-8 become U+FFFD.
fn read(path: &Path) -> Result<(String, String), CliError> {
    let mut bytes = Vec::new();
    let stdin = path.as_os_str() == "-";
    let result = if stdin { std::io::stdin().read_to_end(&mut bytes).map(drop) } else { fs_err::read(path).map(|b| bytes = b) };
    result.map_err(|source| CliError::Read { path: path.display().to_string(), source })?;
    let name = if stdin { "<stdin>".to_owned() } else { path.strip_prefix(".").unwrap_or(path).display().to_string() };
    Ok((name, String::from_utf8_lossy(&bytes).into_owned()))
}

/// `build --check`: the located findings on stderr, and the exit code
/// (1 when `error=true` is set and a rule fired).
pub fn print_checked(checked: &Checked) -> ExitCode {
    eprint!("{}", text(&checked.name, &checked.text, &checked.report));
    if checked.report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// At the start of every build: BuildKit's summary of the warnings on
/// stderr (with `-q` only when they fail the build).
pub struct BuildWarnings {
    /// `-q`: keep quiet unless the warnings fail the build.
    pub quiet: bool,
}

impl CheckSink for BuildWarnings {
    fn checked(&self, checked: &Checked) {
        let report = &checked.report;
        if report.warnings().next().is_some() && (!self.quiet || report.failed()) {
            eprint!("{}", lint::summary(report));
        }
    }
}
