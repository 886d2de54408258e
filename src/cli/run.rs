//! `strata run --rm IMAGE [COMMAND...]`: a one-off container from an image,
//! attached to the terminal, to try what a build produced. Its changes are
//! thrown away when it exits.

use std::process::ExitCode;

use clap::Args;

use super::CliError;
use crate::exec::{ensure_path, host_network_files, Bind, ContainerSpec, NetworkMode, RootfsMount, Runtime};
use crate::store::Store;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata run --rm demo
  strata run --rm -e GREETING=hi busybox -- sh -c 'echo $GREETING'
  strata run --rm -v $PWD/out:/out busybox -- cp /etc/passwd /out/
  strata run --rm 127.0.0.1:5000/team/app:1.2        pulled first when missing")]
pub struct RunArgs {
    /// Remove the container when it exits (the only mode so far).
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
    /// `host` (default) or `none` (loopback only).
    #[arg(long, default_value = "host")]
    pub network: String,
    /// The image.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command (default: the image's ENTRYPOINT and CMD).
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub command: Vec<String>,
    #[command(flatten)]
    pub registry: super::registry::RegistryArgs,
}

pub fn run(store: &Store, args: &RunArgs) -> Result<ExitCode, CliError> {
    if !args.rm {
        return Err(CliError::Usage("working containers are not supported yet: use `strata run --rm`".into()));
    }
    // An image missing from the store is pulled, as `docker run` does.
    let images = super::registry::RegistryImages::new(store, args.registry.clone(), false, false);
    crate::solve::ImageFetcher::ensure(&images, &args.image).map_err(|reason| CliError::Usage(format!("image {}: {reason}", args.image)))?;
    let image = store.resolve(&args.image)?;
    let config = &image.config.config;
    let mut argv = config.entrypoint.clone().unwrap_or_default();
    argv.extend(if args.command.is_empty() { config.cmd.clone().unwrap_or_default() } else { args.command.clone() });
    if argv.is_empty() {
        return Err(CliError::Usage(format!("{}: no command given and the image has no CMD or ENTRYPOINT", args.image)));
    }
    let mut env = config.env.clone().unwrap_or_default();
    for var in &args.env {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(var.clone());
    }
    ensure_path(&mut env);
    let mut binds = host_network_files();
    for volume in &args.volumes {
        binds.push(parse_volume(volume)?);
    }
    let network = match args.network.as_str() {
        "host" | "default" => NetworkMode::Host,
        "none" => NetworkMode::None,
        other => return Err(CliError::Usage(format!("unknown network {other:?}: expected host or none"))),
    };
    let scratch = store.temp_dir("run")?;
    let layers = store.snapshots.paths(&image.config.rootfs.diff_ids);
    let result = (|| {
        let mounted = RootfsMount { layers: &layers, scratch: &scratch, read_only: false }.mount().map_err(CliError::Write)?;
        let spec = ContainerSpec {
            root: mounted.root().to_path_buf(),
            argv,
            env,
            user: args.user.clone().or_else(|| config.user.clone()).filter(|u| !u.is_empty()),
            workdir: args.workdir.clone().or_else(|| config.working_dir.clone()).unwrap_or_else(|| "/".into()),
            hostname: image.id().short(),
            network,
            binds,
            tmpfs: Vec::new(),
            cgroup_procs: Vec::new(),
        };
        let code = Runtime::default().run_attached(&spec, &scratch).map_err(CliError::Write);
        mounted.finish().map_err(CliError::Write)?;
        code
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(ExitCode::from(result?.clamp(0, 255) as u8))
}

fn parse_volume(text: &str) -> Result<Bind, CliError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (host, target, read_only) = match parts.as_slice() {
        [host, target] => (host, target, false),
        [host, target, "ro"] => (host, target, true),
        [host, target, "rw"] => (host, target, false),
        _ => return Err(CliError::Usage(format!("invalid volume {text:?}: expected HOST:CONTAINER[:ro]"))),
    };
    let source = std::fs::canonicalize(host).map_err(|e| CliError::Read { path: host.to_string(), source: e })?;
    if !target.starts_with('/') {
        return Err(CliError::Usage(format!("invalid volume {text:?}: the container path must be absolute")));
    }
    Ok(Bind { source, target: target.to_string(), read_only })
}
