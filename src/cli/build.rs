//! `strata build`: a Dockerfile and a context become an image in the store.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::registry::{Direction, TransferView};
use super::{archive, registry, render, CliError};
use crate::build::{self, BuildError, ContextSource, GcRequest};
use crate::exec::{Limits, Snapshotter};
use crate::export;
use crate::image::Reference;
use crate::layer::Compression;
use crate::plan::{self, Entitlements, PlanOptions, Platform};
use crate::progress::{JsonRenderer, PlainRenderer, Progress, Quiet, TtyRenderer};
use crate::registry::NoProgress;
use crate::solve::{Secrets, SolveOptions, SshAgents};
use crate::store::{Store, StoreError};

const EXAMPLES: &str = "\
Examples:
  strata build -t app:1.0 .
  strata build -f docker/Dockerfile --build-arg VERSION=2 --target runtime -t app .
  strata build --progress plain --explain .          why each step missed the cache
  strata build --keep-failed .                       debug a failing RUN in its container
  strata build --check .                             run the build checks only (see strata lint)
  strata build --ssh default --secret id=npm,src=$HOME/.npmrc .
  strata build --print-graph --format dot . | dot -Tsvg > graph.svg
  strata build --output type=oci,dest=app.tar .
  strata build --pull --push -t 127.0.0.1:5000/team/app:1.0 .
  strata build --cache-from type=registry,ref=reg:5000/app/cache:main \\
               --cache-to type=registry,ref=reg:5000/app/cache:main,mode=max .
  strata build --cache-from type=local,src=/shared/cache --cache-to type=local,dest=/shared/cache .";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct BuildArgs {
    /// The build context directory, or `-` for a tar archive (plain, gzip
    /// or zstd) on standard input.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
    /// The Dockerfile (default: CONTEXT/Dockerfile; with `-`, a path inside the archive).
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Name the image (repeatable).
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub steps: StepFlags,
    /// Set a label on the image (`KEY=VALUE`).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Progress output: `auto` (tty on a terminal, else plain), `tty`, `plain`, `json`.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Say why each step missed the cache.
    #[arg(long)]
    pub explain: bool,
    /// When a RUN step fails, keep its state as a working container to debug
    /// (`strata run NAME -- sh`).
    #[arg(long)]
    pub keep_failed: bool,
    /// Write the image ID to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Write build result metadata (JSON) to this file.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Also export the image: `type=oci|docker|tar,dest=FILE` (`dest=-`: standard output),
    /// `type=local|oci-dir,dest=DIR` or `type=registry,name=REF` (`type=image`, the default, only stores it).
    #[arg(short, long, value_name = "type=...,dest=...")]
    pub output: Option<String>,
    /// Layer compression when the image leaves the store (`--output`,
    /// push): gzip, zstd or none. Layers are stored uncompressed and
    /// compressed once per algorithm.
    #[arg(long, default_value = "gzip", value_parser = archive::parse_compression)]
    pub compression: Compression,
    /// How RUN and COPY get their root filesystem: overlay mounts, or
    /// copies diffed afterwards (`native`, where overlayfs cannot be used).
    /// `auto` tries an overlay mount on the store's filesystem first.
    #[arg(long, value_enum, default_value_t = SnapshotterChoice::Auto, env = "STRATA_SNAPSHOTTER")]
    pub snapshotter: SnapshotterChoice,
    /// Print only the image ID.
    #[arg(short, long)]
    pub quiet: bool,
    /// Grant an entitlement (repeatable, or comma-separated): `network.host`
    /// (`RUN --network=host`, `--network host`), `security.insecure`
    /// (`RUN --security=insecure`).
    #[arg(long = "allow", value_name = "ENTITLEMENT")]
    pub allow: Vec<String>,
    /// The network of RUN steps that choose none: `default` (a private
    /// namespace behind a user-space NAT), `none`, `host` (needs `--allow network.host`).
    #[arg(long, value_enum, default_value_t = NetworkChoice::Default)]
    pub network: NetworkChoice,
    /// A secret for `RUN --mount=type=secret`: `id=NAME,src=FILE` or `id=NAME,env=VARIABLE`.
    #[arg(long = "secret", value_name = "id=NAME,src=FILE")]
    pub secrets: Vec<String>,
    /// An SSH agent for `RUN --mount=type=ssh`: `default` ($SSH_AUTH_SOCK),
    /// `default=SOCKET` or `ID=SOCKET`.
    #[arg(long = "ssh", value_name = "ID[=SOCKET]")]
    pub ssh: Vec<String>,
    /// Memory limit for each RUN (`512m`, `2g`, bytes).
    #[arg(long, value_name = "BYTES", value_parser = crate::size::binary_bytes)]
    pub memory: Option<u64>,
    /// CPU limit for each RUN (`1.5` CPUs).
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<f64>,
    /// Refuse an ADD of a local archive that expands to more than SIZE
    /// (e.g. 10GB). Without it, the free space of the store's filesystem is the limit.
    #[arg(long, value_name = "SIZE", value_parser = crate::size::decimal_bytes)]
    pub max_add_size: Option<u64>,
    /// Stages built at the same time (default: 16; ready stages beyond it wait for a worker).
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    pub jobs: usize,
    /// Print the build graph (stages, steps, edges) instead of building.
    #[arg(long)]
    pub print_graph: bool,
    /// Format of `--print-graph`.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Run the build checks (as `strata lint`), print them and exit: 1 when
    /// `error=true` is set and a rule fired. Nothing is built.
    #[arg(long)]
    pub check: bool,
    /// Check the registry for newer base images (missing ones are always pulled).
    #[arg(long)]
    pub pull: bool,
    /// Push the image to the registry of each `-t` name after building.
    #[arg(long, requires = "tags")]
    pub push: bool,
    /// Export the build cache: `type=registry,ref=REG/REPO:TAG[,mode=min|max]`
    /// or `type=local,dest=DIR[,mode=min|max]` (an OCI layout).
    #[arg(long = "cache-to", value_name = "type=...", value_parser = registry_cache_to)]
    pub cache_to: Vec<crate::registry::CacheSpec>,
    /// Use an exported build cache: `type=registry,ref=REG/REPO:TAG` or
    /// `type=local,src=DIR` (repeatable).
    #[arg(long = "cache-from", value_name = "type=...", value_parser = registry_cache_from)]
    pub cache_from: Vec<crate::registry::CacheSpec>,
    #[command(flatten)]
    pub registry: registry::RegistryArgs,
    #[command(flatten)]
    pub gc: super::cache::GcFlags,
}

