//! moby/patternmatcher, the one matcher BuildKit uses for `.dockerignore`,
//! COPY's `--exclude` and the include pattern of `--parents`.
//!
//! A pattern is compiled as patternmatcher compiles it:
//! a pattern without wildcards is compared as a string (exact, `dir/**`
//! prefix, `**/x` suffix), anything else becomes a Go regexp built by pasting
//! the pattern text (`*` → `[^/]*`, `?` → `[^/]`, `**` → `(.*/)?` or `.*`,
//! `[`, `]` and `\x` unchanged, `.+()|{}$` escaped). Pasting is why `[!a]`
//! is the set {`!`, `a`} and why an unescaped `^` in a wildcard pattern is an
//! anchor. The regexp is then rewritten for the `regex` crate by
//! `goregex`, keeping Go's meaning.
//!
//! A [`PatternSet`] matches a path when the last pattern that matches it or
//! one of its parent directories is not an exception (`!`).
//!
//! patternmatcher compiles lazily, on the first match, so regexp errors (a
//! reversed range such as `[Local-Only]`) surface when a path is matched. The
//! compile result is kept here and reported at that same moment.
//!
//! See: moby/patternmatcher `patternmatcher.go` (`Pattern.compile`, `match`).

use super::{glob, goregex, path};

/// A compiled pattern (the cleaned text, without the `!`).
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The cleaned text, without the `!`.
    pub text: String,
    /// An exception (`!`): it re-includes what earlier patterns matched.
    pub exclusion: bool,
    compiled: Result<Compiled, String>,
}

/// A pattern refused when it is read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The pattern is `!` alone: an exclusion of nothing.
    #[error("illegal exclusion pattern: \"!\"")]
    LoneExclamation,
    /// The pattern is not valid glob syntax (e.g. an unclosed `[`).
    #[error("syntax error in pattern {pattern:?}")]
    Syntax {
        /// The pattern, cleaned, without its leading `!`.
        pattern: String,
    },
    /// The glob is valid but its regular expression does not compile, as in
    /// BuildKit's fileutils (e.g. `[Local-Only]`), so it can never match.
    #[error("pattern {pattern:?} cannot be matched: {reason}")]
    Unmatchable {
        /// The pattern, cleaned, without its leading `!`.
        pattern: String,
        /// The regular expression compiler's error.
        reason: String,
    },
}

#[derive(Debug, Clone)]
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
    /// patternmatcher's `New` for one pattern: trimmed, path-cleaned, a
    /// leading `!` taken as an exception, syntax checked with Go's
    /// `filepath.Match`. `None` for a blank pattern. The regexp is compiled
    /// now but its errors wait for [`Pattern::matches`], as in Go.
    pub fn parse(raw: &str) -> Result<Option<Pattern>, PatternError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        let cleaned = path::clean(trimmed);
        let (exclusion, text) = match cleaned.strip_prefix('!') {
            Some("") => return Err(PatternError::LoneExclamation),
            Some(rest) => (true, rest.to_owned()),
            None => (false, cleaned),
        };
        if glob::validate(&text).is_err() {
            return Err(PatternError::Syntax { pattern: text });
        }
        let compiled = compile(&text);
        Ok(Some(Pattern { text, exclusion, compiled }))
    }

    /// Whether `path` matches; `Err` carries the regexp error of a pattern
    /// that cannot be compiled.
    pub fn matches(&self, path: &str) -> Result<bool, PatternError> {
        let compiled = self.compiled.as_ref().map_err(|reason| self.unmatchable(reason))?;
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

    /// The compile error, if the pattern can never be matched.
    pub fn check(&self) -> Result<(), PatternError> {
        self.compiled.as_ref().map(|_| ()).map_err(|reason| self.unmatchable(reason))
    }

    fn unmatchable(&self, reason: &str) -> PatternError {
        PatternError::Unmatchable { pattern: self.text.clone(), reason: reason.to_owned() }
    }
}

/// Patterns in order, the last that decides winning.
#[derive(Debug, Clone, Default)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
}

