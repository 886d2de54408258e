//! RUN steps as containers: the step's mounted root, its command, user,
//! working directory and environment, the host's DNS files, and the
//! `--mount`s that never reach the layer.

use std::path::{Path, PathBuf};

use super::{ExecError, SolveError, Solver, StageState};
use crate::copy::resolve_in_root;
use crate::exec::{dns_files, ensure_path, remove_mount_points, Bind, Cgroup, ContainerSpec, NetworkError, NetworkMode, PrivateNetwork, Rootfs, Tmpfs};
use crate::plan::{MountKind, Network, RunOp, Sharing, Step};
use crate::progress::Event;
use crate::store::{Lock, NewContainer, RunDefaults};

/// The hostname containers get (BuildKit's is `buildkitsandbox`).
const HOSTNAME: &str = "strata";
/// Output lines kept for a failure message.
const TAIL_LINES: usize = 20;

/// Runs containers; the solver gives it a spec and reads back the exit code.
pub trait Executor: Sync {
    /// Runs `spec`; `scratch` is the step's private directory.
    fn run(&self, spec: &ContainerSpec, scratch: &Path, log: &mut dyn FnMut(&str)) -> std::io::Result<i32>;

    /// A private network for the build's containers; `None` when this
    /// executor has none to offer (they then share the host's).
    fn private_network(&self) -> Result<Option<PrivateNetwork>, NetworkError> {
        Ok(None)
    }
}

impl Executor for crate::exec::Runtime {
    fn run(&self, spec: &ContainerSpec, _scratch: &Path, log: &mut dyn FnMut(&str)) -> std::io::Result<i32> {
        crate::exec::Runtime::run(self, spec, log)
    }

    fn private_network(&self) -> Result<Option<PrivateNetwork>, NetworkError> {
        PrivateNetwork::start(&self.init)
    }
}

/// The build's private network: started once, by the first RUN on the
/// default network, and stopped when the solver goes.
#[derive(Debug, Default)]
pub(super) enum BuildNetwork {
    #[default]
    NotStarted,
    Private(PrivateNetwork),
    /// No NAT program: steps share the host's network (warned once).
    Unavailable,
}

