//! A stage's state between steps: its layers, its config and the cache key
//! of the last step; and where each stage starts.

use std::path::PathBuf;
use std::sync::Arc;

use super::{SolveError, Solver};
use crate::cache::{CacheKey, KeyBuilder};
use crate::digest::Digest;
use crate::image::{now_rfc3339, ImageConfig};
use crate::plan::{Base, SourceRoot, StagePlan};
use crate::store::LayerRecord;

/// Layers (bottom first, by diff_id), config and key of a stage so far.
#[derive(Debug, Clone)]
pub struct StageState {
    /// The stage's layers so far, bottom first: diff_id and stored record.
    pub layers: Vec<(Digest, LayerRecord)>,
    /// The image config so far (base config, then each step's edits).
    pub config: ImageConfig,
    /// The cache key of the last step (the base's for a fresh stage).
    pub key: CacheKey,
    /// When the stage's content last changed: the base image's creation,
    /// then each layer step's (a cache hit keeps the recorded time), so an
    /// unchanged rebuild gives the same image ID, as with BuildKit.
    pub created: String,
}

impl Solver<'_> {
    /// Where `stage` starts: scratch, an image from the store, or the end
    /// state of an earlier stage.
    /// The base's ONBUILD triggers are left out of the config: the plan
    /// runs them as the stage's first steps, and BuildKit clears them
    /// (`d.image.Config.OnBuild = nil`) so they fire once, not again in
    /// images built from this one.
    pub(super) fn base_state(&self, stage: &StagePlan, results: &mut StageInputs) -> Result<StageState, SolveError> {
        let mut state = self.base_state_with_triggers(stage, results)?;
        state.config.config.on_build = None;
        Ok(state)
    }

    fn base_state_with_triggers(&self, stage: &StagePlan, results: &mut StageInputs) -> Result<StageState, SolveError> {
        match &stage.base {
            Base::Scratch => {
                let created = now_rfc3339();
                let mut config = ImageConfig::scratch(&created);
                config.os.clone_from(&stage.platform.os);
                config.architecture.clone_from(&stage.platform.architecture);
                config.variant.clone_from(&stage.platform.variant);
                let key = match &config.variant {
                    None => KeyBuilder::new().str("base", "scratch").str("platform", &config.architecture).finish(),
                    Some(variant) => KeyBuilder::new().str("base", "scratch").str("platform", &config.architecture).str("variant", variant).finish(),
                };
                Ok(StageState { layers: Vec::new(), config, key, created })
            }
            Base::Stage(index) => results.start_from(*index, reads_stage(stage, *index)),
            Base::Image(name) => self.image_state(name),
        }
    }

    /// The state of an image in the store, as a stage base or a `--from` source.
    pub(super) fn image_state(&self, name: &str) -> Result<StageState, SolveError> {
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = images.get(name) {
            return Ok(state.clone());
        }
        let state = self.resolve_image_state(name)?;
        images.insert(name.to_owned(), state.clone());
        Ok(state)
    }

    fn resolve_image_state(&self, name: &str) -> Result<StageState, SolveError> {
        let base_error = |source| SolveError::BaseImage { name: name.to_owned(), cause: source };
        let image = self.store.resolve(name).map_err(base_error)?;
        let layers = self.store.image_layers(&image.config.rootfs.diff_ids).map_err(base_error)?;
        let key = KeyBuilder::new().str("base", "image").digest("manifest", &image.manifest.digest).finish();
        let created = image.config.created.clone().unwrap_or_else(now_rfc3339);
        Ok(StageState { layers, config: image.config.as_stage_base(), key, created })
    }

    /// What a COPY or bind mount reads from: `None` for the context, else
    /// the end state of a stage or an image's state.
    pub(super) fn source_state(&self, from: &SourceRoot, results: &StageInputs) -> Result<Option<StageState>, SolveError> {
        match from {
            SourceRoot::Context => Ok(None),
            SourceRoot::Stage(index) => built(results, *index).cloned().map(Some),
            SourceRoot::Image(name) => self.image_state(name).map(Some),
        }
    }

    /// The snapshot directories of a state's layers, bottom first; layers
    /// an imported cache named but nobody fetched yet are fetched now, and
    /// layers stored as blobs alone (pulled) are unpacked on this first use.
    pub(super) fn layer_paths(&self, state: &StageState) -> Result<Vec<PathBuf>, SolveError> {
        self.ensure_layers(&state.layers, false)?;
        let diff_ids: Vec<Digest> = state.layers.iter().map(|(diff_id, _)| *diff_id).collect();
        Ok(self.store.ensure_snapshots(&diff_ids)?)
    }

    /// Fetches, from the imported cache, layers whose snapshot (and, with
    /// `with_blobs`, blob) the store lacks. Without an imported cache the
    /// store is as it is.
    pub(super) fn ensure_layers(&self, layers: &[(Digest, LayerRecord)], with_blobs: bool) -> Result<(), SolveError> {
        let Some(shared) = self.shared_cache else { return Ok(()) };
        let mut missing: Vec<(Digest, LayerRecord)> = Vec::new();
        for (diff_id, record) in layers {
            // A layer kept only as its snapshot has its blob (made from it).
            if !self.store.has_layer_content(diff_id, record) || (with_blobs && !self.store.has_blob(&record.blob)?) {
                missing.push((*diff_id, record.clone()));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Ok(shared.fetch_layers(&missing)?)
    }
}

/// The end states of the stages one stage reads (its base, `COPY --from`,
/// `RUN --mount=from=`), by stage index. Each stage gets only these, shared,
/// never a copy of every result so far: a long chain stays linear.
#[derive(Debug, Default)]
pub(super) struct StageInputs(Vec<(usize, Arc<StageState>)>);

impl StageInputs {
    /// The inputs `states` (stage index, end state), in any order.
    pub fn new(states: Vec<(usize, Arc<StageState>)>) -> StageInputs {
        StageInputs(states)
    }

    fn get(&self, index: usize) -> Option<&StageState> {
        self.0.iter().find(|(i, _)| *i == index).map(|(_, state)| state.as_ref())
    }

    /// Stage `index`'s end state as the start of the stage built on it.
    /// Unless the stage reads it again (`keep`), it leaves the inputs and
    /// is moved, not copied, when nothing else holds it: along a chain the
    /// config's history grows, and copying it at every stage is quadratic.
    fn start_from(&mut self, index: usize, keep: bool) -> Result<StageState, SolveError> {
        let position = self.0.iter().position(|(i, _)| *i == index).ok_or(SolveError::StageNotBuilt(index))?;
        if keep {
            return Ok(self.0[position].1.as_ref().clone());
        }
        let (_, state) = self.0.swap_remove(position);
        Ok(Arc::unwrap_or_clone(state))
    }
}

/// Whether a step of `stage` reads stage `index` (`COPY --from`, a mount's `from`).
fn reads_stage(stage: &StagePlan, index: usize) -> bool {
    let wanted = SourceRoot::Stage(index);
    stage.steps.iter().any(|step| step.source_roots().contains(&&wanted))
}

/// The end state of stage `index`. The scheduler starts a stage only after
/// its dependencies, so a missing one is a bug reported as an error.
pub(super) fn built(results: &StageInputs, index: usize) -> Result<&StageState, SolveError> {
    results.get(index).ok_or(SolveError::StageNotBuilt(index))
}
