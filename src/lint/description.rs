//! Description comments: a comment right above a stage's FROM or a global
//! ARG documents it (BuildKit shows it in `docker buildx build --call
//! outline`) and must start with the stage's or the arg's name.

use super::input::located_words;
use super::{Findings, Input, Level, Rule};
use crate::syntax::{LineCol, Node, Span};

pub const INVALID_DEFINITION_DESCRIPTION: Rule = Rule {
    name: "InvalidDefinitionDescription",
    description: "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.",
    url: "https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/",
    level: Level::Warning,
    experimental: true,
    buildkit: true,
    check: invalid_definition_description,
};

fn invalid_definition_description(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in &input.global_args {
        for word in located_words(input, node) {
            let name = word.text.split('=').next().unwrap_or(word.text);
            check(input, node, "ARG", name, out);
        }
    }
    for stage in &input.stages {
        if let Some(name) = stage.name {
            check(input, stage.from, "FROM", name.text, out);
        }
    }
}

fn check(input: &Input<'_>, node: &Node, instruction: &str, name: &str, out: &mut Findings<'_>) {
    let Some((comment, span)) = comment_above(input, node) else { return };
    let first = comment.split_whitespace().next().unwrap_or("");
    if !first.eq_ignore_ascii_case(name) {
        let message = format!("Comment for {instruction} should follow the format: `# {name} <description>`");
        out.push(span, message, format!("start the comment with `# {name}`, or put an empty line between it and the {instruction}"));
    }
}

/// The single comment line directly above `node` (a block of two or more
/// comment lines is not a description), with its span.
fn comment_above<'a>(input: &Input<'a>, node: &Node) -> Option<(&'a str, Span)> {
    let line_start = input.source[..node.span.start].rfind('\n').map_or(0, |i| i + 1);
    if line_start == 0 {
        return None;
    }
    let before = &input.source[..line_start - 1];
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before[start..].trim();
    let text = line.strip_prefix('#')?.trim();
    if text.is_empty() || is_directive_line(input, start) {
        return None;
    }
    let above_is_comment = start > 0 && input.source[..start - 1].rsplit('\n').next().is_some_and(|l| l.trim_start().starts_with('#'));
    (!above_is_comment).then_some((text, Span::new(start, start + before[start..].len())))
}

/// Directives at the top of the file are not descriptions.
fn is_directive_line(input: &Input<'_>, offset: usize) -> bool {
    let first_node = input.ast.nodes.first().map_or(0, |n| n.span.start);
    offset < first_node && LineCol::locate(input.source, offset).line <= directive_lines(input)
}

fn directive_lines(input: &Input<'_>) -> usize {
    let d = &input.ast.directives;
    usize::from(d.syntax.is_some()) + usize::from(d.check.is_some()) + usize::from(d.escape != '\\')
}
