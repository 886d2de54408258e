//! The typed instruction model: what later stages of strata consume. Built
//! from the raw tree, it checks arity, flags and forms the way BuildKit's
//! instruction layer does, and groups instructions into stages.
//!
//! Values are kept as written (variables unexpanded, quotes in ENV/LABEL
//! values kept): expansion needs the build's arguments and belongs to the
//! planner.

mod copy;
mod flags;
mod healthcheck;
mod run;

use serde::Serialize;

pub use copy::{is_valid_chmod, Add, Copy, Source};
pub use flags::{suggest, FlagKind, FlagSpec, Flags};
pub use healthcheck::{go_duration, parse_duration, Healthcheck};
pub use run::{parse_mount, Mount, MountError, MountType, NetworkMode, Run, Security, Sharing};

use super::ast::Ast;
use super::directive::Directives;
use super::error::{Arity, ErrorKind, ParseError};
use super::node::{Args, KeyValue, Node};
use super::span::{LineRange, Span};

/// A parsed Dockerfile: directives, the ARGs before the first FROM, stages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dockerfile {
    /// The parser directives from the top of the file.
    pub directives: Directives,
    /// The ARG instructions before the first FROM, in order (always
    /// [`Instruction::Arg`]); they may be used in FROM lines.
    pub global_args: Vec<Located<Instruction>>,
    /// The stages in file order (index 0 is the first FROM); never empty.
    pub stages: Vec<Stage>,
}

/// One build stage: its FROM and the instructions after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// The FROM line that starts the stage.
    pub from: Located<From>,
    /// The instructions up to the next FROM, in order.
    pub instructions: Vec<Located<Instruction>>,
}

/// A value with the source location of the instruction it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Located<T> {
    /// The typed value.
    #[serde(flatten)]
    pub value: T,
    /// The whole instruction in the source, heredoc bodies included.
    pub span: Span,
    /// The physical lines the instruction occupies.
    pub lines: LineRange,
    /// The instruction as written (continuations joined, heredoc bodies left out).
    pub original: String,
}

/// `FROM [--platform=p] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct From {
    /// The base: an image reference, an earlier stage's name, or `scratch`;
    /// variables not yet expanded.
    pub image: String,
    /// The stage name, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// `--platform=` as written (`linux/arm64`, `$BUILDPLATFORM`); `None`
    /// when not given or given empty (the build's target platform).
    pub platform: Option<String>,
}

/// A command in exec (JSON) or shell form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum Command {
    /// `["executable", "arg", ...]`: run as is, without a shell.
    Exec {
        /// The JSON array's strings, in order (may be empty: `CMD []`).
        args: Vec<String>,
    },
    /// Anything else: run by the stage's SHELL (`/bin/sh -c` by default).
    Shell {
        /// The text after the keyword and flags, verbatim.
        script: String,
    },
}

/// An ENV or LABEL pair, as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// The name; never empty.
    pub key: String,
    /// The value with quotes and escapes still in place (the planner
    /// removes them when it expands variables).
    pub value: String,
}

/// `ARG name[=default]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArgDecl {
    /// The variable name; never empty, no whitespace.
    pub name: String,
    /// The text after `=`, unexpanded; `None` for `ARG name` (no `=`),
    /// `Some("")` for `ARG name=`.
    pub default: Option<String>,
}

