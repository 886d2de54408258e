//! Logical lines: physical lines joined by the escape character, with a map
//! back to source offsets so every error can point at the exact column even
//! inside a continued instruction.
//!
//! See: grammar/dockerfile.peg, rules `logical_line` and `continuation`.

use super::span::Span;

/// One physical line of the source.
#[derive(Debug, Clone, Copy)]
pub struct PhysicalLine<'a> {
    /// Byte offset of the line's first character in the source.
    pub start: usize,
    /// The line with every trailing `\r` and `\n` removed.
    pub content: &'a str,
    /// The line as written, line ending included (heredoc bodies keep it).
    pub raw: &'a str,
}

/// Splits `source` into physical lines on `\n` (a lone `\r` is not a break).
pub fn physical_lines(source: &str, skip: usize) -> impl Iterator<Item = PhysicalLine<'_>> {
    let mut start = skip.min(source.len());
    std::iter::from_fn(move || {
        if start >= source.len() {
            return None;
        }
        let end = source[start..].find('\n').map_or(source.len(), |i| start + i + 1);
        let raw = &source[start..end];
        let line = PhysicalLine { start, content: raw.trim_end_matches(['\r', '\n']), raw };
        start = end;
        Some(line)
    })
}

/// An instruction's text after continuations are joined.
#[derive(Debug, Clone, Default)]
pub struct LogicalLine {
    /// The joined text: each physical line without its continuation
    /// character and line ending, comment lines inside left out.
    pub text: String,
    /// `(offset in text, offset in source)` at the start of each joined piece.
    pieces: Vec<(usize, usize)>,
}

impl LogicalLine {
    /// Empties the line, keeping its buffers for the next instruction.
    pub fn clear(&mut self) {
        self.text.clear();
        self.pieces.clear();
    }

    /// Appends `piece`, which starts at `source_offset` in the source.
    pub fn push(&mut self, piece: &str, source_offset: usize) {
        self.pieces.push((self.text.len(), source_offset));
        self.text.push_str(piece);
    }

    /// The source offset of byte `at` of the logical text.
    pub fn to_source(&self, at: usize) -> usize {
        let index = self.pieces.partition_point(|&(logical, _)| logical <= at);
        match index.checked_sub(1).and_then(|i| self.pieces.get(i)) {
            Some(&(logical, source)) => source + (at - logical),
            None => self.pieces.first().map_or(0, |&(_, source)| source),
        }
    }

    /// The source span of logical bytes `start..end`.
    pub fn span(&self, start: usize, end: usize) -> Span {
        if end <= start {
            return Span::point(self.to_source(start));
        }
        Span::new(self.to_source(start), self.to_source(end - 1) + 1)
    }

    /// The source span of `sub`, a slice of `self.text`.
    pub fn span_of(&self, sub: &str) -> Span {
        let start = super::split::offset_in(&self.text, sub);
        self.span(start, start + sub.len())
    }
}

/// Rule `continuation`: if `line` ends with the escape character (plus blanks)
/// that is not itself escaped, returns the line without it.
pub fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let body = line.trim_end_matches([' ', '\t']);
    let before = body.strip_suffix(escape)?;
    if before.ends_with(escape) {
        return None;
    }
    Some(before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(strip_continuation("foo \\", '\\'), Some("foo "));
        assert_eq!(strip_continuation("foo \\  \t", '\\'), Some("foo "));
        assert_eq!(strip_continuation("foo \\\\", '\\'), None);
        assert_eq!(strip_continuation("foo \\\\\\", '\\'), None);
        assert_eq!(strip_continuation("\\", '\\'), Some(""));
        assert_eq!(strip_continuation("a `", '`'), Some("a "));
    }

    #[test]
    fn maps_offsets_across_pieces() {
        let mut line = LogicalLine::default();
        line.push("RUN a ", 10);
        line.push("  b", 30);
        assert_eq!(line.to_source(0), 10);
        assert_eq!(line.to_source(6), 30);
        assert_eq!(line.span(4, 9), Span::new(14, 33));
    }
}
