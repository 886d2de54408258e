//! Conformance trials for `strata::context::IgnoreFile`: the cases of
//! `testdata/conformance/dockerignore-cases.md`, one trial each. The file's
//! lines are joined with `\n` and parsed, the path is matched with the
//! "path or a parent directory" rule; `error` accepts a failure from either
//! step.

use libtest_mimic::{Failed, Trial};
use serde_json::Value;
use strata::context::IgnoreFile;

use crate::parser::{diff, jsonl_block};

fn cases_file() -> std::path::PathBuf {
    crate::data("dockerignore-cases.md")
}

/// One trial per case.
pub fn trials() -> Vec<Trial> {
    jsonl_block(&cases_file())
        .into_iter()
        .map(|case| {
            let id = case["id"].as_u64().unwrap_or_default();
            let group = case["group"].as_str().unwrap_or("case").to_owned();
            Trial::test(format!("dockerignore::{id:02}-{group}"), move || check(&case))
        })
        .collect()
}

fn check(case: &Value) -> Result<(), Failed> {
    let lines: Vec<&str> = case["dockerignore"]
        .as_array()
        .ok_or("case without dockerignore lines")?
        .iter()
        .map(|l| l.as_str().ok_or("non-string dockerignore line"))
        .collect::<Result<_, _>>()?;
    let path = case["path"].as_str().ok_or("case without path")?;
    let expect = case["expect"].as_str().ok_or("case without expect")?;
    let got = match IgnoreFile::parse(&lines.join("\n")) {
        Err(e) => format!("error (at load: {e})"),
        Ok(file) => match file.matches(path) {
            Err(e) => format!("error (at match: {e})"),
            Ok(true) => "excluded".to_owned(),
            Ok(false) => "kept".to_owned(),
        },
    };
    let outcome = got.split(' ').next().unwrap_or_default();
    if outcome == expect {
        return Ok(());
    }
    let note = case["note"].as_str().unwrap_or_default();
    let describe = |result: &str| format!("dockerignore: {lines:?}\npath: {path:?}\nresult: {result}\n");
    Err(format!("{}note: {note}", diff(&describe(expect), &describe(&got))).into())
}
