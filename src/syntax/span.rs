//! Byte spans into the Dockerfile source, and their translation to the
//! 1-based line/column pairs that users read in error messages.

use serde::Serialize;

/// A half-open byte range `start..end` into the original Dockerfile text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Span {
    /// Byte offset of the first byte covered.
    pub start: usize,
    /// Byte offset just past the last byte covered; equal to `start` for a point.
    pub end: usize,
}

impl Span {
    /// The span `start..end`; an `end` before `start` is raised to `start`
    /// (an empty span) rather than making an inverted range.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end: end.max(start) }
    }

    /// A zero-width span, used when an error points between characters.
    pub fn point(at: usize) -> Self {
        Span { start: at, end: at }
    }

    /// The number of bytes covered.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no bytes (a point between characters).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        miette::SourceSpan::new(span.start.into(), span.len())
    }
}

/// The physical lines an instruction occupies (1-based, inclusive), counting
/// comment and blank lines inside continuations and heredoc bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LineRange {
    /// The line the instruction's keyword is on.
    pub start: usize,
    /// The last line of the instruction: its last continuation line, or its
    /// last heredoc's terminator line.
    pub end: usize,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    /// The line number, 1 for the first line.
    pub line: usize,
    /// The column, 1 for the first character of the line.
    pub column: usize,
}

impl LineCol {
    /// Locates byte `offset` in `source`; offsets past the end clamp to it and
    /// offsets inside a multi-byte character count as that character.
    pub fn locate(source: &str, offset: usize) -> LineCol {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        LineCol { line: before.matches('\n').count() + 1, column: before[line_start..].chars().count() + 1 }
    }
}
