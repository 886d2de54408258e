//! One `.dockerignore` pattern, compiled as moby/patternmatcher compiles it:
//! a pattern without wildcards is compared as a string (exact, `dir/**`
//! prefix, `**/x` suffix), anything else becomes a Go regexp built by pasting
//! the pattern text (`*` → `[^/]*`, `?` → `[^/]`, `**` → `(.*/)?` or `.*`,
//! `[`, `]` and `\x` unchanged, `.+()|{}$` escaped). Pasting is why `[!a]`
//! is the set {`!`, `a`} and why an unescaped `^` in a wildcard pattern is an
//! anchor. The regexp is then rewritten for the `regex` crate by
//! [`super::goregex`], keeping Go's meaning.
//!
//! patternmatcher compiles lazily, on the first match, so regexp errors (a
//! reversed range such as `[Local-Only]`) surface when a path is matched. The
//! compile result is kept here and reported at that same moment.
//!
//! See: moby/patternmatcher `patternmatcher.go` (`Pattern.compile`, `match`).

use super::goregex;

/// A compiled pattern (the cleaned text, without the `!`).
#[derive(Debug)]
pub(crate) struct Pattern {
    pub text: String,
    pub exclusion: bool,
    /// 1-based line in the ignore file.
    pub line: usize,
    compiled: Result<Compiled, String>,
}

#[derive(Debug)]
enum Compiled {
    /// `path == text`.
    Exact,
    /// `path` starts with `text` minus its final `**`.
    Prefix,
    /// `path` ends with `text` minus its leading `**`, or (for `**/x`) is `x`.
    Suffix,
    Regex(regex::Regex),
}

#[derive(PartialEq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

impl Pattern {
    pub fn new(text: String, exclusion: bool, line: usize) -> Pattern {
        let compiled = compile(&text);
        Pattern { text, exclusion, line, compiled }
    }

    /// Whether `path` matches; `Err` carries the regexp error of a pattern
    /// that cannot be compiled.
    pub fn matches(&self, path: &str) -> Result<bool, &str> {
        let compiled = self.compiled.as_ref().map_err(String::as_str)?;
        // Byte slices, as in Go: a leading byte-order mark makes `text[2..]`
        // cut a character, which Go's strings allow.
        let (bytes, text) = (path.as_bytes(), self.text.as_bytes());
        Ok(match compiled {
            Compiled::Exact => bytes == text,
            Compiled::Prefix => bytes.starts_with(&text[..text.len() - 2]),
            Compiled::Suffix => {
                let suffix = &text[2..];
                bytes.ends_with(suffix) || (suffix.first() == Some(&b'/') && bytes == &suffix[1..])
            }
            Compiled::Regex(re) => re.is_match(path),
        })
    }
}

/// patternmatcher's escape set: regexp metacharacters that mean nothing to
/// `filepath.Match`.
fn should_escape(c: char) -> bool {
    matches!(c, '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$')
}

fn compile(text: &str) -> Result<Compiled, String> {
    let (kind, go) = go_regexp(text);
    Ok(match kind {
        Kind::Exact => Compiled::Exact,
        Kind::Prefix => Compiled::Prefix,
        Kind::Suffix => Compiled::Suffix,
        Kind::Regex => {
            let rust = goregex::translate(&go)?;
            Compiled::Regex(regex::Regex::new(&rust).map_err(|e| e.to_string())?)
        }
    })
}

/// The match kind and the Go regexp text, exactly as `Pattern.compile` builds
/// them (Go's text/scanner skips a leading byte-order mark).
fn go_regexp(text: &str) -> (Kind, String) {
    let chars: Vec<char> = text.strip_prefix('\u{feff}').unwrap_or(text).chars().collect();
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let mut pos = 0;
    let mut iteration = 0;
    while pos < chars.len() {
        let ch = chars[pos];
        pos += 1;
        match ch {
            '*' if chars.get(pos) == Some(&'*') => {
                pos += 1;
                if chars.get(pos) == Some(&'/') {
                    pos += 1;
                }
                if pos == chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if iteration == 0 {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            c if should_escape(c) => {
                re.push('\\');
                re.push(c);
            }
            '\\' => match chars.get(pos) {
                Some(&next) => {
                    re.push('\\');
                    re.push(next);
                    pos += 1;
                    kind = Kind::Regex;
                }
                None => re.push('\\'),
            },
            '[' | ']' => {
                re.push(ch);
                kind = Kind::Regex;
            }
            c => re.push(c),
        }
        iteration += 1;
    }
    re.push('$');
    (kind, re)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(text: &str) -> &'static str {
        match Pattern::new(text.to_owned(), false, 1).compiled {
            Ok(Compiled::Exact) => "exact",
            Ok(Compiled::Prefix) => "prefix",
            Ok(Compiled::Suffix) => "suffix",
            Ok(Compiled::Regex(_)) => "regex",
            Err(_) => "error",
        }
    }

    #[test]
    fn kinds_follow_patternmatcher() {
        assert_eq!(kind_of("foo/bar"), "exact");
        assert_eq!(kind_of("a^b"), "exact");
        assert_eq!(kind_of("foo/**"), "prefix");
        assert_eq!(kind_of("**/foo"), "suffix");
        assert_eq!(kind_of("**.txt"), "suffix");
        assert_eq!(kind_of("**"), "suffix");
        assert_eq!(kind_of("**/*.log"), "regex");
        assert_eq!(kind_of("a\\*b"), "regex");
        assert_eq!(kind_of("[Local-Only]"), "error");
    }

    #[test]
    fn go_regexp_text() {
        assert_eq!(go_regexp("a**b").1, "^a(.*/)?b$");
        assert_eq!(go_regexp("**/*.log").1, "^(.*/)?[^/]*\\.log$");
        assert_eq!(go_regexp("a/**/**").1, "^a/(.*/)?.*$");
    }
}
