//! Why a step missed the cache: its inputs compared with those of the last
//! build of the same Dockerfile step.

use std::collections::HashMap;

use super::records::{CacheRecord, Input};

/// Reasons for a miss, most telling first; empty when nothing differs
/// (e.g. the cached layer was removed).
pub fn explain_miss(current: &[Input], last: Option<&CacheRecord>) -> Vec<String> {
    let Some(last) = last else { return vec!["no previous build of this step".into()] };
    // By name, first occurrence winning: a COPY of a large context has tens
    // of thousands of inputs, so pairwise search would be quadratic.
    let (now, before) = (index(current), index(&last.inputs));
    if now.get("parent") != before.get("parent") {
        return vec!["parent step changed".into()];
    }
    let mut reasons = Vec::new();
    for input in current.iter().filter(|i| i.name != "op") {
        match before.get(input.name.as_str()) {
            Some(old) if *old == input.value => {}
            Some(old) => reasons.push(describe_change(&input.name, old, &input.value)),
            None => reasons.push(describe_added(&input.name, &input.value)),
        }
    }
    for old in &last.inputs {
        if !now.contains_key(old.name.as_str()) {
            reasons.push(describe_removed(&old.name));
        }
    }
    // The expanded operation differs only through something named above,
    // unless nothing else changed (e.g. a variable the instruction uses).
    if reasons.is_empty() && now.get("op") != before.get("op") {
        reasons.push("instruction changed after variable expansion".into());
    }
    if reasons.is_empty() {
        reasons.push("the cached result is no longer in the store".into());
    }
    reasons
}

/// Inputs by name, the first of a name winning.
fn index(inputs: &[Input]) -> HashMap<&str, &str> {
    let mut map = HashMap::with_capacity(inputs.len());
    for input in inputs {
        map.entry(input.name.as_str()).or_insert(input.value.as_str());
    }
    map
}

fn describe_change(name: &str, old: &str, new: &str) -> String {
    if let Some(path) = name.strip_prefix("file:") {
        let (old_content, old_meta) = old.split_once(' ').unwrap_or((old, ""));
        let (new_content, new_meta) = new.split_once(' ').unwrap_or((new, ""));
        return match (old_content == new_content, old_meta == new_meta) {
            (false, _) => format!("{path} content changed"),
            _ => format!("{path} metadata changed: {old_meta} -> {new_meta}"),
        };
    }
    if let Some(arg) = name.strip_prefix("env:") {
        return format!("build-arg/env {arg} changed: {old} -> {new}");
    }
    match name {
        "instruction" => format!("instruction changed: {old:?} -> {new:?}"),
        "base" => format!("base image changed: {old} -> {new}"),
        _ => format!("{name} changed: {old} -> {new}"),
    }
}

fn describe_added(name: &str, value: &str) -> String {
    match name.split_once(':') {
        Some(("file", path)) => format!("{path} added"),
        Some(("env", arg)) => format!("build-arg/env {arg} set: {value}"),
        _ => format!("{name} added: {value}"),
    }
}

fn describe_removed(name: &str) -> String {
    match name.split_once(':') {
        Some(("file", path)) => format!("{path} removed"),
        Some(("env", arg)) => format!("build-arg/env {arg} unset"),
        _ => format!("{name} removed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheKey;
    use crate::digest::Digest;

    fn record(inputs: Vec<Input>) -> CacheRecord {
        CacheRecord { key: CacheKey(Digest::of(b"")), layer: None, inputs, step: String::new(), created: String::new(), stage: String::new() }
    }

    #[test]
    fn names_what_changed() {
        let last = record(vec![
            Input::new("parent", "p"),
            Input::new("env:VERSION", "1"),
            Input::new("file:src/main.rs", "sha256:aa 0644 0:0"),
            Input::new("file:old.txt", "sha256:bb 0644 0:0"),
        ]);
        let now = vec![Input::new("parent", "p"), Input::new("env:VERSION", "2"), Input::new("file:src/main.rs", "sha256:cc 0644 0:0")];
        assert_eq!(explain_miss(&now, Some(&last)), ["build-arg/env VERSION changed: 1 -> 2", "src/main.rs content changed", "old.txt removed"]);
        assert_eq!(explain_miss(&[Input::new("parent", "q")], Some(&last)), ["parent step changed"]);
    }
}
