//! The library's build façade: a [`Request`] (context, plan options, solve
//! options, cache import and export, outputs, push, GC) becomes an
//! [`Outcome`]. This is the one place that strings the pipeline together —
//! context → plan → solve → export → cache export → push → GC — so the CLI
//! parses flags, calls [`build`] once and renders, and a program embedding
//! strata builds the same way.

mod checks;
mod context;
mod dockerfile;
mod error;
mod explain;
mod gc;
mod interrupt;
mod outcome;
mod platforms;

use std::path::PathBuf;
use std::time::Instant;

pub use checks::{history as check_history, CheckSink, Checked, NoChecks};
pub use context::ContextSource;
pub use dockerfile::{dockerfile_id, load_plan};
pub use error::BuildError;
pub use explain::explain;
pub use gc::{GcError, GcRequest};
pub use outcome::{CacheExport, Outcome, Timings};

use crate::exec::Runtime;
use crate::export::{self, Exporter};
use crate::image::Reference;
use crate::layer::Compression;
use crate::plan::{BuildPlan, PlanOptions};
use crate::progress::Progress;
use crate::registry::{self, CacheSpec, ImportedCache, RegistryAccess, RegistryImages, TransferProgress};
use crate::solve::{source_images, BuildContext, ImageFetcher, SolveOptions, Solver, StoreBaseImages};
use crate::store::{Store, StoreStatCache};
use context::OpenedContext;

/// Everything a build is asked to do.
#[derive(Debug)]
pub struct Request {
    /// The build context: a directory or an archive.
    pub context: ContextSource,
    /// The Dockerfile (default: the context's `Dockerfile`; for an archive
    /// context, a path inside the archive).
    pub dockerfile: Option<PathBuf>,
    /// `--target`, build args and the platform.
    pub plan: PlanOptions,
    /// Every target platform of a multi-platform build (`--platform
    /// linux/amd64,linux/arm64`): one solve each, stored and exported as
    /// one image index. Empty or one platform: `plan.platform` alone.
    pub platforms: Vec<crate::plan::Platform>,
    /// How steps run and hit the cache; `dockerfile_id` is filled in here.
    pub solve: SolveOptions,
    /// Names for the image.
    pub tags: Vec<Reference>,
    /// Labels set on the final image after the Dockerfile's own.
    pub labels: Vec<(String, String)>,
    /// Pull base images even when the store has them (unless pinned by digest).
    pub pull: bool,
    /// How registries are reached (pulls, pushes, shared caches).
    pub registry: RegistryAccess,
    /// Shared caches read before the build (`--cache-from`).
    pub cache_from: Vec<CacheSpec>,
    /// Shared caches written after it (`--cache-to`).
    pub cache_to: Vec<CacheSpec>,
    /// Where the image goes besides the store (`--output`, `--push`), in order.
    pub outputs: Vec<Box<dyn Exporter>>,
    /// Layer compression where the image leaves the store.
    pub compression: Compression,
    /// The garbage collection after the build.
    pub gc: GcRequest,
    /// Leave out notices on stderr (pulls).
    pub quiet: bool,
}

impl Request {
    /// A request to build `context`'s Dockerfile for this machine's
    /// platform with default options: no tags, outputs, caches or pulls;
    /// the GC as `strata.toml` says.
    pub fn new(context: ContextSource) -> Request {
        Request {
            context,
            dockerfile: None,
            plan: PlanOptions { target: None, build_args: Default::default(), platform: crate::plan::Platform::host() },
            platforms: Vec::new(),
            solve: SolveOptions::default(),
            tags: Vec::new(),
            labels: Vec::new(),
            pull: false,
            registry: RegistryAccess::default(),
            cache_from: Vec::new(),
            cache_to: Vec::new(),
            outputs: Vec::new(),
            compression: Compression::Gzip,
            gc: GcRequest::default(),
            quiet: false,
        }
    }
}

/// Where a build's events go.
pub struct Sinks<'a> {
    /// Step events.
    pub progress: &'a dyn Progress,
    /// Pulls of base images and cache metadata.
    pub downloads: &'a dyn TransferProgress,
    /// Pushes and cache exports.
    pub uploads: &'a dyn TransferProgress,
    /// The build checks' results, before the first step.
    pub checks: &'a dyn CheckSink,
}

/// Plans the build without running it (`--print-graph`); base images the
/// plan needs may be pulled.
pub fn plan_only(store: &Store, mut request: Request, sinks: &Sinks<'_>) -> Result<BuildPlan, BuildError> {
    planned(store, &mut request, sinks).map(|(_, _, plan)| plan)
}

/// Plans the build and runs its build checks, building nothing
/// (`build --check`).
pub fn check(store: &Store, mut request: Request, sinks: &Sinks<'_>) -> Result<Checked, BuildError> {
    let (context, dockerfile, plan) = planned(store, &mut request, sinks)?;
    checks::run(store, &context.dir, &dockerfile, &plan, &request.plan.build_args)
}

/// The opened context (kept while the caller needs it: an unpacked archive
/// goes with it), the Dockerfile's path and its plan, pulls kept quiet.
fn planned(store: &Store, request: &mut Request, sinks: &Sinks<'_>) -> Result<(OpenedContext, PathBuf, BuildPlan), BuildError> {
    let context = OpenedContext::open(store, &mut request.context)?;
    let dockerfile = context.dockerfile(request.dockerfile.as_deref());
    let fetcher = RegistryImages::new(store, request.registry.clone(), request.pull, true).with_progress(sinks.downloads);
    let plan = load_plan(&StoreBaseImages::new(store, Some(&fetcher)), &dockerfile, &request.plan)?;
    Ok((context, dockerfile, plan))
}

