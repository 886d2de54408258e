//! What a container runs: the spec the parent hands to `strata __init`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A process to run in a fresh set of namespaces on a mounted root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The root filesystem (already mounted).
    pub root: PathBuf,
    pub argv: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// `user[:group]`, names or numbers (resolved in the container's /etc).
    pub user: Option<String>,
    pub workdir: String,
    pub hostname: String,
    pub network: NetworkMode,
    /// Host paths bind-mounted into the container (never committed).
    pub binds: Vec<Bind>,
    /// tmpfs mounts (`RUN --mount=type=tmpfs`).
    pub tmpfs: Vec<Tmpfs>,
    /// `cgroup.procs` files the container joins before it starts anything.
    #[serde(default)]
    pub cgroup_procs: Vec<PathBuf>,
}

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tmpfs {
    pub target: String,
    /// Bytes; `None`: the kernel's default.
    pub size: Option<u64>,
}
