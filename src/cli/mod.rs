//! The command-line layer: clap types, one file per command family, and the
//! single place where errors are rendered and turned into exit codes.

mod archive;
mod build;
mod cache;
mod container;
mod image;
mod lint;
mod manifest;
mod parse;
mod registry;
mod render;
mod run;
mod system;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::store::{Store, StoreError};

const EXAMPLES: &str = "\
Examples:
  strata parse Dockerfile                      show the typed instructions
  strata parse --dump Dockerfile               BuildKit's parser dump
  strata import rootfs.tar.gz busybox:1.36     a rootfs tarball becomes an image
  strata images                                list images
  strata pull 127.0.0.1:5000/busybox:1         pull from a registry
  strata --root /tmp/store images              use another store";

/// strata: build container images from Dockerfiles, without a daemon.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// The store directory (images, layers, cache). Default: /var/lib/strata
    /// as root, else $XDG_DATA_HOME/strata.
    #[arg(long, global = true, env = "STRATA_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// How RUN steps are isolated: `auto` (namespaces; chroot only where
    /// not even a user namespace can be made) or `chroot` (Buildah's
    /// `--isolation chroot`: no namespaces, see the README).
    /// Given before the command: `strata --isolation chroot build …`.
    #[arg(long, value_enum, env = "STRATA_ISOLATION", value_name = "ISOLATION")]
    pub isolation: Option<IsolationChoice>,

    #[command(subcommand)]
    /// The subcommand to run.
    pub command: Command,
}

/// `--isolation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IsolationChoice {
    /// Namespaces, falling back to chroot where they cannot be made.
    Auto,
    /// Chroot isolation even where namespaces could be made.
    Chroot,
}

/// strata's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse a Dockerfile and print its instructions, BuildKit's dump, or JSON.
    Parse(parse::ParseArgs),
    /// Check a Dockerfile against BuildKit's build checks and strata's own rules.
    Lint(lint::LintArgs),
    /// Create an image from a rootfs tarball (plain, gzip or zstd).
    Import(image::ImportArgs),
    /// List images.
    Images(image::ImagesArgs),
    /// Give an image another name.
    Tag(image::TagArgs),
    /// Remove images (untag; delete when no tag is left) and free their blobs.
    Rmi(image::RmiArgs),
    /// Show images' config, manifest and layers as JSON.
    Inspect(image::InspectArgs),
    /// Show an image's history: one row per step.
    History(image::HistoryArgs),
    /// Build an image from a Dockerfile.
    Build(Box<build::BuildArgs>),
    /// Run a command in a working container, or in a one-off container from an image (--rm).
    Run(run::RunArgs),
    /// Create a working container from an image.
    From(container::FromArgs),
    /// Make an image of a working container's changes.
    Commit(container::CommitArgs),
    /// List working containers.
    Containers(container::ContainersArgs),
    /// Remove working containers.
    Rm(container::RmArgs),
    /// (internal) Become a container: started by strata itself.
    #[command(name = "__init", hide = true)]
    Init,
    /// (internal) Hold a build's private network namespace and its NAT.
    #[command(name = "__netns", hide = true)]
    Netns {
        /// Path of the NAT program (slirp4netns) that gives the namespace outbound access.
        nat: PathBuf,
    },
    /// Write images to a docker-archive, an oci-archive or an OCI layout directory.
    Save(archive::SaveArgs),
    /// Load images from a docker-archive or oci-archive.
    Load(archive::LoadArgs),
    /// Download an image from a registry.
    Pull(registry::PullArgs),
    /// Upload an image to a registry.
    Push(registry::PushArgs),
    /// Make, inspect and push multi-platform images (OCI image indexes).
    Manifest(manifest::ManifestArgs),
    /// Store credentials for a registry (in Docker's config file).
    Login(registry::LoginArgs),
    /// Remove stored credentials for a registry.
    Logout(registry::LogoutArgs),
    /// Inspect, explain, prune and verify the build cache.
    Cache(cache::CacheArgs),
    /// Store-wide information: `system df`.
    System(system::SystemArgs),
}

