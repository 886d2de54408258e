//! Rendering for humans and tools: located Dockerfile errors (miette), the
//! typed model as text, and JSON.

use std::fmt::Write;

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};
use serde::Serialize;

use crate::syntax::{Dockerfile, Instruction, LineCol, Located, ParseError};

/// A located error: `file:line:col: message`, then the source line with a
/// caret under the spot (miette's graphical report; colour only on a TTY).
pub fn parse_error(name: &str, source: &str, error: ParseError) -> String {
    let at = LineCol::locate(source, error.span.start);
    let headline = format!("{name}:{}:{}: {error}", at.line, at.column);
    let report = miette::Report::new(error).with_source_code(NamedSource::new(name, source.to_owned()));
    let theme = if std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut rendered = String::new();
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    if handler.render_report(&mut rendered, report.as_ref()).is_err() {
        return headline;
    }
    format!("error: {headline}\n{rendered}")
}

/// Pretty JSON with stable field names (the serde names of the typed model).
pub fn json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// One line per instruction: its line number, keyword and set fields.
pub fn dockerfile_text(file: &Dockerfile) -> String {
    let mut out = String::new();
    for directive in [("syntax", file.directives.syntax.clone())] {
        if let (name, Some(value)) = directive {
            let _ = writeln!(out, "# {name}={value}");
        }
    }
    for arg in &file.global_args {
        instruction_line(&mut out, arg);
    }
    for (index, stage) in file.stages.iter().enumerate() {
        let name = stage.from.value.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        let _ = writeln!(out, "stage {index}{name}");
        let _ = writeln!(out, "{:>5}  FROM {}", stage.from.lines.start, fields(&stage.from.value));
        for instruction in &stage.instructions {
            instruction_line(&mut out, instruction);
        }
    }
    out
}

fn instruction_line(out: &mut String, located: &Located<Instruction>) {
    let value = serde_json::to_value(&located.value).unwrap_or_default();
    let keyword = value.get("instruction").and_then(|k| k.as_str()).unwrap_or("?").to_uppercase();
    let _ = writeln!(out, "{:>5}  {keyword} {}", located.lines.start, fields(&located.value));
}

/// `key=value` for every field that is set (JSON values, compact).
fn fields(value: &impl Serialize) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::to_value(value) else { return String::new() };
    map.iter()
        .filter(|(key, v)| {
            key.as_str() != "instruction"
                && !v.is_null()
                && v != &&serde_json::Value::Bool(false)
                && v.as_array().is_none_or(|a| !a.is_empty())
        })
        .map(|(key, v)| format!("{key}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
