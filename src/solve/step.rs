//! Running one stage: each step's key, a cache hit or an execution, and the
//! step's effect on the stage's layers, config and history.

use std::path::Path;
use std::time::Instant;

use super::state::{StageInputs, StageState};
use super::{SolveError, Solver};
use crate::cache::{explain_miss, CacheKey, CacheRecord, Input, StepRecord};
use crate::context::Selection;
use crate::copy::{make_dir_all, resolve_owner, AddSpec, CopySpec};
use crate::digest::Digest;
use crate::image::{now_rfc3339, ConfigChange, History};
use crate::plan::{CopyOp, Op, SourceRoot, StagePlan, Step, HISTORY_COMMENT};
use crate::progress::Event;
use crate::store::{LayerRecord, UpperAfterCommit};

type Layer = (Digest, LayerRecord);

/// A stage for another architecture runs its RUN steps under a registered
/// qemu handler; without one it fails before its first step, saying how to
/// register one.
fn check_emulation(stage: &StagePlan, label: &str) -> Result<(), SolveError> {
    if stage.platform.is_host() || !stage.steps.iter().any(|s| matches!(s.op, Op::Run(_))) {
        return Ok(());
    }
    crate::exec::emulator(&stage.platform.architecture).map(drop).map_err(|cause| SolveError::Emulation {
        stage: label.to_owned(),
        platform: stage.platform.to_string(),
        cause: Box::new(cause),
    })
}