fn registry_cache_to(text: &str) -> Result<crate::registry::CacheSpec, crate::registry::CacheSpecError> {
    crate::registry::CacheSpec::parse_to(text)
}

fn registry_cache_from(text: &str) -> Result<crate::registry::CacheSpec, crate::registry::CacheSpecError> {
    crate::registry::CacheSpec::parse_from(text)
}

/// What decides a build's steps and their keys: shared by `build` and
/// `cache explain`, which must judge exactly what a build would run.
#[derive(Debug, Args)]
pub struct StepFlags {
    /// Set a build-time variable (`KEY=VALUE`, or `KEY` to take it from the environment).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Build this stage (and what it needs) instead of the last one.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not use the cache for these stages.
    #[arg(long, value_name = "STAGE")]
    pub no_cache_filter: Vec<String>,
    /// The platforms to build for (`linux/arm64`, or a list:
    /// `linux/amd64,linux/arm64` builds one image index); default: this
    /// machine's. RUN steps for another architecture run under a registered qemu.
    #[arg(long, value_name = "OS/ARCH[/VARIANT],...", value_parser = parse_platforms)]
    pub platform: Option<PlatformList>,
}

/// The `--platform` list, duplicates dropped, order kept; never empty.
#[derive(Debug, Clone)]
pub struct PlatformList(Vec<Platform>);

fn parse_platforms(text: &str) -> Result<PlatformList, String> {
    let platforms = Platform::parse_list(text).map_err(|e| e.to_string())?;
    if platforms.is_empty() {
        return Err("no platform given".to_owned());
    }
    Ok(PlatformList(platforms))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
    Json,
}

/// `--network` of `build` and `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetworkChoice {
    /// A private namespace with outbound NAT (`bridge` is the same).
    #[value(alias = "bridge")]
    Default,
    /// Loopback only.
    None,
    /// The host's network.
    Host,
}

