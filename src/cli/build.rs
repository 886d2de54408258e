//! `strata build`: a Dockerfile and a context become an image in the store.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{archive, graph, registry, render, CliError};
use crate::context::Context;
use crate::exec::{Limits, Runtime, Snapshotter};
use crate::image::{ConfigChange, Reference};
use crate::layer::{unpack, write_layer, Compression, LayerError, WriteOptions};
use crate::plan::{self, Entitlements, PlanOptions, Platform};
use crate::progress::{JsonRenderer, PlainRenderer, Progress, Quiet, TtyRenderer};
use crate::solve::{source_images, BuildContext, ImageFetcher, Secrets, SolveOptions, Solver, SshAgents, StoreBaseImages};
use crate::store::{Store, StoreError, StoreStatCache};
use crate::syntax;

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
    /// Also export the image: `type=oci|docker|tar,dest=FILE` or `type=local,dest=DIR` (`type=image`, the default, only stores it).
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
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub memory: Option<u64>,
    /// CPU limit for each RUN (`1.5` CPUs).
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<f64>,
    /// Refuse an ADD of a local archive that expands to more than SIZE
    /// (e.g. 10GB). Without it, the free space of the store's filesystem is the limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
    pub max_add_size: Option<u64>,
    /// Stages built at the same time (default: every stage whose inputs are ready, as BuildKit).
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

fn registry_cache_to(text: &str) -> Result<crate::registry::CacheSpec, String> {
    crate::registry::CacheSpec::parse_to(text)
}

