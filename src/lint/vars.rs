//! Variables: ARGs in FROM lines (declared, with defaults that give a valid
//! image name), `--platform` values, and variables used before any ARG or
//! ENV defines them. Scoping is the planner's ([`Scope`]) and expansion the
//! lexer's, so these rules see exactly what a build would.

use std::collections::BTreeSet;

use super::input::{flag, located_words, StageView};
use super::{Findings, Input, Level, Rule};
use crate::image::Reference;
use crate::plan::{split_env, Platform, Scope};
use crate::syntax::{Args, Node, Span};
use crate::words::VarLookup;

pub const UNDEFINED_ARG_IN_FROM: Rule = Rule {
    name: "UndefinedArgInFrom",
    description: "FROM command must use declared ARGs",
    url: "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: undefined_arg_in_from,
};

/// The global scope FROM lines see: predefined platform ARGs and every
/// global ARG, declared with its default (empty without one).
fn global_scope(input: &Input<'_>, defaults_only: bool) -> Vec<(String, String)> {
    let mut values = Platform::predefined_args(&Platform::host(), &Platform::host());
    for node in &input.global_args {
        let Args::Words(words) = &node.args else { continue };
        for word in words {
            let (name, default) = word.split_once('=').map_or((word.as_str(), None), |(n, d)| (n, Some(d)));
            let given = if defaults_only { None } else { input.options.build_args.get(name).cloned() };
            let value = given.or_else(|| default.map(|d| input.lexer.expand_word(d, &values).unwrap_or_default()));
            values.retain(|(k, _)| k != name);
            values.push((name.to_owned(), value.unwrap_or_default()));
        }
    }
    values
}

fn undefined_arg_in_from(input: &Input<'_>, out: &mut Findings<'_>) {
    let globals = global_scope(input, false);
    for stage in &input.stages {
        let mut texts: Vec<(&str, Span)> = located_words(input, stage.from).first().map(|w| (w.text, w.span)).into_iter().collect();
        texts.extend(flag(stage.from, "platform"));
        for (text, span) in texts {
            for name in referenced_unset(input, text, &globals) {
                let suggestion = suggest(&name, globals.iter().map(|(k, _)| k.as_str()));
                let mut message = format!("FROM argument '{name}' is not declared");
                if let Some(s) = &suggestion {
                    message.push_str(&format!(" (did you mean {s}?)"));
                }
                out.push(span, message, format!("declare `ARG {name}` before the first FROM"));
            }
        }
    }
}

pub const INVALID_DEFAULT_ARG_IN_FROM: Rule = Rule {
    name: "InvalidDefaultArgInFrom",
    description: "Default value for global ARG results in an empty or invalid base image name",
    url: "https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: invalid_default_arg_in_from,
};

fn invalid_default_arg_in_from(input: &Input<'_>, out: &mut Findings<'_>) {
    let defaults = global_scope(input, true);
    for stage in &input.stages {
        let Some(image) = located_words(input, stage.from).first().copied() else { continue };
        if !image.text.contains('$') {
            continue;
        }
        let expanded = input.lexer.expand_word(image.text, &defaults).unwrap_or_default();
        let named_stage = input.stages.iter().any(|s| s.name.is_some_and(|n| n.text.eq_ignore_ascii_case(&expanded)));
        if !named_stage && (expanded.is_empty() || expanded.parse::<Reference>().is_err()) {
            let message = format!("Default value for ARG {} results in empty or invalid base image name", image.text);
            out.push(image.span, message, "give the ARG a default that makes a valid image name");
        }
    }
}

pub const FROM_PLATFORM_FLAG_CONST_DISALLOWED: Rule = Rule {
    name: "FromPlatformFlagConstDisallowed",
    description: "FROM --platform flag should not use a constant value",
    url: "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: from_platform_flag_const_disallowed,
};

