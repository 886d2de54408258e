//! The tree builder: source text to directives and raw [`Node`]s. It walks
//! physical lines, reads directives at the top, joins continuations into
//! logical lines, and reads heredoc bodies after the line that opens them.
//!
//! See: grammar/dockerfile.peg, rule `dockerfile`.

use super::directive::{is_comment, DirectiveScanner, Directives};
use super::error::{ErrorKind, ParseError};
use super::heredoc::{markers, Heredoc};
use super::logical::{physical_lines, strip_continuation, LogicalLine, PhysicalLine};
use super::node::{parse_node, Node};
use super::span::{LineRange, Span};

/// A Dockerfile as BuildKit's parser sees it: directives and raw nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Ast {
    /// The parser directives from the top of the file (defaults when none).
    pub directives: Directives,
    /// One node per instruction, in file order; never empty.
    pub nodes: Vec<Node>,
}

/// Parses `source` into the raw tree. Fails only where BuildKit's parser
/// fails (no instructions, bad directives, bad ENV/LABEL pairs, non-string
/// JSON arrays, unterminated heredocs).
pub fn parse_ast(source: &str) -> Result<Ast, ParseError> {
    let mut reader = Reader::new(source);
    let mut nodes = Vec::new();
    while let Some(node) = reader.next_node()? {
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(no_instructions());
    }
    Ok(Ast { directives: reader.into_directives(), nodes })
}

/// The error for a file without instructions. There is nothing to point at,
/// so it points at the start of the file.
pub(crate) fn no_instructions() -> ParseError {
    ParseError::new(ErrorKind::NoInstructions, Span::point(0))
}

/// The tree builder's loop, one node at a time: [`parse_ast`] collects the
/// nodes, [`super::parse`] types each one and drops it (so a large file is
/// never held twice, raw and typed).
pub(crate) struct Reader<'a> {
    lines: Lines<'a>,
    directives: DirectiveScanner,
    /// The logical line being joined; its buffers are reused across nodes.
    logical: LogicalLine,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        let bom = if source.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
        Reader {
            lines: Lines { inner: Box::new(physical_lines(source, bom)), number: 0 },
            directives: DirectiveScanner::default(),
            logical: LogicalLine::default(),
        }
    }

    /// The directives read so far (all of them once a node has been read).
    pub(crate) fn into_directives(self) -> Directives {
        self.directives.directives
    }

    /// The next instruction, `None` at the end of the file.
    pub(crate) fn next_node(&mut self) -> Result<Option<Node>, ParseError> {
        let lines = &mut self.lines;
        let logical = &mut self.logical;
        while let Some(first) = lines.next() {
            let text = first.content.trim_start();
            let at = first.start + (first.content.len() - text.len());
            if self.directives.offer(text, at)? || is_comment(text) {
                continue;
            }
            let escape = self.directives.directives.escape;
            let start_line = lines.number;
            logical.clear();
            let mut end = at + text.len();
            let mut continued = append(logical, text, at, escape);
            if !continued && logical.text.is_empty() {
                continue;
            }
            while continued {
                let Some(next) = lines.next() else { break };
                let lead = next.content.trim_start();
                if is_comment(lead) || lead.is_empty() {
                    continue;
                }
                end = next.start + next.content.len();
                continued = append(logical, next.content, next.start, escape);
            }
            let mut node = parse_node(logical, &logical.text, escape)?;
            if node.can_contain_heredoc() && logical.text.contains("<<") {
                for marker in markers(&logical.text) {
                    let at = logical.span(marker.start, marker.end);
                    let (heredoc, body_end) = read_body(lines, marker.heredoc, at)?;
                    end = body_end;
                    node.heredocs.push(heredoc);
                }
            }
            node.span = Span::new(at, end);
            node.lines = LineRange { start: start_line, end: lines.number };
            return Ok(Some(node));
        }
        Ok(None)
    }
}

/// Physical lines with a running 1-based line number.
struct Lines<'a> {
    inner: Box<dyn Iterator<Item = PhysicalLine<'a>> + 'a>,
    number: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self) -> Option<PhysicalLine<'a>> {
        let line = self.inner.next()?;
        self.number += 1;
        Some(line)
    }
}

/// Appends one physical line's text to `logical`; returns whether it continues.
fn append(logical: &mut LogicalLine, text: &str, at: usize, escape: char) -> bool {
    match strip_continuation(text, escape) {
        Some(body) => {
            logical.push(body, at);
            true
        }
        None => {
            logical.push(text, at);
            false
        }
    }
}

/// Rule `heredoc_body`: lines up to the terminator, verbatim. Returns the
/// heredoc with its body and the offset where the terminator line ends;
/// `marker` (the `<<NAME` word) is where an unterminated heredoc is reported.
fn read_body(lines: &mut Lines<'_>, mut heredoc: Heredoc, marker: Span) -> Result<(Heredoc, usize), ParseError> {
    let mut body_start = None;
    while let Some(line) = lines.next() {
        let body_from = *body_start.get_or_insert(line.start);
        let candidate = if heredoc.chomp { line.content.trim_start_matches('\t') } else { line.content };
        if candidate == heredoc.name {
            heredoc.span = Span::new(body_from, line.start);
            return Ok((heredoc, line.start + line.content.len()));
        }
        heredoc.content.push_str(line.raw);
    }
    Err(ParseError::new(ErrorKind::UnterminatedHeredoc { name: heredoc.name }, marker))
}
