//! ARG and ENV values end up in the image config and its history: names
//! that look like credentials should be secret mounts instead.

use super::{Findings, Input, Level, Rule};
use crate::syntax::{Args, Node, Span};

pub const SECRETS_USED_IN_ARG_OR_ENV: Rule = Rule {
    name: "SecretsUsedInArgOrEnv",
    description: "Sensitive data should not be used in the ARG or ENV commands",
    url: "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: secrets_used_in_arg_or_env,
};

/// Parts of a name (split at `_`, compared case-insensitively) that mark a
/// secret, and parts that clear it (BuildKit's lists).
const SECRET_PARTS: [&str; 10] = ["apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd", "secret", "token"];
const ALLOWED_PARTS: [&str; 1] = ["public"];

fn secrets_used_in_arg_or_env(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes() {
        for (name, span) in declared_names(node) {
            if looks_secret(name) {
                let instruction = node.keyword.to_uppercase();
                let message = format!("Do not use ARG or ENV instructions for sensitive data ({instruction} {name:?})");
                out.push(span, message, "pass it with `--secret` and read it from `RUN --mount=type=secret`");
            }
        }
    }
}

/// The names an ARG or ENV declares, with where each is written.
fn declared_names(node: &Node) -> Vec<(&str, Span)> {
    match (node.keyword.as_str(), &node.args) {
        ("arg", Args::Words(words)) => words.iter().zip(&node.word_spans).map(|(w, s)| (w.split('=').next().unwrap_or(w), *s)).collect(),
        ("env", Args::KeyValues(pairs)) => pairs.iter().map(|p| (p.key.as_str(), node.args_span)).collect(),
        _ => Vec::new(),
    }
}

/// Whether `name` has a secret-looking part and no clearing part.
pub fn looks_secret(name: &str) -> bool {
    let parts: Vec<String> = name.split('_').map(str::to_ascii_lowercase).collect();
    parts.iter().any(|p| SECRET_PARTS.contains(&p.as_str())) && !parts.iter().any(|p| ALLOWED_PARTS.contains(&p.as_str()))
}
