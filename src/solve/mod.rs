//! The solver: runs a [`BuildPlan`] against the store. Each step's cache key
//! is computed first; a hit reuses the recorded layer, a miss executes the
//! step (config edits here, COPY/ADD natively, RUN through an
//! [`Executor`]) and records the result. Knows nothing of Dockerfile syntax.

mod context;
mod copy_step;
mod dry_run;
mod key;
mod mount;
mod run;
mod schedule;
mod state;
mod step;

use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use crate::cache::{Cache, SharedCache, UsedStep};
use crate::digest::Digest;
use crate::image::Reference;
use crate::plan::BuildPlan;
use crate::progress::{Event, Progress};
use crate::store::{Store, StoreError, StoredImage};

pub use context::{expected_copy, BuildContext};
pub use dry_run::Verdict;
pub use key::{ContextSource, KeyedSelection};
pub use mount::{SecretSpecError, Secrets, SshAgents, SshSpecError};
pub use run::Executor;
pub use schedule::InFlight;
pub use state::StageState;
pub use step::copy_spec;

/// How the build runs.
#[derive(Debug, Clone, Default)]
pub struct SolveOptions {
    /// `--no-cache`: no step is taken from the cache.
    pub no_cache: bool,
    /// Stages (by name) never taken from the cache.
    pub no_cache_filter: Vec<String>,
    /// Report why each missed step missed.
    pub explain: bool,
    /// Identifies the Dockerfile across builds, for `explain`.
    pub dockerfile_id: String,
    /// Stages built at once (0: every stage whose inputs are ready).
    pub jobs: usize,
    /// Where `RUN --mount=type=secret` values come from.
    pub secrets: Secrets,
    /// The SSH agents `RUN --mount=type=ssh` reaches.
    pub ssh: SshAgents,
    /// Memory and CPU limits for every RUN.
    pub limits: crate::exec::Limits,
    /// Compute every step's key and say HIT or MISS, executing nothing
    /// (`strata cache explain`; see [`Solver::dry_run`]).
    pub dry_run: bool,
    /// Keep a failed RUN step's state as a working container.
    pub keep_failed: bool,
    /// How step root filesystems are made.
    pub snapshotter: crate::exec::Snapshotter,
    /// ADD's local archives expand to at most this many bytes.
    pub max_add_size: Option<u64>,
    /// What the build was granted (`--allow`).
    pub entitlements: crate::plan::Entitlements,
    /// The network of RUN steps that do not choose one (`--network`).
    pub network: crate::plan::Network,
}

/// Why a RUN step failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The process exited non-zero.
    #[error("process exited with code {code}{}", tail(last_lines))]
    Exit {
        /// The process's exit code.
        code: i32,
        /// The last lines of the step's output, for the message.
        last_lines: Vec<String>,
    },
    /// The process was killed by the cgroup's OOM killer.
    #[error("killed: out of memory (the --memory limit{limit} was reached; exit code {code}){}", tail(last_lines))]
    OutOfMemory {
        /// The exit code it ended with.
        code: i32,
        /// ` of N bytes` when `--memory` was given, else empty.
        limit: String,
        /// The last lines of the step's output, for the message.
        last_lines: Vec<String>,
    },
    /// The container could not be set up or started (no exit code); the
    /// executor's message names the cause (user, working dir, program).
    #[error("{0}")]
    Start(std::io::Error),
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last output:\n  {}", lines.join("\n  "))
    }
}

