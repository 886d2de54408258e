//! Checks only a builder that remembers its builds can make, from the
//! store's build history of this Dockerfile ([`crate::cache::BuildRecord`]):
//! bytes a step writes and a later step deletes or overwrites (they stay
//! in the image), and a broad `COPY .` that keeps busting the cache of the
//! dependency install after it. Steps are matched to the Dockerfile by line
//! and text, so a record of an older version of a line is not used.

use std::collections::{BTreeMap, HashMap};

use super::{Findings, Input, Level, Rule};
use crate::cache::{BuildRecord, StepRecord};
use crate::syntax::Node;

pub const WASTED_LAYER_BYTES: Rule = Rule {
    name: "WastedLayerBytes",
    description: "Files written by one step and deleted or overwritten by a later one still take space in the image",
    url: "https://docs.docker.com/build/building/best-practices/#minimize-the-number-of-layers",
    level: Level::Warning,
    experimental: false,
    buildkit: false,
    check: wasted_layer_bytes,
};

/// Bytes one step wrote that one later step deleted or overwrote.
#[derive(Default)]
struct Waste {
    files: usize,
    bytes: u64,
    largest: (u64, String),
}

fn wasted_layer_bytes(input: &Input<'_>, out: &mut Findings<'_>) {
    let Some(last) = input.options.history.builds.last() else { return };
    let mut by_stage: BTreeMap<usize, Vec<&StepRecord>> = BTreeMap::new();
    for step in &last.steps {
        by_stage.entry(step.stage).or_default().push(step);
    }
    for steps in by_stage.values() {
        for ((writer, remover), waste) in stage_waste(input, steps) {
            let (Some(node), Some(_)) = (node_at(input, writer), node_at(input, remover)) else { continue };
            let (writer_line, remover_line) = (writer.line, remover.line);
            let message = format!(
                "{} written at line {writer_line} ({}) {} deleted or overwritten at line {remover_line}, but still in the image (largest: {}, {})",
                plural(waste.files, "file"),
                human(waste.bytes),
                if waste.files == 1 { "is" } else { "are" },
                waste.largest.1,
                human(waste.largest.0)
            );
            out.push(
                node.keyword_span,
                message,
                format!("remove the files in the same RUN that writes them (line {writer_line}), or use a cache or tmpfs mount"),
            );
        }
    }
}

/// For one stage's steps in order: what each later step removes of an earlier one's files.
fn stage_waste<'s>(input: &Input<'_>, steps: &[&'s StepRecord]) -> Vec<((&'s StepRecord, &'s StepRecord), Waste)> {
    let mut owner: HashMap<&str, (usize, u64)> = HashMap::new();
    let mut wastes: BTreeMap<(usize, usize), Waste> = BTreeMap::new();
    for (index, step) in steps.iter().enumerate() {
        let Some(changes) = step.layer.as_ref().and_then(|d| input.options.history.layers.get(d)) else { continue };
        for change in changes {
            let removed: Vec<(String, (usize, u64))> = if change.deleted {
                let prefix = format!("{}/", change.path);
                owner.iter().filter(|(p, _)| **p == change.path || p.starts_with(&prefix)).map(|(p, o)| ((*p).to_owned(), *o)).collect()
            } else {
                owner.get(change.path.as_str()).map(|o| (change.path.clone(), *o)).into_iter().collect()
            };
            for (path, (writer, size)) in removed {
                owner.remove(path.as_str());
                if size == 0 || writer == index {
                    continue;
                }
                let waste = wastes.entry((writer, index)).or_default();
                waste.files += 1;
                waste.bytes += size;
                if size > waste.largest.0 {
                    waste.largest = (size, path);
                }
            }
            if !change.deleted && change.size > 0 {
                owner.insert(change.path.as_str(), (index, change.size));
            }
        }
    }
    wastes.into_iter().map(|((w, r), waste)| ((steps[w], steps[r]), waste)).collect()
}

pub const CACHE_BUSTING_ORDER: Rule = Rule {
    name: "CacheBustingOrder",
    description: "A broad COPY before a dependency install makes the install miss the cache whenever any file changes",
    url: "https://docs.docker.com/build/cache/optimize/#order-your-layers",
    level: Level::Warning,
    experimental: false,
    buildkit: false,
    check: cache_busting_order,
};

fn cache_busting_order(input: &Input<'_>, out: &mut Findings<'_>) {
    let builds = &input.options.history.builds;
    let mut counts: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for build in builds {
        for (copy, run) in busted_installs(build) {
            *counts.entry((copy.line, run.line)).or_default() += 1;
        }
    }
    for ((copy_line, run_line), misses) in counts {
        let copy = node_at_line(input, copy_line);
        let run = node_at_line(input, run_line);
        let (Some(copy), Some(_)) = (copy, run) else { continue };
        if misses < 2 {
            continue;
        }
        let message = format!(
            "the RUN at line {run_line} missed the cache in {misses} of the last {} builds because {} at line {copy_line} changed",
            builds.len(),
            copy_summary(copy)
        );
        out.push(
            copy.keyword_span,
            message,
            format!("copy only the files the install needs before line {run_line} (e.g. the lock file), and the rest after it"),
        );
    }
}

/// In one build: each dependency-install RUN that missed because a broad
/// COPY earlier in its stage was the stage's first miss.
fn busted_installs(build: &BuildRecord) -> Vec<(&StepRecord, &StepRecord)> {
    let mut first_miss: HashMap<usize, &StepRecord> = HashMap::new();
    let mut found = Vec::new();
    for step in &build.steps {
        if step.cached {
            continue;
        }
        let Some(cause) = first_miss.get(&step.stage).copied() else {
            first_miss.insert(step.stage, step);
            continue;
        };
        let changed = !cause.reasons.iter().any(|r| r == "no previous build of this step" || r == "parent step changed");
        if changed && is_broad_copy(&cause.text) && is_install(&step.text) {
            found.push((cause, step));
        }
    }
    found
}

/// `COPY . …` / `ADD ./ …`: the whole context.
fn is_broad_copy(text: &str) -> bool {
    let mut words = text.split_whitespace();
    let keyword = words.next().unwrap_or("").to_ascii_lowercase();
    (keyword == "copy" || keyword == "add") && words.filter(|w| !w.starts_with("--")).any(|w| matches!(w, "." | "./" | "*"))
}

/// Commands that install dependencies from a manifest.
fn is_install(text: &str) -> bool {
    const INSTALLS: [&str; 12] = [
        "npm ci",
        "npm install",
        "yarn install",
        "pnpm install",
        "pip install",
        "poetry install",
        "bundle install",
        "go mod download",
        "cargo fetch",
        "cargo build",
        "composer install",
        "mvn ",
    ];
    text.to_ascii_lowercase().starts_with("run") && INSTALLS.iter().any(|i| text.contains(i))
}

fn copy_summary(node: &Node) -> String {
    let original = node.original.trim();
    let mut words = original.split_whitespace().filter(|w| !w.starts_with("--"));
    let keyword = words.next().unwrap_or("COPY").to_ascii_uppercase();
    format!("{keyword} {}", words.next().unwrap_or("."))
}

/// The node a recorded step stands for, when the line still holds the same instruction.
fn node_at<'a>(input: &Input<'a>, step: &StepRecord) -> Option<&'a Node> {
    input.nodes().find(|n| n.lines.start == step.line && n.original == step.text)
}

fn node_at_line<'a>(input: &Input<'a>, line: usize) -> Option<&'a Node> {
    input.nodes().find(|n| n.lines.start == line)
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Sizes as `docker images` shows them (decimal units).
fn human(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
