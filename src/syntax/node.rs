//! The raw syntax tree: one `Node` per instruction, holding exactly what
//! BuildKit's parser keeps (keyword, flags, argument strings, heredocs). It
//! exists for the `result` dump and as the input of the typed model in
//! [`super::instruction`]; nothing else consumes it.
//!
//! See: grammar/dockerfile.peg, rules `arguments` and `json_array`.

use serde::Serialize;

use super::error::{ErrorKind, ParseError};
use super::heredoc::Heredoc;
use super::logical::LogicalLine;
use super::span::{LineRange, Span};
use super::split::{extract_flags, keyword_and_rest, offset_in, split_blanks, split_words, Word};

/// One instruction as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The keyword, lower-cased (`run`, `copy`, or an unknown word).
    pub keyword: String,
    /// Where the keyword is in the source.
    pub keyword_span: Span,
    /// The `--flag` words between the keyword and the arguments, in order.
    pub flags: Vec<Flag>,
    /// The arguments after the flags, in the shape the keyword's rule gives them.
    pub args: Args,
    /// Where each word of [`Args::Words`] is in the source (one span per
    /// word); empty for the other forms.
    pub word_spans: Vec<Span>,
    /// Where the arguments (after the flags) are in the source.
    pub args_span: Span,
    /// The whole instruction, heredoc bodies included.
    pub span: Span,
    /// The physical lines the instruction occupies, heredoc bodies included.
    pub lines: LineRange,
    /// The heredocs the line opens, in marker order, bodies read.
    pub heredocs: Vec<Heredoc>,
    /// The instruction's logical text (keyword included, heredoc bodies
    /// not): BuildKit's `Node.Original`, so trailing blanks are kept, and an
    /// ONBUILD trigger's text is trimmed.
    pub original: String,
}

/// One `--flag` word, quotes and escapes already processed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flag {
    /// The whole word, `--` included (`--from=build`).
    pub text: String,
    /// Where the word is in the source.
    pub span: Span,
}

/// An ENV or LABEL pair as written (quotes and escapes still in place).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyValue {
    /// The name: the text before the first `=`, or the first word in the
    /// legacy form.
    pub key: String,
    /// The text after the first `=`, or the rest of the line (leading
    /// blanks dropped) in the legacy form.
    pub value: String,
    /// `true` for `key=value`, `false` for the legacy `KEY value` form.
    pub equals: bool,
}

/// The arguments of a node, in the shape its instruction's rule gives them.
#[derive(Debug, Clone, PartialEq)]
pub enum Args {
    /// Whitespace-separated words (FROM, EXPOSE, ARG, COPY/ADD/VOLUME shell form)
    /// or the single verbatim rest (USER, WORKDIR, ...); empty when nothing follows.
    Words(Vec<String>),
    /// A JSON array of strings (exec form).
    Json(Vec<String>),
    /// The verbatim rest of a RUN/CMD/ENTRYPOINT/SHELL in shell form.
    Shell(String),
    /// ENV and LABEL pairs, in order.
    KeyValues(Vec<KeyValue>),
    /// HEALTHCHECK: the type word (`CMD`, `NONE`, ...) and what follows it.
    Healthcheck {
        /// The type word as written (case kept).
        kind: String,
        /// What follows the type word, read like CMD's arguments.
        command: Box<Args>,
    },
    /// ONBUILD and its trigger instruction.
    Onbuild(Option<Box<Node>>),
    /// An unknown keyword: BuildKit keeps one empty argument.
    Unknown,
}

impl Args {
    /// Whether the arguments are in JSON (exec) form.
    pub fn is_json(&self) -> bool {
        matches!(self, Args::Json(_))
    }
}

impl Node {
    /// The instruction that decides heredoc handling: ONBUILD's trigger, or self.
    fn heredoc_owner(&self) -> &Node {
        match &self.args {
            Args::Onbuild(Some(inner)) => inner,
            _ => self,
        }
    }

    /// RUN, COPY and ADD (also as ONBUILD triggers) take heredocs, unless in JSON form.
    pub fn can_contain_heredoc(&self) -> bool {
        let node = self.heredoc_owner();
        matches!(node.keyword.as_str(), "run" | "copy" | "add") && !node.args.is_json()
    }
}

/// Builds a node from `text`, a slice of `line.text` (the whole logical line,
/// or ONBUILD's rest).
pub fn parse_node(line: &LogicalLine, text: &str, escape: char) -> Result<Node, ParseError> {
    let trimmed = text.trim();
    let (after_keyword, keyword) = keyword_and_rest(trimmed).unwrap_or(("", trimmed));
    let keyword_span = line.span_of(keyword);
    let (flag_words, rest) = extract_flags(after_keyword);
    let base = offset_in(&line.text, after_keyword);
    let flags = flag_words.into_iter().map(|f| Flag { text: f.text, span: line.span(base + f.start, base + f.end) }).collect();
    let rest = rest.trim();
    let keyword_lower = keyword.to_lowercase();
    let (args, word_spans) = parse_args(&keyword_lower, line, rest, escape)?;
    Ok(Node {
        keyword: keyword_lower,
        keyword_span,
        flags,
        args,
        word_spans,
        args_span: line.span_of(rest),
        span: line.span_of(trimmed),
        lines: LineRange::default(),
        heredocs: Vec::new(),
        original: text.trim_start().to_owned(),
    })
}