fn registry_cache_from(text: &str) -> Result<crate::registry::CacheSpec, String> {
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
    let stdin_context = if args.context.as_os_str() == "-" { Some(StdinContext::unpack(store)?) } else { None };
    let context_dir = stdin_context.as_ref().map_or(args.context.clone(), |c| c.0.clone());
    let dockerfile_path = match (&args.file, &stdin_context) {
        (Some(file), Some(_)) => context_dir.join(file),
        (Some(file), None) => file.clone(),
        (None, _) => context_dir.join("Dockerfile"),
    };
    let fetcher = registry::RegistryImages::new(store, args.registry.clone(), args.pull, args.quiet || args.print_graph);
    let base_images = StoreBaseImages::new(store, Some(&fetcher));
    let mut plan = match load_plan(&base_images, &dockerfile_path, &args.steps)? {
        Ok(plan) => plan,
        Err(code) => return Ok(code),
    };
    if let Some(code) = super::lint::before_build(store, &dockerfile_path, &plan, &args.steps.build_args, args.check, args.quiet || args.print_graph)? {
        return Ok(code);
    }
    if args.print_graph {
        let text = match args.format {
            GraphFormat::Dot => graph::dot(&plan),
            GraphFormat::Json => render::json(&graph::json(&plan)),
        };
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let export = Output::parse(args.output.as_deref())?;
    for image in source_images(&plan) {
        fetcher.ensure(&image).map_err(|reason| CliError::Usage(format!("image {image}: {reason}")))?;
    }
    add_labels(&mut plan, &args.labels)?;
    let tags = args.tags.iter().map(|t| t.parse::<Reference>()).collect::<Result<Vec<_>, _>>().map_err(StoreError::from)?;
    let context = Context::open(&context_dir, &dockerfile_path).map_err(|e| CliError::Usage(e.to_string()))?;
    let stat_cache = StoreStatCache::open(store, &context_dir)?;
    let context = BuildContext::new(context, stat_cache);
    let progress = progress(args);
    let snapshotter = args.snapshotter.resolve(store)?;
    let solve_options = SolveOptions {
        no_cache: args.steps.no_cache,
        no_cache_filter: args.steps.no_cache_filter.clone(),
        explain: args.explain,
        dockerfile_id: dockerfile_id(&dockerfile_path),
        jobs: args.jobs,
        secrets: Secrets::parse(&args.secrets).map_err(CliError::Usage)?,
        ssh: SshAgents::parse(&args.ssh).map_err(CliError::Usage)?,
        limits: Limits { memory: args.memory, cpus: args.cpus },
        dry_run: false,
        keep_failed: args.keep_failed,
        snapshotter,
        max_add_size: args.max_add_size,
        entitlements: Entitlements::parse(&args.allow).map_err(|e| CliError::Usage(e.to_string()))?,
        network: args.network.into(),
    };
    let runtime = Runtime::default();
    let cache_view = registry::TransferView::lines(registry::Direction::Down, args.quiet || args.progress == ProgressMode::Json);
    let imported = registry::import_caches(store, &args.cache_from, &args.registry, &cache_view, args.quiet)?;
    let solver = Solver::new(store, &context, &runtime, progress.as_ref(), solve_options);
    let solver = match &imported {
        Some(cache) => solver.with_shared_cache(cache),
        None => solver,
    };
    let (output, interrupted) = build_until_interrupted(&solver, &runtime, &plan, &tags)?;
    cache_view.finish();
    context.finish()?;
    if interrupted {
        eprintln!("strata: build interrupted");
        return Ok(ExitCode::from(130));
    }
    let output = output?;
    let hashed = context.stats();
    let id = output.image.id();
    if args.quiet {
        println!("{id}");
    } else if args.progress != ProgressMode::Json {
        eprintln!("writing image {id} done");
        for tag in &tags {
            eprintln!("naming to {tag} done");
        }
    }
    if let Some(path) = &args.iidfile {
        fs_err::write(path, id.to_string()).map_err(CliError::Write)?;
    }
    if let Some(path) = &args.metadata_file {
        let metadata = serde_json::json!({
            "containerimage.config.digest": id.to_string(),
            "containerimage.digest": output.image.manifest.digest.to_string(),
            "image.name": tags.iter().map(Reference::to_string).collect::<Vec<_>>().join(","),
            "strata.cache": { "cached": output.cached_steps, "steps": output.total_steps },
            "strata.context": {
                "files_hashed": hashed.files,
                "stat_cache_hits": hashed.cache_hits,
                "files_read": hashed.files_read,
                "bytes_read": hashed.bytes_read,
            },
        });
        fs_err::write(path, render::json(&metadata)).map_err(CliError::Write)?;
    }
    export.write(store, &id.to_string(), args.compression, snapshotter)?;
    let shared = imported.as_ref().map(|c| c as &dyn crate::cache::SharedCache);
    registry::export_caches(store, &args.cache_to, &output, shared, &args.registry, args.quiet)?;
    if args.push {
        registry::push_tags(store, &id.to_string(), &tags, &args.registry, args.quiet)?;
    }
    let added_layers = output.cached_steps < output.total_steps;
    super::cache::gc_after_build(store, &args.gc, added_layers, args.quiet || args.progress == ProgressMode::Json);
    Ok(ExitCode::SUCCESS)
}

/// Reads, parses and plans a Dockerfile; a parse or plan error is printed
/// (located in the source) and becomes exit code 1.
pub(super) fn load_plan(base_images: &StoreBaseImages<'_>, dockerfile_path: &Path, steps: &StepFlags) -> Result<Result<plan::BuildPlan, ExitCode>, CliError> {
    let name = dockerfile_path.display().to_string();
    let source = fs_err::read(dockerfile_path).map_err(|e| CliError::Read { path: name.clone(), source: e })?;
    let source = String::from_utf8_lossy(&source).into_owned();
    let file = match syntax::parse(&source) {
        Ok(file) => file,
        Err(error) => {
            eprintln!("{}", render::parse_error(&name, &source, error));
            return Ok(Err(ExitCode::FAILURE));
        }
    };
    let options = PlanOptions { target: steps.target.clone(), build_args: build_args(&steps.build_args), platform: Platform::host() };
    match plan::plan(&file, &options, base_images) {
        Ok(plan) => Ok(Ok(plan)),
        Err(error) => {
            eprintln!("{}", render::plan_error(&name, &source, &error));
            Ok(Err(ExitCode::FAILURE))
        }
    }
}

/// What identifies a Dockerfile across builds (for `--explain`).
pub(super) fn dockerfile_id(path: &Path) -> String {
    path.canonicalize().unwrap_or(path.to_path_buf()).display().to_string()
}

/// `--max-add-size` and `import --max-size`: `512m`, `2g`, `64k`, or plain
/// bytes, in `--keep-storage`'s units.
pub(super) fn parse_max_size(text: &str) -> Result<u64, String> {
    crate::cache::parse_size(text).map_err(|e| e.to_string())
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    crate::solve::parse_size(text).ok_or_else(|| format!("invalid size {text:?}: expected a number, optionally with k, m or g"))
}

/// `KEY=VALUE`, or `KEY` taking the value from the environment (skipped
/// when unset), as docker build does.
pub(super) fn build_args(raw: &[String]) -> BTreeMap<String, String> {
    raw.iter()
        .filter_map(|arg| match arg.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(arg).ok().map(|v| (arg.clone(), v)),
        })
        .collect()
}

/// `--label`s apply to the final image, after the Dockerfile's own.
fn add_labels(plan: &mut plan::BuildPlan, labels: &[String]) -> Result<(), CliError> {
    if labels.is_empty() {
        return Ok(());
    }
    let pairs = labels.iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap_or((l.clone(), String::new()))).collect();
    let target = plan.graph.target;
    if let Some(stage) = plan.stages[target].as_mut() {
        let change = ConfigChange::Label(pairs);
        change.apply(&mut stage.config);
        stage.steps.push(plan::Step {
            op: plan::Op::Config { change },
            lines: stage.steps.last().map(|s| s.lines).unwrap_or_default(),
            span: Default::default(),
            text: "LABEL (--label)".into(),
            created_by: None,
        });
    }
    Ok(())
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

/// `--output`: where the built image goes besides the store.
enum Output {
    /// `type=image`: only the store.
    Image,
    Archive(archive::SaveFormat, PathBuf),
    /// `type=tar` or `type=local`: the image's filesystem.
    Filesystem {
        tar: bool,
        dest: PathBuf,
    },
}

