//! A build for several platforms at once (`--platform linux/amd64,linux/arm64`):
//! one plan and one solve per target platform, all solves running at the
//! same time and sharing one set of in-flight step keys, so a step every
//! platform shares (a `FROM --platform=$BUILDPLATFORM` stage: same inputs,
//! same keys) runs once and the other solves take its cache hit. The
//! platforms' images are stored as one index under the tags, and the
//! outputs write (or push) that index.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;
use std::time::Instant;

use super::context::OpenedContext;
use super::{checks, dockerfile, dockerfile_id, interrupt, load_plan, BuildError, Outcome, Request, Sinks, Timings};
use crate::exec::Runtime;
use crate::image::Platform;
use crate::plan::{BuildPlan, PlanOptions};
use crate::progress::PlatformSteps;
use crate::registry::RegistryImages;
use crate::solve::{BuildContext, BuildOutput, ImageFetcher, InFlight, SolveError, Solver, StoreBaseImages};
use crate::store::{Store, StoreStatCache, StoredImage};

/// Runs `request` for each of `request.platforms`.
pub(super) fn build_platforms(store: &Store, mut request: Request, sinks: &Sinks<'_>) -> Result<Outcome, BuildError> {
    let started = Instant::now();
    let opened = OpenedContext::open(store, &mut request.context)?;
    let dockerfile = opened.dockerfile(request.dockerfile.as_deref());
    let fetcher = RegistryImages::new(store, request.registry.clone(), request.pull, request.quiet).with_progress(sinks.downloads);
    let bases = StoreBaseImages::new(store, Some(&fetcher));
    let mut plans = Vec::with_capacity(request.platforms.len());
    for platform in &request.platforms {
        let options = PlanOptions { platform: platform.clone(), ..request.plan.clone() };
        plans.push(load_plan(&bases, &dockerfile, &options)?);
    }
    // The checks read the Dockerfile, not the platform: reported once.
    let checked = checks::run(store, &opened.dir, &dockerfile, &plans[0], &request.plan.build_args)?;
    sinks.checks.checked(&checked);
    if checked.report.failed() {
        return Err(BuildError::ChecksFailed(Box::new(checked)));
    }
    for plan in &mut plans {
        pin_platform_images(store, &fetcher, plan)?;
        dockerfile::add_labels(plan, &request.labels);
    }
    let context = crate::context::Context::open(&opened.dir, &dockerfile)?;
    let context = BuildContext::new(context, StoreStatCache::open(store, &opened.dir)?);
    request.solve.dockerfile_id = dockerfile_id(&dockerfile);
    let planned = started.elapsed();
    let (imported, cache_imports) = super::import_caches(store, &request, sinks)?;
    let runtime = Runtime::default();
    let (in_flight, next_id) = (InFlight::default(), AtomicUsize::new(1));
    let views: Vec<PlatformSteps<'_>> = request
        .platforms
        .iter()
        .zip(&plans)
        .enumerate()
        .map(|(i, (platform, plan))| {
            let view = PlatformSteps::new(sinks.progress, &next_id, platform.to_string(), stage_platforms(plan));
            if i == 0 {
                view
            } else {
                view.without_warnings()
            }
        })
        .collect();
    let solvers: Vec<Solver<'_>> = views
        .iter()
        .map(|view| {
            let solver = Solver::new(store, &context, &runtime, view, request.solve.clone()).with_shared_in_flight(&in_flight);
            match &imported {
                Some(cache) => solver.with_shared_cache(cache),
                None => solver,
            }
        })
        .collect();
    let solves: Vec<(&Solver<'_>, &BuildPlan)> = solvers.iter().zip(&plans).collect();
    let (outputs, interrupted) = interrupt::solve_all_until_interrupted(&solves, &runtime, &[])?;
    context.finish()?;
    if interrupted {
        return Err(BuildError::Interrupted);
    }
    let outputs = first_failure(outputs)?;
    sinks.progress.finish(started.elapsed());
    let solved = started.elapsed();
    let images: Vec<StoredImage> = outputs.iter().map(|o| o.image.clone()).collect();
    let index = store.commit_index(&images, &request.tags)?;
    let names: Vec<String> = match request.tags.first() {
        Some(tag) => vec![tag.to_string()],
        None => images.iter().map(|i| i.id().to_string()).collect(),
    };
    let exported = super::export_images(store, &request, &names, sinks)?;
    let shared = imported.as_ref().map(|c| c as &dyn crate::cache::SharedCache);
    let cache_exports = super::export_caches(store, &request, &outputs, shared, sinks)?;
    let exporting = started.elapsed();
    let (cached_steps, total_steps) = outputs.iter().fold((0, 0), |(c, t), o| (c + o.cached_steps, t + o.total_steps));
    let gc = request.gc.run(store, cached_steps < total_steps);
    let timings = Timings { plan: planned, solve: solved - planned, export: exporting - solved, total: started.elapsed() };
    let image = host_first(&images).ok_or(BuildError::from(SolveError::TargetNotBuilt))?;
    let tags = request.tags;
    Ok(Outcome { image, index: Some(index), tags, cached_steps, total_steps, context: context.stats(), cache_imports, cache_exports, exported, gc, timings })
}

/// The solves' results, or the error that stopped them: the first one
/// that is not another solve's cancellation.
fn first_failure(outputs: Vec<Result<BuildOutput, SolveError>>) -> Result<Vec<BuildOutput>, BuildError> {
    let mut built = Vec::with_capacity(outputs.len());
    let mut cancelled = None;
    for output in outputs {
        match output {
            Ok(output) => built.push(output),
            Err(SolveError::Cancelled) => cancelled = Some(SolveError::Cancelled),
            Err(error) => return Err(error.into()),
        }
    }
    match cancelled {
        Some(error) => Err(error.into()),
        None => Ok(built),
    }
}

/// The image `run` and `from` would pick: this machine's platform, else the first.
fn host_first(images: &[StoredImage]) -> Option<StoredImage> {
    let host = images.iter().find(|i| crate::store::config_platform(&i.config).is_host());
    host.or(images.first()).cloned()
}

/// Each stage's platform by the label its steps carry.
pub(super) fn stage_platforms(plan: &BuildPlan) -> HashMap<String, String> {
    plan.ordered().map(|s| (s.name.clone().unwrap_or_else(|| format!("stage-{}", s.index)), s.platform.to_string())).collect()
}

/// Fetches every image a stage reads for the stage's platform, and names
/// it in the plan by its manifest digest (see [`BuildPlan::pin_images`]).
pub(super) fn pin_platform_images(store: &Store, fetcher: &dyn ImageFetcher, plan: &mut BuildPlan) -> Result<(), BuildError> {
    let failed: Mutex<Option<BuildError>> = Mutex::new(None);
    plan.pin_images(&|name: &str, platform: &Platform| {
        if let Err(cause) = fetcher.ensure_for(name, platform) {
            failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(BuildError::BaseImage { image: name.to_owned(), cause });
            return None;
        }
        // Missing: left as written, the solver reports it.
        store.resolve_for(name, platform).ok().map(|image| image.manifest.digest.to_string())
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}
