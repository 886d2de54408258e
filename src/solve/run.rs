//! RUN steps as containers: the step's mounted root, its command, user,
//! working directory and environment, the host's DNS files, and the
//! `--mount`s that never reach the layer.

use std::path::{Path, PathBuf};

use super::{ExecError, SolveError, Solver};
use crate::exec::{remove_mount_points, Bind, ContainerSpec, NetworkMode, Tmpfs, DEFAULT_PATH};
use crate::plan::{MountKind, Network, RunOp};

/// The hostname containers get (BuildKit's is `buildkitsandbox`).
const HOSTNAME: &str = "strata";
/// Output lines kept for a failure message.
const TAIL_LINES: usize = 20;

/// Runs containers; the solver gives it a spec and reads back the exit code.
pub trait Executor: Sync {
    /// Runs `spec`; `scratch` is the step's private directory.
    fn run(&self, spec: &ContainerSpec, scratch: &Path, log: &mut dyn FnMut(&str)) -> std::io::Result<i32>;
}

impl Executor for crate::exec::Runtime {
    fn run(&self, spec: &ContainerSpec, scratch: &Path, log: &mut dyn FnMut(&str)) -> std::io::Result<i32> {
        crate::exec::Runtime::run(self, spec, scratch, log)
    }
}

impl Solver<'_> {
    /// The container for `run` on the mounted `root`; `scratch` holds
    /// files made for it (hostname).
    pub(super) fn container_spec(&self, run: &RunOp, root: &Path, scratch: &Path) -> Result<ContainerSpec, SolveError> {
        let mut env: Vec<String> = run.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !run.env.iter().any(|(k, _)| k == "PATH") {
            env.insert(0, format!("PATH={DEFAULT_PATH}"));
        }
        let hostname = scratch.join("hostname");
        std::fs::write(&hostname, format!("{HOSTNAME}\n")).map_err(|e| SolveError::io("write", &hostname, e))?;
        let mut binds = vec![Bind { source: hostname, target: "/etc/hostname".into(), read_only: true }];
        for file in ["/etc/resolv.conf", "/etc/hosts"] {
            if Path::new(file).exists() {
                binds.push(Bind { source: PathBuf::from(file), target: file.into(), read_only: true });
            }
        }
        let mut tmpfs = Vec::new();
        for mount in &run.mounts {
            let target = mount.target.clone().unwrap_or_default();
            match mount.kind {
                MountKind::Tmpfs => tmpfs.push(Tmpfs { target, size: mount.size.as_deref().and_then(parse_size) }),
                MountKind::Cache => {
                    let dir = self.cache_mount_dir(mount.id.as_deref().unwrap_or(&target))?;
                    binds.push(Bind { source: dir, target, read_only: mount.readonly });
                }
                _ => {
                    return Err(SolveError::Context(format!(
                        "RUN --mount=type={} is not supported yet",
                        format!("{:?}", mount.kind).to_lowercase()
                    )))
                }
            }
        }
        Ok(ContainerSpec {
            root: root.to_path_buf(),
            argv: run.argv.clone(),
            env,
            user: run.user.clone(),
            workdir: run.workdir.clone(),
            hostname: HOSTNAME.into(),
            network: match run.network {
                Network::None => NetworkMode::None,
                Network::Default | Network::Host => NetworkMode::Host,
            },
            binds,
            tmpfs,
        })
    }

    /// Runs the container; a non-zero exit is an error with the last lines.
    pub(super) fn run_container(&self, spec: &ContainerSpec, scratch: &Path, log: &dyn Fn(&str)) -> Result<(), SolveError> {
        let mut tail: std::collections::VecDeque<String> = Default::default();
        let mut on_line = |line: &str| {
            log(line);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        };
        let code = self.executor.run(spec, scratch, &mut on_line).map_err(|e| ExecError::Failed(e.to_string()))?;
        if code != 0 {
            return Err(ExecError::Exit { code, last_lines: tail.into_iter().collect() }.into());
        }
        Ok(())
    }

    /// After the root is unmounted: mount points out of the upper dir.
    pub(super) fn clean_upper(&self, upper: &Path, lowers: &[PathBuf], spec: &ContainerSpec) -> Result<(), SolveError> {
        remove_mount_points(upper, lowers, spec).map_err(|e| SolveError::io("clean mount points in", upper, e))
    }

    /// A persistent directory for `RUN --mount=type=cache,id=...`.
    fn cache_mount_dir(&self, id: &str) -> Result<PathBuf, SolveError> {
        let dir = self.store.root().join("cache-mounts").join(crate::digest::Digest::of(id.as_bytes()).hex());
        std::fs::create_dir_all(&dir).map_err(|e| SolveError::io("create", &dir, e))?;
        Ok(dir)
    }
}

/// `64m`, `1g`, `4096` (bytes).
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let factor = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}
