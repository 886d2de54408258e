//! Dry runs (`strata cache explain`): every step's key computed against
//! the current context and looked up, HIT or MISS with the reason, and
//! nothing executed or written. A missed step's key is still known (keys
//! chain on the parent's key, not on its output), so the steps after it
//! are judged too; they can hit only if a build with the same inputs ran.

use serde::Serialize;

use super::state::StageState;
use super::step::apply;
use super::{SolveError, Solver};
use crate::cache::{explain_miss, CacheKey, Input};
use crate::plan::{BuildPlan, Step};
use crate::progress::Event;

/// One step's outcome in a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The stage's name, or `stage-N` when unnamed.
    pub stage: String,
    #[serde(skip)]
    /// The stage's index in the Dockerfile.
    pub stage_index: usize,
    #[serde(skip)]
    /// The step's index in its stage.
    pub step_index: usize,
    /// The instruction as written.
    pub instruction: String,
    /// The instruction's first Dockerfile line, from 1.
    pub line: usize,
    /// The step's cache key.
    pub key: CacheKey,
    /// Whether the store or the imported cache holds the step.
    pub hit: bool,
    /// Why it missed (empty on a hit).
    pub reasons: Vec<String>,
}

/// Where a step is, for its verdict.
pub(super) struct StepAt<'a> {
    pub stage: usize,
    pub step: usize,
    pub label: &'a str,
    pub identity: &'a str,
    pub id: usize,
}

impl Solver<'_> {
    /// Judges every step of the plan's target; nothing runs. Needs
    /// [`super::SolveOptions::dry_run`].
    pub fn dry_run(&self, plan: &BuildPlan) -> Result<Vec<Verdict>, SolveError> {
        self.run_stages(plan)?;
        let mut verdicts = std::mem::take(&mut *self.verdicts.lock().unwrap_or_else(|p| p.into_inner()));
        verdicts.sort_by_key(|v| (v.stage_index, v.step_index));
        Ok(verdicts)
    }

    /// Looks `key` up (without leasing), records the verdict and moves the
    /// state on as a build would: a hit takes the recorded layer, a miss
    /// adds nothing. Returns whether it hit.
    pub(super) fn dry_run_step(
        &self,
        state: &mut StageState,
        step: &Step,
        at: StepAt<'_>,
        key: CacheKey,
        inputs: &[Input],
        no_cache: bool,
    ) -> Result<bool, SolveError> {
        let record = if no_cache { None } else { self.cache().peek(&key)? };
        let reasons = match (&record, no_cache) {
            (Some(_), _) => Vec::new(),
            (None, true) => vec!["the cache is disabled for this stage (--no-cache)".into()],
            (None, false) => explain_miss(inputs, self.cache().last(at.identity)?.as_ref()),
        };
        self.progress.event(match record {
            Some(_) => Event::Cached { id: at.id },
            None => Event::Miss { id: at.id, reasons: reasons.clone() },
        });
        let hit = record.is_some();
        self.verdicts.lock().unwrap_or_else(|p| p.into_inner()).push(Verdict {
            stage: at.label.to_owned(),
            stage_index: at.stage,
            step_index: at.step,
            instruction: step.text.clone(),
            line: step.lines.start,
            key,
            hit,
            reasons,
        });
        let layer = match record {
            Some(record) => {
                state.created = record.created.clone();
                record.layer.map(|diff_id| self.layer_record(diff_id)).transpose()?
            }
            None => None,
        };
        apply(state, step, layer);
        state.key = key;
        Ok(hit)
    }
}
