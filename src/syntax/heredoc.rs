//! Heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) on RUN, COPY and ADD:
//! finding the markers on an instruction line. The bodies are read by the
//! tree builder, which owns the physical lines.
//!
//! See: grammar/dockerfile.peg, rules `heredoc_marker` and `heredoc_body`.

use nom::bytes::complete::tag;
use nom::character::complete::{char, digit0, space0};
use nom::combinator::opt;
use nom::IResult;
use serde::Serialize;

use super::span::Span;
use super::split::Word;

/// One heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heredoc {
    /// The terminator word, quotes removed.
    pub name: String,
    /// The file descriptor (`3<<X`), 0 when not given. As in BuildKit (Go's
    /// `strconv.ParseUint` with its error ignored), a number too large for
    /// 64 bits reads as `u64::MAX`.
    pub fd: u64,
    /// False when any part of the name was quoted: the body is used verbatim.
    pub expand: bool,
    /// True for `<<-`: leading tabs are stripped when the body is used.
    pub chomp: bool,
    /// The raw body, line endings included, terminator excluded.
    pub content: String,
    /// Where the body is in the source.
    pub span: Span,
}

impl Heredoc {
    /// The body as a command or file receives it: for `<<-`, leading tabs
    /// are removed from every line.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content.split_inclusive('\n').map(|line| line.trim_start_matches('\t')).collect()
    }
}

/// A heredoc marker found on an instruction line: the heredoc (body still
/// empty) and the byte range `start..end` of the marker word in the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// The heredoc the marker opens; `content` and `span` not yet filled.
    pub heredoc: Heredoc,
    /// Byte offset of the marker word in the line.
    pub start: usize,
    /// Byte offset just past the marker word.
    pub end: usize,
}

/// Finds the heredoc markers on a logical instruction line, in order.
pub fn markers(line: &str) -> Vec<Marker> {
    let Some(words) = raw_words(line) else {
        return Vec::new();
    };
    words.into_iter().filter_map(|word| marker(&word.text).map(|heredoc| Marker { heredoc, start: word.start, end: word.end })).collect()
}

/// The terminator name if `word` is a heredoc marker (`<<EOF`, `<<-"EOF"`).
pub fn marker_name(word: &str) -> Option<String> {
    marker(word).map(|h| h.name)
}

/// Rule `heredoc_marker`: `[fd]<<[-][blanks]NAME` where NAME has no `<`.
fn marker_parts(word: &str) -> IResult<&str, (&str, bool)> {
    let (rest, fd) = digit0(word)?;
    let (rest, _) = tag("<<")(rest)?;
    let (rest, dash) = opt(char('-'))(rest)?;
    let (rest, _) = space0(rest)?;
    Ok((rest, (fd, dash.is_some())))
}

fn marker(word: &str) -> Option<Heredoc> {
    let Ok((name_raw, (fd, chomp))) = marker_parts(word) else {
        return None;
    };
    if name_raw.is_empty() || name_raw.contains('<') {
        return None;
    }
    let name = unquote(name_raw).filter(|name| !name.is_empty())?;
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '"' | '\'')).count();
    Some(Heredoc { expand: quotes(&name) == quotes(name_raw), name, fd: parse_fd(fd), chomp, content: String::new(), span: Span::default() })
}

/// The fd digits as BuildKit reads them: `strconv.ParseUint(digits, 10, 0)`
/// with the error ignored, so no digits give 0 and too many give the maximum.
fn parse_fd(digits: &str) -> u64 {
    digits.bytes().try_fold(0u64, |fd, d| fd.checked_mul(10)?.checked_add(u64::from(d - b'0'))).unwrap_or(u64::MAX)
}

