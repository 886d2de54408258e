//! Golden tests for `strata parse`: every directory under `testdata/parser/`
//! holds a `Dockerfile` and the `expected` output of the real binary, run as
//! `strata parse --dump Dockerfile` and `strata parse Dockerfile` inside it.
//!
//! `STRATA_BLESS=1 cargo test --test golden` rewrites every `expected` file
//! from the current output; review the resulting diff before keeping it.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

/// The invocations recorded in each `expected` file, in order.
const RUNS: &[&[&str]] = &[&["parse", "--dump", "Dockerfile"], &["parse", "Dockerfile"]];

fn main() {
    let args = Arguments::from_args();
    let trials = case_dirs().into_iter().map(trial).collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Every case directory, sorted by name.
fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/parser");
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn trial(dir: PathBuf) -> Trial {
    let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
    Trial::test(name, move || check(&dir))
}

/// Compares (or, when blessing, writes) one case's `expected` file.
fn check(dir: &Path) -> Result<(), Failed> {
    let actual = RUNS.iter().map(|args| run(dir, args)).collect::<Result<String, Failed>>()?;
    let path = dir.join("expected");
    if std::env::var_os("STRATA_BLESS").is_some_and(|v| v == "1") {
        return fs_err::write(&path, actual).map_err(|e| format!("{}: {e}", path.display()).into());
    }
    let expected = fs_err::read_to_string(&path).map_err(|e| format!("{}: {e} (run with STRATA_BLESS=1 to create it)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    Err(diff(&expected, &actual).into())
}

/// Runs the binary in `dir`; returns the section header, stdout and stderr.
fn run(dir: &Path, args: &[&str]) -> Result<String, Failed> {
    let output =
        Command::new(env!("CARGO_BIN_EXE_strata")).args(args).current_dir(dir).env("NO_COLOR", "1").output().map_err(|e| format!("cannot run strata: {e}"))?;
    let code = output.status.code().map_or_else(|| "signal".to_owned(), |c| c.to_string());
    let mut text = format!("== strata {} (exit {code}) ==\n", args.join(" "));
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(text)
}

/// A unified line diff from `expected` to `actual`.
fn diff(expected: &str, actual: &str) -> String {
    let diff = similar::TextDiff::from_lines(expected, actual);
    format!("output differs from `expected`:\n{}", diff.unified_diff().header("expected", "actual"))
}