fn from_platform_flag_const_disallowed(input: &Input<'_>, out: &mut Findings<'_>) {
    for stage in &input.stages {
        let Some((platform, span)) = flag(stage.from, "platform") else { continue };
        if platform.contains('$') || named_for_platform(stage, platform) {
            continue;
        }
        let message = format!("FROM --platform flag should not use constant value {platform:?}");
        out.push(span, message, "use `--platform=$BUILDPLATFORM` (or a build arg), or pass `--platform` to the build");
    }
}

/// A stage named after its architecture (`AS build-arm64`) pins it on purpose.
fn named_for_platform(stage: &StageView<'_>, platform: &str) -> bool {
    let Some(name) = stage.name else { return false };
    let name = name.text.to_lowercase();
    platform.split('/').skip(1).any(|part| !part.is_empty() && name.contains(&part.to_lowercase()))
}

pub const REDUNDANT_TARGET_PLATFORM: Rule = Rule {
    name: "RedundantTargetPlatform",
    description: "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
    url: "https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: redundant_target_platform,
};

fn redundant_target_platform(input: &Input<'_>, out: &mut Findings<'_>) {
    for stage in &input.stages {
        let Some((platform, span)) = flag(stage.from, "platform") else { continue };
        if matches!(platform, "$TARGETPLATFORM" | "${TARGETPLATFORM}") {
            let message = format!("Setting platform to predefined {platform} in FROM is redundant as this is the default behavior");
            out.push(span, message, "remove the --platform flag");
        }
    }
}

pub const UNDEFINED_VAR: Rule = Rule {
    name: "UndefinedVar",
    description: "Variables should be defined before their use",
    url: "https://docs.docker.com/go/dockerfile/rule/undefined-var/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: undefined_var,
};

fn undefined_var(input: &Input<'_>, out: &mut Findings<'_>) {
    let globals = global_scope(input, false);
    let mut final_env: Vec<Option<Vec<(String, String)>>> = Vec::with_capacity(input.stages.len());
    for (index, stage) in input.stages.iter().enumerate() {
        let Some(env) = base_env(input, stage, index, &final_env, &globals) else {
            final_env.push(None);
            continue;
        };
        let mut scope = Scope { args: Vec::new(), env };
        for node in &stage.nodes {
            check_node(input, node, &scope, out);
            declare(input, node, &mut scope, &globals);
        }
        final_env.push(Some(scope.env));
    }
}

/// The environment a stage starts with; `None` when it is not known (an
/// image the caller has no config for), so the stage is not checked.
fn base_env(
    input: &Input<'_>,
    stage: &StageView<'_>,
    index: usize,
    done: &[Option<Vec<(String, String)>>],
    globals: &[(String, String)],
) -> Option<Vec<(String, String)>> {
    let image = located_words(input, stage.from).first()?.text;
    let expanded = input.lexer.expand_word(image, &globals).ok()?;
    if expanded.eq_ignore_ascii_case("scratch") {
        return Some(Vec::new());
    }
    if let Some(base) = super::forms::base_stage(input, stage, index) {
        return done.get(base).cloned().flatten();
    }
    let env = input.options.base_env.get(&expanded).or_else(|| input.options.base_env.get(image))?;
    Some(env.iter().map(|e| split_env(e)).collect())
}

/// Reports the variables `node` expands that nothing defines.
fn check_node(input: &Input<'_>, node: &Node, scope: &Scope, out: &mut Findings<'_>) {
    for (text, span) in expanded_texts(input, node) {
        for name in referenced_unset(input, text, scope) {
            let known = scope.env.iter().chain(&scope.args).map(|(k, _)| k.as_str());
            let suggestion = suggest(&name, known);
            let mut message = format!("Usage of undefined variable '${name}'");
            if let Some(s) = &suggestion {
                message.push_str(&format!(" (did you mean ${s}?)"));
            }
            out.push(variable_span(input, span, &name), message, format!("declare `ARG {name}` or `ENV {name}=…` before this line"));
        }
    }
}