/// Cuts a line into shell words with quotes and escapes kept as written,
/// each with its byte range in `line`. A word that is only `<<`/`<<-` (with
/// an optional fd) joins the next word, so `cat << EOF` has the marker
/// `<<EOF` (its range covers both). `None` when a quote is left open.
fn raw_words(line: &str) -> Option<Vec<Word>> {
    let mut words: Vec<Word> = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut chars = line.char_indices();
    let mut join_next = false;
    let flush = |word: &mut String, start: usize, end: usize, join_next: &mut bool, words: &mut Vec<Word>| {
        if word.is_empty() {
            return;
        }
        match words.last_mut() {
            Some(last) if *join_next => {
                last.text.push_str(word);
                last.end = end;
            }
            _ => words.push(Word { text: word.clone(), start, end }),
        }
        let joined = words.last().map(|w| w.text.as_str()).unwrap_or_default();
        *join_next = matches!(marker_parts(joined), Ok(("", _)));
        word.clear();
    };
    while let Some((at, ch)) = chars.next() {
        if word.is_empty() {
            start = at;
        }
        match quote {
            None if ch == ' ' || ch == '\t' => flush(&mut word, start, at, &mut join_next, &mut words),
            None if ch == '\\' => {
                word.push(ch);
                word.extend(chars.next().map(|(_, c)| c));
            }
            None if ch == '"' || ch == '\'' => {
                quote = Some(ch);
                word.push(ch);
            }
            Some('"') if ch == '\\' => {
                word.push(ch);
                word.extend(chars.next().map(|(_, c)| c));
            }
            Some(q) if ch == q => {
                quote = None;
                word.push(ch);
            }
            _ => word.push(ch),
        }
    }
    if quote.is_some() {
        return None;
    }
    flush(&mut word, start, line.len(), &mut join_next, &mut words);
    Some(words)
}

/// Removes quotes and escapes from a heredoc name; `None` if it is not one word.
fn unquote(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = raw.chars();
    while let Some(ch) = chars.next() {
        match quote {
            None if ch.is_whitespace() => return None,
            None if ch == '"' || ch == '\'' => quote = Some(ch),
            Some(q) if ch == q => quote = None,
            None | Some('"') if ch == '\\' => out.extend(chars.next()),
            _ => out.push(ch),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<(String, u64, bool, bool)> {
        markers(line).into_iter().map(|m| (m.heredoc.name, m.heredoc.fd, m.heredoc.expand, m.heredoc.chomp)).collect()
    }

    #[test]
    fn marker_forms() {
        assert_eq!(names("RUN <<EOF"), [("EOF".into(), 0, true, false)]);
        assert_eq!(names("RUN <<-EOF"), [("EOF".into(), 0, true, true)]);
        assert_eq!(names("RUN 3<<X cat"), [("X".into(), 3, true, false)]);
        assert_eq!(names("RUN cat << EOF > /out"), [("EOF".into(), 0, true, false)]);
        assert_eq!(names("RUN <<E\"O\"F"), [("EOF".into(), 0, false, false)]);
        assert_eq!(names("RUN echo \"<<EOF\""), []);
        assert_eq!(names("COPY <<a.txt <<b.txt /d/").len(), 2);
        assert_eq!(names("RUN 99999999999999999999<<X"), [("X".into(), u64::MAX, true, false)]);
        assert_eq!(names("RUN 18446744073709551615<<X"), [("X".into(), u64::MAX, true, false)]);
    }

    #[test]
    fn marker_ranges() {
        let ranges = |line: &str| markers(line).into_iter().map(|m| (m.start, m.end)).collect::<Vec<_>>();
        assert_eq!(ranges("RUN cat <<EOF > /out"), [(8, 13)]);
        assert_eq!(ranges("RUN cat << EOF"), [(8, 14)]);
        assert_eq!(ranges("COPY <<a <<-\"b\" /d/"), [(5, 8), (9, 15)]);
    }

    #[test]
    fn chomp_body_strips_tabs() {
        let h = Heredoc { name: "E".into(), fd: 0, expand: true, chomp: true, content: "\t\ta\n\tb\n".into(), span: Span::default() };
        assert_eq!(h.body(), "a\nb\n");
    }
}
