//! Build checks at the start of a build, as BuildKit runs them: after the
//! plan (so undefined-variable checks see the base images' environments),
//! before the first step. `--check` stops there; otherwise the warnings are
//! handed to the caller to show, and `# check=error=true` with a warning
//! fails the build before anything runs.

use std::path::Path;

use super::BuildError;
use crate::lint::{self, History, LintOptions, Report};
use crate::plan::{Base, BuildPlan};
use crate::store::Store;

/// The checks of one Dockerfile: its name and text (to locate findings)
/// and what the rules found.
#[derive(Debug)]
pub struct Checked {
    /// The Dockerfile's path as given.
    pub name: String,
    /// The Dockerfile's text (bytes that are not UTF-8 read as U+FFFD).
    pub text: String,
    /// The findings, and whether `error=true` makes them fail the build.
    pub report: Report,
}

/// Where a build's check results go before its first step (the CLI prints
/// BuildKit's summary of the warnings).
pub trait CheckSink {
    /// Called once per build, after planning.
    fn checked(&self, checked: &Checked);
}

/// A sink that shows nothing.
pub struct NoChecks;

impl CheckSink for NoChecks {
    fn checked(&self, _: &Checked) {}
}

/// Runs every rule on the Dockerfile at `path`, planned as `plan`, with the
/// store's history of its recent builds.
pub(super) fn run(
    store: &Store,
    context: &Path,
    path: &Path,
    plan: &BuildPlan,
    build_args: &std::collections::BTreeMap<String, String>,
) -> Result<Checked, BuildError> {
    let bytes = fs_err::read(path).map_err(|source| BuildError::ReadDockerfile { path: path.to_path_buf(), source })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let base_env = plan
        .ordered()
        .filter_map(|stage| match &stage.base {
            Base::Image(image) => Some((image.clone(), stage.base_config.config.env.clone().unwrap_or_default())),
            _ => None,
        })
        .collect();
    // A broken ignore file fails the build later, where the context is read.
    let ignore = crate::context::IgnoreFile::load(context, path).ok();
    let options = LintOptions { build_args: build_args.clone(), base_env, history: history(store, path)?, ignore };
    let report = lint::lint(&text, &options)?;
    Ok(Checked { name: path.display().to_string(), text, report })
}

/// The store's record of the recent builds of the Dockerfile at `path`,
/// for the checks that read it.
pub fn history(store: &Store, path: &Path) -> Result<History, crate::store::StoreError> {
    let (builds, layers) = crate::cache::recent_builds_with_layers(store, &super::dockerfile_id(path))?;
    Ok(History { builds, layers })
}