/// Every Dockerfile instruction except FROM (which starts a [`Stage`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "instruction", rename_all = "snake_case")]
pub enum Instruction {
    /// `RUN`: run a command in the stage's filesystem, committing a layer.
    Run(Run),
    /// `CMD`: the image's default command (or ENTRYPOINT's default arguments).
    Cmd {
        /// The command as written.
        command: Command,
    },
    /// `ENTRYPOINT`: the image's entrypoint.
    Entrypoint {
        /// The command as written.
        command: Command,
    },
    /// `SHELL ["exe", "arg"...]`: the shell for later shell-form commands.
    Shell {
        /// The JSON array's strings; never empty.
        shell: Vec<String>,
    },
    /// `LABEL key=value...`: image config labels.
    Label {
        /// The pairs in order; a later key overrides an earlier one.
        labels: Vec<Pair>,
    },
    /// `MAINTAINER name` (deprecated): the config's `author` field.
    Maintainer {
        /// The rest of the line, verbatim.
        name: String,
    },
    /// `EXPOSE port[/proto]...`: the config's exposed ports.
    Expose {
        /// The words as written (`80`, `53/udp`, `$PORT`), unchecked.
        ports: Vec<String>,
    },
    /// `ENV key=value...`: environment for later instructions and the image.
    Env {
        /// The pairs in order; a later key overrides an earlier one.
        vars: Vec<Pair>,
    },
    /// `ADD`: copy files, URLs, git repositories or archives into the stage.
    Add(Add),
    /// `COPY`: copy files from the context, a stage or an image.
    Copy(Copy),
    /// `VOLUME`: the config's volume mount points.
    Volume {
        /// The paths as written; none is blank.
        paths: Vec<String>,
    },
    /// `USER user[:group]`: the user later RUNs and the container run as.
    User {
        /// The rest of the line, verbatim.
        user: String,
    },
    /// `WORKDIR path`: the working directory from here on.
    Workdir {
        /// The rest of the line, verbatim (relative paths continue from
        /// the current working directory).
        path: String,
    },
    /// `ARG name[=default]...` inside a stage (global ones are in
    /// [`Dockerfile::global_args`]).
    Arg {
        /// The declarations in order; never empty.
        args: Vec<ArgDecl>,
    },
    /// `ONBUILD instruction`: a trigger stored in the image config, run by
    /// builds that use the image as their base.
    Onbuild {
        /// The trigger as written, as it is stored in the image config.
        expression: String,
        /// The trigger, typed (never ONBUILD, FROM or MAINTAINER).
        trigger: Box<Instruction>,
    },
    /// `STOPSIGNAL signal`: the config's stop signal.
    Stopsignal {
        /// The rest of the line, verbatim (`SIGTERM`, `9`, `$SIG`), unchecked.
        signal: String,
    },
    /// `HEALTHCHECK`: the config's health check.
    Healthcheck(Healthcheck),
}

/// Every keyword strata knows, upper-case (for messages and suggestions).
pub const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Either a stage start or an instruction inside one.
enum Typed {
    From(From),
    Other(Instruction),
}

/// Builds the typed model from the raw tree and groups it into stages.
pub fn from_ast(ast: &Ast) -> Result<Dockerfile, ParseError> {
    let mut builder = Builder::default();
    for node in &ast.nodes {
        builder.push(node)?;
    }
    builder.finish(ast.directives.clone())
}

/// Types nodes one at a time and groups them into stages.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    global_args: Vec<Located<Instruction>>,
    stages: Vec<Stage>,
    /// The keyword of the first node, where a missing FROM is reported.
    first: Option<Span>,
}

impl Builder {
    /// Types a borrowed node (its text is copied into the model).
    pub(crate) fn push(&mut self, node: &Node) -> Result<(), ParseError> {
        let value = typed(node)?;
        self.file(node, value, node.original.clone())
    }

    /// Types a node the caller is done with (its text moves into the model).
    pub(crate) fn push_owned(&mut self, mut node: Node) -> Result<(), ParseError> {
        let value = typed(&node)?;
        let original = std::mem::take(&mut node.original);
        self.file(&node, value, original)
    }

    fn file(&mut self, node: &Node, value: Typed, original: String) -> Result<(), ParseError> {
        self.first.get_or_insert(node.keyword_span);
        fn at<T>(node: &Node, value: T, original: String) -> Located<T> {
            Located { value, span: node.span, lines: node.lines, original }
        }
        match value {
            Typed::From(from) => self.stages.push(Stage { from: at(node, from, original), instructions: Vec::new() }),
            Typed::Other(instruction) => match self.stages.last_mut() {
                Some(stage) => stage.instructions.push(at(node, instruction, original)),
                None if matches!(instruction, Instruction::Arg { .. }) => self.global_args.push(at(node, instruction, original)),
                None => {
                    let kind = ErrorKind::NoStage { instruction: node.keyword.to_uppercase() };
                    return Err(ParseError::new(kind, node.keyword_span));
                }
            },
        }
        Ok(())
    }

