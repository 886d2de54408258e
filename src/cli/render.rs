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

/// A build-check finding, located like a parse error: `note:`, `warning:`
/// (`error:` when `error=true` is set), the rule, the message, the source
/// line with the span underlined, the fix and the rule's documentation.
/// miette reads only a window of lines around the finding, so a file with
/// thousands of findings is not copied or rescanned for each.
/// Long messages are not wrapped: wrapping every finding of a large file
/// costs more than checking it.
pub fn lint_findings(name: &str, source: &str, report: &crate::lint::Report) -> String {
    let lines = crate::lint::LineIndex::new(source);
    let handler = graphical_handler().with_wrap_lines(false);
    report.findings.iter().map(|f| lint_finding(&handler, name, &lines, source, f, report.error) + "\n").collect()
}

fn lint_finding(
    handler: &GraphicalReportHandler,
    name: &str,
    lines: &crate::lint::LineIndex<'_>,
    source: &str,
    finding: &crate::lint::Finding,
    error: bool,
) -> String {
    let (severity, prefix) = match (error, finding.level) {
        (_, crate::lint::Level::Note) => (miette::Severity::Advice, "note"),
        (true, crate::lint::Level::Warning) => (miette::Severity::Error, "error"),
        (false, crate::lint::Level::Warning) => (miette::Severity::Warning, "warning"),
    };
    let span = finding.span;
    let first_line = finding.line.saturating_sub(2).max(1);
    let end_line = lines.locate(span.end).line + 2;
    let window = Window {
        name: name.to_owned(),
        text: source.get(lines.line_start(first_line)..lines.line_start(end_line)).unwrap_or("").to_owned(),
        offset: lines.line_start(first_line),
        first_line: first_line - 1,
    };
    let diagnostic = LocatedFinding {
        message: format!("{}: {}", finding.rule, finding.message),
        label: miette::LabeledSpan::at(span.start..span.end, finding.rule),
        severity,
        help: format!("{}\n  see {}", finding.help, finding.url),
        window,
    };
    let headline = format!("{prefix}: {name}:{}:{}: {}: {}", finding.line, finding.column, finding.rule, finding.message);
    let mut rendered = String::new();
    if handler.render_report(&mut rendered, &diagnostic).is_err() {
        return headline;
    }
    format!("{headline}\n{rendered}")
}

/// A finding as a miette diagnostic, rendered straight by the handler (a
/// `miette::Report` would look up the terminal and environment for each).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct LocatedFinding {
    message: String,
    label: miette::LabeledSpan,
    severity: miette::Severity,
    help: String,
    window: Window,
}

impl miette::Diagnostic for LocatedFinding {
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(&self.help))
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.window)
    }
}

/// A few lines of a Dockerfile that answer for the whole file: offsets and
/// line numbers are those of the file.
#[derive(Debug)]
struct Window {
    name: String,
    text: String,
    offset: usize,
    /// 0-based line of the window's first line.
    first_line: usize,
}

impl miette::SourceCode for Window {
    fn read_span<'a>(&'a self, span: &miette::SourceSpan, before: usize, after: usize) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let start = span.offset().saturating_sub(self.offset).min(self.text.len());
        let local = miette::SourceSpan::new(start.into(), span.len().min(self.text.len() - start));
        let contents = self.text.as_str().read_span(&local, before, after)?;
        let global = miette::SourceSpan::new((contents.span().offset() + self.offset).into(), contents.span().len());
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            global,
            contents.line() + self.first_line,
            contents.column(),
            contents.line_count(),
        )))
    }
}

fn graphical_handler() -> GraphicalReportHandler {
    let theme = if std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme).with_width(100)
}

fn located(name: &str, source: &str, start: usize, report: miette::Report) -> String {
    let at = LineCol::locate(source, start);
    let headline = format!("{name}:{}:{}: {report}", at.line, at.column);
    let report = report.with_source_code(NamedSource::new(name, source.to_owned()));
    let mut rendered = String::new();
    if graphical_handler().render_report(&mut rendered, report.as_ref()).is_err() {
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
