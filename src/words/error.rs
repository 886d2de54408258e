//! Why an expansion failed, and where in the input.
//!
//! The messages are BuildKit's own (without the `failed to process "..."`
//! wrapper BuildKit puts around them), so users who search for a BuildKit
//! error find the same text. Every variant carries `offset`: the byte offset
//! in the text given to the [`Lexer`](super::Lexer) that the error points at,
//! always on a character boundary and at most the input's length.

use super::pattern::PatternError;

/// A failed expansion: a syntax error in the input, a `${VAR?}` check that
/// did not hold, or a bad pattern in `${VAR#...}` / `${VAR/...}`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ExpandError {
    /// A `'` with no closing `'`. `offset`: the opening quote.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote {
        /// Byte offset of the opening quote.
        offset: usize,
    },

    /// A `"` with no closing `"`. `offset`: the opening quote.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote {
        /// Byte offset of the opening quote.
        offset: usize,
    },

    /// `${` whose closing `}` never comes. `offset`: the `$`.
    #[error("syntax error: missing '}}'")]
    MissingBrace {
        /// Byte offset of the `$` that starts the expansion.
        offset: usize,
    },

    /// `${VAR/pattern` with no `/` ending the pattern. `offset`: the `$`.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash {
        /// Byte offset of the `$` that starts the expansion.
        offset: usize,
    },

    /// `${}`, `${:...}`, `${{...}`. `offset`: the `$`.
    #[error("syntax error: bad substitution")]
    BadSubstitution {
        /// Byte offset of the `$` that starts the expansion.
        offset: usize,
    },

    /// A modifier BuildKit does not implement: `${V=x}`, `${V:=x}`,
    /// `${V:#x}`, `${V:%x}`, `${V.}`, `${VXX:YY}`... `modifier` is the text
    /// BuildKit prints (one or two characters, `:` included when present).
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The modifier as written, e.g. `=` or `:=`.
        modifier: String,
        /// Byte offset of the modifier's first character.
        offset: usize,
    },

    /// `${NAME?}` or `${NAME:?}` with `NAME` unset.
    #[error("{name}: is not allowed to be unset")]
    Unset {
        /// The variable.
        name: String,
        /// Byte offset of the `$` that starts the expansion.
        offset: usize,
    },

    /// `${NAME:?}` with `NAME` set to the empty string.
    #[error("{name}: is not allowed to be empty")]
    Empty {
        /// The variable.
        name: String,
        /// Byte offset of the `$` that starts the expansion.
        offset: usize,
    },

    /// `${NAME?message}` / `${NAME:?message}` failing: the (expanded)
    /// message replaces BuildKit's default text.
    #[error("{name}: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The expanded text after `?`.
        message: String,
        /// Byte offset of the `$` that starts the expansion.
        offset: usize,
    },

    /// `${...}` parts nested more than 200 levels deep (strata's limit, so
    /// that hostile input cannot exhaust the stack; BuildKit has none).
    #[error("substitution nested too deeply (more than 200 levels)")]
    TooDeep {
        /// Byte offset of the `$` of the innermost rejected expansion.
        offset: usize,
    },

    /// The (expanded) pattern of `#`, `%` or `/` is not a valid pattern.
    #[error("invalid pattern ({pattern}) in substitution: {reason}")]
    InvalidPattern {
        /// The pattern after expansion, as BuildKit prints it.
        pattern: String,
        /// What is wrong with it.
        reason: PatternError,
        /// Byte offset of the `$` that starts the expansion.
        offset: usize,
    },
}

impl ExpandError {
    /// Byte offset in the input that this error points at.
    pub fn offset(&self) -> usize {
        match self {
            ExpandError::UnterminatedSingleQuote { offset }
            | ExpandError::UnterminatedDoubleQuote { offset }
            | ExpandError::MissingBrace { offset }
            | ExpandError::MissingSlash { offset }
            | ExpandError::BadSubstitution { offset }
            | ExpandError::UnsupportedModifier { offset, .. }
            | ExpandError::Unset { offset, .. }
            | ExpandError::Empty { offset, .. }
            | ExpandError::Required { offset, .. }
            | ExpandError::TooDeep { offset }
            | ExpandError::InvalidPattern { offset, .. } => *offset,
        }
    }
}