/// Runs the whole pipeline for `request`.
pub fn build(store: &Store, mut request: Request, sinks: &Sinks<'_>) -> Result<Outcome, BuildError> {
    if request.platforms.len() > 1 {
        return platforms::build_platforms(store, request, sinks);
    }
    let started = Instant::now();
    let opened = OpenedContext::open(store, &mut request.context)?;
    let dockerfile = opened.dockerfile(request.dockerfile.as_deref());
    let fetcher = RegistryImages::new(store, request.registry.clone(), request.pull, request.quiet).with_progress(sinks.downloads);
    let mut plan = load_plan(&StoreBaseImages::new(store, Some(&fetcher)), &dockerfile, &request.plan)?;
    let checked = checks::run(store, &opened.dir, &dockerfile, &plan, &request.plan.build_args)?;
    sinks.checks.checked(&checked);
    if checked.report.failed() {
        return Err(BuildError::ChecksFailed(Box::new(checked)));
    }
    for image in source_images(&plan) {
        fetcher.ensure(&image).map_err(|cause| BuildError::BaseImage { image, cause })?;
    }
    platforms::pin_platform_images(store, &fetcher, &mut plan)?;
    dockerfile::add_labels(&mut plan, &request.labels);
    let context = crate::context::Context::open(&opened.dir, &dockerfile)?;
    let context = BuildContext::new(context, StoreStatCache::open(store, &opened.dir)?);
    request.solve.dockerfile_id = dockerfile_id(&dockerfile);
    let planned = started.elapsed();
    let (imported, cache_imports) = import_caches(store, &request, sinks)?;
    let runtime = Runtime::default();
    let solver = Solver::new(store, &context, &runtime, sinks.progress, request.solve.clone());
    let solver = match &imported {
        Some(cache) => solver.with_shared_cache(cache),
        None => solver,
    };
    let (output, interrupted) = interrupt::solve_until_interrupted(&solver, &runtime, &plan, &request.tags)?;
    context.finish()?;
    if interrupted {
        return Err(BuildError::Interrupted);
    }
    let output = output?;
    let solved = started.elapsed();
    let exported = export_images(store, &request, &[output.image.id().to_string()], sinks)?;
    let shared = imported.as_ref().map(|c| c as &dyn crate::cache::SharedCache);
    let cache_exports = export_caches(store, &request, std::slice::from_ref(&output), shared, sinks)?;
    let exporting = started.elapsed();
    let gc = request.gc.run(store, output.cached_steps < output.total_steps);
    let timings = Timings { plan: planned, solve: solved - planned, export: exporting - solved, total: started.elapsed() };
    let (cached_steps, total_steps) = (output.cached_steps, output.total_steps);
    let tags = request.tags;
    Ok(Outcome {
        image: output.image,
        index: None,
        tags,
        cached_steps,
        total_steps,
        context: context.stats(),
        cache_imports,
        cache_exports,
        exported,
        gc,
        timings,
    })
}

/// `--cache-from` sources, imported before the build (metadata only).
fn import_caches<'a>(store: &'a Store, request: &Request, sinks: &Sinks<'a>) -> Result<(Option<ImportedCache<'a>>, Vec<registry::ImportSummary>), BuildError> {
    if request.cache_from.is_empty() {
        return Ok((None, Vec::new()));
    }
    let locations: Vec<_> = request.cache_from.iter().map(|s| s.location.clone()).collect();
    let (cache, summaries) = ImportedCache::import(store, &locations, &|r| request.registry.client_options(r), sinks.downloads)?;
    Ok((Some(cache), summaries))
}

/// Runs every output of the request on the built images (one, or a
/// multi-platform build's index by name or its images by ID).
fn export_images(store: &Store, request: &Request, images: &[String], sinks: &Sinks<'_>) -> Result<Vec<export::Exported>, BuildError> {
    let job = export::Job {
        store,
        images,
        compression: request.compression,
        snapshotter: request.solve.snapshotter,
        registry: &request.registry,
        transfers: sinks.uploads,
    };
    let mut exported = Vec::new();
    for output in &request.outputs {
        exported.extend(output.export(&job)?);
    }
    Ok(exported)
}

/// `--cache-to` targets, written after the build.
fn export_caches(
    store: &Store,
    request: &Request,
    outputs: &[crate::solve::BuildOutput],
    imported: Option<&dyn crate::cache::SharedCache>,
    sinks: &Sinks<'_>,
) -> Result<Vec<CacheExport>, BuildError> {
    let mut exports = Vec::with_capacity(request.cache_to.len());
    for spec in &request.cache_to {
        let options = match spec.location.registry_host() {
            Some(host) => request.registry.client_options(host)?,
            None => registry::ClientOptions::default(),
        };
        let steps: Vec<_> = outputs.iter().flat_map(|o| o.steps.iter().cloned()).collect();
        let last: Vec<_> = outputs.iter().map(|o| o.last_key).collect();
        let summary = registry::export_cache(store, spec, &steps, &last, imported, &options, sinks.uploads)?;
        exports.push(CacheExport { location: spec.location.to_string(), summary });
    }
    Ok(exports)
}
