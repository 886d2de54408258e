//! The patterns of `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}`,
//! `${VAR/p/r}` and `${VAR//p/r}`, matched the way BuildKit matches them.
//!
//! BuildKit turns the pattern into a Go regular expression (`*` → `.*` or
//! `.*?`, `?` → `.`, everything else literal) and runs Go's `regexp`. This
//! module reproduces the results of that without a regex engine:
//!
//! - `*` and `?` never match a newline, because Go's `.` does not.
//! - Matching follows Go's leftmost-first rule: among the matches at the
//!   leftmost start, the one a backtracking engine would find first (greedy
//!   stars try long before short, lazy stars short before long). The search
//!   is a dynamic program over (pattern position, text position), so time is
//!   O(pattern × text) and memory O(text), like Go's own engine; there is no
//!   exponential backtracking on hostile input.
//! - `%`/`%%` reverse the pattern and the value and strip a prefix, as
//!   BuildKit does. The reversal keeps `\x` pairs together, so odd patterns
//!   (a trailing lone backslash) behave exactly as in BuildKit.
//! - `//` replaces the way Go's `ReplaceAllString` does: an empty match right
//!   after a previous match is skipped, and `$0` / `${0}` in the replacement
//!   stand for the matched text while other `$name` references are empty.
//!   (`/` without a second slash inserts the replacement literally.)
//! - A U+FEFF at the very start of a pattern is dropped: BuildKit reads the
//!   pattern with Go's `text/scanner`, which skips a leading byte-order mark.

use super::charclass;

/// Why a pattern is not valid.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// A backslash followed by something other than `*`, `?`, `\`, `}` or
    /// `/` (`None`: the pattern ended right after the backslash).
    #[error("invalid escape '\\{}'", .0.unwrap_or('\u{FFFD}'))]
    InvalidEscape(Option<char>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`: one character other than a newline.
    AnyChar,
    /// `*`: any run of characters other than newlines.
    Star,
}

/// A parsed pattern; `greedy` decides whether its stars prefer long or short.
#[derive(Debug)]
struct Pattern {
    tokens: Vec<Token>,
    greedy: bool,
}

impl Pattern {
    fn parse(text: &str, greedy: bool) -> Result<Pattern, PatternError> {
        let mut chars = text.chars().peekable();
        if chars.peek() == Some(&'\u{FEFF}') {
            chars.next();
        }
        let mut tokens = Vec::new();
        while let Some(c) = chars.next() {
            let token = match c {
                '*' => Token::Star,
                '?' => Token::AnyChar,
                '\\' => {
                    // `\}` and `\/` were needed to keep `}` and `/` from ending
                    // the `${...}` part; the backslash is not part of the pattern.
                    if matches!(chars.peek(), Some('}' | '/')) {
                        continue;
                    }
                    match chars.next() {
                        Some(e @ ('*' | '?' | '\\')) => Token::Literal(e),
                        other => return Err(PatternError::InvalidEscape(other)),
                    }
                }
                c => Token::Literal(c),
            };
            tokens.push(token);
        }
        Ok(Pattern { tokens, greedy })
    }

    /// For every start position `p` in `0..=text.len()`, the end of the match
    /// that Go's leftmost-first rule picks when the match must begin at `p`.
    fn match_ends(&self, text: &[char]) -> Vec<Option<usize>> {
        let n = text.len();
        let can_step = |p: usize| p < n && text[p] != '\n';
        // Row for "all tokens consumed": the match ends where we are.
        let mut after: Vec<Option<usize>> = (0..=n).map(Some).collect();
        let mut row: Vec<Option<usize>> = vec![None; n + 1];
        for token in self.tokens.iter().rev() {
            for p in (0..=n).rev() {
                row[p] = match *token {
                    Token::Literal(c) => {
                        if p < n && text[p] == c {
                            after[p + 1]
                        } else {
                            None
                        }
                    }
                    Token::AnyChar => {
                        if can_step(p) {
                            after[p + 1]
                        } else {
                            None
                        }
                    }
                    Token::Star => {
                        let longer = if can_step(p) { row[p + 1] } else { None };
                        if self.greedy {
                            longer.or(after[p])
                        } else {
                            after[p].or(longer)
                        }
                    }
                };
            }
            std::mem::swap(&mut after, &mut row);
        }
        after
    }
}

/// `${VAR#pattern}` (`greedy`: `##`): remove the matching prefix.
pub(crate) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, PatternError> {
    let pattern = Pattern::parse(pattern, greedy)?;
    let text: Vec<char> = value.chars().collect();
    let ends = pattern.match_ends(&text);
    Ok(match ends.first().copied().flatten() {
        Some(end) => text[end..].iter().collect(),
        None => value.to_owned(),
    })
}

/// `${VAR%pattern}` (`greedy`: `%%`): remove the matching suffix.
///
/// Done as BuildKit does it, by stripping the reversed pattern from the
/// reversed value, so that "shortest suffix" becomes "shortest prefix".
pub(crate) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, PatternError> {
    let reversed_value: String = value.chars().rev().collect();
    let stripped = trim_prefix(&reverse_pattern(pattern), &reversed_value, greedy)?;
    Ok(stripped.chars().rev().collect())
}

/// Reverse a pattern but keep each `\x` pair in its order (`a\*c` → `c\*a`).
/// A backslash that is the last character has no pair and moves to the front.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let mut i = chars.len();
    // Walking backwards, a char belongs to a pair when it is preceded by a
    // backslash that itself starts a pair; pairing is decided left to right,
    // so compute it first.
    let mut pair_start = vec![false; chars.len()];
    let mut j = 0;
    while j < chars.len() {
        if chars[j] == '\\' && j + 1 < chars.len() {
            pair_start[j] = true;
            j += 2;
        } else {
            j += 1;
        }
    }
    while i > 0 {
        i -= 1;
        if i > 0 && pair_start[i - 1] {
            out.push(chars[i - 1]);
            out.push(chars[i]);
            i -= 1;
        } else {
            out.push(chars[i]);
        }
    }
    out.into_iter().collect()
}

