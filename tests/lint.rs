//! Golden tests for `strata lint`: every directory under `testdata/lint/`
//! that holds a `Dockerfile` is a case, run with the real binary; its
//! `expected` file records the output. Each rule has `<Rule>/fires` (the
//! rule reports) and `<Rule>/quiet` (nothing reports). A case's `args` file
//! lists other invocations, one per line (default: `lint .` and
//! `lint --format json .`).
//!
//! Also: every Dockerfile under `testdata/` (the conformance data included),
//! whole and cut short, is linted without a crash.
//!
//! `STRATA_BLESS=1 cargo test --test lint` rewrites the `expected` files.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

const DEFAULT_RUNS: &str = "lint .\nlint --format json .\n";

fn main() {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = case_dirs().into_iter().map(trial).collect();
    trials.push(Trial::test("every_rule_has_a_firing_and_a_quiet_case", every_rule_has_cases));
    trials.push(Trial::test("every_dockerfile_in_testdata_lints_without_a_crash", lint_everything));
    libtest_mimic::run(&args, trials).exit();
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lint")
}

/// Every directory holding a Dockerfile, sorted.
fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = dockerfiles(&root()).into_iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
    dirs.sort();
    dirs
}

fn trial(dir: PathBuf) -> Trial {
    let name = dir.strip_prefix(root()).unwrap_or(&dir).display().to_string();
    Trial::test(name, move || check(&dir))
}

fn check(dir: &Path) -> Result<(), Failed> {
    let runs = fs_err::read_to_string(dir.join("args")).unwrap_or_else(|_| DEFAULT_RUNS.to_owned());
    let actual = runs.lines().filter(|l| !l.trim().is_empty()).map(|line| run(dir, line)).collect::<Result<String, Failed>>()?;
    let path = dir.join("expected");
    if std::env::var_os("STRATA_BLESS").is_some_and(|v| v == "1") {
        return fs_err::write(&path, actual).map_err(|e| format!("{}: {e}", path.display()).into());
    }
    let expected = fs_err::read_to_string(&path).map_err(|e| format!("{}: {e} (run with STRATA_BLESS=1 to create it)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    Err(similar::TextDiff::from_lines(&expected, &actual).unified_diff().header("expected", "actual").to_string().into())
}

/// Runs `strata <line>` (split at spaces) in `dir`: a header, stdout, stderr.
fn run(dir: &Path, line: &str) -> Result<String, Failed> {
    let args: Vec<&str> = line.split(' ').collect();
    let output = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(&args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("STRATA_ROOT", "/nonexistent/strata-lint-test-root")
        .output()
        .map_err(|e| format!("cannot run strata: {e}"))?;
    let code = output.status.code().map_or_else(|| "signal".to_owned(), |c| c.to_string());
    let version = env!("CARGO_PKG_VERSION");
    let stdout = String::from_utf8_lossy(&output.stdout).replace(&format!("\"version\": \"{version}\""), "\"version\": \"[version]\"");
    Ok(format!("== strata {line} (exit {code}) ==\n{stdout}{}", String::from_utf8_lossy(&output.stderr)))
}

fn every_rule_has_cases() -> Result<(), Failed> {
    let mut missing = Vec::new();
    // The build-history rules are tested with real builds (tests/lint_history.rs).
    let data_driven = ["WastedLayerBytes", "CacheBustingOrder"];
    for rule in strata::lint::RULES.iter().filter(|r| !data_driven.contains(&r.name)) {
        for (kind, wanted) in [("fires", true), ("quiet", false)] {
            let expected = fs_err::read_to_string(root().join(rule.name).join(kind).join("expected")).unwrap_or_default();
            let mentions = expected.contains(&format!("\"rule\": \"{}\"", rule.name));
            let silent = expected.contains("\"findings\": []");
            if mentions != wanted || silent == wanted {
                missing.push(format!("{}/{kind}", rule.name));
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("cases missing or not showing what they should: {}", missing.join(", ")).into())
    }
}

/// Files named `Dockerfile*` or `*.Dockerfile` below `dir`.
fn dockerfiles(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs_err::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if path.is_dir() {
            found.extend(dockerfiles(&path));
        } else if name.starts_with("dockerfile") || name.ends_with(".dockerfile") {
            found.push(path);
        }
    }
    found
}

fn lint_everything() -> Result<(), Failed> {
    let all = dockerfiles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"));
    if all.len() < 200 {
        return Err(format!("only {} Dockerfiles found under testdata/", all.len()).into());
    }
    let everything =
        strata::lint::LintOptions { build_args: [(strata::lint::CHECK_BUILD_ARG.to_owned(), "experimental=all".to_owned())].into(), ..Default::default() };
    for path in all {
        let source = String::from_utf8_lossy(&fs_err::read(&path).map_err(|e| format!("{}: {e}", path.display()))?).into_owned();
        // The file, and the file cut short at a few places (hostile input:
        // unterminated continuations, heredocs and quotes).
        let cuts = (1..8).map(|i| source.len() * i / 8).filter(|&at| source.is_char_boundary(at));
        for text in std::iter::once(source.as_str()).chain(cuts.map(|at| &source[..at])) {
            let result = std::panic::catch_unwind(|| strata::lint::lint(text, &everything).map(|report| strata::lint::sarif("Dockerfile", text, &report)));
            if result.is_err() {
                return Err(format!("strata lint panicked on {} (first {} bytes)", path.display(), text.len()).into());
            }
        }
    }
    Ok(())
}
