//! What two builds of one Dockerfile are compared on, as text: the root
//! filesystem (one `rootfs` line per entry, [`support::listing::tree`]
//! without times), the config's user-visible fields (`config.Field JSON`)
//! and the history (`history[i] created_by=… empty_layer=…`); and the
//! `differences` file that lists, with a reason, every line only one side
//! has.
//!
//! A `differences` file is groups of a `# reason` line followed by
//! `docker: LINE` / `strata: LINE` entries. The check fails on an actual
//! difference it does not list and on a listed one that is gone, so the
//! list stays true. `STRATA_BLESS=1` rewrites it: listed lines that still
//! differ keep their reason, history lines get the reason the history
//! alignment work gives, anything else a placeholder the check refuses.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::build::without_times;
use crate::support::listing;

/// The config fields a user sees, in the order they are listed.
const FIELDS: &[&str] =
    &["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal", "Healthcheck", "Shell", "OnBuild"];

/// The reason given to history lines, which another branch is aligning.
pub const HISTORY_REASON: &str = "history format — being aligned";
/// The reason bless gives anything else; the check refuses it.
pub const UNREVIEWED: &str = "UNREVIEWED: fix strata or give the reason";

/// The comparable text of an image: its root filesystem and its config.
pub fn describe(rootfs: &Path, config: &Value) -> Vec<String> {
    let mut lines = config_lines(config);
    let tree = without_times(&listing::tree(rootfs).expect("list the root filesystem"));
    lines.extend(tree.lines().map(|line| format!("rootfs {line}")));
    lines
}

/// `config.Field VALUE` for every field set, then one line per history
/// entry. Null and `""` count as unset: `docker inspect` shows them alike.
pub fn config_lines(config: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    for field in FIELDS {
        match &config["config"][field] {
            Value::Null => {}
            Value::String(text) if text.is_empty() => {}
            value => lines.push(format!("config.{field} {}", canonical(value))),
        }
    }
    let history = config["history"].as_array().cloned().unwrap_or_default();
    for (index, entry) in history.iter().enumerate() {
        let created_by = canonical(entry.get("created_by").unwrap_or(&Value::Null));
        let empty = entry["empty_layer"].as_bool().unwrap_or(false);
        lines.push(format!("history[{index}] created_by={created_by} empty_layer={empty}"));
    }
    lines
}

/// JSON with object keys sorted (serde_json's map is a BTreeMap here).
fn canonical(value: &Value) -> String {
    serde_json::to_string(value).expect("serialise JSON")
}

/// The lines only one side has: `docker: …` then `strata: …`, in order.
pub fn difference(docker: &[String], strata: &[String]) -> Vec<String> {
    let docker_set: BTreeSet<&String> = docker.iter().collect();
    let strata_set: BTreeSet<&String> = strata.iter().collect();
    let mut out: Vec<String> = docker.iter().filter(|l| !strata_set.contains(l)).map(|l| format!("docker: {l}")).collect();
    out.extend(strata.iter().filter(|l| !docker_set.contains(l)).map(|l| format!("strata: {l}")));
    out
}

/// One reason and the difference lines it explains.
#[derive(Debug)]
pub struct Group {
    pub reason: String,
    pub lines: Vec<String>,
}

/// Reads a `differences` file (a missing file lists nothing).
pub fn parse(text: &str) -> Result<Vec<Group>, String> {
    let mut groups: Vec<Group> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if let Some(reason) = line.strip_prefix('#') {
            groups.push(Group { reason: reason.trim().to_owned(), lines: Vec::new() });
        } else if line.starts_with("docker: ") || line.starts_with("strata: ") {
            let group = groups.last_mut().ok_or_else(|| format!("line {}: a difference before any `# reason` line", number + 1))?;
            group.lines.push(line.to_owned());
        } else if !line.trim().is_empty() {
            return Err(format!("line {}: neither `# reason`, `docker: …` nor `strata: …`: {line}", number + 1));
        }
    }
    Ok(groups)
}

/// Checks `actual` against the listed groups; the error says what is unlisted, gone or unexplained.
pub fn check(groups: &[Group], actual: &[String]) -> Result<(), String> {
    let listed: BTreeSet<&str> = groups.iter().flat_map(|g| g.lines.iter().map(String::as_str)).collect();
    let present: BTreeSet<&str> = actual.iter().map(String::as_str).collect();
    let mut problems = String::new();
    for line in actual.iter().filter(|l| !listed.contains(l.as_str())) {
        problems.push_str(&format!("unlisted difference: {line}\n"));
    }
    for line in listed.iter().filter(|l| !present.contains(*l)) {
        problems.push_str(&format!("listed difference no longer there: {line}\n"));
    }
    for group in groups.iter().filter(|g| g.reason.is_empty() || g.reason.starts_with("UNREVIEWED")) {
        problems.push_str(&format!("difference without a reason: {:?}\n", group.lines));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The `differences` file bless writes for `actual`, keeping old reasons.
pub fn bless(groups: &[Group], actual: &[String]) -> String {
    let present: BTreeSet<&str> = actual.iter().map(String::as_str).collect();
    let mut kept: Vec<Group> = groups
        .iter()
        .map(|g| Group { reason: g.reason.clone(), lines: g.lines.iter().filter(|l| present.contains(l.as_str())).cloned().collect() })
        .filter(|g| !g.lines.is_empty())
        .collect();
    let listed: BTreeSet<String> = kept.iter().flat_map(|g| g.lines.iter().cloned()).collect();
    for line in actual.iter().filter(|l| !listed.contains(*l)) {
        let reason = if line.split_once(": ").is_some_and(|(_, rest)| rest.starts_with("history[")) { HISTORY_REASON } else { UNREVIEWED };
        match kept.iter_mut().find(|g| g.reason == reason) {
            Some(group) => group.lines.push(line.clone()),
            None => kept.push(Group { reason: reason.to_owned(), lines: vec![line.clone()] }),
        }
    }
    kept.iter().map(|g| format!("# {}\n{}\n", g.reason, g.lines.join("\n"))).collect::<Vec<_>>().join("\n")
}