impl Solver<'_> {
    /// The container for `run` on the mounted `root`; `scratch` holds
    /// files made for it (hostname, secrets). Bind mounts of stages and
    /// images stay mounted, and locked cache mounts locked, while the
    /// returned guards live.
    pub(super) fn container_spec(
        &self,
        run: &RunOp,
        root: &Path,
        scratch: &Path,
        results: &[Option<super::StageState>],
    ) -> Result<(ContainerSpec, RunGuards), SolveError> {
        let mut guards = RunGuards::default();
        let mut env: Vec<String> = run.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        ensure_path(&mut env);
        let hostname = scratch.join("hostname");
        std::fs::write(&hostname, format!("{HOSTNAME}\n")).map_err(|e| SolveError::io("write", &hostname, e))?;
        let mut binds = vec![Bind { source: hostname, target: "/etc/hostname".into(), read_only: true }];
        let network = self.network_for(run.network, scratch, &mut binds)?;
        let mut tmpfs = Vec::new();
        for mount in &run.mounts {
            let target = mount.target.clone().unwrap_or_default();
            match mount.kind {
                MountKind::Tmpfs => tmpfs.push(Tmpfs { target, size: mount.size.as_deref().and_then(|s| crate::size::binary_bytes(s).ok()) }),
                MountKind::Cache => {
                    let dir = self.cache_mount(mount, &target, &mut guards)?;
                    binds.push(Bind { source: dir, target, read_only: mount.readonly });
                }
                MountKind::Bind => {
                    let source = self.bind_source(mount, results, scratch, &mut guards.mounts)?;
                    binds.push(Bind { source, target, read_only: mount.readonly });
                }
                MountKind::Secret => {
                    let id = mount.id.clone().unwrap_or_else(|| target.rsplit('/').next().unwrap_or_default().to_owned());
                    let Some(value) = self.options.secrets.value(&id)? else {
                        if mount.required {
                            return Err(SolveError::Context(format!("secret {id:?} is required but was not given (--secret id={id},src=FILE)")));
                        }
                        continue;
                    };
                    if let Some(name) = &mount.env {
                        env.push(format!("{name}={}", String::from_utf8_lossy(&value)));
                        if mount.target.is_none() {
                            continue;
                        }
                    }
                    let target = mount.target.clone().unwrap_or_else(|| format!("/run/secrets/{id}"));
                    let file = secret_file(scratch, binds.len(), &value, mount)?;
                    binds.push(Bind { source: file, target, read_only: true });
                }
                MountKind::Ssh => {
                    let index = guards.agents.len();
                    if let Some(bind) = self.ssh_mount(mount, index, scratch, &mut guards.agents)? {
                        // As BuildKit: the first agent is the one ssh finds.
                        if index == 0 {
                            env.retain(|e| !e.starts_with("SSH_AUTH_SOCK="));
                            env.push(format!("SSH_AUTH_SOCK={}", bind.target));
                        }
                        binds.push(bind);
                    }
                }
            }
        }
        let spec = ContainerSpec {
            root: root.to_path_buf(),
            argv: run.argv.clone(),
            env,
            user: run.user.clone(),
            workdir: run.workdir.clone(),
            hostname: HOSTNAME.into(),
            network,
            binds,
            tmpfs,
            cgroup_procs: Vec::new(),
            privileged: run.insecure,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
        };
        Ok((spec, guards))
    }

    /// The network a RUN asked for (`Default`: the build's `--network`),
    /// with the DNS files it needs added to `binds`: behind the NAT, a
    /// resolv.conf (in `scratch`) naming the NAT's forwarder.
    fn network_for(&self, asked: Network, scratch: &Path, binds: &mut Vec<Bind>) -> Result<NetworkMode, SolveError> {
        let network = if asked == Network::Default { self.options.network } else { asked };
        let mode = match network {
            Network::Host => NetworkMode::Host,
            Network::None => NetworkMode::None,
            Network::Default => self.private_netns()?.map_or(NetworkMode::Host, NetworkMode::Join),
        };
        binds.extend(dns_files(&mode, scratch).map_err(|e| SolveError::io("write the DNS files in", scratch, e))?);
        Ok(mode)
    }

    /// The build's private namespace, started on first use; `None` (with
    /// one warning per build) when no NAT program is installed.
    fn private_netns(&self) -> Result<Option<PathBuf>, SolveError> {
        let mut network = self.network.lock().unwrap_or_else(|p| p.into_inner());
        if let BuildNetwork::NotStarted = *network {
            *network = match self.executor.private_network()? {
                Some(private) => BuildNetwork::Private(private),
                None => {
                    let message =
                        format!("no {} in PATH: RUN steps share the host's network (install slirp4netns for a private one)", crate::exec::network::NAT_PROGRAM);
                    self.progress.event(Event::Warning { message });
                    BuildNetwork::Unavailable
                }
            };
        }
        Ok(match &*network {
            BuildNetwork::Private(private) => Some(private.netns()),
            _ => None,
        })
    }

    /// The host directory a bind mount shows: a path of the context, or of
    /// a stage's or image's filesystem (mounted read-only under `scratch`),
    /// resolved inside its root. `rw` mounts get a throwaway overlay, so
    /// writes never reach the source (as in BuildKit).
    fn bind_source(
        &self,
        mount: &crate::plan::MountOp,
        results: &[Option<super::StageState>],
        scratch: &Path,
        guards: &mut Vec<Rootfs>,
    ) -> Result<PathBuf, SolveError> {
        let n = guards.len();
        let root = match self.source_state(&mount.from, results)? {
            None => self.context.root().to_path_buf(),
            Some(state) => {
                let layers = self.layer_paths(&state)?;
                let dir = scratch.join(format!("bind-{n}"));
                let mounted = self.options.snapshotter.mount(&layers, &dir, true).map_err(|e| SolveError::io("mount the bind source in", &dir, e))?;
                let root = mounted.root().to_path_buf();
                guards.push(mounted);
                root
            }
        };
        let rel = resolve_in_root(&root, mount.source.as_deref().unwrap_or("/"))?;
        let source = root.join(rel);
        if mount.readonly || !source.is_dir() {
            return Ok(source);
        }
        let dir = scratch.join(format!("bind-rw-{n}"));
        let layers = [source];
        let mounted = self.options.snapshotter.mount(&layers, &dir, false).map_err(|e| SolveError::io("mount a writable bind in", &dir, e))?;
        let writable = mounted.root().to_path_buf();
        guards.push(mounted);
        Ok(writable)
    }

    /// Runs the container in its own cgroup (limits from the options); a
    /// non-zero exit is an error with the last lines. Reports what it used.
    pub(super) fn run_container(&self, spec: &ContainerSpec, scratch: &Path, id: usize, log: &dyn Fn(&str)) -> Result<(), SolveError> {
        let name = format!("{}-{id}-{}", std::process::id(), scratch.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let cgroup = Cgroup::create(&name, &self.options.limits).map_err(|e| SolveError::io("create the cgroup", Path::new("/sys/fs/cgroup"), e))?;
        let mut spec = spec.clone();
        if let Some(cgroup) = &cgroup {
            spec.cgroup_procs = cgroup.procs_files();
        }
        let outcome = self.run_in_cgroup(&spec, scratch, log);
        let usage = cgroup.as_ref().map(Cgroup::usage).unwrap_or_default();
        self.progress.event(Event::Resources { id, peak_memory: usage.peak_memory, cpu_time: usage.cpu_time });
        match outcome {
            Err(SolveError::Exec(ExecError::Exit { code, last_lines })) if usage.out_of_memory => {
                let limit = self.options.limits.memory.map_or(String::new(), |m| format!(" of {m} bytes"));
                Err(ExecError::OutOfMemory { code, limit, last_lines }.into())
            }
            other => other,
        }
    }

    fn run_in_cgroup(&self, spec: &ContainerSpec, scratch: &Path, log: &dyn Fn(&str)) -> Result<(), SolveError> {
        let mut tail: std::collections::VecDeque<String> = Default::default();
        let mut on_line = |line: &str| {
            log(line);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        };
        let code = self.executor.run(spec, scratch, &mut on_line).map_err(ExecError::Start)?;
        if code != 0 {
            return Err(ExecError::Exit { code, last_lines: tail.into_iter().collect() }.into());
        }
        Ok(())
    }

    /// `--keep-failed`: the failed step's changes become a working container
    /// over the step's parent state; returns its name.
    pub(super) fn keep_failed(&self, state: &StageState, step: &Step, spec: &ContainerSpec, upper: &Path) -> Result<String, SolveError> {
        let defaults = RunDefaults { env: spec.env.clone(), user: spec.user.clone(), workdir: spec.workdir.clone() };
        let source = format!("{} (Dockerfile line {})", step.text, step.lines.start);
        let new = NewContainer { name: None, stem: "failed-step", source: &source, base: state.config.clone(), defaults, upper: Some(upper) };
        Ok(self.store.create_container(new)?.name)
    }

    /// After the root is unmounted: mount points out of the upper dir.
    pub(super) fn clean_upper(&self, upper: &Path, lowers: &[PathBuf], spec: &ContainerSpec) -> Result<(), SolveError> {
        remove_mount_points(upper, lowers, spec).map_err(|e| SolveError::io("clean mount points in", upper, e))
    }

    /// The directory for `RUN --mount=type=cache`: persistent per `id`
    /// (default: the target), created with `mode`/`uid`/`gid` (0755, root).
    /// `sharing=locked` waits for other users of the cache;
    /// `sharing=private` takes a fresh, throwaway directory when the cache
    /// is in use; `shared` (the default) lets concurrent steps share it.
    fn cache_mount(&self, mount: &crate::plan::MountOp, target: &str, guards: &mut RunGuards) -> Result<PathBuf, SolveError> {
        let id = mount.id.as_deref().unwrap_or(target);
        let base = self.store.cache_mounts_dir();
        let name = crate::digest::Digest::of(id.as_bytes()).hex();
        let dir = base.join(&name);
        // Held while the step runs, before the directory is looked at, so
        // `strata cache prune` never removes a cache in use.
        std::fs::create_dir_all(&base).map_err(|e| SolveError::io("create", &base, e))?;
        guards.locks.push(Lock::shared(&base.join(format!("{name}.use")))?);
        if !dir.exists() {
            // Made in the store's tmp/ (same filesystem) and renamed into
            // place whole; if another build made it meanwhile, theirs stays.
            let fresh = self.store.temp_dir("cache")?;
            make_cache_dir(&fresh, mount)?;
            std::fs::create_dir_all(&base).map_err(|e| SolveError::io("create", &base, e))?;
            if let Err(e) = std::fs::rename(&fresh, &dir) {
                let _ = std::fs::remove_dir_all(&fresh);
                if !dir.exists() {
                    return Err(SolveError::io("create", &dir, e));
                }
            }
        }
        let lock = base.join(format!("{name}.lock"));
        match mount.sharing {
            Sharing::Shared => Ok(dir),
            Sharing::Locked => {
                guards.locks.push(Lock::exclusive(&lock)?);
                Ok(dir)
            }
            Sharing::Private => match Lock::try_exclusive(&lock)? {
                Some(held) => {
                    guards.locks.push(held);
                    Ok(dir)
                }
                None => {
                    let private = self.store.temp_dir("cache-private")?;
                    guards.temp_dirs.push(private.clone());
                    make_cache_dir(&private, mount)?;
                    Ok(private)
                }
            },
        }
    }
}

