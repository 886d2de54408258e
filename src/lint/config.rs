//! Which rules run and whether their findings fail: the `# check=` directive,
//! or the `BUILDKIT_DOCKERFILE_CHECK` build arg, which replaces it (as in
//! BuildKit, so CI can tighten a build without editing the Dockerfile).
//!
//! See: https://docs.docker.com/build/checks/

use crate::syntax::{parse_check, CheckDirective};

use super::Rule;

/// The build arg that overrides the `# check=` directive.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// The effective check settings of one build.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckConfig {
    skip_all: bool,
    skip: Vec<String>,
    experimental_all: bool,
    experimental: Vec<String>,
    /// Findings fail the build.
    pub error: bool,
}

/// A malformed `BUILDKIT_DOCKERFILE_CHECK` value (a malformed directive is a
/// parse error, reported by the parser).
#[derive(Debug, thiserror::Error)]
#[error("invalid {CHECK_BUILD_ARG} value {value:?}: expected skip=<rules|all>;error=<true|false>;experimental=<rules|all>")]
pub struct CheckConfigError {
    /// The build arg's value as given.
    pub value: String,
}

impl CheckConfig {
    /// The settings from the directive, replaced by the build arg when given.
    pub fn resolve(directive: Option<&CheckDirective>, build_arg: Option<&str>) -> Result<CheckConfig, CheckConfigError> {
        let from_arg;
        let chosen = match build_arg {
            Some(value) => {
                from_arg = parse_check(value).ok_or_else(|| CheckConfigError { value: value.to_owned() })?;
                Some(&from_arg)
            }
            None => directive,
        };
        Ok(chosen.map(CheckConfig::from_directive).unwrap_or_default())
    }

    fn from_directive(check: &CheckDirective) -> CheckConfig {
        let all = |list: &[String]| list.iter().any(|r| r.eq_ignore_ascii_case("all"));
        CheckConfig {
            skip_all: all(&check.skip),
            skip: check.skip.clone(),
            experimental_all: all(&check.experimental),
            experimental: check.experimental.clone(),
            error: check.error,
        }
    }

    /// Whether `rule` runs.
    pub fn enabled(&self, rule: &Rule) -> bool {
        if self.skip_all || self.skip.iter().any(|s| s == rule.name) {
            return false;
        }
        !rule.experimental || self.experimental_all || self.experimental.iter().any(|s| s == rule.name)
    }
}
