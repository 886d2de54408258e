//! Build checks: BuildKit's Dockerfile rules (same names, same messages) and
//! a few of strata's own, evaluated on the raw tree so every finding points
//! at the exact words it is about.
//!
//! A rule is a [`Rule`] value in one of the files below (one rule or one small
//! family per file) plus one line in [`RULES`]. Rules read a [`Input`] (the
//! source, the raw nodes with their stage, the options) and push
//! [`Finding`]s; which rules run and whether findings fail the build come
//! from the `# check=` directive or the `BUILDKIT_DOCKERFILE_CHECK` build
//! arg ([`CheckConfig`]). Pure: text in, findings out; `render` turns them
//! into text, JSON or SARIF.

mod casing;
mod config;
mod continuation;
mod description;
mod expose;
mod forms;
mod history;
mod hygiene;
mod ignored;
mod input;
mod lines;
mod render;
mod secrets;
mod stage_names;
mod vars;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::syntax::{parse_ast, ParseError, Span};

pub use config::{CheckConfig, CheckConfigError, CHECK_BUILD_ARG};
pub use input::{Input, Located};
pub use lines::LineIndex;
pub use render::{json, sarif, summary};

/// How serious a finding is when `error=true` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth knowing, never a mistake by itself (strata's notes).
    Note,
    /// A likely mistake (BuildKit's rules).
    Warning,
}

/// One rule: its name, what it is about, where it is documented, and the
/// function that finds its violations.
#[derive(Debug)]
pub struct Rule {
    /// BuildKit's rule name (`StageNameCasing`), as `# check=skip=` names it.
    pub name: &'static str,
    /// One sentence on what the rule is about.
    pub description: &'static str,
    /// Where the rule is documented.
    pub url: &'static str,
    /// What a finding of the rule is (note or warning).
    pub level: Level,
    /// Off unless `# check=experimental=<name>` (or `all`) turns it on, as in BuildKit.
    pub experimental: bool,
    /// `true` for BuildKit's rules, `false` for strata's own.
    pub buildkit: bool,
    /// Looks at the input and pushes a finding per violation.
    pub check: fn(&Input<'_>, &mut Findings<'_>),
}

/// Every rule, in the order findings of the same line are listed.
pub const RULES: &[&Rule] = &[
    &casing::STAGE_NAME_CASING,
    &casing::FROM_AS_CASING,
    &continuation::NO_EMPTY_CONTINUATION,
    &casing::CONSISTENT_INSTRUCTION_CASING,
    &stage_names::DUPLICATE_STAGE_NAME,
    &stage_names::RESERVED_STAGE_NAME,
    &forms::JSON_ARGS_RECOMMENDED,
    &forms::MAINTAINER_DEPRECATED,
    &vars::UNDEFINED_ARG_IN_FROM,
    &forms::WORKDIR_RELATIVE_PATH,
    &vars::UNDEFINED_VAR,
    &forms::MULTIPLE_INSTRUCTIONS_DISALLOWED,
    &forms::LEGACY_KEY_VALUE_FORMAT,
    &vars::INVALID_DEFAULT_ARG_IN_FROM,
    &vars::FROM_PLATFORM_FLAG_CONST_DISALLOWED,
    &vars::REDUNDANT_TARGET_PLATFORM,
    &secrets::SECRETS_USED_IN_ARG_OR_ENV,
    &description::INVALID_DEFINITION_DESCRIPTION,
    &expose::EXPOSE_PROTO_CASING,
    &expose::EXPOSE_INVALID_FORMAT,
    &ignored::COPY_IGNORED_FILE,
    &hygiene::ADD_URL_WITHOUT_CHECKSUM,
    &hygiene::APT_WITHOUT_CLEANUP,
    &hygiene::NO_INSTALL_RECOMMENDS,
    &hygiene::UNPINNED_BASE_IMAGE,
    &history::WASTED_LAYER_BYTES,
    &history::CACHE_BUSTING_ORDER,
];

