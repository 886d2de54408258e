//! `strata run`: a command in a working container (its changes stay, for
//! `strata commit`), or with `--rm` in a one-off container from an image,
//! to try what a build produced (its changes go when it exits). Attached
//! to the terminal: interactive when stdin is one.

use std::process::ExitCode;

use clap::Args;

use std::path::{Path, PathBuf};

use super::build::{NetworkChoice, SnapshotterChoice};
use super::CliError;
use crate::exec::{dns_files, remove_mount_points, Bind, ContainerSpec, NetworkMode, PrivateNetwork, Process, Runtime, Snapshotter};
use crate::image::ImageConfig;
use crate::store::{working_container_stem, NewContainer, RunDefaults, Store, StoreError, StoredImage};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata run dev -- make                run in the working container dev
  strata run -v $PWD:/src dev -- sh     interactive shell, host dir bound
  strata run --rm demo
  strata run --rm -e GREETING=hi busybox -- sh -c 'echo $GREETING'
  strata run --rm -v $PWD/out:/out busybox -- cp /etc/passwd /out/
  strata run --rm --cap-add NET_ADMIN busybox -- ip link add dummy0 type dummy
  strata run --rm 127.0.0.1:5000/team/app:1.2        pulled first when missing")]
pub struct RunArgs {
    /// Run IMAGE in a one-off container, removed when it exits. Without
    /// it, an image gets a working container that stays.
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable (`KEY=VALUE`).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// User (`name|uid[:group|gid]`).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Bind mount `HOST:CONTAINER[:ro]`; data stays on the host.
    #[arg(short, long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    pub volumes: Vec<String>,
    /// `default` (a private namespace with outbound NAT; `bridge` is the
    /// same), `none` (loopback only) or `host`.
    #[arg(long, value_enum, default_value_t = NetworkChoice::Default)]
    pub network: NetworkChoice,
    /// Give the container every capability, no seccomp filter, nothing
    /// masked in /proc and a writable /sys, as `docker run --privileged`.
    #[arg(long)]
    pub privileged: bool,
    /// Add a capability to Docker's default set (`NET_ADMIN`, `CAP_SYS_PTRACE`, `ALL`).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from Docker's default set (`ALL` for every one).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// How the container's root filesystem is made (see `strata build --help`).
    #[arg(long, value_enum, default_value_t = SnapshotterChoice::Auto, env = "STRATA_SNAPSHOTTER")]
    pub snapshotter: SnapshotterChoice,
    /// A working container, or an image.
    #[arg(value_name = "CONTAINER|IMAGE")]
    pub target: String,
    /// The command (default: the image's ENTRYPOINT and CMD).
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub registry: super::registry::RegistryArgs,
}

pub fn run(store: &Store, args: &RunArgs) -> Result<ExitCode, CliError> {
    let network = args.network;
    let snapshotter = args.snapshotter.resolve(store)?;
    let name = match store.container(&args.target) {
        Ok(_) if snapshotter == Snapshotter::Native => {
            return Err(CliError::Usage("working containers need overlayfs; the native snapshotter runs only `strata run --rm IMAGE`".into()))
        }
        Ok(record) if !args.rm => record.name,
        Ok(_) => return Err(CliError::Usage(format!("{} is a working container: --rm runs images only", args.target))),
        Err(StoreError::NoSuchContainer(_)) if args.rm => return run_once(store, args, network, snapshotter),
        Err(StoreError::NoSuchContainer(_)) if snapshotter == Snapshotter::Native => {
            return Err(CliError::Usage("working containers need overlayfs: with the native snapshotter use `strata run --rm IMAGE`".into()))
        }
        Err(StoreError::NoSuchContainer(_)) => create_for(store, args)?,
        Err(error) => return Err(error.into()),
    };
    let held = store.hold_container(&name)?;
    let layers = store.ensure_snapshots(&held.record.base.rootfs.diff_ids)?;
    let spec = container_spec(args, &held.record.base, &held.record.defaults, held.record.short_id())?;
    let code = run_mounted(snapshotter, &layers, &held.dir, spec, Mounted { keep: true, network })?;
    Ok(exit_code(code))
}

/// `strata run IMAGE` without `--rm` keeps its container, as `docker run`
/// does; it says the name so the user can commit or remove it.
fn create_for(store: &Store, args: &RunArgs) -> Result<String, CliError> {
    let image = args.target.as_str();
    let resolved = pull_if_missing(store, args)?;
    let stem = working_container_stem(image);
    let new = NewContainer { name: None, stem: &stem, source: image, defaults: RunDefaults::of_image(&resolved.config), base: resolved.config, upper: None };
    let record = store.create_container(new)?;
    eprintln!("strata: container {} (commit it with `strata commit {} NAME`, remove it with `strata rm {}`)", record.name, record.name, record.name);
    Ok(record.name)
}