impl Solver<'_> {
    /// Builds one stage; returns its end state, cache hits and steps run.
    pub(super) fn stage(&self, stage: &StagePlan, mut results: StageInputs) -> Result<(StageState, usize, usize), SolveError> {
        let mut state = self.base_state(stage, &mut results)?;
        let results = &results;
        let label = stage.name.clone().unwrap_or_else(|| format!("stage-{}", stage.index));
        check_emulation(stage, &label)?;
        let no_cache = self.options.no_cache || stage.name.as_ref().is_some_and(|n| self.options.no_cache_filter.contains(n));
        let filesystem_steps = stage.steps.iter().filter(|s| touches_filesystem(&s.op)).count();
        let (mut position, mut hits) = (0, 0);
        for (index, step) in stage.steps.iter().enumerate() {
            if !touches_filesystem(&step.op) {
                apply(&mut state, step, None);
                continue;
            }
            position += 1;
            if self.is_cancelled() {
                return Err(SolveError::Cancelled);
            }
            let id = self.next_id();
            let name = format!("[{label} {position}/{filesystem_steps}] {}", step.text);
            self.progress.event(Event::Started { id, name });
            let started = Instant::now();
            let identity = format!("{}#{}#{index}", self.options.dockerfile_id, stage.index);
            let wrap = |e: SolveError| SolveError::Step { step: step.text.clone(), line: step.lines.start, cause: Box::new(e) };
            let super::key::StepKey { key, inputs, selection } = self.step_key(&state, step, results).map_err(wrap)?;
            if self.options.dry_run {
                let at = super::dry_run::StepAt { stage: stage.index, step: index, label: &label, identity: &identity, id };
                hits += usize::from(self.dry_run_step(&mut state, step, at, key, &inputs, no_cache)?);
                continue;
            }
            // The same step running in another stage: wait, then take its result.
            let claimed = self.in_flight.claim(key);
            if !no_cache || !claimed {
                if let Some((record, layer)) = self.lookup(&key, &identity, &label, !no_cache)? {
                    if claimed {
                        self.in_flight.release(&key);
                    }
                    state.created = record.created.clone();
                    apply(&mut state, step, layer.clone());
                    state.key = key;
                    self.record_step(StepRecord {
                        stage: stage.index,
                        line: step.lines.start,
                        text: step.text.clone(),
                        cached: true,
                        reasons: Vec::new(),
                        layer: record.layer,
                    });
                    self.record_hit(identity, key);
                    self.record_used(record, layer);
                    self.progress.event(Event::Cached { id });
                    hits += 1;
                    continue;
                }
            }
            // Every miss is explained: the build history keeps the reasons.
            let last = self.cache().last(&identity)?;
            let reasons = explain_miss(&inputs, last.as_ref());
            if self.options.explain {
                self.progress.event(Event::Miss { id, reasons: reasons.clone() });
            }
            let previous = last.and_then(|record| record.layer);
            let executed = self.execute(&state, step, results, id, selection.as_ref().map(|s| (s, previous)));
            let layer = match executed {
                Ok(layer) => layer,
                Err(error) => {
                    if claimed {
                        self.in_flight.release(&key);
                    }
                    self.progress.event(Event::Error { id, message: error.to_string() });
                    return Err(wrap(error));
                }
            };
            let record = CacheRecord {
                key,
                layer: layer.as_ref().map(|(diff_id, _)| *diff_id),
                inputs,
                step: step.text.clone(),
                created: now_rfc3339(),
                stage: label.clone(),
            };
            let stored = self.cache().put(&identity, &record);
            self.record_hit(identity, key);
            if claimed {
                self.in_flight.release(&key);
            }
            stored?;
            state.created = record.created.clone();
            apply(&mut state, step, layer.clone());
            self.record_step(StepRecord { stage: stage.index, line: step.lines.start, text: step.text.clone(), cached: false, reasons, layer: record.layer });
            self.record_used(record, layer);
            state.key = key;
            self.progress.event(Event::Done { id, duration: started.elapsed() });
        }
        Ok((state, hits, position))
    }

    /// The result of a step: from the store's cache, else (when `shared`
    /// is allowed) from an imported cache, whose record is then kept in the
    /// store's cache too. A shared hit's layer is not fetched here: only
    /// when a later step mounts it, or the image is committed.
    fn lookup(&self, key: &CacheKey, identity: &str, stage: &str, shared: bool) -> Result<Option<(CacheRecord, Option<Layer>)>, SolveError> {
        if let Some(hit) = self.cache().get(key)? {
            return Ok(Some(hit));
        }
        let Some(found) = self.shared_cache.filter(|_| shared).and_then(|cache| cache.record(key)) else { return Ok(None) };
        let layer = found.layer.as_ref().map(|l| (l.diff_id, l.record()));
        let record = CacheRecord {
            key: *key,
            layer: layer.as_ref().map(|(diff_id, _)| *diff_id),
            inputs: found.parent.iter().map(|p| Input::new("parent", p.clone())).collect(),
            step: found.step,
            created: found.created,
            stage: stage.to_owned(),
        };
        self.cache().put(identity, &record)?;
        Ok(Some((record, layer)))
    }

    pub(super) fn layer_record(&self, diff_id: Digest) -> Result<Layer, SolveError> {
        let record = self.store.layer(&diff_id)?.ok_or(crate::store::StoreError::MissingBlob(diff_id))?;
        Ok((diff_id, record))
    }

    /// Runs a step that changes the filesystem; returns its layer, if it
    /// changed anything.
    /// `selection`: for a COPY from the context, what its key covered, and
    /// the layer the step made in its last build.
    fn execute(
        &self,
        state: &StageState,
        step: &Step,
        results: &StageInputs,
        id: usize,
        selection: Option<(&Selection, Option<Digest>)>,
    ) -> Result<Option<Layer>, SolveError> {
        match &step.op {
            Op::Workdir { path, user } => self.in_rootfs(
                state,
                |root| {
                    let owner = user.as_deref().map(|u| resolve_owner(u, root)).transpose()?;
                    Ok(make_dir_all(root, path, owner)?)
                },
                |_, _| Ok(()),
            ),
            Op::Copy(op) => {
                let expected = selection.map(|(s, _)| self.context.expected(s));
                let reuse = selection.and_then(|(_, previous)| previous).and_then(|layer| self.previous_snapshot(&layer));
                let source_state = self.source_state(&op.from, results)?;
                let layers = source_state.as_ref().map(|s| self.layer_paths(s)).transpose()?;
                let scratch = self.store.temp_dir("source")?;
                let result = self.with_source(source_state.as_ref(), &scratch, |source, filter| {
                    let spec = copy_spec(op);
                    let from = super::copy_step::CopyFrom { source, filter, expected: expected.as_ref(), reuse: reuse.as_ref(), layers: layers.as_deref() };
                    self.copy_step(state, &spec, &from)
                });
                remove_scratch(&scratch);
                result
            }
            Op::Run(run) => {
                let scratch = super::run::private_scratch(|| Ok(self.store.temp_dir("run")?))?;
                let lowers = self.layer_paths(state)?;
                let spec = std::cell::RefCell::new(None);
                let kept = std::cell::RefCell::new(None);
                let result = self.in_rootfs(
                    state,
                    |root| {
                        let (made, bind_mounts) = self.container_spec(run, root, &scratch, results)?;
                        let log = |line: &str| self.progress.event(Event::Log { id, line: line.to_owned() });
                        let outcome = self.run_container(&made, &scratch, id, &log);
                        drop(bind_mounts);
                        *spec.borrow_mut() = Some(made);
                        outcome
                    },
                    |upper, failed| {
                        let Some(made) = spec.borrow().clone() else { return Ok(()) };
                        self.clean_upper(upper, &lowers, &made)?;
                        if failed && self.options.keep_failed {
                            *kept.borrow_mut() = Some(self.keep_failed(state, step, &made, upper)?);
                        }
                        Ok(())
                    },
                );
                remove_scratch(&scratch);
                result.map_err(|cause| match kept.take() {
                    Some(container) => SolveError::KeptFailed { container, cause: Box::new(cause) },
                    None => cause,
                })
            }
            Op::Config { .. } | Op::Author { .. } | Op::Arg => Ok(None),
        }
    }

    /// Calls `f` with the source root of a COPY: the context, or a stage's
    /// or image's layers mounted read-only under `scratch`.
    fn with_source<T>(
        &self,
        source: Option<&StageState>,
        scratch: &Path,
        f: impl FnOnce(&Path, Option<&dyn crate::copy::SourceFilter>) -> Result<T, SolveError>,
    ) -> Result<T, SolveError> {
        let Some(source) = source else { return f(self.context.root(), self.context.filter()) };
        let layers = self.layer_paths(source)?;
        let mounted = self.options.snapshotter.mount(&layers, scratch, true).map_err(|e| SolveError::io("mount the source of", scratch, e))?;
        let result = f(mounted.root(), None);
        mounted.finish().map_err(|e| SolveError::io("unmount", scratch, e))?;
        result
    }

    /// Mounts the state's layers with a fresh upper directory, runs `f` on
    /// the merged root, and commits the upper directory as a layer.
    /// `clean` gets the upper directory after unmounting, before the commit,
    /// and whether `f` failed (then nothing is committed).
    pub(super) fn in_rootfs(
        &self,
        state: &StageState,
        f: impl FnOnce(&Path) -> Result<(), SolveError>,
        clean: impl FnOnce(&Path, bool) -> Result<(), SolveError>,
    ) -> Result<Option<Layer>, SolveError> {
        let scratch = self.store.temp_dir("step")?;
        let result = self.in_rootfs_at(state, &scratch, f, clean);
        remove_scratch(&scratch);
        result
    }

    fn in_rootfs_at(
        &self,
        state: &StageState,
        scratch: &Path,
        f: impl FnOnce(&Path) -> Result<(), SolveError>,
        clean: impl FnOnce(&Path, bool) -> Result<(), SolveError>,
    ) -> Result<Option<Layer>, SolveError> {
        let layers = self.layer_paths(state)?;
        let mounted = self.options.snapshotter.mount(&layers, scratch, false).map_err(|e| SolveError::io("mount the root filesystem in", scratch, e))?;
        let outcome = f(mounted.root());
        let upper = mounted.finish().map_err(|e| SolveError::io("unmount", scratch, e))?;
        let cleaned = upper.as_deref().map_or(Ok(()), |upper| clean(upper, outcome.is_err()));
        outcome?;
        cleaned?;
        match upper {
            Some(upper) => Ok(self.store.commit_layer(&upper, UpperAfterCommit::Adopt)?),
            None => Ok(None),
        }
    }
}