/// `${VAR/pattern/replacement}` (`all`: `//`). Stars are always greedy.
pub(crate) fn replace(pattern: &str, value: &str, replacement: &str, all: bool) -> Result<String, PatternError> {
    let pattern = Pattern::parse(pattern, true)?;
    let text: Vec<char> = value.chars().collect();
    let ends = pattern.match_ends(&text);
    let first_match_from = |from: usize| (from..=text.len()).find_map(|start| ends.get(start).copied().flatten().map(|end| (start, end)));
    let slice = |from: usize, to: usize| text[from..to].iter().collect::<String>();

    if !all {
        return Ok(match first_match_from(0) {
            Some((start, end)) => {
                let mut out = slice(0, start);
                out.push_str(replacement);
                out.push_str(&slice(end, text.len()));
                out
            }
            None => value.to_owned(),
        });
    }

    // Positions are in chars; Go works in bytes, but every position it uses
    // is a character boundary and its one-character steps are one char here.
    let n = text.len();
    let mut out = String::new();
    let mut last_match_end = 0;
    let mut search = 0;
    while search <= n {
        let Some((start, end)) = first_match_from(search) else {
            break;
        };
        out.push_str(&slice(last_match_end, start));
        // An empty match touching the previous match is not replaced again.
        if end > last_match_end || start == 0 {
            out.push_str(&expand_template(replacement, &slice(start, end)));
        }
        last_match_end = end;
        let width = usize::from(search < n);
        if search + width > end {
            search += width;
        } else if search + 1 > end {
            search += 1;
        } else {
            search = end;
        }
    }
    out.push_str(&slice(last_match_end, n));
    Ok(out)
}

/// Go's `Regexp.Expand` for a regex without capture groups: `$$` is `$`,
/// `$0`/`${0}` the whole match, any other `$name`/`${name}` nothing, and a
/// `$` that starts no valid reference stays as it is.
fn expand_template(template: &str, matched: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        match group_reference(rest) {
            Some((name, after)) => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            None => out.push('$'),
        }
    }
    out.push_str(rest);
    out
}

/// Split `name...` or `{name}...` (the text after a `$`) into the name and
/// what follows; `None` when no valid reference starts here.
fn group_reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let len = body.char_indices().find(|&(_, c)| !(charclass::is_letter(c) || charclass::is_digit(c) || c == '_')).map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let (name, mut after) = body.split_at(len);
    if braced {
        after = after.strip_prefix('}')?;
    }
    Some((name, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_suffix() {
        assert_eq!(trim_prefix("*.", "archive.tar.gz", false).unwrap(), "tar.gz");
        assert_eq!(trim_prefix("*.", "archive.tar.gz", true).unwrap(), "gz");
        assert_eq!(trim_suffix(".*", "archive.tar.gz", false).unwrap(), "archive.tar");
        assert_eq!(trim_suffix(".*", "archive.tar.gz", true).unwrap(), "archive");
        assert_eq!(trim_prefix("", "abc", true).unwrap(), "abc");
        assert_eq!(trim_prefix("*", "ab\ncd", true).unwrap(), "\ncd");
        assert_eq!(trim_prefix("?", "\nx", true).unwrap(), "\nx");
    }

    #[test]
    fn reverse_keeps_escape_pairs() {
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("*\\"), "\\*");
        assert_eq!(reverse_pattern("\\\\\\"), "\\\\\\");
        assert_eq!(reverse_pattern(""), "");
    }

    #[test]
    fn escapes() {
        assert_eq!(trim_prefix("*\\*", "a**b*c", false).unwrap(), "*b*c");
        assert_eq!(trim_prefix("\\}x", "}xy", false).unwrap(), "y");
        assert_eq!(trim_prefix("\\x", "x", false), Err(PatternError::InvalidEscape(Some('x'))));
        assert_eq!(trim_prefix("\\", "x", false), Err(PatternError::InvalidEscape(None)));
        assert_eq!(PatternError::InvalidEscape(Some('x')).to_string(), "invalid escape '\\x'");
    }

    #[test]
    fn replace_like_go() {
        assert_eq!(replace("a", "banana", "o", false).unwrap(), "bonana");
        assert_eq!(replace("a", "banana", "o", true).unwrap(), "bonono");
        // Empty pattern: Go's ReplaceAllString puts the replacement between chars.
        assert_eq!(replace("", "abc", "-", true).unwrap(), "-a-b-c-");
        assert_eq!(replace("", "abc", "-", false).unwrap(), "-abc");
        assert_eq!(replace("*", "abc", "x", true).unwrap(), "x");
        assert_eq!(replace("b*", "abcb", "[$0]", true).unwrap(), "a[bcb]");
        assert_eq!(replace("b", "abc", "$1${x}$$-$", true).unwrap(), "a$-$c");
        assert_eq!(replace("b", "abc", "${0", true).unwrap(), "a${0c");
        assert_eq!(replace("b", "abc", "$0", false).unwrap(), "a$0c");
    }
}
