//! The conformance harness: every case of `testdata/conformance/` (BuildKit's
//! parser and shell-expansion data, heredoc, modifier and `.dockerignore`
//! cases), one trial each. `STRATA_CONFORMANCE=DIR` reads the data from
//! another copy.

mod dockerignore;
mod parser;
mod words;

use std::path::PathBuf;

/// Where the conformance data lives: `$STRATA_CONFORMANCE`, else the copy in
/// the repository.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("STRATA_CONFORMANCE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/conformance"),
    }
}

/// A file or directory of the conformance data, by its relative path.
pub fn data(rel: &str) -> PathBuf {
    data_dir().join(rel)
}

fn main() {
    let dir = data_dir();
    // Missing data must fail the run loudly, never pass as zero trials.
    if !dir.join("buildkit/LICENSE").is_file() {
        eprintln!(
            "conformance data missing: {} has no buildkit/LICENSE; restore testdata/conformance/ from git or point STRATA_CONFORMANCE at a copy",
            dir.display()
        );
        std::process::exit(1);
    }
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = parser::trials();
    trials.extend(words::trials());
    trials.extend(dockerignore::trials());
    libtest_mimic::run(&args, trials).exit();
}