    /// The Dockerfile; an error when no FROM was pushed (only ARGs: parse_ast
    /// rejects a file without instructions before this), at the first node.
    pub(crate) fn finish(self, directives: Directives) -> Result<Dockerfile, ParseError> {
        if self.stages.is_empty() {
            return Err(ParseError::new(ErrorKind::NoFrom, self.first.unwrap_or(Span::point(0))));
        }
        Ok(Dockerfile { directives, global_args: self.global_args, stages: self.stages })
    }
}

fn typed(node: &Node) -> Result<Typed, ParseError> {
    if node.keyword == "from" {
        return from(node).map(Typed::From);
    }
    instruction(node).map(Typed::Other)
}

fn arity(node: &Node, arity: Arity) -> ParseError {
    ParseError::new(ErrorKind::Arguments { instruction: node.keyword.to_uppercase(), arity }, node.args_span)
}

fn no_flags(node: &Node) -> Result<(), ParseError> {
    Flags::parse(&node.keyword, &node.flags, &[]).map(drop)
}

/// Where word `index` of the node's [`Args::Words`] is; the whole argument
/// text when the node has no such word.
fn word_span(node: &Node, index: usize) -> Span {
    node.word_spans.get(index).copied().unwrap_or(node.args_span)
}

/// The span from word `index` to the last word (the whole argument text when
/// there is no word `index`).
fn words_span_from(node: &Node, index: usize) -> Span {
    match (node.word_spans.get(index), node.word_spans.last()) {
        (Some(first), Some(last)) => Span::new(first.start, last.end),
        _ => node.args_span,
    }
}

