//! Empty lines inside a continued instruction: BuildKit skips them today and
//! says it will refuse them one day.

use super::{Findings, Input, Level, Rule};
use crate::syntax::{Node, Span};

pub const NO_EMPTY_CONTINUATION: Rule = Rule {
    name: "NoEmptyContinuation",
    description: "Empty continuation lines will become errors in a future release",
    url: "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: no_empty_continuation,
};

fn no_empty_continuation(input: &Input<'_>, out: &mut Findings<'_>) {
    let escape = input.ast.directives.escape;
    for node in input.nodes().filter(|n| n.lines.end > n.lines.start) {
        if let Some(span) = first_empty_continuation(input, node, escape) {
            out.push(span, "Empty continuation line".into(), "remove the empty line, or end the instruction before it");
        }
    }
}

/// The first blank line met while the instruction is still continued (its
/// heredoc bodies, which come after the last continued line, are not looked at).
fn first_empty_continuation(input: &Input<'_>, node: &Node, escape: char) -> Option<Span> {
    let text = input.text(node.span);
    let mut offset = node.span.start;
    let mut continued = false;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim();
        if trimmed.is_empty() {
            if continued {
                return Some(Span::point(offset));
            }
        } else if !trimmed.starts_with('#') || !continued {
            continued = content.trim_end().ends_with(escape);
            if !continued {
                return None;
            }
        }
        offset += line.len();
    }
    None
}
