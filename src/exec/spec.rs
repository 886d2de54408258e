//! What a container runs: the spec the parent hands to `strata __init`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A process to run in a fresh set of namespaces on a mounted root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The root filesystem (already mounted).
    pub root: PathBuf,
    /// The command and its arguments; `argv[0]` is looked up in the container's `PATH` when it has no `/`.
    pub argv: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// `user[:group]`, names or numbers (resolved in the container's /etc).
    pub user: Option<String>,
    /// Absolute working directory inside the container; created if missing.
    pub workdir: String,
    /// Set in the container's own UTS namespace; chosen by the caller (the build step or `strata run`).
    pub hostname: String,
    /// Which network namespace the container gets.
    pub network: NetworkMode,
    /// Host paths bind-mounted into the container (never committed).
    pub binds: Vec<Bind>,
    /// tmpfs mounts (`RUN --mount=type=tmpfs`).
    pub tmpfs: Vec<Tmpfs>,
    /// `cgroup.procs` files the container joins before it starts anything.
    #[serde(default)]
    pub cgroup_procs: Vec<PathBuf>,
    /// All capabilities, no seccomp filter, nothing masked, /sys writable
    /// (`RUN --security=insecure`, `strata run --privileged`).
    #[serde(default)]
    pub privileged: bool,
    /// Capabilities beyond Docker's default set (`strata run --cap-add`).
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// Capabilities taken from it (`strata run --cap-drop`).
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// Namespaces (the sandbox) or chroot isolation: the process's choice
    /// ([`super::isolation::current`]).
    #[serde(default)]
    pub isolation: super::Isolation,
}

/// What runs in a container: the command line and who runs it where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// The command and its arguments (`RUN`'s shell form already wrapped in the shell).
    pub argv: Vec<String>,
    /// `KEY=value` entries; BuildKit's default PATH is added when missing.
    pub env: Vec<String>,
    /// `user[:group]`, names or numbers (the image's `USER`); `None`: root.
    pub user: Option<String>,
    /// Absolute working directory inside the container (the image's `WORKDIR`).
    pub workdir: String,
}

impl ContainerSpec {
    /// The one place a spec is assembled (RUN steps and `strata run`):
    /// `process` on `root`, confined (no extra mounts, capabilities or
    /// privilege; callers add theirs with struct update syntax).
    pub fn new(root: PathBuf, process: Process, hostname: &str, network: NetworkMode) -> ContainerSpec {
        let Process { argv, mut env, user, workdir } = process;
        super::ensure_path(&mut env);
        ContainerSpec {
            root,
            argv,
            env,
            user,
            workdir,
            hostname: hostname.to_owned(),
            network,
            binds: Vec::new(),
            tmpfs: Vec::new(),
            cgroup_procs: Vec::new(),
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            isolation: super::isolation::current(),
        }
    }
}

/// A spec the kernel could not be given as it is.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// C strings end at a NUL byte: the value would be cut short.
    #[error("{0} contains a NUL byte")]
    Nul(String),
}

impl ContainerSpec {
    /// Refuses arguments, environment entries, user, working directory or
    /// hostname with a NUL byte, which `execve` and friends would cut
    /// short (running something other than what was asked).
    pub fn check(&self) -> Result<(), SpecError> {
        let nul = |text: &str| text.contains('\0');
        if let Some(n) = self.argv.iter().position(|a| nul(a)) {
            return Err(SpecError::Nul(format!("argument {} of the command ({:?})", n + 1, self.argv[n])));
        }
        if let Some(entry) = self.env.iter().find(|e| nul(e)) {
            let name = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
            return Err(SpecError::Nul(format!("environment variable {name:?}")));
        }
        for (what, text) in [("the user", self.user.as_deref().unwrap_or("")), ("the working directory", &self.workdir), ("the hostname", &self.hostname)] {
            if nul(text) {
                return Err(SpecError::Nul(format!("{what} {text:?}")));
            }
        }
        Ok(())
    }
}

/// The network a container gets (`RUN --network`, `strata run --network`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// The host's network (`--network=host`, an entitlement for builds).
    Host,
    /// A new network namespace with only loopback.
    None,
    /// An existing namespace (`/proc/PID/ns/net`) behind a user-space NAT:
    /// see [`super::network`].
    Join(PathBuf),
}

/// A host path bind-mounted into the container; its content is never committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// The host path (file or directory).
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
    /// Mounted read-only inside the container.
    pub read_only: bool,
}

/// A tmpfs mounted in the container (`RUN --mount=type=tmpfs`); its content is never committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tmpfs {
    /// Absolute path inside the container.
    pub target: String,
    /// Bytes; `None`: the kernel's default.
    pub size: Option<u64>,
}
