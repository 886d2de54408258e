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

use super::error::ErrorKind;
use super::span::Span;

/// One heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Heredoc {
    /// The terminator word, quotes removed.
    pub name: String,
    /// The file descriptor (`3<<X`), 0 when not given.
    pub fd: u32,
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

/// Finds the heredoc markers on a logical instruction line, in order.
pub fn markers(line: &str) -> Result<Vec<Heredoc>, ErrorKind> {
    let Some(words) = raw_words(line) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for word in &words {
        if let Some(heredoc) = marker(word)? {
            found.push(heredoc);
        }
    }
    Ok(found)
}

/// The terminator name if `word` is a heredoc marker (`<<EOF`, `<<-"EOF"`).
pub fn marker_name(word: &str) -> Option<String> {
    marker(word).ok().flatten().map(|h| h.name)
}

/// Rule `heredoc_marker`: `[fd]<<[-][blanks]NAME` where NAME has no `<`.
fn marker_parts(word: &str) -> IResult<&str, (&str, bool)> {
    let (rest, fd) = digit0(word)?;
    let (rest, _) = tag("<<")(rest)?;
    let (rest, dash) = opt(char('-'))(rest)?;
    let (rest, _) = space0(rest)?;
    Ok((rest, (fd, dash.is_some())))
}

fn marker(word: &str) -> Result<Option<Heredoc>, ErrorKind> {
    let Ok((name_raw, (fd, chomp))) = marker_parts(word) else {
        return Ok(None);
    };
    if name_raw.is_empty() || name_raw.contains('<') {
        return Ok(None);
    }
    let fd = if fd.is_empty() {
        0
    } else {
        fd.parse().map_err(|_| ErrorKind::InvalidHeredocFd { value: fd.into() })?
    };
    let Some(name) = unquote(name_raw) else {
        return Ok(None);
    };
    if name.is_empty() {
        return Ok(None);
    }
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '"' | '\'')).count();
    Ok(Some(Heredoc {
        expand: quotes(&name) == quotes(name_raw),
        name,
        fd,
        chomp,
        content: String::new(),
        span: Span::default(),
    }))
}

/// Cuts a line into shell words with quotes and escapes kept as written.
/// A word that is only `<<`/`<<-` (with an optional fd) joins the next word,
/// so `cat << EOF` has the marker `<<EOF`. `None` when a quote is left open.
fn raw_words(line: &str) -> Option<Vec<String>> {
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    let mut join_next = false;
    let flush = |word: &mut String, join_next: &mut bool, words: &mut Vec<String>| {
        if word.is_empty() {
            return;
        }
        match words.last_mut() {
            Some(last) if *join_next => last.push_str(word),
            _ => words.push(word.clone()),
        }
        let joined = words.last().map(String::as_str).unwrap_or_default();
        *join_next = matches!(marker_parts(joined), Ok(("", _)));
        word.clear();
    };
    while let Some(ch) = chars.next() {
        match quote {
            None if ch == ' ' || ch == '\t' => flush(&mut word, &mut join_next, &mut words),
            None if ch == '\\' => {
                word.push(ch);
                word.extend(chars.next());
            }
            None if ch == '"' || ch == '\'' => {
                quote = Some(ch);
                word.push(ch);
            }
            Some('"') if ch == '\\' => {
                word.push(ch);
                word.extend(chars.next());
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
    flush(&mut word, &mut join_next, &mut words);
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

    fn names(line: &str) -> Vec<(String, u32, bool, bool)> {
        markers(line).unwrap().into_iter().map(|h| (h.name, h.fd, h.expand, h.chomp)).collect()
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
    }

    #[test]
    fn chomp_body_strips_tabs() {
        let h = Heredoc {
            name: "E".into(),
            fd: 0,
            expand: true,
            chomp: true,
            content: "\t\ta\n\tb\n".into(),
            span: Span::default(),
        };
        assert_eq!(h.body(), "a\nb\n");
    }
}