/// What must outlive a RUN's process: bind-mounted stage and image
/// filesystems, and the locks of `sharing=locked|private` cache mounts.
#[derive(Default)]
pub(super) struct RunGuards {
    pub mounts: Vec<Rootfs>,
    pub locks: Vec<Lock>,
    pub agents: Vec<crate::exec::SocketForward>,
    /// Throwaway `sharing=private` caches, removed with the guards.
    pub temp_dirs: Vec<PathBuf>,
}

impl Drop for RunGuards {
    fn drop(&mut self) {
        self.mounts.clear();
        for dir in &self.temp_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new cache directory with the mount's `mode` (octal), `uid` and `gid`.
fn make_cache_dir(dir: &Path, mount: &crate::plan::MountOp) -> Result<(), SolveError> {
    std::fs::create_dir_all(dir).map_err(|e| SolveError::io("create", dir, e))?;
    set_owner_and_mode(dir, mount, 0o755)
}

/// Gives what a mount made (cache directory, secret file, agent socket)
/// the mount's `uid`/`gid` (default root) and octal `mode` (else `default_mode`).
pub(super) fn set_owner_and_mode(path: &Path, mount: &crate::plan::MountOp, default_mode: u32) -> Result<(), SolveError> {
    let number = |text: Option<&String>, radix: u32| text.and_then(|t| u32::from_str_radix(t, radix).ok());
    let (uid, gid) = (number(mount.uid.as_ref(), 10).unwrap_or(0), number(mount.gid.as_ref(), 10).unwrap_or(0));
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| SolveError::io("chown", path, e))?;
    let mode = number(mount.mode.as_ref(), 8).unwrap_or(default_mode);
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(|e| SolveError::io("chmod", path, e))
}

/// Writes a secret for a bind mount: in the step's private scratch (on
/// tmpfs when the machine has /dev/shm), owned and moded as the mount asks
/// (default root, 0400).
fn secret_file(scratch: &Path, n: usize, value: &[u8], mount: &crate::plan::MountOp) -> Result<PathBuf, SolveError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = scratch.join(format!("secret-{n}"));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(|e| SolveError::io("create", &path, e))?;
    file.write_all(value).map_err(|e| SolveError::io("write", &path, e))?;
    set_owner_and_mode(&path, mount, 0o400)?;
    Ok(path)
}

