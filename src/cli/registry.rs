//! The registry commands: `pull`, `push`, `login`, `logout`; the progress
//! view of transfers (a bar per blob on a terminal, a line per event
//! otherwise); and the adapter through which `build` pulls base images.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Mutex;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::table::human_size;
use super::CliError;
use crate::image::{Reference, DEFAULT_REGISTRY};
use crate::registry::{self, ClientOptions, Credentials, DockerConfig, PlatformChoice, PullOptions, PushOptions, RegistryError, Transfer, TransferProgress};
use crate::store::{Store, StoreError};

/// Options every registry command shares.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Talk plain HTTP to this registry (`host[:port]`; repeatable). Loopback
    /// registries (localhost, 127.0.0.1) always use HTTP.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]", env = "STRATA_INSECURE_REGISTRIES", value_delimiter = ',')]
    pub insecure: Vec<String>,
}

impl RegistryArgs {
    /// Client options for `registry`, with the credentials Docker's config holds for it.
    pub fn client(&self, registry: &str) -> Result<ClientOptions, CliError> {
        Ok(self.client_options(registry)?)
    }

    pub fn client_options(&self, registry: &str) -> Result<ClientOptions, RegistryError> {
        self.access().client_options(registry)
    }

    /// The library's form of these flags.
    pub fn access(&self) -> crate::registry::RegistryAccess {
        crate::registry::RegistryAccess { insecure: self.insecure.clone() }
    }
}

impl From<RegistryArgs> for crate::registry::RegistryAccess {
    fn from(args: RegistryArgs) -> crate::registry::RegistryAccess {
        args.access()
    }
}

/// The library's base-image fetcher with this CLI's transfer view attached
/// (`strata run` pulls a missing image through it).
pub struct RegistryImages<'a>(registry::RegistryImages<'a>);

