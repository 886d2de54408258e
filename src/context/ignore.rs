//! `.dockerignore`: which paths of the build context BuildKit leaves out.
//!
//! The file is read as moby/patternmatcher's `ignorefile.ReadAll` reads it
//! and matched as its `PatternMatcher` matches (the code BuildKit runs), so
//! the quirks come along: a `#` is a comment only in the first column,
//! patterns are path-cleaned and lose one leading `/`, `[!a]` is not a
//! negation, an unescaped `^` in a wildcard pattern never matches, some
//! malformed classes are only reported when a path is matched. The cases in
//! `testdata/conformance/dockerignore-cases.md` pin these down.
//!
//! Two ways of matching, as BuildKit has them:
//! - [`IgnoreFile::matches`] checks one path: it is excluded when the last
//!   pattern that matches the path or one of its parent directories is not
//!   an exception (patternmatcher's `MatchesOrParentMatches`);
//! - [`IgnoreFile::matches_in_walk`] is what the context walk uses: it reuses
//!   the parent directory's per-pattern results (`MatchesUsingParentResults`,
//!   what fsutil's walker calls), so each path is matched once per pattern.
//!   The two differ only in rare orderings of exceptions.
//!
//! See: moby/patternmatcher `ignorefile/ignorefile.go`, `patternmatcher.go`;
//! tonistiigi/fsutil `filter.go` (directory skipping).

use std::path::{Path, PathBuf};

use crate::pattern::{parent_dirs, Pattern, PatternError, PatternSet};

/// An ignore file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    /// The ignore file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The ignore file's host path.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An error inside the ignore file, with the file's path attached.
    #[error("{}", path.display())]
    InFile {
        /// The ignore file's host path.
        path: PathBuf,
        #[source]
        /// The line-level error.
        source: Box<IgnoreError>,
    },
    /// A line is longer than Go's `bufio.Scanner` accepts (64 KiB), as docker refuses it.
    #[error("line {line}: line too long")]
    LineTooLong {
        /// The line number, from 1.
        line: usize,
    },
    /// A line is `!` alone: an exclusion of nothing.
    #[error("line {line}: illegal exclusion pattern: \"!\"")]
    LoneExclamation {
        /// The line number, from 1.
        line: usize,
    },
    /// A pattern does not parse (e.g. an unclosed `[`).
    #[error("line {line}: syntax error in pattern {pattern:?}")]
    BadPattern {
        /// The line number, from 1.
        line: usize,
        /// The pattern as written.
        pattern: String,
    },
    /// A pattern parses but can match no path.
    #[error("line {line}: pattern {pattern:?} cannot be matched: {reason}")]
    Unmatchable {
        /// The line number, from 1.
        line: usize,
        /// The pattern as written.
        pattern: String,
        /// Why nothing can match it.
        reason: String,
    },
}

/// Go's `bufio.MaxScanTokenSize`: `bufio.Scanner` refuses longer lines.
const MAX_LINE: usize = 64 * 1024;

/// The parsed patterns of an ignore file, in file order.
#[derive(Debug, Clone, Default)]
pub struct IgnoreFile {
    patterns: PatternSet,
    /// The 1-based line of each pattern.
    lines: Vec<usize>,
    /// Some pattern is an exception (`!`).
    exclusions: bool,
    /// No exception contains a wildcard (besides a trailing `/*` or `/**`):
    /// fsutil only skips excluded directories then.
    only_prefix_exceptions: bool,
    source: Option<PathBuf>,
}

impl IgnoreFile {
    /// No patterns: nothing is excluded.
    pub fn empty() -> IgnoreFile {
        IgnoreFile { only_prefix_exceptions: true, ..IgnoreFile::default() }
    }

    /// Parses the text of an ignore file. Errors found here are the ones
    /// BuildKit reports when it loads the file; others wait for a match.
    pub fn parse(text: &str) -> Result<IgnoreFile, IgnoreError> {
        let mut file = IgnoreFile::empty();
        // bufio.ScanLines: lines end at \n, lose one trailing \r; no empty
        // line after a final \n.
        for (index, raw) in text.split_terminator('\n').enumerate() {
            let line = index + 1;
            if raw.len() >= MAX_LINE {
                return Err(IgnoreError::LineTooLong { line });
            }
            let mut raw = raw.strip_suffix('\r').unwrap_or(raw);
            if index == 0 {
                raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
            }
            let Some(entry) = read_line(raw) else { continue };
            file.push(&entry, line)?;
        }
        Ok(file)
    }

