//! Step cache keys. The recipe (also in the README):
//!
//! `sha256(fields)` over typed, length-prefixed fields, in this order:
//! 1. `version` = `strata.step.v1`;
//! 2. `parent` = the previous step's key (a stage's first step: the key of
//!    its base — `scratch` and the platform, the image's manifest digest,
//!    or the other stage's last key);
//! 3. `op` = the step's operation as canonical JSON, after expansion (so it
//!    holds the instruction, its flags, and for RUN the build args and
//!    environment it sees);
//! 4. COPY/ADD from the context: `context` = the digest of every selected
//!    file's relative path, type, mode, owner, link target and content
//!    (never times); from a stage: `from-stage` = its last key; from an
//!    image: `from-image` = its manifest digest.

use std::path::Path;

use super::state::{built, StageInputs, StageState};
use super::{SolveError, Solver};
use crate::cache::{CacheKey, Input, KeyBuilder};
use crate::context::{ContextError, CopySources, Selection};
use crate::copy::{Expected, SourceFilter};
use crate::digest::Digest;
use crate::image::canonical_json;
use crate::plan::{CopySource, MountOp, Op, SourceRoot, Step};

/// The build context as the solver sees it.
pub trait ContextSource: Sync {
    /// The context directory.
    fn root(&self) -> &Path;
    /// The `.dockerignore` rules, if any.
    fn filter(&self) -> Option<&dyn SourceFilter>;
    /// Resolves sources once (wildcards, `--parents`, `--exclude`): the
    /// digest of what they select, one input per selected file
    /// (`file:<path>` → content, mode, owner), and what a copy of them must
    /// write.
    fn select(&self, sources: &CopySources) -> Result<KeyedSelection, ContextError>;
    /// What a copy of `selection` must write (asked only when the step
    /// runs, so a cache hit does not list it).
    fn expected(&self, selection: &Selection) -> Expected;
}

/// What a step's context sources resolved to.
#[derive(Debug, Clone)]
pub struct KeyedSelection {
    /// The digest of the selected sources' content, hashed into the step's key.
    pub digest: Digest,
    /// Named inputs (`file:<path>` …) behind the digest, for `--explain`.
    pub inputs: Vec<Input>,
    /// What the key covers; the copy writes exactly this or fails.
    pub selection: Selection,
}

/// A step's key, the named inputs that went into it, and for a COPY from
/// the context the selection the copy must write.
pub(super) struct StepKey {
    pub key: CacheKey,
    pub inputs: Vec<Input>,
    pub selection: Option<Selection>,
}

impl Solver<'_> {
    /// A step's key and the named inputs that went into it.
    pub(super) fn step_key(&self, state: &StageState, step: &Step, results: &StageInputs) -> Result<StepKey, SolveError> {
        let op_json = canonical_json(&step.op);
        let mut builder = KeyBuilder::new();
        builder.digest("parent", &state.key.0).bytes("op", &op_json);
        let mut inputs =
            vec![Input::new("parent", state.key.to_string()), Input::new("instruction", step.text.clone()), Input::new("op", Digest::of(&op_json).to_string())];
        let mut selection = None;
        match &step.op {
            Op::Copy(copy) => match &copy.from {
                SourceRoot::Context => {
                    let patterns: Vec<String> = copy
                        .sources
                        .iter()
                        .filter_map(|s| match s {
                            CopySource::Path { path } => Some(path.clone()),
                            _ => None,
                        })
                        .collect();
                    if !patterns.is_empty() {
                        let selected = self.context.select(&CopySources { sources: &patterns, parents: copy.parents, exclude: &copy.exclude })?;
                        builder.digest("context", &selected.digest);
                        inputs.extend(selected.inputs);
                        selection = Some(selected.selection);
                    }
                }
                SourceRoot::Stage(index) => {
                    let source = built(results, *index)?;
                    builder.digest("from-stage", &source.key.0);
                    inputs.push(Input::new("from-stage", source.key.to_string()));
                }
                SourceRoot::Image(name) => {
                    let source = self.image_state(name)?;
                    builder.digest("from-image", &source.key.0);
                    inputs.push(Input::new("from-image", source.key.to_string()));
                }
            },
            Op::Run(run) => {
                inputs.extend(run.env.iter().map(|(k, v)| Input::new(format!("env:{k}"), v.clone())));
                // What a bind mount shows is an input of the step.
                let binds = run.mounts.iter().filter_map(|m| match m {
                    MountOp::Bind(bind) => Some(bind),
                    _ => None,
                });
                for mount in binds {
                    let source = mount.source.clone().unwrap_or_else(|| "/".into());
                    let digest = match &mount.from {
                        SourceRoot::Context => {
                            let selected = self.context.select(&CopySources { sources: std::slice::from_ref(&source), parents: false, exclude: &[] })?;
                            inputs.extend(selected.inputs);
                            selected.digest
                        }
                        SourceRoot::Stage(index) => built(results, *index)?.key.0,
                        SourceRoot::Image(name) => self.image_state(name)?.key.0,
                    };
                    builder.str("bind-source", &source).digest("bind", &digest);
                }
            }
            _ => {}
        }
        Ok(StepKey { key: builder.finish(), inputs, selection })
    }
}