fn run_once(store: &Store, args: &RunArgs, network: NetworkChoice, snapshotter: Snapshotter) -> Result<ExitCode, CliError> {
    let image = pull_if_missing(store, args)?;
    let spec = container_spec(args, &image.config, &RunDefaults::of_image(&image.config), &image.id().short())?;
    let layers = store.ensure_snapshots(&image.config.rootfs.diff_ids)?;
    let scratch = store.temp_dir("run")?;
    let code = run_mounted(snapshotter, &layers, &scratch, spec, Mounted { keep: false, network });
    let _ = fs_err::remove_dir_all(&scratch);
    Ok(exit_code(code?))
}

/// The image `args` names; one missing from the store is pulled, as
/// `docker run` does.
fn pull_if_missing(store: &Store, args: &RunArgs) -> Result<StoredImage, CliError> {
    let images = super::registry::RegistryImages::new(store, args.registry.clone(), false, false);
    crate::solve::ImageFetcher::ensure(&images, &args.target).map_err(|reason| CliError::Usage(format!("image {}: {reason}", args.target)))?;
    Ok(store.resolve(&args.target)?)
}

/// How [`run_mounted`] runs a container.
struct Mounted {
    /// Take the mount points back out of `upper/` afterwards.
    keep: bool,
    network: NetworkChoice,
}

/// Mounts `layers` under `scratch` (whose `upper/` keeps the changes), runs
/// `spec` attached to the terminal there on its network, and unmounts.
/// With `keep`, the mount points the container needed are taken back out
/// of `upper/`, so a later commit holds only what the commands wrote.
fn run_mounted(snapshotter: Snapshotter, layers: &[PathBuf], scratch: &Path, mut spec: ContainerSpec, how: Mounted) -> Result<i32, CliError> {
    let runtime = Runtime::default();
    let private = attach_network(&mut spec, how.network, &runtime, scratch)?;
    let mounted = snapshotter.mount(layers, scratch, false).map_err(CliError::Write)?;
    spec.root = mounted.root().to_path_buf();
    let code = runtime.run_attached(&spec).map_err(CliError::Write);
    drop(private);
    let keep = how.keep;
    let upper = mounted.finish().map_err(CliError::Write)?;
    let _ = fs_err::remove_file(scratch.join("resolv.conf"));
    if let (true, Some(upper)) = (keep, upper) {
        remove_mount_points(&upper, layers, &spec).map_err(CliError::Write)?;
    }
    code
}

/// Sets the container's network and adds its DNS files; the private
/// network returned lives as long as the container must. Without a NAT
/// program the container shares the host's network, as builds do.
fn attach_network(spec: &mut ContainerSpec, choice: NetworkChoice, runtime: &Runtime, scratch: &Path) -> Result<Option<PrivateNetwork>, CliError> {
    let mut private = None;
    spec.network = match choice {
        NetworkChoice::Host => NetworkMode::Host,
        NetworkChoice::None => NetworkMode::None,
        NetworkChoice::Default => match PrivateNetwork::start(&runtime.init).map_err(|e| CliError::Usage(e.to_string()))? {
            Some(network) => {
                let mode = NetworkMode::Join(network.netns());
                private = Some(network);
                mode
            }
            None => {
                eprintln!("strata: warning: no {} in PATH: the container shares the host's network", crate::exec::network::NAT_PROGRAM);
                NetworkMode::Host
            }
        },
    };
    spec.binds.splice(0..0, dns_files(&spec.network, scratch).map_err(CliError::Write)?);
    Ok(private)
}

fn container_spec(args: &RunArgs, image: &ImageConfig, defaults: &RunDefaults, hostname: &str) -> Result<ContainerSpec, CliError> {
    let config = &image.config;
    let mut argv = config.entrypoint.clone().unwrap_or_default();
    argv.extend(if args.command.is_empty() { config.cmd.clone().unwrap_or_default() } else { args.command.clone() });
    if argv.is_empty() {
        return Err(CliError::Usage(format!("{}: no command given and the image has no CMD or ENTRYPOINT", args.target)));
    }
    let mut env = defaults.env.clone();
    for var in &args.env {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(var.clone());
    }
    crate::exec::sandbox::capabilities(&args.cap_add, &args.cap_drop).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut binds = Vec::new();
    for volume in &args.volumes {
        binds.push(parse_volume(volume)?);
    }
    let user = args.user.clone().or_else(|| defaults.user.clone());
    let workdir = args.workdir.clone().unwrap_or_else(|| defaults.workdir.clone());
    let process = Process { argv, env, user, workdir };
    Ok(ContainerSpec {
        privileged: args.privileged,
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        binds,
        ..ContainerSpec::new(PathBuf::new(), process, hostname, NetworkMode::Host)
    })
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn parse_volume(text: &str) -> Result<Bind, CliError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (host, target, read_only) = match parts.as_slice() {
        [host, target] => (host, target, false),
        [host, target, "ro"] => (host, target, true),
        [host, target, "rw"] => (host, target, false),
        _ => return Err(CliError::Usage(format!("invalid volume {text:?}: expected HOST:CONTAINER[:ro]"))),
    };
    let source = fs_err::canonicalize(host).map_err(|e| CliError::Read { path: host.to_string(), source: e })?;
    if !target.starts_with('/') {
        return Err(CliError::Usage(format!("invalid volume {text:?}: the container path must be absolute")));
    }
    Ok(Bind { source, target: target.to_string(), read_only })
}
