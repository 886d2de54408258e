//! `.dockerignore`-style patterns, as `moby/patternmatcher`: for COPY's
//! `--exclude` and for the include pattern of `--parents`.
//!
//! A pattern is cleaned like a path; `*` matches a run of characters but
//! `/`, `?` one character but `/`, `**` any number of directories, `[...]`
//! a class, `\` escapes; a leading `!` re-includes. A path matches a
//! pattern when the pattern matches it or one of its parent directories;
//! the last pattern that decides wins.
//!
//! See: `github.com/moby/patternmatcher` (`Pattern.compile`, `Matches`).

use std::path::{Component, Path};

/// A list of patterns.
#[derive(Debug, Clone, Default)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    tokens: Vec<Token>,
    /// Each `/`-separated part compiled alone, to prune walks.
    parts: Vec<Vec<Token>>,
    has_double_star: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`: `[^/]*`.
    Star,
    /// `?`: `[^/]`.
    One,
    /// `[...]`: ranges, maybe negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` or `**` inside: `(.*/)?`.
    AnyDirs,
    /// `**` at the end: `.*`.
    AnyRest,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern {
    pub pattern: String,
    pub reason: &'static str,
}

impl PatternSet {
    /// Compiles `patterns` (blank ones are skipped).
    pub fn new(patterns: &[String]) -> Result<PatternSet, BadPattern> {
        let mut set = PatternSet::default();
        for raw in patterns {
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = clean(trimmed);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => return Err(BadPattern { pattern: raw.clone(), reason: "illegal exclusion pattern: \"!\"" }),
                Some(rest) => (true, rest.to_owned()),
                None => (false, cleaned),
            };
            if crate::context::glob::validate(&text).is_err() {
                return Err(BadPattern { pattern: raw.clone(), reason: "syntax error in pattern" });
            }
            let parts: Vec<Vec<Token>> = text.split('/').map(compile).collect();
            let has_double_star = text.split('/').map(|p| p.contains("**")).collect();
            set.patterns.push(Pattern { exclusion, tokens: compile(&text), parts, has_double_star });
        }
        Ok(set)
    }

    /// Whether some pattern re-includes (`!`).
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative, `/`-separated) is matched.
    pub fn matches(&self, path: &str) -> bool {
        let parents: Vec<&str> = match path.rfind('/') {
            Some(at) => path[..at].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(path);
            if !hit {
                for depth in 1..=parents.len() {
                    if pattern.matches(&parents[..depth].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether some including pattern may match a path below the directory
    /// `dir`: a walk looking for matches can skip the others.
    pub fn may_match_below(&self, dir: &str) -> bool {
        let dir: Vec<&str> = if dir.is_empty() { Vec::new() } else { dir.split('/').collect() };
        self.patterns.iter().filter(|p| !p.exclusion).any(|pattern| {
            for (depth, name) in dir.iter().enumerate() {
                let Some(part) = pattern.parts.get(depth) else { return true };
                if pattern.has_double_star[depth] {
                    return true;
                }
                if !match_tokens(part, &name.chars().collect::<Vec<_>>()) {
                    return false;
                }
            }
            true
        })
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match_tokens(&self.tokens, &path.chars().collect::<Vec<_>>())
    }
}

/// Go's `filepath.Clean` of a relative or absolute slash path.
fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(name) => parts.push(name.to_str().unwrap_or_default()),
            Component::ParentDir => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            _ => {}
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// patternmatcher's translation of a pattern, as tokens instead of a
/// regular expression.
fn compile(pattern: &str) -> Vec<Token> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                tokens.push(if i >= chars.len() { Token::AnyRest } else { Token::AnyDirs });
            }
            '*' => tokens.push(Token::Star),
            '?' => tokens.push(Token::One),
            '\\' => match chars.get(i) {
                Some(&next) => {
                    tokens.push(Token::Char(next));
                    i += 1;
                }
                None => tokens.push(Token::Char('\\')),
            },
            '[' => {
                let (token, next) = class(&chars, i);
                tokens.push(token);
                i = next;
            }
            other => tokens.push(Token::Char(other)),
        }
    }
    tokens
}