/// Runs the CLI with the process arguments and returns the exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let root = store_root(cli.root);
    if cli.isolation == Some(IsolationChoice::Chroot) {
        if !crate::exec::isolation::chroot_allowed() {
            eprintln!("strata: --isolation chroot needs CAP_SYS_CHROOT (root, or root in a container)");
            return ExitCode::FAILURE;
        }
        crate::exec::isolation::use_chroot();
    }
    if let Some(code) = rootless(&cli.command, &root) {
        return code;
    }
    let outcome = match cli.command {
        Command::Parse(args) => parse::run(&args),
        Command::Lint(args) => lint::run(&root, &args),
        Command::Import(args) => open(&root).and_then(|store| image::import(&store, &args)),
        Command::Images(args) => open(&root).and_then(|store| image::images(&store, &args)),
        Command::Tag(args) => open(&root).and_then(|store| image::tag(&store, &args)),
        Command::Rmi(args) => open(&root).and_then(|store| image::rmi(store, &args)),
        Command::Inspect(args) => open(&root).and_then(|store| image::inspect(&store, &args)),
        Command::History(args) => open(&root).and_then(|store| image::history(&store, &args)),
        Command::Build(args) => private_mounts().and_then(|()| open(&root)).and_then(|store| build::run(&store, &args)),
        Command::Run(args) => private_mounts().and_then(|()| open(&root)).and_then(|store| run::run(&store, &args)),
        Command::From(args) => open(&root).and_then(|store| container::from(&store, &args)),
        Command::Commit(args) => open(&root).and_then(|store| container::commit(&store, &args)),
        Command::Containers(args) => open(&root).and_then(|store| container::containers(&store, &args)),
        Command::Rm(args) => open(&root).and_then(|store| container::rm(&store, &args)),
        // A fresh single-threaded process: it must not open the store first.
        Command::Init => std::process::exit(crate::exec::init::main()),
        Command::Netns { nat } => std::process::exit(crate::exec::network::holder_main(&nat)),
        Command::Save(args) => open(&root).and_then(|store| archive::save(&store, &args)),
        Command::Load(args) => open(&root).and_then(|store| archive::load(&store, &args)),
        Command::Pull(args) => open(&root).and_then(|store| registry::pull(&store, &args)),
        Command::Push(args) => open(&root).and_then(|store| registry::push(&store, &args)),
        Command::Manifest(args) => open(&root).and_then(|store| manifest::manifest(&store, &args)),
        Command::Login(args) => registry::login(&args),
        Command::Logout(args) => registry::logout(&args),
        Command::Cache(args) => open(&root).and_then(|store| cache::run(&store, &args)),
        Command::System(args) => open(&root).and_then(|store| system::run(&store, &args)),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            let full = disk_full(&error);
            eprintln!("{:?}", miette::Report::new(error));
            if full {
                eprintln!("strata: the disk is full; `strata cache prune -f` frees space (it works on a full disk)");
            }
            ExitCode::FAILURE
        }
    }
}

/// Re-runs the command in a user namespace when this process cannot mount
/// (an ordinary user, or root in an unprivileged container): before the
/// store is opened, so it and every mount live inside the namespace.
/// `None` when the command runs here.
fn rootless(command: &Command, root: &std::path::Path) -> Option<ExitCode> {
    let local = matches!(command, Command::Parse(_) | Command::Login(_) | Command::Logout(_) | Command::Init | Command::Netns { .. });
    let chroot = crate::exec::isolation::current() == crate::exec::Isolation::Chroot;
    if local || chroot || !crate::exec::userns::needs_user_namespace() {
        return None;
    }
    match crate::exec::userns::reexec(root) {
        Ok(code) => Some(ExitCode::from(u8::try_from(code).unwrap_or(1))),
        // Kaniko's model: root in a container that refuses user namespaces
        // (Docker's default seccomp profile) still builds, chrooted; the
        // build's first lines say so.
        Err(crate::exec::userns::UsernsError::Unshare { .. }) if crate::exec::isolation::chroot_allowed() => {
            crate::exec::isolation::use_chroot();
            None
        }
        Err(error) => {
            eprintln!("strata: {error}");
            Some(ExitCode::FAILURE)
        }
    }
}

/// Whether ENOSPC is behind `error` (some layers carry it only as text).
fn disk_full(error: &CliError) -> bool {
    let mut next: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = next {
        let io = current.downcast_ref::<std::io::Error>();
        if io.is_some_and(|e| e.raw_os_error() == Some(nix::errno::Errno::ENOSPC as i32)) || current.to_string().contains("(os error 28)") {
            return true;
        }
        next = current.source();
    }
    false
}

/// Builds and runs mount overlays: in a private mount namespace they all
/// vanish with the process, even when it is killed. Done first, while the
/// process has no other threads (unshare requires that).
fn private_mounts() -> Result<(), CliError> {
    // Chroot isolation makes no mounts (and may not unshare).
    if crate::exec::isolation::current() == crate::exec::Isolation::Chroot {
        return Ok(());
    }
    crate::exec::private_mount_namespace().map_err(|e| {
        let why = if crate::layer::in_user_namespace() { crate::exec::userns::diagnose(&e) } else { "strata build needs root or a user namespace".to_owned() };
        CliError::Usage(format!("cannot enter a private mount namespace: {e}\n{why}"))
    })
}

fn open(root: &std::path::Path) -> Result<Store, CliError> {
    Ok(Store::open(root)?)
}

/// The store root: `--root`/`STRATA_ROOT`, else `/var/lib/strata` for root,
/// else `$XDG_DATA_HOME/strata` (or `~/.local/share/strata`).
pub fn store_root(flag: Option<PathBuf>) -> PathBuf {
    if let Some(root) = flag {
        return root;
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/strata");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("strata")
}

/// Errors the CLI reports itself (the library's errors render through miette).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    /// A file the command was given cannot be opened.
    #[error("cannot read {path}")]
    Read {
        /// The path as given.
        path: String,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Standard output could not be written.
    #[error("cannot write output")]
    Write(#[source] std::io::Error),
    /// Flags that cannot be used together or as given; holds the message.
    #[error("{0}")]
    Usage(String),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The build failed.
    #[error(transparent)]
    Build(#[from] crate::solve::SolveError),
    /// Writing or reading an image archive failed.
    #[error(transparent)]
    Archive(#[from] crate::image::archive::ArchiveError),
    /// A registry operation failed.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// Exporting the built image failed.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    /// The build request was refused before solving (options, plan, checks).
    #[error(transparent)]
    BuildRequest(#[from] crate::build::BuildError),
}