impl<'a> RegistryImages<'a> {
    pub fn new(store: &'a Store, args: RegistryArgs, always: bool, quiet: bool) -> RegistryImages<'a> {
        RegistryImages(registry::RegistryImages::new(store, args, always, quiet).with_progress(TransferView::new(Direction::Down, quiet)))
    }
}

impl crate::solve::ImageFetcher for RegistryImages<'_> {
    fn ensure(&self, name: &str) -> Result<(), crate::solve::FetchError> {
        self.0.ensure(name)
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata pull busybox:1.36                         from Docker Hub (docker.io/library/busybox)
  strata pull 127.0.0.1:5000/team/app:1.2          loopback registries use plain HTTP
  strata pull --platform linux/arm64 alpine:3.20
  strata pull alpine@sha256:<digest>               pinned by digest
  strata pull --insecure-registry reg.lan:5000 reg.lan:5000/app")]
pub struct PullArgs {
    /// The image: `[registry/]repository[:tag|@digest]`.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The platform to take from a multi-platform image (default: linux and this machine's architecture).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<PlatformChoice>,
    /// Layers downloaded at once.
    #[arg(long, default_value_t = registry::DEFAULT_JOBS)]
    pub jobs: usize,
    /// Print only the image's digest.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata push 127.0.0.1:5000/team/app:1.2
  strata push app:1.2 127.0.0.1:5000/team/app:1.2  push a local image under another name
  strata push --chunk-size 16m ghcr.io/org/app:latest")]
pub struct PushArgs {
    /// The local image (name or ID); pushed as its own name unless DESTINATION is given.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Where to push: `registry/repository:tag`.
    #[arg(value_name = "DESTINATION")]
    pub destination: Option<String>,
    /// Blobs uploaded at once.
    #[arg(long, default_value_t = registry::DEFAULT_JOBS)]
    pub jobs: usize,
    /// Blobs larger than this go up in chunks of this size (`16m`, bytes).
    #[arg(long, value_name = "BYTES", value_parser = crate::size::nonzero_binary_bytes, default_value = "64m")]
    pub chunk_size: u64,
    /// Print only the pushed manifest's digest.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  echo \"$TOKEN\" | strata login -u ci --password-stdin ghcr.io
  strata login -u admin -p secret 127.0.0.1:5000
Credentials go to Docker's config ($DOCKER_CONFIG/config.json, default
~/.docker/config.json), through its credential helper when one is configured.")]
pub struct LoginArgs {
    /// The registry (default: Docker Hub).
    #[arg(value_name = "REGISTRY", default_value = DEFAULT_REGISTRY)]
    pub server: String,
    #[arg(short, long)]
    pub username: String,
    /// The password (visible in the process list: prefer --password-stdin).
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata logout ghcr.io
  strata logout                                   Docker Hub")]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub).
    #[arg(value_name = "REGISTRY", default_value = DEFAULT_REGISTRY)]
    pub server: String,
}

fn parse_reference(name: &str) -> Result<Reference, CliError> {
    name.parse::<Reference>().map_err(|e| CliError::Store(StoreError::from(e)))
}

pub fn pull(store: &Store, args: &PullArgs) -> Result<ExitCode, CliError> {
    let reference = parse_reference(&args.name)?;
    let options = PullOptions {
        client: args.registry.client(&reference.registry)?,
        platform: args.platform.clone().unwrap_or_default(),
        platform_asked: args.platform.clone(),
        jobs: args.jobs,
    };
    let view = TransferView::new(Direction::Down, args.quiet);
    let pulled = registry::pull(store, &reference, &options, &view).map_err(CliError::from)?;
    view.finish();
    if args.quiet {
        println!("{}", pulled.image.manifest.digest);
    } else {
        println!("Digest: {}", pulled.image.manifest.digest);
        println!("{} ({} layers downloaded, {} present)", reference.familiar(), pulled.downloaded, pulled.present);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn push(store: &Store, args: &PushArgs) -> Result<ExitCode, CliError> {
    let image = store.resolve(&args.image)?;
    let target = parse_reference(args.destination.as_deref().unwrap_or(&args.image))?;
    let options = PushOptions { client: args.registry.client(&target.registry)?, jobs: args.jobs, chunk_size: args.chunk_size };
    let view = TransferView::new(Direction::Up, args.quiet);
    // A multi-platform tag pushes every platform's manifest, then its index.
    let pushed = match store.index(&args.image)? {
        Some(index) => registry::push_index(store, &index, &target, &options, &view),
        None => registry::push(store, &image, &target, &options, &view),
    }
    .map_err(CliError::from)?;
    view.finish();
    if args.quiet {
        println!("{}", pushed.digest);
    } else {
        println!(
            "{}: digest: {} ({} blobs uploaded, {} present, {} mounted)",
            target.familiar(),
            pushed.digest,
            pushed.uploaded,
            pushed.existing,
            pushed.mounted
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn login(args: &LoginArgs) -> Result<ExitCode, CliError> {
    let server = registry_name(&args.server);
    let password = match (&args.password, args.password_stdin) {
        (Some(password), _) => password.clone(),
        (None, true) => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| CliError::Read { path: "standard input".into(), source: e })?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => return Err(CliError::Usage("give the password with --password-stdin (or -p)".into())),
    };
    if password.is_empty() {
        return Err(CliError::Usage("the password is empty".into()));
    }
    let credentials = Credentials { username: args.username.clone(), password };
    let options = ClientOptions { insecure: args.registry.insecure.clone(), credentials: Some(credentials.clone()) };
    registry::Client::new(&server, "", false, &options).check_login().map_err(CliError::from)?;
    let mut config = DockerConfig::load(&DockerConfig::default_path()).map_err(RegistryError::from)?;
    config.store(&server, &credentials).map_err(RegistryError::from)?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: &LogoutArgs) -> Result<ExitCode, CliError> {
    let server = registry_name(&args.server);
    let mut config = DockerConfig::load(&DockerConfig::default_path()).map_err(RegistryError::from)?;
    if config.erase(&server).map_err(RegistryError::from)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `https://index.docker.io/v1/` → `docker.io`; `reg:5000/` → `reg:5000`.
fn registry_name(server: &str) -> String {
    let host = server.trim_start_matches("https://").trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "" => DEFAULT_REGISTRY.to_owned(),
        other => other.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Down,
    Up,
}

/// Transfer progress on stderr: bars on a terminal, else one line per event.
pub struct TransferView {
    direction: Direction,
    quiet: bool,
    bars: Option<MultiProgress>,
    active: Mutex<HashMap<crate::digest::Digest, ProgressBar>>,
}

impl TransferView {
    pub fn new(direction: Direction, quiet: bool) -> TransferView {
        let bars = (!quiet && std::io::stderr().is_terminal()).then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        TransferView { direction, quiet, bars, active: Mutex::default() }
    }

    /// Lines only, never bars: for transfers during a build, whose own
    /// renderer owns the terminal.
    pub fn lines(direction: Direction, quiet: bool) -> TransferView {
        TransferView { direction, quiet, bars: None, active: Mutex::default() }
    }

    fn line(&self, text: String) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn bar(&self, digest: &crate::digest::Digest) -> Option<ProgressBar> {
        self.active.lock().ok()?.get(digest).cloned()
    }

    pub fn finish(&self) {
        if let Ok(mut active) = self.active.lock() {
            for (_, bar) in active.drain() {
                bar.finish_and_clear();
            }
        }
    }
}

impl TransferProgress for TransferView {
    fn event(&self, event: Transfer) {
        if self.quiet {
            return;
        }
        let verb = if self.direction == Direction::Down { "downloading" } else { "uploading" };
        match event {
            Transfer::Started { digest, size } => match &self.bars {
                Some(bars) => {
                    let bar = bars.add(ProgressBar::new(size));
                    let style = ProgressStyle::with_template(" {prefix} {bar:30.cyan/dim} {bytes:>9}/{total_bytes:<9} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar());
                    bar.set_style(style);
                    bar.set_prefix(digest.short());
                    bar.set_message(verb);
                    if let Ok(mut active) = self.active.lock() {
                        active.insert(digest, bar);
                    }
                }
                None => self.line(format!("{}: {verb} {}", digest.short(), human_size(size))),
            },
            Transfer::Progress { digest, done } => {
                if let Some(bar) = self.bar(&digest) {
                    bar.set_position(done);
                }
            }
            Transfer::Exists { digest } => self.line(format!("{}: already present", digest.short())),
            Transfer::Mounted { digest, from } => self.line(format!("{}: mounted from {from}", digest.short())),
            Transfer::Retrying { digest, reason } => self.line(format!("{}: retrying ({reason})", digest.short())),
            Transfer::Done { digest } => {
                let bar = self.active.lock().ok().and_then(|mut active| active.remove(&digest));
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
                self.line(format!("{}: done", digest.short()));
            }
        }
    }
}
