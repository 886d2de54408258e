//! BuildKit's parser data (positive dumps, negative files, line spans) and
//! the heredoc cases, through the library and through `strata parse --dump`.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Failed, Trial};
use serde_json::Value;
use strata::syntax::{dump, parse_ast};

fn shared(rel: &str) -> PathBuf {
    crate::data(rel)
}

fn case_dirs(rel: &str) -> Vec<(String, PathBuf)> {
    let mut dirs: Vec<_> = fs_err::read_dir(shared(rel))
        .unwrap_or_else(|e| panic!("conformance data missing at {rel}: {e}"))
        .map(|entry| entry.expect("readable dir entry").path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), p))
        .collect();
    dirs.sort();
    dirs
}

/// A line diff, for failure messages.
pub fn diff(expected: &str, got: &str) -> String {
    similar::TextDiff::from_lines(expected, got).unified_diff().header("expected", "got").to_string()
}

fn read_text(path: &Path) -> Result<String, Failed> {
    fs_err::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()).into())
}

pub fn trials() -> Vec<Trial> {
    let mut trials = Vec::new();
    for (name, dir) in case_dirs("buildkit/parser/testfiles") {
        let library = dir.clone();
        trials.push(Trial::test(format!("parser::positive::{name}"), move || positive(&library)));
        trials.push(Trial::test(format!("parser::cli-dump::{name}"), move || cli_dump(&dir)));
    }
    for (name, dir) in case_dirs("buildkit/parser/testfiles-negative") {
        trials.push(Trial::test(format!("parser::negative::{name}"), move || negative(&dir)));
    }
    trials.push(Trial::test("parser::line-spans", line_spans));
    for case in jsonl_block(&shared("heredoc-cases.md")) {
        let id = case["id"].as_u64().unwrap_or_default();
        let name = case["name"].as_str().unwrap_or_default().to_owned();
        trials.push(Trial::test(format!("heredoc::{id:02}-{name}"), move || heredoc_case(&case)));
    }
    trials
}

fn positive(dir: &Path) -> Result<(), Failed> {
    let source = String::from_utf8_lossy(&fs_err::read(dir.join("Dockerfile")).map_err(|e| e.to_string())?).into_owned();
    let expected = read_text(&dir.join("result"))?;
    let ast = parse_ast(&source).map_err(|e| format!("parse failed: {e}"))?;
    let got = dump(&ast);
    if got != expected {
        return Err(diff(&expected, &got).into());
    }
    Ok(())
}

fn cli_dump(dir: &Path) -> Result<(), Failed> {
    let output = Command::new(env!("CARGO_BIN_EXE_strata")).args(["parse", "--dump"]).arg(dir.join("Dockerfile")).output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("exit {}: {}", output.status, String::from_utf8_lossy(&output.stderr)).into());
    }
    let expected = fs_err::read(dir.join("result")).map_err(|e| e.to_string())?;
    if output.stdout != expected {
        let (e, g) = (String::from_utf8_lossy(&expected), String::from_utf8_lossy(&output.stdout));
        return Err(diff(&e, &g).into());
    }
    Ok(())
}

fn negative(dir: &Path) -> Result<(), Failed> {
    let source = String::from_utf8_lossy(&fs_err::read(dir.join("Dockerfile")).map_err(|e| e.to_string())?).into_owned();
    match parse_ast(&source) {
        Ok(ast) => Err(format!("parsed, but must fail:\n{}", dump(&ast)).into()),
        Err(_) => Ok(()),
    }
}

fn line_spans() -> Result<(), Failed> {
    let source = read_text(&shared("buildkit/parser/testfile-line/Dockerfile"))?;
    let ast = parse_ast(&source).map_err(|e| e.to_string())?;
    let got: Vec<_> = ast.nodes.iter().map(|n| (n.keyword.clone(), n.lines.start, n.lines.end)).collect();
    let expected = vec![("from".to_owned(), 5, 5), ("env".to_owned(), 11, 12), ("run".to_owned(), 17, 31)];
    if got != expected {
        return Err(format!("expected {expected:?}\n     got {got:?}").into());
    }
    Ok(())
}

/// The objects of the ```jsonl block of a markdown case file.
pub fn jsonl_block(path: &Path) -> Vec<Value> {
    let text = fs_err::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let block = text.split("```jsonl").nth(1).and_then(|rest| rest.split("```").next()).unwrap_or_default();
    block.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad case line {l}: {e}"))).collect()
}

fn heredoc_case(case: &Value) -> Result<(), Failed> {
    let source = case["dockerfile"].as_str().ok_or("case without dockerfile")?;
    let result = parse_ast(source);
    if case["error"].as_bool() == Some(true) {
        return match result {
            Ok(ast) => Err(format!("parsed, but must fail:\n{}", dump(&ast)).into()),
            Err(_) => Ok(()),
        };
    }
    let ast = result.map_err(|e| format!("parse failed: {e}"))?;
    let expected_dump = case["dump"].as_str().unwrap_or_default();
    let got_dump = dump(&ast);
    if got_dump != expected_dump {
        return Err(diff(expected_dump, &got_dump).into());
    }
    let got: Vec<Value> = ast
        .nodes
        .iter()
        .enumerate()
        .flat_map(|(i, node)| {
            node.heredocs.iter().map(move |h| {
                serde_json::json!({
                    "instruction": i + 1, "name": h.name, "fd": h.fd,
                    "expand": h.expand, "chomp": h.chomp, "content": h.content,
                })
            })
        })
        .collect();
    let expected = case["heredocs"].as_array().cloned().unwrap_or_default();
    if got != expected {
        return Err(format!("heredocs differ\nexpected {expected:#?}\n     got {got:#?}").into());
    }
    Ok(())
}
