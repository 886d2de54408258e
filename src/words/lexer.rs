//! The expansion engine: one left-to-right pass over the input that removes
//! quotes, processes escapes, expands `$NAME` / `${NAME...}` and splits words.
//!
//! It mirrors the shape of BuildKit's lexer (a shared cursor, and a
//! "process until this stop character" routine that `${...}` calls
//! recursively for its default/alternative/pattern parts) because several
//! observable behaviours fall out of that shape and have to be reproduced:
//!
//! - Word splitting uses ONE buffer for the word being built, shared by every
//!   nesting level. A nested part (the text after `:-`, `#`, `/`...) clears
//!   it when it starts and moves what it built into its own word list, which
//!   is thrown away, when it ends. So in words mode a `${VAR<modifier>...}`
//!   loses the text of the current word that came before it (`x${F%.gz}y` →
//!   `archive.tary`), while plain `$VAR`/`${VAR}` have no nested part and
//!   keep it. Single-word mode is unaffected. This BuildKit quirk is copied
//!   on purpose: strata must split words exactly like BuildKit.
//! - The text of `#`, `%` and `/` parts is read with "raw escapes": the escape
//!   character is kept, so that the pattern code can tell `\*` from `*`.
//! - An error inside a nested part that leaves the cursor at the end of the
//!   input is reported as the missing `}` (or `/`) of the enclosing `${`.
//!
//! Deliberate differences from BuildKit, all in error cases only:
//! - `${NAME` at the end of the input is reported as a missing `}` (BuildKit
//!   says "unsupported modifier (\u{FFFD}) in substitution").
//! - Nesting deeper than [`MAX_DEPTH`] is an error instead of a very deep
//!   recursion, so hostile input cannot exhaust the stack.
//! - An invalid `%` pattern is shown as written, not reversed.

use std::collections::BTreeSet;

use super::charclass;
use super::error::ExpandError;
use super::pattern;
use super::VarLookup;

/// How many `${...}` parts may be nested inside each other.
pub(crate) const MAX_DEPTH: usize = 200;

/// Everything one pass produces.
pub(crate) struct Outcome {
    pub(crate) value: String,
    pub(crate) words: Vec<String>,
    pub(crate) matched: BTreeSet<String>,
    pub(crate) unmatched: BTreeSet<String>,
}

/// Expand `input` once, computing both the single-word and the split result.
pub(crate) fn run(input: &str, escape: char, env: &dyn VarLookup) -> Result<Outcome, ExpandError> {
    let mut expander = Expander {
        cursor: Cursor::new(input),
        env,
        escape,
        raw_escapes: false,
        depth: 0,
        word: String::new(),
        matched: BTreeSet::new(),
        unmatched: BTreeSet::new(),
    };
    let (value, words) = expander.process_until(None, false)?;
    Ok(Outcome { value, words, matched: expander.matched, unmatched: expander.unmatched })
}

/// A position in the input that only ever moves forward by whole chars.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        // BuildKit reads the input with Go's text/scanner, which silently
        // skips a byte-order mark at the very start.
        let pos = if text.starts_with('\u{FEFF}') { '\u{FEFF}'.len_utf8() } else { 0 };
        Cursor { text, pos }
    }

    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|rest| rest.chars().next())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_end(&self) -> bool {
        self.peek().is_none()
    }
}