/// The plain word list of a node (JSON or whitespace form).
fn words(node: &Node) -> Vec<String> {
    match &node.args {
        Args::Words(w) | Args::Json(w) => w.clone(),
        Args::Shell(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn exactly_one(node: &Node) -> Result<String, ParseError> {
    no_flags(node)?;
    match words(node).as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(arity(node, Arity::ExactlyOne)),
    }
}

/// FROM, checked in BuildKit's order: the words (and stage name), then flags.
/// Errors point at the offending word(s).
fn from(node: &Node) -> Result<From, ParseError> {
    let args = words(node);
    let (image, name) = match args.as_slice() {
        [image] => (image.clone(), None),
        [image, as_word, name] if as_word.eq_ignore_ascii_case("as") => (image.clone(), Some(name.to_lowercase())),
        [_, other, _] => return Err(ParseError::new(ErrorKind::FromExpectedAs { found: other.clone() }, word_span(node, 1))),
        [] => return Err(arity(node, Arity::OneOrThree)),
        [_, ..] if args.len() > 3 => {
            let kind = ErrorKind::Arguments { instruction: "FROM".into(), arity: Arity::OneOrThree };
            return Err(ParseError::new(kind, words_span_from(node, 3)));
        }
        _ => {
            let kind = ErrorKind::Arguments { instruction: "FROM".into(), arity: Arity::OneOrThree };
            return Err(ParseError::new(kind, words_span_from(node, 1)));
        }
    };
    if let Some(name) = &name {
        if !is_valid_stage_name(name) {
            return Err(ParseError::new(ErrorKind::InvalidStageName { name: name.clone() }, word_span(node, 2)));
        }
    }
    let flags = Flags::parse("from", &node.flags, &[("platform", FlagKind::Value)])?;
    Ok(From { image, name, platform: flags.string("platform") })
}

/// BuildKit's stage-name rule: `^[a-z][a-z0-9-_.]*$` (after lower-casing).
fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// One instruction other than FROM, typed (FROM starts a stage: see [`from_ast`]).
pub fn instruction(node: &Node) -> Result<Instruction, ParseError> {
    Ok(match node.keyword.as_str() {
        "run" => Instruction::Run(run(node)?),
        "cmd" => Instruction::Cmd { command: no_flags(node).and_then(|()| command(node))? },
        "entrypoint" => Instruction::Entrypoint { command: no_flags(node).and_then(|()| command(node))? },
        "shell" => shell(node)?,
        "label" => Instruction::Label { labels: pairs(node)? },
        "env" => Instruction::Env { vars: pairs(node)? },
        "maintainer" => Instruction::Maintainer { name: exactly_one(node)? },
        "expose" => Instruction::Expose { ports: at_least_one(node)? },
        "add" => Instruction::Add(add(node)?),
        "copy" => Instruction::Copy(copy(node)?),
        "volume" => volume(node)?,
        "user" => Instruction::User { user: exactly_one(node)? },
        "workdir" => Instruction::Workdir { path: exactly_one(node)? },
        "arg" => Instruction::Arg { args: arg(node)? },
        "onbuild" => onbuild(node)?,
        "stopsignal" => Instruction::Stopsignal { signal: exactly_one(node)? },
        "healthcheck" => Instruction::Healthcheck(healthcheck(node)?),
        _ => {
            let suggestion = suggest(&node.keyword, KEYWORDS.iter().copied()).map(str::to_owned);
            let kind = ErrorKind::UnknownInstruction { name: node.keyword.to_uppercase(), suggestion };
            return Err(ParseError::new(kind, node.keyword_span));
        }
    })
}

fn at_least_one(node: &Node) -> Result<Vec<String>, ParseError> {
    no_flags(node)?;
    let all = words(node);
    if all.is_empty() {
        return Err(arity(node, Arity::AtLeastOne));
    }
    Ok(all)
}

/// CMD/ENTRYPOINT/RUN: exec or shell form; writing no command at all is an
/// error (`CMD []` is the way to clear one).
fn command(node: &Node) -> Result<Command, ParseError> {
    command_of(&node.args).ok_or_else(|| arity(node, Arity::AtLeastOne))
}

/// `None` when no command was written at all (`CMD` alone).
fn command_of(args: &Args) -> Option<Command> {
    match args {
        Args::Json(items) => Some(Command::Exec { args: items.clone() }),
        Args::Shell(script) => Some(Command::Shell { script: script.clone() }),
        _ => None,
    }
}

fn run(node: &Node) -> Result<Run, ParseError> {
    const SPEC: &[FlagSpec] = &[("mount", FlagKind::Repeated), ("network", FlagKind::Value), ("security", FlagKind::Value)];
    let flags = Flags::parse("run", &node.flags, SPEC)?;
    let mounts =
        flags.values("mount").into_iter().map(|(value, span)| parse_mount(&value).map_err(|e| ParseError::new(e.into(), span))).collect::<Result<_, _>>()?;
    let network = choice(&flags, "network", NetworkMode::parse, "default, none or host")?;
    let security = choice(&flags, "security", Security::parse, "sandbox or insecure")?;
    Ok(Run { command: command(node)?, heredocs: node.heredocs.clone(), mounts, network, security })
}

fn choice<T>(flags: &Flags, name: &str, parse: fn(&str) -> Option<T>, expected: &str) -> Result<Option<T>, ParseError> {
    let Some((value, span)) = flags.value(name) else { return Ok(None) };
    if value.contains('$') {
        return Ok(None);
    }
    parse(&value).map(Some).ok_or_else(|| {
        let kind = ErrorKind::InvalidFlagValue { flag: name.into(), value, expected: expected.into() };
        ParseError::new(kind, span)
    })
}

fn shell(node: &Node) -> Result<Instruction, ParseError> {
    no_flags(node)?;
    match &node.args {
        Args::Json(items) if items.is_empty() => Err(ParseError::new(ErrorKind::ShellEmpty, node.args_span)),
        Args::Json(items) => Ok(Instruction::Shell { shell: items.clone() }),
        _ => Err(ParseError::new(ErrorKind::ShellNotJson, node.args_span)),
    }
}

fn pairs(node: &Node) -> Result<Vec<Pair>, ParseError> {
    no_flags(node)?;
    let Args::KeyValues(kvs) = &node.args else { return Err(arity(node, Arity::AtLeastOne)) };
    if kvs.is_empty() {
        return Err(arity(node, Arity::AtLeastOne));
    }
    kvs.iter()
        .map(|KeyValue { key, value, .. }| {
            if key.is_empty() {
                let kind = ErrorKind::EmptyKey { instruction: node.keyword.to_uppercase() };
                return Err(ParseError::new(kind, node.args_span));
            }
            Ok(Pair { key: key.clone(), value: value.clone() })
        })
        .collect()
}

fn chmod(flags: &Flags) -> Result<Option<String>, ParseError> {
    match flags.value("chmod") {
        Some((value, span)) if !is_valid_chmod(&value) => {
            let expected = "an octal mode (0755) or a symbolic one (u+x,g-w)".into();
            Err(ParseError::new(ErrorKind::InvalidFlagValue { flag: "chmod".into(), value, expected }, span))
        }
        other => Ok(other.map(|(v, _)| v)),
    }
}

fn copy(node: &Node) -> Result<Copy, ParseError> {
    const SPEC: &[FlagSpec] = &[
        ("from", FlagKind::Value),
        ("chown", FlagKind::Value),
        ("chmod", FlagKind::Value),
        ("link", FlagKind::Bool),
        ("parents", FlagKind::Bool),
        ("exclude", FlagKind::Repeated),
    ];
    let flags = Flags::parse("copy", &node.flags, SPEC)?;
    let (sources, dest) = copy::sources_and_dest(words(node), &node.heredocs).ok_or_else(|| arity(node, Arity::AtLeastTwo))?;
    Ok(Copy {
        sources,
        dest,
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: chmod(&flags)?,
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        exclude: flags.values("exclude").into_iter().map(|(v, _)| v).collect(),
    })
}

fn add(node: &Node) -> Result<Add, ParseError> {
    const SPEC: &[FlagSpec] = &[
        ("chown", FlagKind::Value),
        ("chmod", FlagKind::Value),
        ("link", FlagKind::Bool),
        ("keep-git-dir", FlagKind::Bool),
        ("checksum", FlagKind::Value),
        ("exclude", FlagKind::Repeated),
        ("unpack", FlagKind::Bool),
    ];
    let flags = Flags::parse("add", &node.flags, SPEC)?;
    let (sources, dest) = copy::sources_and_dest(words(node), &node.heredocs).ok_or_else(|| arity(node, Arity::AtLeastTwo))?;
    Ok(Add {
        sources,
        dest,
        chown: flags.string("chown"),
        chmod: chmod(&flags)?,
        link: flags.bool("link"),
        keep_git_dir: flags.bool("keep-git-dir"),
        checksum: flags.string("checksum"),
        exclude: flags.values("exclude").into_iter().map(|(v, _)| v).collect(),
        unpack: flags.is_used("unpack").then(|| flags.bool("unpack")),
    })
}

fn volume(node: &Node) -> Result<Instruction, ParseError> {
    let paths = at_least_one(node)?;
    if paths.iter().any(|p| p.trim().is_empty()) {
        return Err(arity(node, Arity::AtLeastOne));
    }
    Ok(Instruction::Volume { paths })
}

fn arg(node: &Node) -> Result<Vec<ArgDecl>, ParseError> {
    at_least_one(node)?
        .into_iter()
        .enumerate()
        .map(|(index, word)| {
            let (name, default) = match word.split_once('=') {
                Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
                None => (word, None),
            };
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(ParseError::new(ErrorKind::InvalidArgName { name }, word_span(node, index)));
            }
            Ok(ArgDecl { name, default })
        })
        .collect()
}

fn onbuild(node: &Node) -> Result<Instruction, ParseError> {
    no_flags(node)?;
    let Args::Onbuild(Some(inner)) = &node.args else { return Err(arity(node, Arity::AtLeastOne)) };
    let not_allowed = |kind| Err(ParseError::new(kind, inner.keyword_span));
    match inner.keyword.as_str() {
        "onbuild" => return not_allowed(ErrorKind::OnbuildChain),
        "from" | "maintainer" => return not_allowed(ErrorKind::OnbuildNotAllowed { instruction: inner.keyword.to_uppercase() }),
        _ => {}
    }
    let mut inner = (**inner).clone();
    inner.heredocs = node.heredocs.clone();
    Ok(Instruction::Onbuild { expression: onbuild_expression(node), trigger: Box::new(instruction(&inner)?) })
}

/// The trigger as BuildKit stores it in the image config: the ONBUILD line
/// with `(?i)^\s*ONBUILD\s*` removed (Go's `\s`: space, \t, \n, \f, \r),
/// then, for each heredoc, "\n" + its raw body + its terminator name.
fn onbuild_expression(node: &Node) -> String {
    let go_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r');
    let text = node.original.trim_start_matches(go_space);
    let text = match text.get(..7) {
        Some(keyword) if keyword.eq_ignore_ascii_case("onbuild") => text[7..].trim_start_matches(go_space),
        _ => text,
    };
    let mut expression = text.to_owned();
    for heredoc in &node.heredocs {
        expression.push('\n');
        expression.push_str(&heredoc.content);
        expression.push_str(&heredoc.name);
    }
    expression
}

/// The shortest non-zero HEALTHCHECK duration BuildKit accepts (1ms, in ns).
const MIN_HEALTHCHECK_DURATION: i64 = 1_000_000;

fn healthcheck(node: &Node) -> Result<Healthcheck, ParseError> {
    const SPEC: &[FlagSpec] = &[
        ("interval", FlagKind::Value),
        ("timeout", FlagKind::Value),
        ("start-period", FlagKind::Value),
        ("start-interval", FlagKind::Value),
        ("retries", FlagKind::Value),
    ];
    let Args::Healthcheck { kind, command } = &node.args else { return Err(arity(node, Arity::AtLeastOne)) };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" if node.flags.is_empty() && command_of(command).is_none() => Ok(Healthcheck::None),
        "NONE" => Err(ParseError::new(ErrorKind::HealthcheckNoneArgs, node.args_span)),
        "CMD" => {
            let flags = Flags::parse("healthcheck", &node.flags, SPEC)?;
            let command = command_of(command).ok_or_else(|| ParseError::new(ErrorKind::HealthcheckNoCommand, node.args_span))?;
            let duration = |name: &str| -> Result<Option<u64>, ParseError> {
                let Some((value, span)) = flags.value(name) else { return Ok(None) };
                let expected = match parse_duration(&value) {
                    // BuildKit: 0 means "use the default", like not giving the flag.
                    Some(0) => return Ok(None),
                    Some(ns) if ns >= MIN_HEALTHCHECK_DURATION => return Ok(Some(ns.unsigned_abs())),
                    Some(_) => "0 (the default) or a duration of at least 1ms",
                    None => "a duration like 30s, 1m30s or 500ms",
                };
                let kind = ErrorKind::InvalidFlagValue { flag: name.into(), value, expected: expected.into() };
                Err(ParseError::new(kind, span))
            };
            // BuildKit: `strconv.ParseInt(value, 10, 32)`, and not negative.
            let retries = match flags.value("retries") {
                None => None,
                Some((value, span)) => match value.parse::<i32>() {
                    Ok(n) if n >= 0 => Some(n.unsigned_abs()),
                    _ => {
                        let expected = "a number (0 or more)".into();
                        let kind = ErrorKind::InvalidFlagValue { flag: "retries".into(), value, expected };
                        return Err(ParseError::new(kind, span));
                    }
                },
            };
            Ok(Healthcheck::Cmd {
                command,
                interval: duration("interval")?,
                timeout: duration("timeout")?,
                start_period: duration("start-period")?,
                start_interval: duration("start-interval")?,
                retries,
            })
        }
        _ => Err(ParseError::new(ErrorKind::HealthcheckType { found: kind.clone() }, node.args_span)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn onbuild_expressions(source: &str) -> Vec<String> {
        let file = crate::syntax::parse(source).expect("parses");
        file.stages[0]
            .instructions
            .iter()
            .filter_map(|i| match &i.value {
                Instruction::Onbuild { expression, .. } => Some(expression.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn onbuild_expression_is_buildkits() {
        // Heredocs: "\n" + raw body + terminator name, for each one in order.
        assert_eq!(onbuild_expressions("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n"), ["RUN <<EOF\necho hi\nEOF"]);
        assert_eq!(onbuild_expressions("FROM a\nonbuild \tCOPY <<A <<-B /d/\n1\nA\n2\r\n\tB\n"), ["COPY <<A <<-B /d/\n1\nA\n2\r\nB"]);
        // The line as BuildKit keeps it: trailing blanks stay, continuations join.
        assert_eq!(onbuild_expressions("FROM a\nONBUILD RUN echo hi  \n"), ["RUN echo hi  "]);
        assert_eq!(onbuild_expressions("FROM a\nONBUILD RUN echo \\\n  hi\n"), ["RUN echo   hi"]);
    }
}
