//! `ParseError`: everything that can be wrong with a Dockerfile's text,
//! located by a byte span so the edge can render file, line, column and a
//! caret under the source line.

use super::span::Span;

/// A located Dockerfile error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// The source text the caret underlines: the offending word, flag or
    /// directive where one is to blame, else the instruction's arguments.
    pub span: Span,
}

impl ParseError {
    /// An error of `kind` pointing at `span`.
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
    /// One argument: MAINTAINER, USER, WORKDIR, STOPSIGNAL.
    ExactlyOne,
    /// One or more: RUN, CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, VOLUME, ARG,
    /// ONBUILD, HEALTHCHECK.
    AtLeastOne,
    /// Sources and a destination: COPY and ADD.
    AtLeastTwo,
    /// `image` or `image AS name`: FROM.
    OneOrThree,
    /// No arguments at all (no instruction asks for this today).
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
    /// The file holds only blank lines, comments and directives; points at
    /// the start of the file.
    #[error("file with no instructions")]
    NoInstructions,
    /// The file has instructions but only global ARGs, no FROM; points at the
    /// first keyword.
    #[error("the Dockerfile has no FROM instruction")]
    NoFrom,
    /// An instruction other than ARG comes before the first FROM.
    #[error("{instruction} is not allowed before the first FROM (only ARG is)")]
    NoStage {
        /// The offending keyword, upper-cased.
        instruction: String,
    },
    /// `# escape=` names something other than `` ` `` or `\`.
    #[error("invalid escape directive {value:?}: must be ` or \\")]
    InvalidEscape {
        /// The directive's value as written.
        value: String,
    },
    /// The same parser directive appears twice at the top of the file.
    #[error("only one {name} parser directive can be used")]
    DuplicateDirective {
        /// The directive name, lower-cased (`syntax`, `escape` or `check`).
        name: String,
    },
    /// `# check=` has a part other than `skip=` or `error=`, or an `error=`
    /// that is not `true`/`false`.
    #[error("invalid check directive {value:?}: expected `skip=<rules>` and/or `error=true|false`, separated by `;`")]
    InvalidCheck {
        /// The directive's value as written.
        value: String,
    },
    /// The file ends before a heredoc's terminator line; points at the
    /// `<<NAME` marker.
    #[error("unterminated heredoc: no line `{name}` before the end of the file")]
    UnterminatedHeredoc {
        /// The terminator word, quotes removed.
        name: String,
    },
    /// An exec-form argument is valid JSON but holds a non-string (`[1]`).
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStrings,
    /// ENV or LABEL in the legacy `KEY value` form has a key but no value.
    #[error("{instruction} must have two arguments")]
    KeyValueMissingValue {
        /// `ENV` or `LABEL`.
        instruction: String,
    },
    /// ENV or LABEL in `key=value` form has a word without `=`; points at it.
    #[error("syntax error - can't find = in {word:?}. Must be of the form: name=value")]
    KeyValueMissingEquals {
        /// The word, quotes and escapes processed.
        word: String,
    },
    /// An ENV or LABEL pair has an empty key (`=value`).
    #[error("{instruction} names can not be blank")]
    EmptyKey {
        /// `ENV` or `LABEL`.
        instruction: String,
    },
    /// The keyword is not a Dockerfile instruction.
    #[error("unknown instruction: {name}")]
    UnknownInstruction {
        /// The keyword as found, upper-cased.
        name: String,
        /// The closest known keyword when the word looks like a typo of one.
        suggestion: Option<String>,
    },
    /// An instruction has too few or too many arguments.
    #[error("{instruction} requires {arity}")]
    Arguments {
        /// The keyword, upper-cased.
        instruction: String,
        /// What the instruction would have accepted.
        arity: Arity,
    },
    /// FROM has three words but the middle one is not `AS`.
    #[error("FROM: expected `AS <name>` after the image, found {found:?}")]
    FromExpectedAs {
        /// The middle word as written.
        found: String,
    },
    /// `FROM image AS name` with a name BuildKit rejects (see the message).
    #[error("invalid stage name {name:?}: it must start with a letter and contain only letters, digits, '-', '_' and '.'")]
    InvalidStageName {
        /// The name, lower-cased.
        name: String,
    },
    /// An ARG word has an empty name (`=x`) or whitespace in its name.
    #[error("invalid ARG name {name:?}")]
    InvalidArgName {
        /// The part before `=`, as written.
        name: String,
    },
    /// A `--flag` the instruction does not accept (names are case-sensitive).
    #[error("unknown flag --{flag} for {instruction}")]
    UnknownFlag {
        /// The keyword, upper-cased.
        instruction: String,
        /// The flag name without `--` or value.
        flag: String,
        /// The closest accepted flag, with `--`, when the name looks like a typo of one.
        suggestion: Option<String>,
    },
    /// A flag that takes a value was written bare (`--from`).
    #[error("flag --{flag} needs a value (--{flag}=<value>)")]
    FlagNeedsValue {
        /// The flag name without `--`.
        flag: String,
    },
    /// A single-valued flag appears more than once on one instruction.
    #[error("flag --{flag} given more than once")]
    DuplicateFlag {
        /// The flag name without `--`.
        flag: String,
    },
    /// A flag's literal value is not one the flag accepts (a bad boolean,
    /// `--network`, `--security`, `--chmod`, or HEALTHCHECK duration/retries).
    #[error("invalid value {value:?} for --{flag}: expected {expected}")]
    InvalidFlagValue {
        /// The flag name without `--`.
        flag: String,
        /// The value as written.
        value: String,
        /// What would have been accepted, in words (`true or false`).
        expected: String,
    },
    /// A `RUN --mount=` value is malformed; points at that flag.
    #[error("invalid --mount: {0}")]
    InvalidMount(#[from] super::instruction::MountError),
    /// SHELL is written in shell form instead of a JSON array.
    #[error("SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]")]
    ShellNotJson,
    /// SHELL is an empty JSON array.
    #[error("SHELL requires at least one element in its JSON array")]
    ShellEmpty,
    /// HEALTHCHECK's first word is neither `CMD` nor `NONE`.
    #[error("unknown type {found:?} in HEALTHCHECK (try CMD or NONE)")]
    HealthcheckType {
        /// The first word as written.
        found: String,
    },
    /// `HEALTHCHECK NONE` followed by a command or with flags.
    #[error("HEALTHCHECK NONE takes no arguments or flags")]
    HealthcheckNoneArgs,
    /// `HEALTHCHECK CMD` with nothing after `CMD`.
    #[error("HEALTHCHECK CMD requires a command")]
    HealthcheckNoCommand,
    /// `ONBUILD ONBUILD ...`.
    #[error("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    /// ONBUILD's trigger is FROM or MAINTAINER, which BuildKit forbids there.
    #[error("{instruction} isn't allowed as an ONBUILD trigger")]
    OnbuildNotAllowed {
        /// The trigger's keyword, upper-cased.
        instruction: String,
    },
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
