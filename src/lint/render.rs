//! Findings for tools: JSON (strata's shape) and SARIF 2.1.0 (what GitHub
//! code scanning reads), and the one-line summary a build prints. The
//! located, caret-under-the-word form for people is rendered at the edge
//! (`cli`), like parse errors.
//!
//! See: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html and
//! https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning

use serde_json::{json, Value};

use super::{Finding, Level, LineIndex, Report, RULES};

/// `{"file": …, "error": …, "findings": [{rule, level, message, help, line, column, end_line, end_column, url}]}`.
pub fn json(file: &str, source: &str, report: &Report) -> String {
    let lines = LineIndex::new(source);
    let findings: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let end = lines.locate(f.span.end);
            json!({
                "rule": f.rule, "level": f.level, "message": f.message, "help": f.help,
                "line": f.line, "column": f.column, "end_line": end.line, "end_column": end.column, "url": f.url,
            })
        })
        .collect();
    pretty(&json!({ "file": file, "error": report.error, "findings": findings }))
}

/// One SARIF run: strata as the tool with every rule, one result per finding.
pub fn sarif(file: &str, source: &str, report: &Report) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.name, "name": r.name,
                "shortDescription": { "text": r.description },
                "helpUri": r.url,
                "defaultConfiguration": { "level": sarif_level(r.level, false) },
            })
        })
        .collect();
    let lines = LineIndex::new(source);
    let results: Vec<Value> = report.findings.iter().map(|f| sarif_result(file, &lines, f, report.error)).collect();
    let driver = json!({
        "name": "strata",
        "version": env!("CARGO_PKG_VERSION"), "rules": rules,
    });
    pretty(&json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{ "tool": { "driver": driver }, "results": results }],
    }))
}

fn sarif_result(file: &str, lines: &LineIndex<'_>, finding: &Finding, error: bool) -> Value {
    let end = lines.locate(finding.span.end);
    let rule_index = RULES.iter().position(|r| r.name == finding.rule).unwrap_or(0);
    json!({
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": sarif_level(finding.level, error),
        "message": { "text": format!("{} ({})", finding.message, finding.help) },
        "locations": [{
            "physicalLocation": {
                "artifactLocation": { "uri": file },
                "region": { "startLine": finding.line, "startColumn": finding.column, "endLine": end.line, "endColumn": end.column },
            }
        }],
    })
}

/// SARIF's level: `error` for warnings when they fail the build.
fn sarif_level(level: Level, error: bool) -> &'static str {
    match (error, level) {
        (_, Level::Note) => "note",
        (true, Level::Warning) => "error",
        (false, Level::Warning) => "warning",
    }
}

/// BuildKit's summary at the start of a build: a count, then
/// ` - Rule: message (line N)` per warning (notes are left to `strata lint`).
pub fn summary(report: &Report) -> String {
    let count = report.warnings().count();
    let kind = if report.error { "error" } else { "warning" };
    let mut out = format!("{count} {kind}{} found:\n", if count == 1 { "" } else { "s" });
    for f in report.warnings() {
        out.push_str(&format!(" - {}: {} (line {})\n", f.rule, f.message, f.line));
    }
    out
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}