/// A private directory for one RUN: the container spec and secrets live
/// here, in memory (/dev/shm) when possible so secrets never touch a disk.
pub(super) fn private_scratch(fallback: impl FnOnce() -> Result<PathBuf, SolveError>) -> Result<PathBuf, SolveError> {
    use std::os::unix::fs::DirBuilderExt;
    let shm = Path::new("/dev/shm");
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| remove_dead_scratch(shm));
    if shm.is_dir() {
        for attempt in 0..100u32 {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            let dir = shm.join(format!("strata-run-{}-{nanos}-{attempt}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(_) => break,
            }
        }
    }
    fallback()
}

/// Removes the private scratch directories of strata processes that are
/// gone (killed outright, so they could not clean up): they may hold
/// secrets, and /dev/shm is memory.
fn remove_dead_scratch(shm: &Path) {
    let Ok(entries) = std::fs::read_dir(shm) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("strata-run-")).and_then(|rest| rest.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `--secret id=NAME,src=FILE` or `id=NAME,env=VAR`: where secrets come
/// from. Values are read when a RUN mounts them, never stored or logged.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    sources: std::collections::BTreeMap<String, SecretSource>,
}

#[derive(Debug, Clone)]
enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl Secrets {
    /// Parses `--secret` values.
    pub fn parse(specs: &[String]) -> Result<Secrets, String> {
        let mut sources = std::collections::BTreeMap::new();
        for spec in specs {
            let fields: std::collections::BTreeMap<&str, &str> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
            let id = fields.get("id").ok_or_else(|| format!("--secret {spec:?}: id= is required"))?;
            let source = match (fields.get("src").or(fields.get("source")), fields.get("env")) {
                (Some(file), _) => SecretSource::File(PathBuf::from(file)),
                (None, Some(var)) => SecretSource::Env((*var).to_owned()),
                (None, None) => return Err(format!("--secret {spec:?}: give src=FILE or env=VARIABLE")),
            };
            sources.insert((*id).to_owned(), source);
        }
        Ok(Secrets { sources })
    }

    fn value(&self, id: &str) -> Result<Option<Vec<u8>>, SolveError> {
        match self.sources.get(id) {
            None => Ok(None),
            Some(SecretSource::File(path)) => std::fs::read(path).map(Some).map_err(|e| SolveError::io("read the secret", path, e)),
            Some(SecretSource::Env(var)) => Ok(std::env::var_os(var).map(|v| std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec())),
        }
    }
}
