//! Shell-word expansion as BuildKit does it for Dockerfiles.
//!
//! This module owns the "words" layer that sits between the parser and the
//! instructions: given the text of an argument and the variables in scope
//! (ARG/ENV), it removes quotes, processes the escape character, expands
//! `$NAME`, `${NAME}` and the `${NAME<modifier>...}` forms, and optionally
//! splits the result into words. It is a pure function of its inputs: no
//! I/O, no global state, never a panic on any input.
//!
//! The behaviour is BuildKit's (`frontend/dockerfile/shell`), including its
//! quirks, and is checked against BuildKit's own data (`envVarTest`,
//! `wordsTest`) and strata's modifier cases:
//!
//! | form | meaning |
//! | --- | --- |
//! | `'...'` | literal, no escapes |
//! | `"..."` | `$` expands; the escape char escapes only `"`, `$` and itself |
//! | `$NAME`, `${NAME}` | value, or empty when unset |
//! | `$1`, `$@`, `${#}`... | positional/special parameters: never set, so empty |
//! | `${N:-w}` / `${N-w}` | `w` if N is unset or empty / unset |
//! | `${N:+w}` / `${N+w}` | `w` if N is set and non-empty / set |
//! | `${N:?w}` / `${N?w}` | error if N is unset or empty / unset |
//! | `${N#p}` `${N##p}` `${N%p}` `${N%%p}` | strip shortest/longest prefix/suffix matching `p` |
//! | `${N/p/r}` `${N//p/r}` | replace first/every match of `p` with `r` |
//!
//! Files: `lexer.rs` (the expansion pass), `pattern.rs` (the `#`/`%`/`/`
//! patterns), `error.rs` ([`ExpandError`]), `charclass.rs` (Go's notion of
//! letters, digits and spaces, which decides where a name ends).

mod charclass;
mod error;
mod lexer;
mod pattern;

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash};

pub use error::ExpandError;
pub use pattern::PatternError;

/// Where the lexer finds the values of variables.
///
/// `None` means unset, which differs from set-but-empty for `${N-w}`,
/// `${N+w}` and `${N?}`. Names are case-sensitive (Linux semantics).
pub trait VarLookup {
    /// The value of `name`, or `None` when it is not set.
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl<T: VarLookup + ?Sized> VarLookup for &T {
    fn lookup(&self, name: &str) -> Option<&str> {
        (**self).lookup(name)
    }
}

impl<K, V, S> VarLookup for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(AsRef::as_ref)
    }
}

impl<K, V> VarLookup for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(AsRef::as_ref)
    }
}

/// A list of `(name, value)` pairs; when a name appears twice the later
/// pair wins, as in BuildKit's environment lists.
impl<K: AsRef<str>, V: AsRef<str>> VarLookup for [(K, V)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(key, _)| key.as_ref() == name).map(|(_, value)| value.as_ref())
    }
}

/// Same as the slice: the later pair wins.
impl<K: AsRef<str>, V: AsRef<str>, const N: usize> VarLookup for [(K, V); N] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self[..].lookup(name)
    }
}

/// Same as the slice: the later pair wins.
impl<K: AsRef<str>, V: AsRef<str>> VarLookup for Vec<(K, V)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self[..].lookup(name)
    }
}

/// Everything one expansion produces; see [`Lexer::expand`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expansion {
    /// The input expanded as one word (BuildKit `ProcessWord`).
    pub value: String,
    /// The input expanded and split into words (BuildKit `ProcessWords`).
    pub words: Vec<String>,
    /// Names that were looked up and found set (possibly empty).
    pub matched: BTreeSet<String>,
    /// Names that were looked up and found unset, including positional and
    /// special parameters such as `1` or `@`.
    pub unmatched: BTreeSet<String>,
}

/// BuildKit's shell-word lexer, configured with the Dockerfile's escape
/// character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
}

impl Default for Lexer {
    /// A lexer with the default escape character `\`.
    fn default() -> Self {
        Lexer::new('\\')
    }
}

impl Lexer {
    /// A lexer using `escape` as the escape character: a backslash by
    /// default, a backtick when the Dockerfile's `escape` directive says so.
    /// Other characters are accepted and used as given.
    #[must_use]
    pub fn new(escape: char) -> Self {
        Lexer { escape }
    }

    /// The escape character this lexer was made with.
    #[must_use]
    pub fn escape(&self) -> char {
        self.escape
    }

    /// Expand `input` as ONE word (BuildKit `ProcessWord`): quotes removed,
    /// escapes processed, unset variables empty, whitespace kept.
    ///
    /// # Errors
    /// Any [`ExpandError`]: unterminated quotes or `${`, unsupported
    /// modifiers, a failed `${NAME?}` check, an invalid pattern.
    pub fn expand_word(&self, input: &str, env: &dyn VarLookup) -> Result<String, ExpandError> {
        Ok(self.expand(input, env)?.value)
    }

    /// Expand `input` and split it into words (BuildKit `ProcessWords`).
    ///
    /// Whitespace in unquoted text or in the value of an unquoted expansion
    /// separates words; quoted or escaped whitespace does not; empty words
    /// are dropped. Like BuildKit, a `${NAME<modifier>...}` expansion drops
    /// the part of the current word written before it (`x${F%.gz}` gives
    /// the words of `${F%.gz}` only); plain `$NAME`/`${NAME}` do not.
    ///
    /// # Errors
    /// Any [`ExpandError`]: unterminated quotes or `${`, unsupported
    /// modifiers, a failed `${NAME?}` check, an invalid pattern.
    pub fn expand_words(&self, input: &str, env: &dyn VarLookup) -> Result<Vec<String>, ExpandError> {
        Ok(self.expand(input, env)?.words)
    }

    /// Like [`Lexer::expand_word`], and also the names of all variables the
    /// input referenced, set or not (every name that was looked up: inside
    /// unused defaults too, since BuildKit expands those). Use this for
    /// "unused build-arg" checks and for cache keys; [`Lexer::expand`]
    /// separates set from unset names.
    ///
    /// # Errors
    /// Any [`ExpandError`]: unterminated quotes or `${`, unsupported
    /// modifiers, a failed `${NAME?}` check, an invalid pattern.
    pub fn expand_word_tracked(&self, input: &str, env: &dyn VarLookup) -> Result<(String, BTreeSet<String>), ExpandError> {
        let expansion = self.expand(input, env)?;
        let mut names = expansion.matched;
        names.extend(expansion.unmatched);
        Ok((expansion.value, names))
    }

    /// One pass producing the single-word value, the split words and the
    /// names looked up (BuildKit `ProcessWordWithMatches`).
    ///
    /// # Errors
    /// Any [`ExpandError`]: unterminated quotes or `${`, unsupported
    /// modifiers, a failed `${NAME?}` check, an invalid pattern.
    pub fn expand(&self, input: &str, env: &dyn VarLookup) -> Result<Expansion, ExpandError> {
        let outcome = lexer::run(input, self.escape, env)?;
        Ok(Expansion { value: outcome.value, words: outcome.words, matched: outcome.matched, unmatched: outcome.unmatched })
    }
}

#[cfg(test)]
mod tests;
