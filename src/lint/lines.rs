//! Byte offsets to line and column, through an index of line starts built
//! once per file: a finding is located in O(log lines), so a file with
//! thousands of findings is not rescanned for each one.

use crate::syntax::LineCol;

/// Where each line of a source starts.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    source: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// An index of where each line of `source` starts.
    pub fn new(source: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { source, starts }
    }

    /// The same answer as [`LineCol::locate`]: 1-based, columns in characters.
    pub fn locate(&self, offset: usize) -> LineCol {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let start = self.starts[line - 1];
        LineCol { line, column: self.source[start..offset].chars().count() + 1 }
    }

    /// The byte offset where 1-based `line` starts (the end of the source past the last line).
    pub fn line_start(&self, line: usize) -> usize {
        self.starts.get(line.saturating_sub(1)).copied().unwrap_or(self.source.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_locate() {
        let source = "FROM a\n\nRUN é x\r\nCMD y";
        let index = LineIndex::new(source);
        for offset in 0..=source.len() + 2 {
            assert_eq!(index.locate(offset), LineCol::locate(source, offset), "at {offset}");
        }
    }
}
