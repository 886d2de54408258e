//! Rendering at the edge: located Dockerfile errors (miette) and JSON. The
//! Dockerfile printer is `syntax::print`; the graph printers `plan::graph`.

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};
use serde::Serialize;

use crate::plan::PlanError;
use crate::syntax::{LineCol, ParseError};

/// A located error: `file:line:col: message`, then the source line with a
/// caret under the spot (miette's graphical report; colour only on a TTY).
pub fn parse_error(name: &str, source: &str, error: ParseError) -> String {
    let start = error.span.start;
    located(name, source, start, miette::Report::new(error))
}

/// A planning error, located like a parse error when it has a place.
pub fn plan_error(name: &str, source: &str, error: &PlanError) -> String {
    let Some(span) = error.span() else { return format!("error: {error}") };
    let label = miette::LabeledSpan::at(span.start..span.end.max(span.start), "here");
    let diagnostic = miette::MietteDiagnostic::new(error.to_string()).with_label(label);
    located(name, source, span.start, miette::Report::new(diagnostic))
}

fn located(name: &str, source: &str, start: usize, report: miette::Report) -> String {
    let at = LineCol::locate(source, start);
    let headline = format!("{name}:{}:{}: {report}", at.line, at.column);
    let report = report.with_source_code(NamedSource::new(name, source.to_owned()));
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
