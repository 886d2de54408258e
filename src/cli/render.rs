//! Rendering for humans and tools: located Dockerfile errors (miette), the
//! typed model as text, and JSON.
//!
//! The text form of a Dockerfile reads like a normalised Dockerfile: the
//! directives first, then per instruction its line number, keyword, the flags
//! that differ from their defaults and the arguments; lists are written
//! `[a, b]` (an item is quoted only when it holds blanks, commas, brackets or
//! quotes), COPY/ADD as `[sources] -> dest`, and heredoc bodies summed up as
//! `(NAME: n lines)`.

use std::fmt::Write;

use miette::{GraphicalReportHandler, GraphicalTheme, NamedSource};
use serde::Serialize;

use crate::plan::PlanError;
use crate::syntax::instruction::{Add, ArgDecl, Command, Copy, From, Healthcheck, Mount, MountType, Pair, Run, Source};
use crate::syntax::{Directives, Dockerfile, Heredoc, Instruction, LineCol, ParseError};

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

/// The typed model, one line per instruction (see the module header).
pub fn dockerfile_text(file: &Dockerfile) -> String {
    let mut out = String::new();
    directives(&mut out, &file.directives);
    for arg in &file.global_args {
        line(&mut out, arg.lines.start, &instruction(&arg.value));
    }
    for (index, stage) in file.stages.iter().enumerate() {
        let name = stage.from.value.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        let _ = writeln!(out, "stage {index}{name}");
        line(&mut out, stage.from.lines.start, &from(&stage.from.value));
        for located in &stage.instructions {
            line(&mut out, located.lines.start, &instruction(&located.value));
        }
    }
    out
}

fn line(out: &mut String, number: usize, text: &str) {
    let _ = writeln!(out, "{number:>5}  {text}");
}

/// `# syntax=`, `# escape=` (when not the default `\`) and `# check=`.
fn directives(out: &mut String, directives: &Directives) {
    if let Some(syntax) = &directives.syntax {
        let _ = writeln!(out, "# syntax={syntax}");
    }
    if directives.escape != '\\' {
        let _ = writeln!(out, "# escape={}", directives.escape);
    }
    if let Some(check) = &directives.check {
        let mut parts = Vec::new();
        if !check.skip.is_empty() {
            parts.push(format!("skip={}", check.skip.join(",")));
        }
        parts.push(format!("error={}", check.error));
        let _ = writeln!(out, "# check={}", parts.join(";"));
    }
}

/// Builds `KEYWORD --flag... args`, leaving out empty parts.
struct Words(Vec<String>);

impl Words {
    fn new(keyword: &str) -> Self {
        Words(vec![keyword.to_owned()])
    }

    fn push(&mut self, part: impl Into<String>) -> &mut Self {
        let part = part.into();
        if !part.is_empty() {
            self.0.push(part);
        }
        self
    }

    /// `--name=value` when the value is set (quoted only when it holds
    /// blanks, control characters or quotes).
    fn value(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            let plain = !value.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\''));
            let value = if plain { value.to_owned() } else { serde_json::to_string(value).unwrap_or_default() };
            self.0.push(format!("--{name}={value}"));
        }
        self
    }

    /// `--name` when the boolean flag is on.
    fn switch(&mut self, name: &str, on: bool) -> &mut Self {
        if on {
            self.0.push(format!("--{name}"));
        }
        self
    }

    fn finish(&self) -> String {
        self.0.join(" ")
    }
}

fn from(from: &From) -> String {
    let mut words = Words::new("FROM");
    words.value("platform", from.platform.as_deref()).push(from.image.as_str());
    if let Some(name) = &from.name {
        words.push("AS").push(name.as_str());
    }
    words.finish()
}

