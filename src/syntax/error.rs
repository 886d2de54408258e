//! `ParseError`: everything that can be wrong with a Dockerfile's text,
//! located by a byte span so the edge can render file, line, column and a
//! caret under the source line.

use super::span::Span;

/// A located Dockerfile error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    pub kind: ErrorKind,
    pub span: Span,
}

impl ParseError {
    pub fn new(kind: ErrorKind, span: Span) -> Self {
        ParseError { kind, span }
    }

    /// Advice shown under the error, when there is some.
    pub fn help(&self) -> Option<String> {
        match &self.kind {
            ErrorKind::UnknownInstruction { suggestion: Some(s), .. } | ErrorKind::UnknownFlag { suggestion: Some(s), .. } => {
                Some(format!("did you mean {s}?"))
            }
            ErrorKind::UnterminatedHeredoc { name } => Some(format!("end the heredoc with a line that is exactly `{name}`")),
            ErrorKind::NoStage { .. } => Some("start the build stage with `FROM <image>`".into()),
            ErrorKind::KeyValueMissingEquals { .. } => Some("write every pair as name=value, or one pair as `name value`".into()),
            _ => None,
        }
    }
}

impl miette::Diagnostic for ParseError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("strata::dockerfile"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        ParseError::help(self).map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let label = miette::LabeledSpan::new_with_span(Some(self.kind.label().into()), self.span);
        Some(Box::new(std::iter::once(label)))
    }
}

/// How many arguments an instruction wants, for [`ErrorKind::Arguments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    ExactlyOne,
    AtLeastOne,
    AtLeastTwo,
    OneOrThree,
    None,
}

impl std::fmt::Display for Arity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Arity::ExactlyOne => "exactly one argument",
            Arity::AtLeastOne => "at least one argument",
            Arity::AtLeastTwo => "at least two arguments (sources and a destination)",
            Arity::OneOrThree => "either one or three arguments (`FROM image [AS name]`)",
            Arity::None => "no arguments",
        })
    }
}

/// What went wrong; each variant carries the names and values a user needs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    #[error("file with no instructions")]
    NoInstructions,
    #[error("the Dockerfile has no FROM instruction")]
    NoFrom,
    #[error("{instruction} is not allowed before the first FROM (only ARG is)")]
    NoStage { instruction: String },
    #[error("invalid escape directive {value:?}: must be ` or \\")]
    InvalidEscape { value: String },
    #[error("only one {name} parser directive can be used")]
    DuplicateDirective { name: String },
    #[error("invalid check directive {value:?}: expected `skip=<rules>` and/or `error=true|false`, separated by `;`")]
    InvalidCheck { value: String },
    #[error("unterminated heredoc: no line `{name}` before the end of the file")]
    UnterminatedHeredoc { name: String },
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStrings,
    #[error("{instruction} must have two arguments")]
    KeyValueMissingValue { instruction: String },
    #[error("syntax error - can't find = in {word:?}. Must be of the form: name=value")]
    KeyValueMissingEquals { word: String },
    #[error("{instruction} names can not be blank")]
    EmptyKey { instruction: String },
    #[error("unknown instruction: {name}")]
    UnknownInstruction { name: String, suggestion: Option<String> },
    #[error("{instruction} requires {arity}")]
    Arguments { instruction: String, arity: Arity },
    #[error("FROM: expected `AS <name>` after the image, found {found:?}")]
    FromExpectedAs { found: String },
    #[error("invalid stage name {name:?}: it must start with a letter and contain only letters, digits, '-', '_' and '.'")]
    InvalidStageName { name: String },
    #[error("invalid ARG name {name:?}")]
    InvalidArgName { name: String },
    #[error("unknown flag --{flag} for {instruction}")]
    UnknownFlag { instruction: String, flag: String, suggestion: Option<String> },
    #[error("flag --{flag} needs a value (--{flag}=<value>)")]
    FlagNeedsValue { flag: String },
    #[error("flag --{flag} given more than once")]
    DuplicateFlag { flag: String },
    #[error("invalid value {value:?} for --{flag}: expected {expected}")]
    InvalidFlagValue { flag: String, value: String, expected: String },
    #[error("invalid --mount: {0}")]
    InvalidMount(#[from] super::instruction::MountError),
    #[error("SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]")]
    ShellNotJson,
    #[error("SHELL requires at least one element in its JSON array")]
    ShellEmpty,
    #[error("unknown type {found:?} in HEALTHCHECK (try CMD or NONE)")]
    HealthcheckType { found: String },
    #[error("HEALTHCHECK NONE takes no arguments or flags")]
    HealthcheckNoneArgs,
    #[error("HEALTHCHECK CMD requires a command")]
    HealthcheckNoCommand,
    #[error("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    #[error("{instruction} isn't allowed as an ONBUILD trigger")]
    OnbuildNotAllowed { instruction: String },
}

impl ErrorKind {
    /// The short text printed next to the caret.
    fn label(&self) -> &'static str {
        match self {
            ErrorKind::NoInstructions => "here",
            ErrorKind::NoFrom => "first instruction",
            ErrorKind::FromExpectedAs { .. } => "expected AS",
            ErrorKind::InvalidStageName { .. } => "stage name",
            ErrorKind::KeyValueMissingEquals { .. } => "no `=` in this word",
            ErrorKind::UnknownInstruction { .. } => "unknown instruction",
            ErrorKind::UnknownFlag { .. } => "unknown flag",
            ErrorKind::FlagNeedsValue { .. } | ErrorKind::InvalidFlagValue { .. } => "bad flag value",
            ErrorKind::DuplicateFlag { .. } => "repeated flag",
            ErrorKind::UnterminatedHeredoc { .. } => "heredoc starts here",
            ErrorKind::InvalidEscape { .. } | ErrorKind::DuplicateDirective { .. } | ErrorKind::InvalidCheck { .. } => "directive",
            ErrorKind::InvalidMount(_) => "mount",
            _ => "here",
        }
    }
}