/// The texts of a node the frontend expands (not RUN/CMD/ENTRYPOINT: the
/// shell expands those), with where each is.
fn expanded_texts<'a>(input: &Input<'a>, node: &'a Node) -> Vec<(&'a str, Span)> {
    let expands = matches!(node.keyword.as_str(), "add" | "copy" | "env" | "expose" | "label" | "stopsignal" | "user" | "volume" | "workdir" | "arg");
    if !expands {
        return Vec::new();
    }
    let mut texts: Vec<(&str, Span)> = match &node.args {
        Args::Words(_) if node.keyword == "arg" => arg_defaults(input, node),
        Args::Words(_) => located_words(input, node).into_iter().map(|w| (w.text, w.span)).collect(),
        Args::KeyValues(pairs) => pairs.iter().map(|p| (p.value.as_str(), node.args_span)).collect(),
        _ => Vec::new(),
    };
    texts.extend(node.flags.iter().filter_map(|f| f.text.split_once('=').map(|(_, v)| (v, f.span))));
    texts
}

/// ARG defaults (`NAME=default`): only the default is expanded.
fn arg_defaults<'a>(input: &Input<'a>, node: &Node) -> Vec<(&'a str, Span)> {
    located_words(input, node).into_iter().filter_map(|w| w.text.split_once('=').map(|(_, d)| (d, w.span))).collect()
}

/// What ARG and ENV add to the scope.
fn declare(input: &Input<'_>, node: &Node, scope: &mut Scope, globals: &[(String, String)]) {
    match &node.args {
        Args::Words(words) if node.keyword == "arg" => {
            for word in words {
                let (name, default) = word.split_once('=').map_or((word.as_str(), None), |(n, d)| (n, Some(d)));
                let value = match default {
                    Some(d) => input.lexer.expand_word(d, &*scope).unwrap_or_default(),
                    None => globals.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default(),
                };
                scope.declare_arg(name, Some(value));
            }
        }
        Args::KeyValues(pairs) if node.keyword == "env" => {
            for pair in pairs {
                let value = input.lexer.expand_word(&pair.value, &*scope).unwrap_or_default();
                scope.set_env(&pair.key, &value);
            }
        }
        _ => {}
    }
}

/// Names `text` reads that `vars` does not set, leaving out positional and
/// special parameters and names read only with a default (`${N:-w}`).
fn referenced_unset(input: &Input<'_>, text: &str, vars: &dyn VarLookup) -> BTreeSet<String> {
    if !text.contains('$') {
        return BTreeSet::new();
    }
    let Ok(expansion) = input.lexer.expand(text, vars) else { return BTreeSet::new() };
    expansion
        .unmatched
        .into_iter()
        .filter(|name| name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') && plain_reference(text, name).is_some())
        .collect()
}

/// Where `$NAME` or `${NAME}` (without a modifier) is in `text`.
fn plain_reference(text: &str, name: &str) -> Option<usize> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (at, _) in text.match_indices('$') {
        let rest = &text[at + 1..];
        if let Some(after) = rest.strip_prefix(name) {
            if !after.starts_with(is_name_char) {
                return Some(at);
            }
        }
        if rest.strip_prefix('{').and_then(|r| r.strip_prefix(name)).is_some_and(|r| r.starts_with('}')) {
            return Some(at);
        }
    }
    None
}

/// The span of the variable's use inside `span`, else `span`.
fn variable_span(input: &Input<'_>, span: Span, name: &str) -> Span {
    let text = input.text(span);
    match plain_reference(text, name) {
        Some(at) => {
            let braced = text[at + 1..].starts_with('{');
            Span::new(span.start + at, span.start + at + 1 + name.len() + if braced { 2 } else { 0 })
        }
        None => span,
    }
}

/// The closest known name, when one is close enough to be a typo.
fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in known {
        if candidate == name {
            continue;
        }
        let distance = if candidate.eq_ignore_ascii_case(name) { 0 } else { strsim::levenshtein(&candidate.to_lowercase(), &name.to_lowercase()) };
        if distance <= (name.len() / 3).max(1) && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c.to_owned())
}