fn instruction(instruction: &Instruction) -> String {
    match instruction {
        Instruction::Run(run_) => run(run_),
        Instruction::Cmd { command: c } => Words::new("CMD").push(command(c)).finish(),
        Instruction::Entrypoint { command: c } => Words::new("ENTRYPOINT").push(command(c)).finish(),
        Instruction::Shell { shell } => Words::new("SHELL").push(json_list(shell)).finish(),
        Instruction::Label { labels } => Words::new("LABEL").push(pairs(labels)).finish(),
        Instruction::Maintainer { name } => Words::new("MAINTAINER").push(name.as_str()).finish(),
        Instruction::Expose { ports } => Words::new("EXPOSE").push(list(ports)).finish(),
        Instruction::Env { vars } => Words::new("ENV").push(pairs(vars)).finish(),
        Instruction::Add(add_) => add(add_),
        Instruction::Copy(copy_) => copy(copy_),
        Instruction::Volume { paths } => Words::new("VOLUME").push(list(paths)).finish(),
        Instruction::User { user } => Words::new("USER").push(user.as_str()).finish(),
        Instruction::Workdir { path } => Words::new("WORKDIR").push(path.as_str()).finish(),
        Instruction::Arg { args } => Words::new("ARG").push(arg_decls(args)).finish(),
        Instruction::Onbuild { trigger, .. } => format!("ONBUILD {}", self::instruction(trigger)),
        Instruction::Stopsignal { signal } => Words::new("STOPSIGNAL").push(signal.as_str()).finish(),
        Instruction::Healthcheck(check) => healthcheck(check),
    }
}

fn run(run: &Run) -> String {
    let mut words = Words::new("RUN");
    for m in &run.mounts {
        words.push(format!("--mount={}", mount(m)));
    }
    let network = run.network.map(|n| serde_name(&n));
    let security = run.security.map(|s| serde_name(&s));
    words.value("network", network.as_deref()).value("security", security.as_deref());
    words.push(command(&run.command)).push(heredocs(run.heredocs.iter()));
    words.finish()
}

fn copy(copy: &Copy) -> String {
    let mut words = Words::new("COPY");
    words
        .value("from", copy.from.as_deref())
        .value("chown", copy.chown.as_deref())
        .value("chmod", copy.chmod.as_deref())
        .switch("link", copy.link)
        .switch("parents", copy.parents);
    for pattern in &copy.exclude {
        words.value("exclude", Some(pattern));
    }
    words.push(sources_and_dest(&copy.sources, &copy.dest));
    words.finish()
}

fn add(add: &Add) -> String {
    let mut words = Words::new("ADD");
    words
        .value("chown", add.chown.as_deref())
        .value("chmod", add.chmod.as_deref())
        .switch("link", add.link)
        .switch("keep-git-dir", add.keep_git_dir)
        .value("checksum", add.checksum.as_deref());
    for pattern in &add.exclude {
        words.value("exclude", Some(pattern));
    }
    // Not giving --unpack differs from --unpack=true (archives from URLs).
    if let Some(unpack) = add.unpack {
        words.push(format!("--unpack={unpack}"));
    }
    words.push(sources_and_dest(&add.sources, &add.dest));
    words.finish()
}

/// `[a, <<EOF] -> /dest (EOF: 3 lines)`.
fn sources_and_dest(sources: &[Source], dest: &str) -> String {
    let names: Vec<String> = sources
        .iter()
        .map(|source| match source {
            Source::Path { path } => item(path),
            Source::Heredoc { heredoc } => marker(heredoc),
        })
        .collect();
    let bodies = sources.iter().filter_map(|source| match source {
        Source::Heredoc { heredoc } => Some(heredoc),
        Source::Path { .. } => None,
    });
    let mut text = format!("[{}] -> {}", names.join(", "), item(dest));
    let bodies = heredocs(bodies);
    if !bodies.is_empty() {
        text.push(' ');
        text.push_str(&bodies);
    }
    text
}

fn healthcheck(check: &Healthcheck) -> String {
    let Healthcheck::Cmd { command: c, interval, timeout, start_period, start_interval, retries } = check else {
        return "HEALTHCHECK NONE".to_owned();
    };
    let duration = |ns: &Option<u64>| ns.map(crate::syntax::go_duration);
    let mut words = Words::new("HEALTHCHECK");
    words
        .value("interval", duration(interval).as_deref())
        .value("timeout", duration(timeout).as_deref())
        .value("start-period", duration(start_period).as_deref())
        .value("start-interval", duration(start_interval).as_deref())
        .value("retries", retries.map(|r| r.to_string()).as_deref())
        .push("CMD")
        .push(command(c));
    words.finish()
}

