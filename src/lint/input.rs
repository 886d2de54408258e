//! What every rule reads: the source, the raw nodes grouped by stage, and
//! the caller's options, with the few lookups several rules share.

use std::collections::HashMap;

use crate::syntax::{Args, Ast, Node, Span};
use crate::words::Lexer;

use super::LintOptions;

/// A Dockerfile ready to be checked.
pub struct Input<'a> {
    /// The whole Dockerfile text.
    pub source: &'a str,
    /// The raw parse, before instructions are typed.
    pub ast: &'a Ast,
    /// What the caller gave beyond the Dockerfile.
    pub options: &'a LintOptions,
    /// Splits words with the Dockerfile's escape character.
    pub lexer: Lexer,
    /// The stages, in order.
    pub stages: Vec<StageView<'a>>,
    /// The ARG nodes before the first FROM.
    pub global_args: Vec<&'a Node>,
    /// Each stage name (lower-cased) with the first stage so named, so
    /// rules resolve `FROM name` in constant time on long Dockerfiles.
    stage_names: HashMap<String, usize>,
}

/// One stage: its FROM node and the nodes after it.
pub struct StageView<'a> {
    /// The FROM instruction.
    pub from: &'a Node,
    /// The instructions after FROM, up to the next FROM.
    pub nodes: Vec<&'a Node>,
    /// `AS name` as written, when present.
    pub name: Option<Located<'a>>,
}

/// A word of the source with where it is.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    /// The word as written.
    pub text: &'a str,
    /// Its byte range in the source.
    pub span: Span,
}

impl<'a> Input<'a> {
    /// Groups `ast`'s nodes by stage and finds each stage's name.
    pub fn new(source: &'a str, ast: &'a Ast, options: &'a LintOptions) -> Input<'a> {
        let mut stages: Vec<StageView<'a>> = Vec::new();
        let mut global_args = Vec::new();
        for node in &ast.nodes {
            match stages.last_mut() {
                _ if node.keyword == "from" => stages.push(StageView { from: node, nodes: Vec::new(), name: stage_name(source, node) }),
                Some(stage) => stage.nodes.push(node),
                None => global_args.push(node),
            }
        }
        let mut stage_names = HashMap::new();
        for (index, stage) in stages.iter().enumerate() {
            if let Some(name) = stage.name {
                stage_names.entry(name.text.to_lowercase()).or_insert(index);
            }
        }
        Input { source, ast, options, lexer: Lexer::new(ast.directives.escape), stages, global_args, stage_names }
    }

    /// The first stage named `name` (any case).
    pub fn stage_named(&self, name: &str) -> Option<usize> {
        self.stage_names.get(&name.to_lowercase()).copied()
    }

    /// The source text at `span` (empty when the span is not in the source).
    pub fn text(&self, span: Span) -> &'a str {
        self.source.get(span.start..span.end).unwrap_or("")
    }

    /// The keyword of `node` as written (its case kept).
    pub fn keyword(&self, node: &Node) -> &'a str {
        self.text(node.keyword_span)
    }

    /// Every node, ONBUILD triggers not unwrapped.
    pub fn nodes(&self) -> impl Iterator<Item = &'a Node> {
        self.ast.nodes.iter()
    }
}

/// The `AS name` words of a FROM: `FROM image AS name`.
fn stage_name<'a>(source: &'a str, node: &Node) -> Option<Located<'a>> {
    let Args::Words(words) = &node.args else { return None };
    if words.len() != 3 || !words[1].eq_ignore_ascii_case("as") {
        return None;
    }
    let span = *node.word_spans.get(2)?;
    Some(Located { text: source.get(span.start..span.end)?, span })
}

/// The words of a node with their spans (only the whitespace-separated forms).
pub fn located_words<'a>(input: &Input<'a>, node: &Node) -> Vec<Located<'a>> {
    node.word_spans.iter().map(|&span| Located { text: input.text(span), span }).collect()
}

/// The value of `--name=value` among a node's flags, with the flag's span.
pub fn flag<'n>(node: &'n Node, name: &str) -> Option<(&'n str, Span)> {
    node.flags.iter().find_map(|f| {
        let rest = f.text.strip_prefix("--")?;
        let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
        (key == name).then_some((value, f.span))
    })
}
