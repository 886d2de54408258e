//! Which isolation containers get: namespaces (the default, as root or in
//! a user namespace) or, where not even a user namespace can be made
//! (a container under Docker's default seccomp profile, which refuses
//! `unshare(CLONE_NEWUSER)`), chroot isolation — Kaniko's and Buildah's
//! `--isolation chroot` model: each RUN chrooted into a copy of its root
//! (see `chroot.rs`). The choice is made once, at start-up, for the whole
//! process, and travels to `strata __init` in the container spec.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::spec::{ContainerSpec, NetworkMode};

/// `CAP_SYS_CHROOT`'s bit in `/proc/self/status`'s `CapEff`.
const CAP_SYS_CHROOT: u32 = 18;

/// How a container is isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Isolation {
    /// Mount, PID, UTS, IPC, cgroup (and network) namespaces, pivot_root,
    /// masked paths, capabilities and seccomp: the sandbox.
    #[default]
    Namespaces,
    /// `chroot` into the root, nothing else: see [`CHROOT_WARNING`].
    Chroot,
}

static CURRENT: OnceLock<Isolation> = OnceLock::new();

/// The isolation this process gives its containers.
pub fn current() -> Isolation {
    CURRENT.get().copied().unwrap_or_default()
}

/// Makes this process use chroot isolation (before anything is built).
pub fn use_chroot() {
    let _ = CURRENT.set(Isolation::Chroot);
}

/// Whether this process may use chroot isolation: it must hold
/// `CAP_SYS_CHROOT` (root in a container has it in Docker's default set).
pub fn chroot_allowed() -> bool {
    fs_err::read_to_string("/proc/self/status").is_ok_and(|status| super::userns::has_capability(&status, CAP_SYS_CHROOT))
}

/// What a build's first lines say under chroot isolation.
pub const CHROOT_WARNING: &str = "\
strata: WARNING: CHROOT ISOLATION. No user namespace can be made here, so each RUN runs as this \
container's root, chrooted into a copy of its root filesystem (the native snapshotter), with \
Docker's default capabilities less CAP_SYS_CHROOT. There is no mount, PID, network, IPC or UTS \
namespace, no seccomp profile of strata's own, no /proc, /sys or /dev/pts, and RUN uses this \
container's own network. It does NOT protect this container — its processes, its network, its \
files outside the step's root — from a hostile Dockerfile: build only Dockerfiles you trust, or \
allow user namespaces (`--security-opt seccomp=unconfined --security-opt apparmor=unconfined`, \
see docs/kubernetes.md).";

/// Why `spec` cannot run under chroot isolation, if it cannot.
pub fn chroot_refusal(spec: &ContainerSpec) -> Option<String> {
    match &spec.network {
        NetworkMode::None => Some("--network=none cannot be honoured with chroot isolation (no network namespace can be made): RUN shares this container's network; drop --network=none, or allow user namespaces".into()),
        NetworkMode::Join(_) => Some("a private network needs a network namespace, which chroot isolation cannot make".into()),
        NetworkMode::Host => None,
    }
}
