//! COPY and ADD of a context file that `.dockerignore` leaves out: the
//! build would fail (or copy nothing) for a reason far from the line.
//! Experimental in BuildKit, so off unless the check directive turns it on.

use super::input::{flag, located_words};
use super::{Findings, Input, Level, Rule};
use crate::pattern::clean;

pub const COPY_IGNORED_FILE: Rule = Rule {
    name: "CopyIgnoredFile",
    description: "Attempting to Copy file that is excluded by .dockerignore",
    url: "https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/",
    level: Level::Warning,
    experimental: true,
    buildkit: true,
    check: copy_ignored_file,
};

fn copy_ignored_file(input: &Input<'_>, out: &mut Findings<'_>) {
    let Some(ignore) = &input.options.ignore else { return };
    for node in input.nodes().filter(|n| n.keyword == "copy" || n.keyword == "add") {
        // Only the context is filtered by .dockerignore: stages and images are not.
        if flag(node, "from").is_some() {
            continue;
        }
        let command = if node.keyword == "add" { "Add" } else { "Copy" };
        let words = located_words(input, node);
        let Some((_, sources)) = words.split_last() else { continue };
        for source in sources.iter().filter(|s| !s.text.starts_with("<<") && !s.text.contains("://") && !s.text.contains('$')) {
            let path = clean(source.text.trim_start_matches('/'));
            if path != "." && ignore.matches(&path).unwrap_or(false) {
                let message = format!("Attempting to {command} file {:?} that is excluded by .dockerignore", source.text);
                out.push(source.span, message, "remove the pattern from .dockerignore, or the source from the instruction");
            }
        }
    }
}