    /// Loads the ignore file BuildKit would use: `<Dockerfile>.dockerignore`
    /// beside the Dockerfile if there is one, else `<context>/.dockerignore`,
    /// else none. The two are never merged. Errors in the file come wrapped
    /// in [`IgnoreError::InFile`].
    pub fn load(context_dir: &Path, dockerfile: &Path) -> Result<IgnoreFile, IgnoreError> {
        let mut candidates = Vec::with_capacity(2);
        if let Some(name) = dockerfile.file_name() {
            let mut name = name.to_os_string();
            name.push(".dockerignore");
            candidates.push(dockerfile.with_file_name(name));
        }
        candidates.push(context_dir.join(".dockerignore"));
        for path in candidates {
            match fs_err::read(&path) {
                Ok(bytes) => {
                    let parsed = IgnoreFile::parse(&String::from_utf8_lossy(&bytes));
                    let mut file = parsed.map_err(|e| IgnoreError::InFile { path: path.clone(), source: Box::new(e) })?;
                    file.source = Some(path);
                    return Ok(file);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(IgnoreError::Read { path, source }),
            }
        }
        Ok(IgnoreFile::empty())
    }

    /// The file the patterns came from (`None` for parsed text or no file).
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Whether there are no patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The number of patterns (the length of a walk's match state).
    pub fn len(&self) -> usize {
        self.patterns.patterns().len()
    }

    /// Whether `path` (relative to the context, `/`-separated, clean) is
    /// excluded: the last pattern matching it or a parent directory decides.
    pub fn matches(&self, path: &str) -> Result<bool, IgnoreError> {
        self.patterns.matches_locating(path).map_err(|(index, error)| self.located(index, error))
    }

    /// Matching during a walk: `parent` holds the per-pattern results of the
    /// parent directory (`None` at the top level); this path's results are
    /// written to `state`, for its children.
    pub fn matches_in_walk(&self, path: &str, parent: Option<&[bool]>, state: &mut Vec<bool>) -> Result<bool, IgnoreError> {
        state.clear();
        state.resize(self.patterns.patterns().len(), false);
        let mut matched = false;
        for (i, pattern) in self.patterns.patterns().iter().enumerate() {
            let mut hit = parent.is_some_and(|p| p[i]);
            if !hit {
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches(path).map_err(|e| self.located(i, e))?;
                if !hit && parent.is_none() {
                    hit = parent_dirs(path).iter().any(|dir| pattern.matches(dir).unwrap_or(false));
                }
            }
            state[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        Ok(matched)
    }

    /// Whether an excluded directory can be left unwalked: fsutil skips it
    /// only when every exception is a plain path (no wildcard before a
    /// trailing `/*` or `/**`) and none of them lies inside the directory.
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        if !self.only_prefix_exceptions {
            return false;
        }
        if !self.exclusions {
            return true;
        }
        let dir_slash = format!("{dir}/");
        !self.patterns.patterns().iter().filter(|p| p.exclusion).any(|p| {
            let mut prefix = without_trailing_glob(&p.text).to_owned();
            prefix.push('/');
            prefix.starts_with(&dir_slash)
        })
    }

    /// A pattern's error, with its line.
    fn located(&self, index: usize, error: PatternError) -> IgnoreError {
        at_line(self.lines.get(index).copied().unwrap_or(0), error)
    }

    /// patternmatcher's `New` for one entry of `ReadAll`'s output.
    fn push(&mut self, entry: &str, line: usize) -> Result<(), IgnoreError> {
        let Some(pattern) = Pattern::parse(entry).map_err(|e| at_line(line, e))? else { return Ok(()) };
        if pattern.exclusion {
            self.exclusions = true;
            if without_trailing_glob(&pattern.text).contains(['*', '[', ']', '?', '^', '\\']) {
                self.only_prefix_exceptions = false;
            }
        }
        self.patterns.push(pattern);
        self.lines.push(line);
        Ok(())
    }
}

fn at_line(line: usize, error: PatternError) -> IgnoreError {
    match error {
        PatternError::LoneExclamation => IgnoreError::LoneExclamation { line },
        PatternError::Syntax { pattern } => IgnoreError::BadPattern { line, pattern },
        PatternError::Unmatchable { pattern, reason } => IgnoreError::Unmatchable { line, pattern, reason },
    }
}

/// `ignorefile.ReadAll` for one line: `None` for comments and blank lines,
/// else the pattern cleaned, without one leading `/`, `!` kept in front.
fn read_line(raw: &str) -> Option<String> {
    if raw.starts_with('#') {
        return None;
    }
    let mut pattern = raw.trim();
    if pattern.is_empty() {
        return None;
    }
    let invert = pattern.starts_with('!');
    if invert {
        pattern = pattern[1..].trim();
    }
    let mut out = String::with_capacity(pattern.len() + 1);
    if invert {
        out.push('!');
    }
    if !pattern.is_empty() {
        let cleaned = crate::pattern::clean(pattern);
        let relative = match cleaned.strip_prefix('/') {
            Some(rest) if !rest.is_empty() => rest,
            _ => &cleaned,
        };
        out.push_str(relative);
    }
    Some(out)
}

/// fsutil's `patternWithoutTrailingGlob`.
fn without_trailing_glob(text: &str) -> &str {
    let text = text.strip_suffix("/**").unwrap_or(text);
    text.strip_suffix("/*").unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(lines: &[&str], path: &str) -> bool {
        IgnoreFile::parse(&lines.join("\n")).unwrap().matches(path).unwrap()
    }

    #[test]
    fn reads_like_ignorefile() {
        assert_eq!(read_line("! /inverted/abs/path").as_deref(), Some("!inverted/abs/path"));
        assert_eq!(read_line("/test2").as_deref(), Some("test2"));
        assert_eq!(read_line("!").as_deref(), Some("!"));
        assert_eq!(read_line("# comment"), None);
        assert_eq!(read_line("   "), None);
        assert!(matches!(IgnoreFile::parse("x\n! \n"), Err(IgnoreError::LoneExclamation { line: 2 })));
        assert!(matches!(IgnoreFile::parse("! /"), Err(IgnoreError::LoneExclamation { line: 1 })));
    }

    #[test]
    fn crlf_and_trailing_slash_space() {
        assert!(excluded(&["foo\r"], "foo"));
        // "a /" cleans to "a " and patternmatcher trims it again.
        assert!(excluded(&["a /"], "a"));
    }

    #[test]
    fn long_lines_are_refused() {
        let long = "a".repeat(MAX_LINE);
        assert!(matches!(IgnoreFile::parse(&long), Err(IgnoreError::LineTooLong { line: 1 })));
        assert!(IgnoreFile::parse(&long[1..]).is_ok());
    }

    #[test]
    fn walk_matching_reuses_parent_results() {
        let file = IgnoreFile::parse("docs\n!docs/keep.txt").unwrap();
        let mut dir_state = Vec::new();
        assert!(file.matches_in_walk("docs", None, &mut dir_state).unwrap());
        let mut state = Vec::new();
        assert!(!file.matches_in_walk("docs/keep.txt", Some(&dir_state), &mut state).unwrap());
        assert!(file.matches_in_walk("docs/other.txt", Some(&dir_state), &mut state).unwrap());
    }

    #[test]
    fn directory_skipping_follows_fsutil() {
        let file = IgnoreFile::parse("docs\nnode_modules\n!docs/keep.txt").unwrap();
        assert!(!file.can_skip_dir("docs"));
        assert!(file.can_skip_dir("node_modules"));
        let wild = IgnoreFile::parse("node_modules\n!*.md").unwrap();
        assert!(!wild.can_skip_dir("node_modules"));
        let trailing = IgnoreFile::parse("out\n!out/keep/**").unwrap();
        assert!(!trailing.can_skip_dir("out"));
        assert!(IgnoreFile::parse("out").unwrap().can_skip_dir("out"));
    }

    #[test]
    fn load_prefers_the_dockerfile_specific_file() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join(".dockerignore"), "context-wide\n").unwrap();
        let dockerfile = dir.path().join("app.Dockerfile");
        let file = IgnoreFile::load(dir.path(), &dockerfile).unwrap();
        assert_eq!(file.source(), Some(dir.path().join(".dockerignore").as_path()));
        fs_err::write(dir.path().join("app.Dockerfile.dockerignore"), "specific\n").unwrap();
        let file = IgnoreFile::load(dir.path(), &dockerfile).unwrap();
        assert!(file.matches("specific").unwrap());
        assert!(!file.matches("context-wide").unwrap());
        let none = IgnoreFile::load(&dir.path().join("sub"), &dir.path().join("sub/Dockerfile")).unwrap();
        assert!(none.is_empty());
    }
}