impl PatternSet {
    /// Parses `patterns` (blank ones are skipped). A pattern that cannot be
    /// compiled is refused here, before any path is matched.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<PatternSet, PatternError> {
        let mut set = PatternSet::default();
        for raw in patterns {
            if let Some(pattern) = Pattern::parse(raw.as_ref())? {
                pattern.check()?;
                set.patterns.push(pattern);
            }
        }
        Ok(set)
    }

    /// Adds an already parsed pattern (its compile error surfaces when
    /// matching, as in Go).
    pub fn push(&mut self, pattern: Pattern) {
        self.patterns.push(pattern);
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether there is no pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether some pattern re-includes (`!`).
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// patternmatcher's `MatchesOrParentMatches` for `path` (relative,
    /// `/`-separated, clean). Errors of patterns tried on parent
    /// directories are ignored, as in Go.
    pub fn matches(&self, path: &str) -> Result<bool, PatternError> {
        self.matches_locating(path).map_err(|(_, error)| error)
    }

    /// [`PatternSet::matches`] for a set whose patterns all compile (as
    /// [`PatternSet::new`] makes them); a failing pattern matches nothing.
    pub fn is_match(&self, path: &str) -> bool {
        self.matches(path).unwrap_or(false)
    }

    /// [`PatternSet::matches`], saying which pattern (its index) failed.
    pub fn matches_locating(&self, path: &str) -> Result<bool, (usize, PatternError)> {
        if self.patterns.is_empty() {
            return Ok(false);
        }
        let parents = parent_dirs(path);
        let mut matched = false;
        for (index, pattern) in self.patterns.iter().enumerate() {
            // An exception can only undo an exclusion and vice versa.
            if pattern.exclusion != matched {
                continue;
            }
            let hit = pattern.matches(path).map_err(|e| (index, e))? || parents.iter().any(|dir| pattern.matches(dir).unwrap_or(false));
            if hit {
                matched = !pattern.exclusion;
            }
        }
        Ok(matched)
    }

    /// Whether some including pattern may match a path below the directory
    /// `dir` (`""` is the root): a walk looking for matches can skip the
    /// others. Conservative: when in doubt, yes.
    pub fn may_match_below(&self, dir: &str) -> bool {
        let names: Vec<&str> = if dir.is_empty() { Vec::new() } else { dir.split('/').collect() };
        self.patterns.iter().filter(|p| !p.exclusion).any(|pattern| {
            let parts: Vec<&str> = pattern.text.split('/').collect();
            for (depth, name) in names.iter().enumerate() {
                let Some(part) = parts.get(depth) else { return true };
                if part.contains("**") {
                    return true;
                }
                if glob::match_path(part, name) == Ok(false) {
                    return false;
                }
            }
            true
        })
    }
}

/// The parent directories of `path`, shortest first (`a`, `a/b` for
/// `a/b/c`), as patternmatcher derives them from `filepath.Dir`.
pub fn parent_dirs(path: &str) -> Vec<String> {
    let dir = match path.rfind('/') {
        Some(i) => path::clean(&path[..=i]),
        None => return Vec::new(),
    };
    if dir == "." {
        return Vec::new();
    }
    let parts: Vec<&str> = dir.split('/').collect();
    (1..=parts.len()).map(|n| parts[..n].join("/")).collect()
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
        match compile(text) {
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

    fn set(patterns: &[&str]) -> PatternSet {
        PatternSet::new(patterns).expect("valid patterns")
    }

    #[test]
    fn dockerignore_semantics() {
        let s = set(&["*.txt"]);
        assert!(s.matches("a.txt").unwrap());
        assert!(!s.matches("dir/a.txt").unwrap());
        let s = set(&["*/*.png"]);
        assert!(s.matches("dir1/x.png").unwrap());
        assert!(!s.matches("x.png").unwrap());
        let s = set(&["**/*.md"]);
        assert!(s.matches("README.md").unwrap());
        assert!(s.matches("a/b/c.md").unwrap());
        let s = set(&["docs"]);
        assert!(s.matches("docs").unwrap());
        assert!(s.matches("docs/a/b").unwrap());
        assert!(!s.matches("docsx").unwrap());
        let s = set(&["docs/**"]);
        assert!(s.matches("docs/a").unwrap());
        assert!(!s.matches("docs").unwrap());
        let s = set(&["*", "!keep*"]);
        assert!(s.matches("x").unwrap());
        assert!(!s.matches("keep.txt").unwrap());
        let s = set(&["a/[bc]?/d"]);
        assert!(s.matches("a/bx/d").unwrap());
        assert!(!s.matches("a/dx/d").unwrap());
        let s = set(&["./x/../y/"]);
        assert!(s.matches("y").unwrap());
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
        assert_eq!(PatternSet::new(&["!"]).unwrap_err(), PatternError::LoneExclamation);
        assert!(matches!(PatternSet::new(&["a["]), Err(PatternError::Syntax { .. })));
        assert!(matches!(PatternSet::new(&["[Local-Only]"]), Err(PatternError::Unmatchable { .. })));
    }
}
