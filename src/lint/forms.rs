//! Instruction forms BuildKit warns about: shell-form CMD/ENTRYPOINT,
//! MAINTAINER, legacy `KEY value` pairs, repeated CMD/ENTRYPOINT/HEALTHCHECK,
//! and a relative WORKDIR with no absolute one before it.

use super::input::{located_words, StageView};
use super::{Findings, Input, Level, Rule};
use crate::syntax::{Args, Node};

pub const JSON_ARGS_RECOMMENDED: Rule = Rule {
    name: "JSONArgsRecommended",
    description: "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
    url: "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: json_args_recommended,
};

fn json_args_recommended(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes().filter(|n| matches!(n.keyword.as_str(), "cmd" | "entrypoint")) {
        if let Args::Shell(script) = &node.args {
            let name = node.keyword.to_uppercase();
            let words: Vec<String> = script.split_whitespace().map(|w| format!("{w:?}")).collect();
            let message = format!("JSON arguments recommended for {name} to prevent unintended behavior related to OS signals");
            out.push(node.args_span, message, format!("write `{name} [{}]`", words.join(", ")));
        }
    }
}

pub const MAINTAINER_DEPRECATED: Rule = Rule {
    name: "MaintainerDeprecated",
    description: "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
    url: "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: maintainer_deprecated,
};

fn maintainer_deprecated(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes().filter(|n| n.keyword == "maintainer") {
        let name = input.text(node.args_span);
        let help = format!("write `LABEL org.opencontainers.image.authors={name:?}`");
        out.push(node.keyword_span, "Maintainer instruction is deprecated in favor of using label".into(), help);
    }
}

pub const LEGACY_KEY_VALUE_FORMAT: Rule = Rule {
    name: "LegacyKeyValueFormat",
    description: "Legacy key/value format with whitespace separator should not be used",
    url: "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: legacy_key_value_format,
};

fn legacy_key_value_format(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes() {
        let Args::KeyValues(pairs) = &node.args else { continue };
        if let [pair] = pairs.as_slice() {
            if !pair.equals {
                let name = node.keyword.to_uppercase();
                let message = format!("\"{name} key=value\" should be used instead of legacy \"{name} key value\" format");
                out.push(node.args_span, message, format!("write `{name} {}={:?}`", pair.key, pair.value));
            }
        }
    }
}

pub const MULTIPLE_INSTRUCTIONS_DISALLOWED: Rule = Rule {
    name: "MultipleInstructionsDisallowed",
    description: "Multiple instructions of the same type should not be used in the same stage",
    url: "https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: multiple_instructions_disallowed,
};

fn multiple_instructions_disallowed(input: &Input<'_>, out: &mut Findings<'_>) {
    for stage in &input.stages {
        for keyword in ["cmd", "entrypoint", "healthcheck"] {
            let nodes: Vec<&Node> = stage.nodes.iter().copied().filter(|n| n.keyword == keyword).collect();
            for node in nodes.iter().rev().skip(1).rev() {
                let name = keyword.to_uppercase();
                let message = format!("Multiple {name} instructions should not be used in the same stage because only the last one will be used");
                out.push(node.keyword_span, message, format!("remove this {name}; the one at line {} wins", nodes[nodes.len() - 1].lines.start));
            }
        }
    }
}

pub const WORKDIR_RELATIVE_PATH: Rule = Rule {
    name: "WorkdirRelativePath",
    description: "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
    url: "https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: workdir_relative_path,
};

fn workdir_relative_path(input: &Input<'_>, out: &mut Findings<'_>) {
    let mut absolute = vec![false; input.stages.len()];
    for (index, stage) in input.stages.iter().enumerate() {
        absolute[index] = base_stage(input, stage, index).is_some_and(|base| absolute[base]);
        for node in stage.nodes.iter().filter(|n| n.keyword == "workdir") {
            let Some(path) = located_words(input, node).first().copied() else { continue };
            let expanded = path.text.trim_matches('"');
            if expanded.starts_with('/') || expanded.starts_with('$') || is_windows_absolute(expanded) {
                absolute[index] = true;
            } else if !absolute[index] {
                let message = format!("Relative workdir {:?} can have unexpected results if the base image changes", path.text);
                out.push(path.span, message, format!("use an absolute path, e.g. `WORKDIR /{}`", path.text));
            }
        }
    }
}

fn is_windows_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && matches!(bytes[2], b'\\' | b'/')
}

/// The earlier stage `stage` builds on, when its FROM names one.
pub fn base_stage(input: &Input<'_>, stage: &StageView<'_>, index: usize) -> Option<usize> {
    let image = located_words(input, stage.from).first()?.text;
    input.stage_named(image).filter(|&named| named < index)
}