/// The rule called `name` (exact, as in the check directive).
pub fn rule(name: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.name == name)
}

/// One violation: which rule, where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The rule's name.
    pub rule: &'static str,
    /// The rule's level.
    pub level: Level,
    /// What is wrong, naming the word or instruction concerned.
    pub message: String,
    /// A one-line fix.
    pub help: String,
    /// Byte range in the source.
    pub span: Span,
    /// Line of `span`'s start, from 1.
    pub line: usize,
    /// Column of `span`'s start, from 1, in characters.
    pub column: usize,
    /// The rule's documentation.
    pub url: &'static str,
}

/// Where a rule puts its findings; it stamps each with the rule.
pub struct Findings<'r> {
    rule: &'r Rule,
    lines: &'r LineIndex<'r>,
    out: Vec<Finding>,
}

impl Findings<'_> {
    /// Records a violation at `span` with its message and a one-line fix.
    pub fn push(&mut self, span: Span, message: String, help: impl Into<String>) {
        let at = self.lines.locate(span.start);
        self.out.push(Finding {
            rule: self.rule.name,
            level: self.rule.level,
            message,
            help: help.into(),
            span,
            line: at.line,
            column: at.column,
            url: self.rule.url,
        });
    }
}

/// What the caller knows beyond the Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// `--build-arg`s; `BUILDKIT_DOCKERFILE_CHECK` among them replaces the
    /// `# check=` directive.
    pub build_args: BTreeMap<String, String>,
    /// The environment (`KEY=value`) of base images, by reference as
    /// written; a stage whose base is not here is not checked for
    /// undefined variables (its image may define them).
    pub base_env: BTreeMap<String, Vec<String>>,
    /// The store's record of recent builds of this Dockerfile, for the
    /// checks that need it (none without a store).
    pub history: History,
    /// The context's ignore file, for CopyIgnoredFile (none: not checked).
    pub ignore: Option<crate::context::IgnoreFile>,
}

/// Recent builds of the Dockerfile and what their layers hold.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Oldest first.
    pub builds: Vec<crate::cache::BuildRecord>,
    /// The paths each layer of the last build writes or deletes, by diff_id.
    pub layers: crate::cache::LayerChanges,
}

/// The outcome of the checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Every finding of the enabled rules, sorted by position.
    pub findings: Vec<Finding>,
    /// `error=true` was asked for: warnings fail the build.
    pub error: bool,
}

impl Report {
    /// Whether the findings should fail the command: `error=true` and a
    /// warning (notes never fail a build).
    pub fn failed(&self) -> bool {
        self.error && self.warnings().next().is_some()
    }

    /// The findings that are warnings (notes left out), which a build prints.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.level == Level::Warning)
    }
}

/// Why a Dockerfile could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// The Dockerfile does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The `BUILDKIT_DOCKERFILE_CHECK` build arg is malformed.
    #[error(transparent)]
    Config(#[from] CheckConfigError),
}

/// Runs every enabled rule over `source`; findings sorted by position.
pub fn lint(source: &str, options: &LintOptions) -> Result<Report, LintError> {
    let ast = parse_ast(source)?;
    crate::syntax::instruction::from_ast(&ast)?;
    let config = CheckConfig::resolve(ast.directives.check.as_ref(), options.build_args.get(CHECK_BUILD_ARG).map(String::as_str))?;
    let input = Input::new(source, &ast, options);
    let lines = LineIndex::new(source);
    let mut findings = Vec::new();
    for rule in RULES.iter().copied().filter(|r| config.enabled(r)) {
        let mut sink = Findings { rule, lines: &lines, out: Vec::new() };
        (rule.check)(&input, &mut sink);
        findings.append(&mut sink.out);
    }
    findings.sort_by_key(|f| f.span.start);
    Ok(Report { findings, error: config.error })
}

#[cfg(test)]
mod tests;