impl From<NetworkChoice> for plan::Network {
    fn from(choice: NetworkChoice) -> plan::Network {
        match choice {
            NetworkChoice::Default => plan::Network::Default,
            NetworkChoice::None => plan::Network::None,
            NetworkChoice::Host => plan::Network::Host,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Json,
}

pub fn run(store: &Store, args: &BuildArgs) -> Result<ExitCode, CliError> {
    let request = request(store, args)?;
    let downloads = TransferView::lines(Direction::Down, args.quiet || args.progress == ProgressMode::Json);
    let uploads = TransferView::new(Direction::Up, args.quiet);
    if args.check {
        let sinks = build::Sinks { progress: &Quiet, downloads: &downloads, uploads: &NoProgress, checks: &build::NoChecks };
        let checked = build::check(store, request, &sinks);
        downloads.finish();
        return match checked {
            Ok(checked) => Ok(super::lint::print_checked(&checked)),
            Err(error) => located(error),
        };
    }
    if args.print_graph {
        let sinks = build::Sinks { progress: &Quiet, downloads: &NoProgress, uploads: &NoProgress, checks: &build::NoChecks };
        let plan = match build::plan_only(store, request, &sinks) {
            Ok(plan) => plan,
            Err(error) => return located(error),
        };
        let text = match args.format {
            GraphFormat::Dot => plan::graph::dot(&plan),
            GraphFormat::Json => render::json(&plan::graph::json(&plan)),
        };
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let progress = progress(args);
    let warnings = super::lint::BuildWarnings { quiet: args.quiet };
    let sinks = build::Sinks { progress: progress.as_ref(), downloads: &downloads, uploads: &uploads, checks: &warnings };
    let outcome = build::build(store, request, &sinks);
    downloads.finish();
    uploads.finish();
    match outcome {
        Ok(outcome) => report(args, &outcome),
        Err(BuildError::Interrupted) => {
            eprintln!("strata: build interrupted");
            Ok(ExitCode::from(130))
        }
        Err(error) => located(error),
    }
}

/// The flags as a library request; a bad flag fails here, before any work.
fn request(store: &Store, args: &BuildArgs) -> Result<build::Request, CliError> {
    let tags = args.tags.iter().map(|t| t.parse::<Reference>()).collect::<Result<Vec<_>, _>>().map_err(StoreError::from)?;
    let mut outputs = Vec::new();
    if let Some(spec) = &args.output {
        check_stdout_output(spec, args)?;
        outputs.push(export::parse(spec)?);
    }
    if args.push {
        outputs.push(Box::new(export::Push::new(tags.clone())) as Box<dyn export::Exporter>);
    }
    let context = match args.context.as_os_str() == "-" {
        true => ContextSource::Tar(Box::new(std::io::stdin())),
        false => ContextSource::Dir(args.context.clone()),
    };
    Ok(build::Request {
        context,
        dockerfile: args.file.clone(),
        plan: plan_options(&args.steps),
        platforms: args.steps.platforms(),
        solve: solve_options(args, args.snapshotter.resolve(store)?)?,
        tags,
        labels: args.labels.iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap_or((l.clone(), String::new()))).collect(),
        pull: args.pull,
        registry: args.registry.access(),
        cache_from: args.cache_from.clone(),
        cache_to: args.cache_to.clone(),
        outputs,
        compression: args.compression,
        gc: GcRequest { disabled: args.gc.no_gc, keep_storage: args.gc.gc_keep_storage.clone(), keep_duration: args.gc.gc_keep_duration.clone() },
        quiet: args.quiet,
    })
}

/// `dest=-` puts an archive on standard output: nothing else may go there.
fn check_stdout_output(spec: &str, args: &BuildArgs) -> Result<(), CliError> {
    if !spec.split(',').any(|field| field == "dest=-") {
        return Ok(());
    }
    if args.quiet || args.progress == ProgressMode::Json || args.print_graph {
        return Err(CliError::Usage("--output dest=- writes to standard output, which -q, --progress json and --print-graph also use".into()));
    }
    if std::io::stdout().is_terminal() {
        return Err(CliError::Usage("refusing to write an image archive to a terminal: use dest=FILE or redirect standard output".into()));
    }
    Ok(())
}

fn solve_options(args: &BuildArgs, snapshotter: Snapshotter) -> Result<SolveOptions, CliError> {
    Ok(SolveOptions {
        no_cache: args.steps.no_cache,
        no_cache_filter: args.steps.no_cache_filter.clone(),
        explain: args.explain,
        dockerfile_id: String::new(),
        jobs: args.jobs,
        secrets: Secrets::parse(&args.secrets).map_err(|e| CliError::Usage(e.to_string()))?,
        ssh: SshAgents::parse(&args.ssh).map_err(|e| CliError::Usage(e.to_string()))?,
        limits: Limits { memory: args.memory, cpus: args.cpus },
        dry_run: false,
        keep_failed: args.keep_failed,
        snapshotter,
        max_add_size: args.max_add_size,
        entitlements: Entitlements::parse(&args.allow).map_err(|e| CliError::Usage(e.to_string()))?,
        network: args.network.into(),
    })
}

pub(super) fn plan_options(steps: &StepFlags) -> PlanOptions {
    PlanOptions { target: steps.target.clone(), build_args: build_args(&steps.build_args), platform: steps.target_platform() }
}

/// A Dockerfile's parse or plan error is printed located in its text and
/// becomes exit code 1; others go up to be rendered.
pub(super) fn located(error: BuildError) -> Result<ExitCode, CliError> {
    match error {
        BuildError::Parse { name, text, error } => eprintln!("{}", render::parse_error(&name, &text, *error)),
        BuildError::Plan { name, text, error } => eprintln!("{}", render::plan_error(&name, &text, &error)),
        BuildError::ReadDockerfile { path, source } => return Err(CliError::Read { path: path.display().to_string(), source }),
        // The check sink has printed the warnings' summary already.
        BuildError::ChecksFailed(_) => {}
        BuildError::Lint(crate::lint::LintError::Config(error)) => return Err(CliError::Usage(error.to_string())),
        other => return Err(other.into()),
    }
    Ok(ExitCode::FAILURE)
}

/// What the build did, on stderr (the ID alone on stdout with `-q`), and the
/// `--iidfile` and `--metadata-file` it asked for.
fn report(args: &BuildArgs, outcome: &build::Outcome) -> Result<ExitCode, CliError> {
    // A multi-platform build is named by its index, as BuildKit's is.
    let id = match &outcome.index {
        Some(index) => crate::digest::Digest::of(&index.stored_index()),
        None => outcome.id(),
    };
    let quiet = args.quiet;
    if quiet {
        println!("{id}");
    } else if args.progress != ProgressMode::Json {
        if let Some(index) = &outcome.index {
            for entry in &index.entries {
                eprintln!("writing image {} for {} done", entry.image, entry.platform);
            }
            eprintln!("writing image index {id} done");
        } else {
            eprintln!("writing image {id} done");
        }
        for tag in &outcome.tags {
            eprintln!("naming to {tag} done");
        }
    }
    if let Some(path) = &args.iidfile {
        fs_err::write(path, id.to_string()).map_err(CliError::Write)?;
    }
    if let Some(path) = &args.metadata_file {
        fs_err::write(path, render::json(&metadata(outcome))).map_err(CliError::Write)?;
    }
    for summary in outcome.cache_imports.iter().filter(|_| !quiet) {
        match summary.records {
            Some(n) => eprintln!("importing cache from {}: {n} records", summary.location),
            None => eprintln!("no cache at {} yet", summary.location),
        }
    }
    for pushed in outcome.exported.iter().filter(|e| !quiet && e.kind == "registry") {
        let digest = pushed.digest.map(|d| d.to_string()).unwrap_or_default();
        eprintln!("pushed {}@{digest}", pushed.dest);
    }
    for export in outcome.cache_exports.iter().filter(|_| !quiet) {
        let summary = &export.summary;
        eprintln!("exported cache to {}: {} records, {} layers ({} sent)", export.location, summary.records, summary.layers, summary.uploaded);
    }
    super::cache::report_gc(&outcome.gc, quiet || args.progress == ProgressMode::Json);
    Ok(ExitCode::SUCCESS)
}

/// `--metadata-file`: BuildKit's keys, and strata's own under `strata.`.
fn metadata(outcome: &build::Outcome) -> serde_json::Value {
    let hashed = outcome.context;
    let digest = match &outcome.index {
        Some(index) => crate::digest::Digest::of(&index.stored_index()),
        None => outcome.image.manifest.digest,
    };
    serde_json::json!({
        "containerimage.config.digest": outcome.id().to_string(),
        "containerimage.digest": digest.to_string(),
        "image.name": outcome.tags.iter().map(Reference::to_string).collect::<Vec<_>>().join(","),
        "strata.cache": { "cached": outcome.cached_steps, "steps": outcome.total_steps },
        "strata.context": {
            "files_hashed": hashed.files,
            "stat_cache_hits": hashed.cache_hits,
            "files_read": hashed.files_read,
            "bytes_read": hashed.bytes_read,
        },
    })
}

/// `KEY=VALUE`, or `KEY` taking the value from the environment (skipped
/// when unset), as docker build does.
impl StepFlags {
    /// The platform to build for: the first of `--platform`, else this machine's.
    pub fn target_platform(&self) -> Platform {
        self.platforms().into_iter().next().unwrap_or_else(Platform::host)
    }

    /// Every platform `--platform` names (empty without it).
    pub fn platforms(&self) -> Vec<Platform> {
        self.platform.as_ref().map(|list| list.0.clone()).unwrap_or_default()
    }
}

pub(super) fn build_args(raw: &[String]) -> BTreeMap<String, String> {
    raw.iter()
        .filter_map(|arg| match arg.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(arg).ok().map(|v| (arg.clone(), v)),
        })
        .collect()
}

fn progress(args: &BuildArgs) -> Box<dyn Progress> {
    if args.quiet {
        return Box::new(Quiet);
    }
    match args.progress {
        ProgressMode::Json => Box::new(JsonRenderer::new(std::io::stdout())),
        ProgressMode::Tty => Box::new(TtyRenderer::new()),
        ProgressMode::Auto if std::io::stderr().is_terminal() => Box::new(TtyRenderer::new()),
        ProgressMode::Plain | ProgressMode::Auto => Box::new(PlainRenderer::new(std::io::stderr())),
    }
}

/// `--snapshotter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotterChoice {
    Auto,
    Overlay,
    Native,
    #[value(name = "fuse-overlayfs")]
    FuseOverlayfs,
}