/// Why a build failed; step errors carry the Dockerfile line.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// A step failed; wraps the cause with the step and its line.
    #[error("{step} (Dockerfile line {line}): {cause}")]
    Step {
        /// The step as progress shows it (`[stage 2/5] RUN …`).
        step: String,
        /// The instruction's first Dockerfile line, from 1.
        line: usize,
        /// What went wrong in the step.
        cause: Box<SolveError>,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Making or applying a layer failed.
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    /// A COPY or ADD failed.
    #[error(transparent)]
    Copy(#[from] crate::copy::CopyError),
    /// A RUN failed.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// A filesystem call of the solver itself failed.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The host path concerned.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// Reading or hashing the build context failed.
    #[error("build context: {0}")]
    Context(#[from] crate::context::ContextError),
    /// The schedule ended without the target stage's state (an internal fault).
    #[error("the target stage was not built")]
    TargetNotBuilt,
    /// `RUN --mount=type=secret,required=true` names a secret not given.
    #[error("secret {id:?} is required but was not given (--secret id={id},src=FILE)")]
    SecretRequired {
        /// The secret's id.
        id: String,
    },
    /// `RUN --mount=type=ssh,required=true` names an agent not given.
    #[error("ssh agent {id:?} is required but was not given (--ssh {id}=SOCKET)")]
    SshAgentRequired {
        /// The agent's id.
        id: String,
    },
    /// A RUN failed and `--keep-failed` kept its state as a working container.
    #[error("{cause}\nthe failed step's state is kept as container {container}: enter it with `strata run {container} -- sh`, remove it with `strata rm {container}`")]
    KeptFailed {
        /// The working container's name.
        container: String,
        /// Why the step failed.
        cause: Box<SolveError>,
    },
    /// The step was not started because another stage failed first.
    #[error("cancelled: another stage failed")]
    Cancelled,
    /// A stage's result was asked for before it was built (an internal ordering fault); holds its index.
    #[error("stage {0} was needed before it was built")]
    StageNotBuilt(usize),
    /// A base or `--from` image could not be read from the store.
    #[error("base image {name}: {cause}")]
    BaseImage {
        /// The image reference.
        name: String,
        /// Why the store failed.
        cause: StoreError,
    },
    /// The `--cache-from` cache could not be read.
    #[error("imported cache: {0}")]
    SharedCache(#[from] crate::cache::SharedCacheError),
    /// A step needs an entitlement the build was not granted.
    #[error(transparent)]
    Entitlement(#[from] crate::plan::EntitlementError),
    /// The build's private network could not be set up.
    #[error(transparent)]
    Network(#[from] crate::exec::NetworkError),
    /// A stage for a foreign platform has RUN steps and no emulator.
    #[error("stage {stage} builds for {platform}: {cause}")]
    Emulation {
        /// The stage's name (or `stage-N`).
        stage: String,
        /// The stage's platform.
        platform: String,
        /// What is missing, and the command to add it.
        cause: Box<crate::exec::EmulationError>,
    },
}

impl SolveError {
    fn io(action: &'static str, path: &Path, source: std::io::Error) -> SolveError {
        SolveError::Io { action, path: path.to_path_buf(), cause: source }
    }
}

/// Everything a build needs.
pub struct Solver<'a> {
    /// Where images, layers and the cache live.
    pub store: &'a Store,
    /// The build context COPY and bind mounts read.
    pub context: &'a dyn ContextSource,
    /// Runs each RUN step's container.
    pub executor: &'a dyn Executor,
    /// Receives the build's progress events.
    pub progress: &'a dyn Progress,
    /// How the build runs.
    pub options: SolveOptions,
    next_id: AtomicUsize,
    cancelled: AtomicBool,
    in_flight: InFlightSet<'a>,
    /// Cache hits of this build (step identity, key), saved at the end in
    /// one transaction rather than one commit (and fsync) per step.
    hits: std::sync::Mutex<Vec<(String, crate::cache::CacheKey)>>,
    /// Each step's outcome in a dry run.
    verdicts: std::sync::Mutex<Vec<Verdict>>,
    /// Image states by name: stages sharing a base (or `--from` image)
    /// resolve it once, and all see the same image.
    images: std::sync::Mutex<std::collections::HashMap<String, StageState>>,
    /// A cache imported with `--cache-from`, consulted when the store's misses.
    shared_cache: Option<&'a dyn SharedCache>,
    /// Every step of this build with its result, for `--cache-to`.
    used: std::sync::Mutex<Vec<UsedStep>>,
    /// The build's private network, started by the first RUN that needs it.
    network: std::sync::Mutex<run::BuildNetwork>,
    /// Each step's outcome, for the build history (`strata lint` reads it).
    history: std::sync::Mutex<Vec<crate::cache::StepRecord>>,
}

/// The step keys being computed: a solver's own, or a set shared by the
/// solvers of a multi-platform build.
enum InFlightSet<'a> {
    Own(InFlight),
    Shared(&'a InFlight),
}

impl std::ops::Deref for InFlightSet<'_> {
    type Target = InFlight;

    fn deref(&self) -> &InFlight {
        match self {
            InFlightSet::Own(set) => set,
            InFlightSet::Shared(set) => set,
        }
    }
}

/// The result of a build: the target stage's state, committed as an image.
pub struct BuildOutput {
    /// The target stage, stored as an image.
    pub image: StoredImage,
    /// Steps taken from the cache (local or `--cache-from`).
    pub cached_steps: usize,
    /// All steps of the stages built.
    pub total_steps: usize,
    /// Every step the build ran or took from a cache, in finishing order.
    pub steps: Vec<UsedStep>,
    /// The key of the final image's last step.
    pub last_key: crate::cache::CacheKey,
}

impl<'a> Solver<'a> {
    /// A solver over `store`, reading `context`, running RUN steps with `executor`.
    pub fn new(store: &'a Store, context: &'a dyn ContextSource, executor: &'a dyn Executor, progress: &'a dyn Progress, options: SolveOptions) -> Solver<'a> {
        Solver {
            store,
            context,
            executor,
            progress,
            options,
            next_id: AtomicUsize::new(1),
            cancelled: AtomicBool::new(false),
            in_flight: InFlightSet::Own(InFlight::default()),
            hits: Default::default(),
            verdicts: Default::default(),
            images: Default::default(),
            shared_cache: None,
            used: Default::default(),
            network: Default::default(),
            history: Default::default(),
        }
    }

    /// Also takes step results from `cache` (`--cache-from`) when the store has none.
    pub fn with_shared_cache(mut self, cache: &'a dyn SharedCache) -> Solver<'a> {
        self.shared_cache = Some(cache);
        self
    }

    /// Shares `set` with other solvers (one per platform of a
    /// multi-platform build): a step whose key another solver is computing
    /// waits for it and takes the cache hit, so shared steps run once.
    pub fn with_shared_in_flight(mut self, set: &'a InFlight) -> Solver<'a> {
        self.in_flight = InFlightSet::Shared(set);
        self
    }

    /// Builds the plan's target and stores it as an image named `tags`.
    pub fn build(&self, plan: &BuildPlan, tags: &[Reference]) -> Result<BuildOutput, SolveError> {
        let started = Instant::now();
        self.options.entitlements.check(plan, self.options.network)?;
        for unused in &plan.unused_build_args {
            self.progress.event(Event::Warning { message: format!("build-arg {unused} was not consumed by any ARG") });
        }
        let finished = self.run_stages(plan);
        // No helper outlives the build, whether it failed or not; the NAT
        // takes a few tens of milliseconds to exit, so it stops while the
        // image is committed and is waited for on the way out.
        let network = std::mem::take(&mut *self.network.lock().unwrap_or_else(|p| p.into_inner()));
        let _stopping = run::Stopping::start(network);
        let hits = std::mem::take(&mut *self.hits.lock().unwrap_or_else(|p| p.into_inner()));
        let build = crate::cache::BuildUse {
            time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            dockerfile: self.options.dockerfile_id.clone(),
            tags: tags.iter().map(Reference::to_string).collect(),
        };
        self.cache().touch_all(&hits, &build)?;
        let schedule::Finished { target, cached, total } = finished?;
        let Some(mut target) = target else {
            return Err(SolveError::TargetNotBuilt);
        };
        target.config.fill_history_times(&target.created);
        target.config.created = Some(target.created.clone());
        self.ensure_layers(&target.layers, true)?;
        let image = self.store.commit_image_bytes(&target.config.to_canonical_json(), &target.config, &target.layers, tags)?;
        self.progress.finish(started.elapsed());
        let steps = std::mem::take(&mut *self.used.lock().unwrap_or_else(|p| p.into_inner()));
        let history = std::mem::take(&mut *self.history.lock().unwrap_or_else(|p| p.into_inner()));
        crate::cache::record_build(self.store, &self.options.dockerfile_id, crate::cache::BuildRecord { time: build.time, steps: history })?;
        Ok(BuildOutput { image, cached_steps: cached, total_steps: total, steps, last_key: target.key })
    }

    fn record_hit(&self, identity: String, key: crate::cache::CacheKey) {
        self.hits.lock().unwrap_or_else(|p| p.into_inner()).push((identity, key));
    }

    fn record_step(&self, step: crate::cache::StepRecord) {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).push(step);
    }

    fn record_used(&self, record: crate::cache::CacheRecord, layer: Option<(Digest, crate::store::LayerRecord)>) {
        self.used.lock().unwrap_or_else(|p| p.into_inner()).push(UsedStep { record, layer });
    }

    /// Stops the build: stages not yet started never start, running ones
    /// stop at their next step.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn next_id(&self) -> usize {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn cache(&self) -> Cache<'_> {
        Cache::new(self.store)
    }
}

/// The digest that names a source file for the key and for `--explain`.
pub fn file_input_value(content: &Digest, mode: u32, uid: u32, gid: u32) -> String {
    format!("{content} {mode:04o} {uid}:{gid}")
}

/// Where images missing from the store come from (a registry). The
/// solver only asks; how an image is fetched is not its business.
pub trait ImageFetcher: Sync {
    /// Makes `name` (a reference as written) present in the store, or
    /// current when the fetcher is told to refresh. Names that are no
    /// reference (image IDs) are left alone.
    fn ensure(&self, name: &str) -> Result<(), FetchError>;

    /// [`ImageFetcher::ensure`] for one platform of a name that may hold
    /// several (a registry's index); by default, whatever `ensure` gives.
    fn ensure_for(&self, name: &str, _platform: &crate::image::Platform) -> Result<(), FetchError> {
        self.ensure(name)
    }
}

/// Why an [`ImageFetcher`] could not make an image present.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The registry's answer, typed by the fetcher's own module (the
    /// solver only passes it on).
    #[error("{0}")]
    Registry(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    /// The store failed while reading or saving a fetched image.
    Store(#[from] StoreError),
}

/// Base image configs for planning, from the store; with a fetcher, images
/// missing from the store are fetched first.
pub struct StoreBaseImages<'a> {
    store: &'a Store,
    fetcher: Option<&'a dyn ImageFetcher>,
    /// Each name is resolved once per plan and platform (several stages often share a base).
    resolved: std::sync::Mutex<std::collections::HashMap<(String, crate::image::Platform), crate::image::ImageConfig>>,
}

impl<'a> StoreBaseImages<'a> {
    /// Base images from `store`, fetching missing ones with `fetcher` when given.
    pub fn new(store: &'a Store, fetcher: Option<&'a dyn ImageFetcher>) -> StoreBaseImages<'a> {
        StoreBaseImages { store, fetcher, resolved: Default::default() }
    }
}

impl crate::plan::BaseImages for StoreBaseImages<'_> {
    fn config(&self, image: &str, platform: &crate::image::Platform) -> Result<crate::image::ImageConfig, crate::plan::BaseImageError> {
        let mut resolved = self.resolved.lock().unwrap_or_else(|e| e.into_inner());
        let key = (image.to_owned(), platform.clone());
        if let Some(config) = resolved.get(&key) {
            return Ok(config.clone());
        }
        if let Some(fetcher) = self.fetcher {
            fetcher.ensure_for(image, platform).map_err(|e| crate::plan::BaseImageError::Fetch(Box::new(e)))?;
        }
        let config = self.store.resolve_for(image, platform).map(|image| image.config).map_err(|e| crate::plan::BaseImageError::Lookup(Box::new(e)))?;
        resolved.insert(key, config.clone());
        Ok(config)
    }
}

/// The images a plan reads besides its stages' bases: `COPY --from=IMAGE`
/// and `RUN --mount=from=IMAGE` sources.
pub fn source_images(plan: &BuildPlan) -> Vec<String> {
    let mut names = Vec::new();
    for stage in plan.stages.iter().flatten() {
        for step in &stage.steps {
            for root in step.source_roots() {
                if let crate::plan::SourceRoot::Image(name) = root {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
        }
    }
    names
}