impl Output {
    /// Parsed before the build, so a bad `--output` fails fast.
    fn parse(spec: Option<&str>) -> Result<Output, CliError> {
        let Some(spec) = spec else { return Ok(Output::Image) };
        let fields: BTreeMap<&str, &str> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
        let kind = fields.get("type").copied().unwrap_or("image");
        let dest = fields.get("dest").map(PathBuf::from);
        match (kind, dest) {
            ("image", _) => Ok(Output::Image),
            ("oci", Some(dest)) => Ok(Output::Archive(archive::SaveFormat::OciArchive, dest)),
            ("docker", Some(dest)) => Ok(Output::Archive(archive::SaveFormat::DockerArchive, dest)),
            ("tar" | "local", Some(dest)) => Ok(Output::Filesystem { tar: kind == "tar", dest }),
            ("oci" | "docker" | "tar" | "local", None) => Err(CliError::Usage(format!("--output type={kind} needs dest=..."))),
            _ => Err(CliError::Usage(format!("unsupported --output type {kind:?} (expected image, oci, docker, tar or local)"))),
        }
    }

    fn write(&self, store: &Store, id: &str, compression: Compression, snapshotter: Snapshotter) -> Result<(), CliError> {
        match self {
            Output::Image => Ok(()),
            Output::Archive(format, dest) => archive::save_one(store, id, *format, compression, dest),
            Output::Filesystem { tar, dest } => export_filesystem(store, id, *tar, dest, snapshotter),
        }
    }
}

/// `type=tar` (one tarball of the image's filesystem) or `type=local` (the
/// filesystem written into a directory): the layers mounted read-only and
/// written out as one tree.
fn export_filesystem(store: &Store, id: &str, tar: bool, dest: &Path, snapshotter: Snapshotter) -> Result<(), CliError> {
    let image = store.resolve(id)?;
    let layers = store.snapshots.paths(&image.config.rootfs.diff_ids);
    let scratch = store.temp_dir("export")?;
    let result = (|| {
        let mounted = snapshotter.mount(&layers, &scratch, true).map_err(CliError::Write)?;
        let options = WriteOptions { compression: Compression::None, source_date_epoch: None };
        let written = if tar {
            let file = fs_err::File::create(dest).map_err(CliError::Write)?;
            write_layer(mounted.root(), std::io::BufWriter::new(file.into_parts().0), &options).map(|_| ())
        } else {
            fs_err::create_dir_all(dest).map_err(CliError::Write)?;
            let (reader, writer) = std::io::pipe().map_err(CliError::Write)?;
            let root = mounted.root().to_path_buf();
            let writing = std::thread::spawn(move || write_layer(&root, writer, &options).map(|_| ()));
            let unpacked = unpack(reader, dest).map(|_| ());
            let written = writing.join().unwrap_or_else(|_| Err(LayerError::Write(std::io::Error::other("export thread panicked"))));
            unpacked.and(written)
        };
        mounted.finish().map_err(CliError::Write)?;
        written.map_err(|e| CliError::Store(StoreError::from(e)))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// A context sent as a tar archive on standard input, unpacked (safely)
/// into the store's `tmp/` for the build and removed after it.
struct StdinContext(PathBuf);

impl StdinContext {
    fn unpack(store: &Store) -> Result<StdinContext, CliError> {
        let dir = StdinContext(store.temp_dir("context")?);
        unpack(std::io::stdin().lock(), &dir.0).map_err(|e| CliError::Store(StoreError::from(e)))?;
        Ok(dir)
    }
}

impl Drop for StdinContext {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `--snapshotter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SnapshotterChoice {
    Auto,
    Overlay,
    Native,
}

impl SnapshotterChoice {
    pub(super) fn resolve(self, store: &Store) -> Result<Snapshotter, CliError> {
        Ok(match self {
            SnapshotterChoice::Overlay => Snapshotter::Overlay,
            SnapshotterChoice::Native => Snapshotter::Native,
            SnapshotterChoice::Auto => {
                let chosen = Snapshotter::detect(&store.temp_dir("probe")?);
                if chosen == Snapshotter::Native {
                    eprintln!("strata: overlayfs cannot be mounted on the store's filesystem: using the native (copying) snapshotter");
                }
                chosen
            }
        })
    }
}

/// Runs the build; SIGINT or SIGTERM (Ctrl-C) stops it cleanly: containers
/// are killed, running steps unwind (unmounting, removing their scratch
/// space) and nothing is committed. Returns the outcome and whether the
/// build was interrupted.
fn build_until_interrupted(
    solver: &Solver<'_>,
    runtime: &Runtime,
    plan: &plan::BuildPlan,
    tags: &[Reference],
) -> Result<(Result<crate::solve::BuildOutput, crate::solve::SolveError>, bool), CliError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(CliError::Write)?;
    let handle = signals.handle();
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let output = std::thread::scope(|scope| {
        scope.spawn(|| {
            if signals.forever().next().is_some() {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                solver.cancel();
                runtime.stop();
            }
        });
        let output = solver.build(plan, tags);
        handle.close();
        output
    });
    Ok((output, interrupted.load(std::sync::atomic::Ordering::SeqCst)))
}
