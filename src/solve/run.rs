//! RUN steps as containers: the step's mounted root, its command, user,
//! working directory and environment, the host's DNS files, and the
//! `--mount`s that never reach the layer.

use std::path::{Path, PathBuf};

use super::mount::{MountSet, RunGuards};
use super::{ExecError, SolveError, Solver, StageState};
use crate::exec::{dns_files, remove_mount_points, Bind, Cgroup, ChildUsage, ContainerSpec, NetworkError, NetworkMode, PrivateNetwork, Process};
use crate::plan::{Network, RunOp, Step};
use crate::progress::Event;
use crate::store::{NewContainer, RunDefaults};

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
        // Chroot isolation cannot join a network namespace.
        if crate::exec::isolation::current() == crate::exec::Isolation::Chroot {
            return Ok(None);
        }
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

/// The build network being stopped on another thread; dropping this
/// waits until it has stopped.
pub(super) struct Stopping(Option<std::thread::JoinHandle<()>>);

impl Stopping {
    /// Stops `network` in the background (nothing to do when never started).
    pub fn start(network: BuildNetwork) -> Stopping {
        match network {
            // Without a thread, the closure (and the network) is dropped
            // right here: the stop is then only not overlapped.
            BuildNetwork::Private(_) => Stopping(std::thread::Builder::new().name("network-stop".into()).spawn(move || drop(network)).ok()),
            BuildNetwork::NotStarted | BuildNetwork::Unavailable => Stopping(None),
        }
    }
}

impl Drop for Stopping {
    fn drop(&mut self) {
        if let Some(stopping) = self.0.take() {
            let _ = stopping.join();
        }
    }
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
        results: &super::state::StageInputs,
    ) -> Result<(ContainerSpec, RunGuards), SolveError> {
        let env: Vec<String> = run.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let hostname = scratch.join("hostname");
        fs_err::write(&hostname, format!("{HOSTNAME}\n")).map_err(|e| SolveError::io("write", &hostname, e))?;
        let mut binds = vec![Bind { source: hostname, target: "/etc/hostname".into(), read_only: true }];
        let network = self.network_for(run.network, scratch, &mut binds)?;
        let mut set = MountSet { scratch, results, env, binds, tmpfs: Vec::new(), guards: RunGuards::default() };
        for mount in &run.mounts {
            self.realise_mount(mount, &mut set)?;
        }
        let MountSet { env, binds, tmpfs, guards, .. } = set;
        let process = Process { argv: run.argv.clone(), env, user: run.user.clone(), workdir: run.workdir.clone() };
        let spec = ContainerSpec { binds, tmpfs, privileged: run.insecure, ..ContainerSpec::new(root.to_path_buf(), process, HOSTNAME, network) };
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
                None if crate::exec::isolation::current() == crate::exec::Isolation::Chroot => BuildNetwork::Unavailable,
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

    /// Runs the container in its own cgroup (limits from the options); a
    /// non-zero exit is an error with the last lines. Reports what it used.
    pub(super) fn run_container(&self, spec: &ContainerSpec, scratch: &Path, id: usize, log: &dyn Fn(&str)) -> Result<(), SolveError> {
        let name = format!("{}-{id}-{}", std::process::id(), scratch.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let cgroup = Cgroup::create(&name, &self.options.limits).map_err(|e| SolveError::io("create the cgroup", Path::new("/sys/fs/cgroup"), e))?;
        let mut spec = spec.clone();
        if let Some(cgroup) = &cgroup {
            spec.cgroup_procs = cgroup.procs_files();
        }
        let before = ChildUsage::now();
        let outcome = self.run_in_cgroup(&spec, scratch, log);
        let usage = cgroup.as_ref().map_or_else(|| before.since(), Cgroup::usage);
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
}

/// A private directory for one RUN: the container spec and secrets live
/// here, in memory when possible so secrets never touch a disk: /dev/shm,
/// or for a rootless strata the user's own `$XDG_RUNTIME_DIR/strata`
/// ([`crate::exec::userns::runtime_dir`]).
pub(super) fn private_scratch(fallback: impl FnOnce() -> Result<PathBuf, SolveError>) -> Result<PathBuf, SolveError> {
    use std::os::unix::fs::DirBuilderExt;
    let runtime = crate::exec::userns::runtime_dir();
    let shm = runtime.as_path();
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
    let Ok(entries) = fs_err::read_dir(shm) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("strata-run-")).and_then(|rest| rest.split('-').next()) else { continue };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = fs_err::remove_dir_all(entry.path());
        }
    }
}
