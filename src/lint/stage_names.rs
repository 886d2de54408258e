//! Stage names: unique, and not one of the names BuildKit reserves.

use std::collections::HashSet;

use super::{Findings, Input, Level, Rule};

pub const DUPLICATE_STAGE_NAME: Rule = Rule {
    name: "DuplicateStageName",
    description: "Stage names should be unique",
    url: "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: duplicate_stage_name,
};

fn duplicate_stage_name(input: &Input<'_>, out: &mut Findings<'_>) {
    let mut seen = HashSet::new();
    for name in input.stages.iter().filter_map(|s| s.name) {
        let lower = name.text.to_lowercase();
        if !seen.insert(lower.clone()) {
            out.push(name.span, format!("Duplicate stage name {lower:?}, stage names should be unique"), "give each stage its own name");
        }
    }
}

/// Names BuildKit gives a meaning of its own.
const RESERVED: [&str; 2] = ["context", "scratch"];

pub const RESERVED_STAGE_NAME: Rule = Rule {
    name: "ReservedStageName",
    description: "Reserved words should not be used as stage names",
    url: "https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: reserved_stage_name,
};

fn reserved_stage_name(input: &Input<'_>, out: &mut Findings<'_>) {
    for name in input.stages.iter().filter_map(|s| s.name) {
        let lower = name.text.to_lowercase();
        if RESERVED.contains(&lower.as_str()) {
            out.push(name.span, format!("Stage name should not use the same name as reserved stage {lower:?}"), "choose another stage name");
        }
    }
}
