//! Casing rules: stage names lower-case, `AS` cased like `FROM`, and one
//! casing for every instruction keyword of the file.

use super::{Findings, Input, Level, Rule};

pub const STAGE_NAME_CASING: Rule = Rule {
    name: "StageNameCasing",
    description: "Stage names should be lowercase",
    url: "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: stage_name_casing,
};

fn stage_name_casing(input: &Input<'_>, out: &mut Findings<'_>) {
    for name in input.stages.iter().filter_map(|s| s.name) {
        if name.text != name.text.to_lowercase() {
            out.push(name.span, format!("Stage name '{}' should be lowercase", name.text), format!("rename the stage to `{}`", name.text.to_lowercase()));
        }
    }
}

pub const FROM_AS_CASING: Rule = Rule {
    name: "FromAsCasing",
    description: "The 'as' keyword should match the case of the 'from' keyword",
    url: "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: from_as_casing,
};

fn from_as_casing(input: &Input<'_>, out: &mut Findings<'_>) {
    for stage in input.stages.iter().filter(|s| s.name.is_some()) {
        let from = input.keyword(stage.from);
        let Some(&as_span) = stage.from.word_spans.get(1) else { continue };
        let as_word = input.text(as_span);
        let upper = from == from.to_uppercase();
        let mismatch = if upper { as_word != as_word.to_uppercase() } else { as_word != as_word.to_lowercase() };
        if mismatch {
            let wanted = if upper { "AS" } else { "as" };
            out.push(as_span, format!("'{as_word}' and '{from}' keywords' casing do not match"), format!("write `{wanted}`"));
        }
    }
}

pub const CONSISTENT_INSTRUCTION_CASING: Rule = Rule {
    name: "ConsistentInstructionCasing",
    description: "All commands within the Dockerfile should use the same casing (either upper or lower)",
    url: "https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: consistent_instruction_casing,
};

fn consistent_instruction_casing(input: &Input<'_>, out: &mut Findings<'_>) {
    let (mut lower, mut upper) = (0usize, 0usize);
    for node in input.nodes() {
        let keyword = input.keyword(node);
        if keyword == keyword.to_lowercase() {
            lower += 1;
        } else if keyword == keyword.to_uppercase() {
            upper += 1;
        }
    }
    let majority_lower = lower > upper;
    let (casing, fix): (&str, fn(&str) -> String) = if majority_lower { ("lowercase", str::to_lowercase) } else { ("uppercase", str::to_uppercase) };
    for node in input.nodes() {
        let keyword = input.keyword(node);
        if keyword != fix(keyword) {
            let message = format!("Command '{keyword}' should match the case of the command majority ({casing})");
            out.push(node.keyword_span, message, format!("write `{}`", fix(keyword)));
        }
    }
}