impl SnapshotterChoice {
    pub(super) fn resolve(self, store: &Store) -> Result<Snapshotter, CliError> {
        if crate::exec::isolation::current() == crate::exec::Isolation::Chroot {
            eprintln!("{}", crate::exec::isolation::CHROOT_WARNING);
            return match self {
                SnapshotterChoice::Auto | SnapshotterChoice::Native => Ok(Snapshotter::Native),
                _ => Err(CliError::Usage("chroot isolation makes no mounts: it needs --snapshotter native (or auto)".into())),
            };
        }
        let chosen = self.pick(store)?;
        if let Some(rootless) = crate::exec::userns::describe() {
            let how = if chosen == Snapshotter::Overlay { "overlay (userxattr)" } else { chosen.name() };
            eprintln!("strata: {rootless}; snapshotter {how}");
        }
        Ok(chosen)
    }

    fn pick(self, store: &Store) -> Result<Snapshotter, CliError> {
        Ok(match self {
            SnapshotterChoice::Overlay => Snapshotter::Overlay,
            SnapshotterChoice::Native => Snapshotter::Native,
            SnapshotterChoice::FuseOverlayfs => Snapshotter::FuseOverlay,
            SnapshotterChoice::Auto => {
                let chosen = Snapshotter::detect(&store.temp_dir("probe")?);
                match chosen {
                    Snapshotter::Native if crate::exec::fuse::program().is_some() => eprintln!("strata: neither overlayfs nor fuse-overlayfs can be mounted on the store's filesystem: using the native (copying) snapshotter"),
                    Snapshotter::Native => eprintln!("strata: overlayfs cannot be mounted on the store's filesystem (and fuse-overlayfs is not installed): using the native (copying) snapshotter"),
                    Snapshotter::FuseOverlay => eprintln!("strata: the kernel's overlayfs cannot be mounted here: using fuse-overlayfs"),
                    Snapshotter::Overlay => {}
                }
                chosen
            }
        })
    }
}