/// Exec form as a JSON array, shell form verbatim.
fn command(command: &Command) -> String {
    match command {
        Command::Exec { args } => json_list(args),
        Command::Shell { script } => script.clone(),
    }
}

/// `type=cache,target=/x,...`: the type, then every option that is set or
/// differs from the type's default.
fn mount(mount: &Mount) -> String {
    let mut fields = vec![format!("type={}", serde_name(&mount.kind))];
    let options = [
        ("target", &mount.target),
        ("source", &mount.source),
        ("from", &mount.from),
        ("id", &mount.id),
        ("mode", &mount.mode),
        ("uid", &mount.uid),
        ("gid", &mount.gid),
        ("size", &mount.size),
        ("env", &mount.env),
    ];
    for (key, value) in options {
        if let Some(value) = value {
            fields.push(format!("{key}={}", csv_field(value)));
        }
    }
    if let Some(sharing) = mount.sharing {
        fields.push(format!("sharing={}", serde_name(&sharing)));
    }
    let readonly_default = mount.kind == MountType::Bind;
    if mount.readonly != readonly_default && mount.kind != MountType::Tmpfs {
        fields.push(if mount.readonly { "ro" } else { "rw" }.to_owned());
    }
    if mount.required {
        fields.push("required".to_owned());
    }
    fields.join(",")
}

/// A CSV field: quoted (with `""` for a quote) when it holds `,` or `"`.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// ENV and LABEL pairs, `key=value` as written.
fn pairs(pairs: &[Pair]) -> String {
    pairs.iter().map(|p| format!("{}={}", p.key, p.value)).collect::<Vec<_>>().join(" ")
}

fn arg_decls(args: &[ArgDecl]) -> String {
    let decl = |a: &ArgDecl| match &a.default {
        Some(default) => format!("{}={default}", a.name),
        None => a.name.clone(),
    };
    args.iter().map(decl).collect::<Vec<_>>().join(" ")
}

/// How a heredoc was opened: `<<EOF`, `<<-EOF`, `<<"EOF"` (no expansion), `3<<EOF`.
fn marker(heredoc: &Heredoc) -> String {
    let fd = if heredoc.fd == 0 { String::new() } else { heredoc.fd.to_string() };
    let chomp = if heredoc.chomp { "-" } else { "" };
    let name = if heredoc.expand { heredoc.name.clone() } else { format!("\"{}\"", heredoc.name) };
    format!("{fd}<<{chomp}{name}")
}

/// `(EOF: 3 lines, X on fd 3: 1 line)`: each heredoc's size (and its file
/// descriptor when one was given), or nothing without heredocs.
fn heredocs<'a>(heredocs: impl Iterator<Item = &'a Heredoc>) -> String {
    let all: Vec<String> = heredocs
        .map(|h| {
            let lines = h.content.lines().count();
            let fd = if h.fd == 0 { String::new() } else { format!(" on fd {}", h.fd) };
            format!("{}{fd}: {lines} line{}", h.name, if lines == 1 { "" } else { "s" })
        })
        .collect();
    if all.is_empty() {
        String::new()
    } else {
        format!("({})", all.join(", "))
    }
}

/// `[a, b]`, each item quoted only when needed (see [`item`]).
fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| item(i)).collect::<Vec<_>>().join(", "))
}

/// `["a", "b"]`: every item as a JSON string (exec forms, SHELL).
fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| serde_json::to_string(i).unwrap_or_default()).collect();
    format!("[{}]", quoted.join(", "))
}

/// A word as written, or JSON-quoted when it is empty or holds blanks,
/// control characters, commas, brackets or quotes.
fn item(word: &str) -> String {
    let plain = !word.is_empty() && !word.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '[' | ']' | '"'));
    if plain {
        word.to_owned()
    } else {
        serde_json::to_string(word).unwrap_or_default()
    }
}

/// The serde name of a unit enum value (`cache`, `host`, `locked`, ...).
fn serde_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_quoted_only_when_needed() {
        assert_eq!(item("/a/b"), "/a/b");
        assert_eq!(item("a b"), "\"a b\"");
        assert_eq!(item(""), "\"\"");
        assert_eq!(list(&["a".into(), "b,c".into()]), "[a, \"b,c\"]");
    }
}