/// A class starting after its `[`: the token and where it ends. A class
/// with no closing `]` matches a literal `[` (the pattern was checked with
/// Go's matcher before, so this only happens for odd escapes).
fn class(chars: &[char], start: usize) -> (Token, usize) {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < chars.len() {
        let mut c = chars[i];
        if c == ']' && !first {
            return (Token::Class { negated, ranges }, i + 1);
        }
        first = false;
        if c == '\\' && i + 1 < chars.len() {
            i += 1;
            c = chars[i];
        }
        i += 1;
        let mut hi = c;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&n| n != ']') {
            hi = chars[i + 1];
            if hi == '\\' && i + 2 < chars.len() {
                hi = chars[i + 2];
                i += 1;
            }
            i += 2;
        }
        ranges.push((c, hi));
    }
    (Token::Char('['), start)
}

/// Backtracking match of the whole of `s`.
fn match_tokens(tokens: &[Token], s: &[char]) -> bool {
    let Some((first, rest)) = tokens.split_first() else { return s.is_empty() };
    match first {
        Token::Char(c) => s.first() == Some(c) && match_tokens(rest, &s[1..]),
        Token::One => s.first().is_some_and(|&c| c != '/') && match_tokens(rest, &s[1..]),
        Token::Class { negated, ranges } => {
            s.first().is_some_and(|&c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated) && match_tokens(rest, &s[1..])
        }
        Token::Star => {
            for skip in 0..=s.len() {
                if match_tokens(rest, &s[skip..]) {
                    return true;
                }
                if s.get(skip) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Token::AnyRest => true,
        Token::AnyDirs => {
            if match_tokens(rest, s) {
                return true;
            }
            // `.*/`: any prefix that ends with a slash.
            (0..s.len()).any(|at| s[at] == '/' && match_tokens(rest, &s[at + 1..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(patterns: &[&str]) -> PatternSet {
        PatternSet::new(&patterns.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>()).expect("valid patterns")
    }

    #[test]
    fn dockerignore_semantics() {
        let s = set(&["*.txt"]);
        assert!(s.matches("a.txt"));
        assert!(!s.matches("dir/a.txt"));
        let s = set(&["*/*.png"]);
        assert!(s.matches("dir1/x.png"));
        assert!(!s.matches("x.png"));
        let s = set(&["**/*.md"]);
        assert!(s.matches("README.md"));
        assert!(s.matches("a/b/c.md"));
        let s = set(&["docs"]);
        assert!(s.matches("docs"));
        assert!(s.matches("docs/a/b"));
        assert!(!s.matches("docsx"));
        let s = set(&["docs/**"]);
        assert!(s.matches("docs/a"));
        assert!(!s.matches("docs"));
        let s = set(&["*", "!keep*"]);
        assert!(s.matches("x"));
        assert!(!s.matches("keep.txt"));
        let s = set(&["a/[bc]?/d"]);
        assert!(s.matches("a/bx/d"));
        assert!(!s.matches("a/dx/d"));
        let s = set(&["./x/../y/"]);
        assert!(s.matches("y"));
    }

    #[test]
    fn pruning() {
        let s = set(&["src/*/main.rs"]);
        assert!(s.may_match_below(""));
        assert!(s.may_match_below("src"));
        assert!(s.may_match_below("src/app"));
        assert!(!s.may_match_below("docs"));
        let s = set(&["**/x"]);
        assert!(s.may_match_below("anything/at/all"));
    }

    #[test]
    fn refused() {
        assert!(PatternSet::new(&["!".to_owned()]).is_err());
        assert!(PatternSet::new(&["a[".to_owned()]).is_err());
    }
}