/// Rule `arguments`: the per-instruction shape of what follows the flags
/// (`rest`, a slice of `line.text`), with the source span of each word for
/// the whitespace-separated forms.
fn parse_args(keyword: &str, line: &LogicalLine, rest: &str, escape: char) -> Result<(Args, Vec<Span>), ParseError> {
    let at_rest = |kind| ParseError::new(kind, line.span_of(rest));
    let base = offset_in(&line.text, rest);
    let located = |words: Vec<Word>| {
        let spans = words.iter().map(|w| line.span(base + w.start, base + w.end)).collect();
        (Args::Words(words.into_iter().map(|w| w.text).collect()), spans)
    };
    let unlocated = |args: Args| (args, Vec::new());
    Ok(match keyword {
        "from" | "expose" => located(split_blanks(rest)),
        "run" | "cmd" | "entrypoint" | "shell" => unlocated(maybe_json(rest).map_err(at_rest)?),
        "add" | "copy" | "volume" => match json_array(rest).map_err(at_rest)? {
            Some(items) => unlocated(Args::Json(items)),
            None => located(split_blanks(rest)),
        },
        "healthcheck" => unlocated(healthcheck_args(rest).map_err(at_rest)?),
        "env" | "label" => unlocated(key_values(keyword, line, rest, escape)?),
        "arg" => located(split_words(rest, escape)),
        "maintainer" | "user" | "workdir" | "stopsignal" if rest.is_empty() => unlocated(Args::Words(Vec::new())),
        "maintainer" | "user" | "workdir" | "stopsignal" => (Args::Words(vec![rest.to_owned()]), vec![line.span_of(rest)]),
        "onbuild" if rest.is_empty() => unlocated(Args::Onbuild(None)),
        "onbuild" => unlocated(Args::Onbuild(Some(Box::new(parse_node(line, rest, escape)?)))),
        _ => unlocated(Args::Unknown),
    })
}

/// RUN/CMD/ENTRYPOINT/SHELL: JSON exec form, else the verbatim rest.
fn maybe_json(rest: &str) -> Result<Args, ErrorKind> {
    if rest.is_empty() {
        return Ok(Args::Words(Vec::new()));
    }
    Ok(match json_array(rest)? {
        Some(items) => Args::Json(items),
        None => Args::Shell(rest.to_owned()),
    })
}

/// Rule `json_array`: `Some` for a valid JSON array of strings, `None` for
/// anything that is not valid JSON (the caller falls back to shell form), an
/// error for valid JSON holding a non-string.
pub fn json_array(rest: &str) -> Result<Option<Vec<String>>, ErrorKind> {
    if !rest.trim_start().starts_with('[') {
        return Ok(None);
    }
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(rest) else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(ErrorKind::JsonNotStrings),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// HEALTHCHECK: the first word is the type, the rest is handled like CMD.
fn healthcheck_args(rest: &str) -> Result<Args, ErrorKind> {
    if rest.is_empty() {
        return Ok(Args::Words(Vec::new()));
    }
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    let (kind, after) = rest.split_at(rest.find(is_space).unwrap_or(rest.len()));
    let command = maybe_json(after.trim_start_matches(is_space))?;
    Ok(Args::Healthcheck { kind: kind.to_owned(), command: Box::new(command) })
}

/// ENV and LABEL: `key=value ...` pairs, or the legacy `key value` form.
/// A word without `=` among pairs is reported at that word.
fn key_values(keyword: &str, line: &LogicalLine, rest: &str, escape: char) -> Result<Args, ParseError> {
    let words = split_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Args::KeyValues(Vec::new()));
    };
    if !first.text.contains('=') {
        let Some((key, value)) = rest.split_once(super::split::is_blank) else {
            let kind = ErrorKind::KeyValueMissingValue { instruction: keyword.to_uppercase() };
            return Err(ParseError::new(kind, line.span_of(rest)));
        };
        let value = value.trim_start_matches(super::split::is_blank);
        return Ok(Args::KeyValues(vec![KeyValue { key: key.into(), value: value.into(), equals: false }]));
    }
    let base = offset_in(&line.text, rest);
    words
        .into_iter()
        .map(|word| match word.text.split_once('=') {
            Some((key, value)) => Ok(KeyValue { key: key.into(), value: value.into(), equals: true }),
            None => {
                let span = line.span(base + word.start, base + word.end);
                Err(ParseError::new(ErrorKind::KeyValueMissingEquals { word: word.text }, span))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Args::KeyValues)
}