struct Expander<'a> {
    cursor: Cursor<'a>,
    env: &'a dyn VarLookup,
    escape: char,
    /// Keep escape characters in the output (pattern parts of `${...}`).
    raw_escapes: bool,
    /// Current `${...}` nesting level.
    depth: usize,
    /// The word being built for word splitting, shared by all levels.
    word: String,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl Expander<'_> {
    /// Process text until `stop` (consumed) or, when `stop` is `None`, until
    /// the end of the input. Returns the text and its words.
    fn process_until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), ExpandError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let outcome = self.process_until_inner(stop);
        self.raw_escapes = saved;
        outcome
    }

    fn process_until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        // Together with `finish_words` taking the shared buffer at the stop
        // character, this is the BuildKit quirk described in the module header.
        self.word.clear();
        let mut text = String::new();
        let mut words = Vec::new();

        while let Some(c) = self.cursor.peek() {
            if Some(c) == stop {
                self.cursor.bump();
                return Ok((text, self.finish_words(words)));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    text.push_str(&value);
                    // Unquoted expansion results are subject to splitting.
                    for v in value.chars() {
                        self.split_char(&mut words, v);
                    }
                }
                '<' => {
                    let marker = self.heredoc_marker();
                    text.push_str(&marker);
                    self.word.push_str(&marker);
                }
                '\'' => {
                    let quoted = self.single_quoted()?;
                    text.push_str(&quoted);
                    self.word.push_str(&quoted);
                }
                '"' => {
                    let quoted = self.double_quoted()?;
                    text.push_str(&quoted);
                    self.word.push_str(&quoted);
                }
                _ => {
                    self.cursor.bump();
                    if c == self.escape {
                        if self.raw_escapes {
                            self.word.push(c);
                            text.push(c);
                        }
                        // An escape character at the very end is dropped.
                        let Some(escaped) = self.cursor.bump() else {
                            break;
                        };
                        self.word.push(escaped);
                        text.push(escaped);
                    } else {
                        self.split_char(&mut words, c);
                        text.push(c);
                    }
                }
            }
        }
        if stop.is_some() {
            // Always replaced by the caller (see `nested`), which knows which
            // `${` is unterminated.
            return Err(ExpandError::MissingBrace { offset: self.cursor.pos });
        }
        Ok((text, self.finish_words(words)))
    }

    /// Add an unquoted char to the word being built; whitespace ends it.
    fn split_char(&mut self, words: &mut Vec<String>, c: char) {
        if charclass::is_space(c) {
            if !self.word.is_empty() {
                words.push(std::mem::take(&mut self.word));
            }
        } else {
            self.word.push(c);
        }
    }

    fn finish_words(&mut self, mut words: Vec<String>) -> Vec<String> {
        if !self.word.is_empty() {
            words.push(std::mem::take(&mut self.word));
        }
        words
    }

    /// `'...'`: everything literal up to the next `'`.
    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let offset = self.cursor.pos;
        self.cursor.bump();
        let mut out = String::new();
        loop {
            match self.cursor.bump() {
                None => return Err(ExpandError::UnterminatedSingleQuote { offset }),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    /// `"..."`: `$` expands; the escape character only escapes `"`, `$` and
    /// itself, and is kept literally before anything else.
    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        let offset = self.cursor.pos;
        self.cursor.bump();
        let mut out = String::new();
        loop {
            match self.cursor.peek() {
                None => return Err(ExpandError::UnterminatedDoubleQuote { offset }),
                Some('"') => {
                    self.cursor.bump();
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                Some(mut c) => {
                    self.cursor.bump();
                    if c == self.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.cursor.peek() {
                            // Dropped; the loop then reports the missing quote.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.cursor.bump();
                                c = next;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `<<` plus the blanks after it stay glued to the next word, so that a
    /// heredoc marker written `<< EOF` splits as one word.
    fn heredoc_marker(&mut self) -> String {
        self.cursor.bump();
        if self.cursor.peek() != Some('<') {
            return "<".to_owned();
        }
        self.cursor.bump();
        let mut marker = "<<".to_owned();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.cursor.peek() {
            marker.push(c);
            self.cursor.bump();
        }
        marker
    }

    /// `$NAME`, `${NAME}` or `${NAME<modifier>...}`, cursor on the `$`.
    fn dollar(&mut self) -> Result<String, ExpandError> {
        let offset = self.cursor.pos;
        self.cursor.bump();
        if self.cursor.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.cursor.bump();
        match self.cursor.peek() {
            None => return Err(ExpandError::MissingBrace { offset }),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution { offset }),
            Some(_) => {}
        }
        let name = self.name();
        let op_offset = self.cursor.pos;
        match self.cursor.bump() {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some(op @ (':' | '+' | '-' | '?' | '#' | '%')) => self.modifier(offset, &name, op_offset, op),
            Some('/') => self.replace(offset, &name),
            None => Err(ExpandError::MissingBrace { offset }),
            Some(other) => Err(ExpandError::UnsupportedModifier { modifier: other.to_string(), offset: op_offset }),
        }
    }

    /// `${NAME:-w}`, `${NAME+w}`, `${NAME:?w}`, `${NAME#p}`, `${NAME%%p}`...
    /// `first` (at `op_offset`) has been consumed.
    fn modifier(&mut self, offset: usize, name: &str, op_offset: usize, first: char) -> Result<String, ExpandError> {
        let (null_is_unset, op) = if first == ':' { (true, self.cursor.bump()) } else { (false, Some(first)) };
        let spelled = || {
            let op = op.unwrap_or('\u{FFFD}');
            if null_is_unset {
                format!(":{op}")
            } else {
                op.to_string()
            }
        };
        let is_pattern = matches!(op, Some('#' | '%'));
        if null_is_unset && is_pattern {
            return Err(ExpandError::UnsupportedModifier { modifier: spelled(), offset: op_offset });
        }
        let word = self.nested(offset, '}', is_pattern)?;
        // Looked up after the word, like BuildKit, and even when the word
        // decides the result, so every referenced name is recorded.
        let value = self.lookup(name);
        let missing = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            Some('-') => Ok(if missing { word } else { value.unwrap_or_default() }),
            Some('+') => Ok(if missing { String::new() } else { word }),
            Some('?') => match value {
                Some(v) if !missing => Ok(v),
                _ if !word.is_empty() => Err(ExpandError::Required { name: name.to_owned(), message: word, offset }),
                None => Err(ExpandError::Unset { name: name.to_owned(), offset }),
                Some(_) => Err(ExpandError::Empty { name: name.to_owned(), offset }),
            },
            Some(op @ ('#' | '%')) => {
                let value = value.unwrap_or_default();
                // A doubled operator (`##`, `%%`) asks for the longest match;
                // BuildKit checks this after expanding the word.
                let (greedy, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let trimmed = if op == '%' { pattern::trim_suffix(pat, &value, greedy) } else { pattern::trim_prefix(pat, &value, greedy) };
                trimmed.map_err(|reason| ExpandError::InvalidPattern { pattern: pat.to_owned(), reason, offset })
            }
            _ => Err(ExpandError::UnsupportedModifier { modifier: spelled(), offset: op_offset }),
        }
    }

    /// `${NAME/pattern/replacement}` or `${NAME//pattern/replacement}`, the
    /// first `/` consumed.
    fn replace(&mut self, offset: usize, name: &str) -> Result<String, ExpandError> {
        let all = self.cursor.peek() == Some('/');
        if all {
            self.cursor.bump();
        }
        let pat = self.nested(offset, '/', true)?;
        let replacement = self.nested(offset, '}', true)?;
        let value = self.lookup(name).unwrap_or_default();
        pattern::replace(&pat, &value, &replacement, all).map_err(|reason| ExpandError::InvalidPattern { pattern: pat, reason, offset })
    }

    /// Process a part of the `${` at `offset` up to `stop`.
    fn nested(&mut self, offset: usize, stop: char, raw_escapes: bool) -> Result<String, ExpandError> {
        if self.depth >= MAX_DEPTH {
            return Err(ExpandError::TooDeep { offset });
        }
        self.depth += 1;
        let outcome = self.process_until(Some(stop), raw_escapes);
        self.depth -= 1;
        match outcome {
            Ok((text, _words)) => Ok(text),
            Err(_) if self.cursor.at_end() => Err(if stop == '/' { ExpandError::MissingSlash { offset } } else { ExpandError::MissingBrace { offset } }),
            Err(err) => Err(err),
        }
    }

    /// A variable name after `$` or `${`: a run of digits (positional), one
    /// special-parameter character, or letters/digits/underscores. Empty when
    /// none of these follows.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.cursor.peek() {
            if name.is_empty() && charclass::is_digit(c) {
                while let Some(d) = self.cursor.peek().filter(|&d| charclass::is_digit(d)) {
                    name.push(d);
                    self.cursor.bump();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.cursor.bump();
                return c.to_string();
            }
            if !(charclass::is_letter(c) || charclass::is_digit(c) || c == '_') {
                break;
            }
            name.push(c);
            self.cursor.bump();
        }
        name
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.lookup(name) {
            Some(value) => {
                self.matched.insert(name.to_owned());
                Some(value.to_owned())
            }
            None => {
                self.unmatched.insert(name.to_owned());
                None
            }
        }
    }
}