/// Steps that need a root filesystem (and get a cache key and a line in
/// the progress output); the others only edit the config, as in BuildKit.
fn touches_filesystem(op: &Op) -> bool {
    matches!(op, Op::Workdir { .. } | Op::Copy(_) | Op::Run(_))
}

/// A step's effect on the config and history.
pub(super) fn apply(state: &mut StageState, step: &Step, layer: Option<Layer>) {
    match &step.op {
        Op::Config { change } => change.apply_in_build(&mut state.config.config),
        Op::Author { name } => state.config.author = Some(name.clone()),
        Op::Workdir { path, .. } => ConfigChange::Workdir(path.clone()).apply(&mut state.config.config),
        Op::Copy(_) | Op::Run(_) | Op::Arg => {}
    }
    // Entries without a layer get their time when the image is finished
    // (see `fill_history_times`), as BuildKit's exporter gives them.
    let history =
        |created: Option<String>| History { created, created_by: step.created_by.clone(), comment: Some(HISTORY_COMMENT.to_owned()), ..History::default() };
    match layer {
        Some((diff_id, record)) => {
            state.config.push_layer(diff_id, history(Some(state.created.clone())));
            state.layers.push((diff_id, record));
        }
        None if step.created_by.is_some() => state.config.push_empty_layer(history(None)),
        None => {}
    }
}

/// Scratch space goes; a failure to remove it is left for the next store
/// open to clean (it is under `tmp/`).
fn remove_scratch(path: &Path) {
    let _ = fs_err::remove_dir_all(path);
}

/// The copier's terms for a COPY/ADD step (it knows nothing of the plan).
pub fn copy_spec(op: &CopyOp) -> CopySpec {
    let source = |source: &crate::plan::CopySource| match source.clone() {
        crate::plan::CopySource::Path { path } => crate::copy::CopySource::Path { path },
        crate::plan::CopySource::Inline { name, content } => crate::copy::CopySource::Inline { name, content },
        crate::plan::CopySource::Url { url } => crate::copy::CopySource::Url { url },
    };
    CopySpec {
        sources: op.sources.iter().map(source).collect(),
        dest: op.dest.clone(),
        chown: op.chown.clone(),
        chmod: op.chmod.clone(),
        parents: op.parents,
        exclude: op.exclude.clone(),
        from_context: op.from == SourceRoot::Context,
        add: op.add.as_ref().map(|add| AddSpec { checksum: add.checksum.clone(), unpack: add.unpack }),
    }
}
