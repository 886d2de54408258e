//! Filesystems and containers for build steps: overlay mounts of a stack of
//! snapshots with a fresh upper directory (whose contents become the step's
//! layer) or, where overlayfs cannot be mounted, a copy of the stack whose
//! changes are diffed into the same form; and containers — a process in
//! its own mount, PID, UTS, IPC, cgroup (and optionally network)
//! namespaces, pivoted into such a root and confined (`sandbox.rs`).
//! For rootless strata, the user namespace it re-executes itself in
//! (`userns.rs`); where not even that can be made, chroot isolation
//! (`isolation.rs`, `chroot.rs`). Knows nothing of Dockerfiles, the cache or the store's layout. All
//! syscalls are in `sys.rs`.

mod binfmt;
mod cgroup;
mod chroot;
mod container;
mod forward;
pub mod fuse;
pub mod init;
pub mod isolation;
mod native;
pub mod network;
mod overlay;
pub mod sandbox;
mod seccomp;
mod snapshotter;
mod spec;
mod subid;
// The one module allowed raw syscalls and `unsafe`; it wraps each call safely.
#[allow(unsafe_code)]
mod sys;
mod user;
pub mod userns;

pub use binfmt::{emulator, emulator_in, qemu_architecture, EmulationError, Emulator, BINFMT_DIR};
pub use cgroup::{Cgroup, ChildUsage, Limits, Usage};
pub use container::{ensure_path, host_network_files, remove_mount_points, Runtime, DEFAULT_PATH};
pub use forward::SocketForward;
pub use isolation::Isolation;
pub use native::{Copied, RootfsCopy};
pub use network::{dns_files, nat_resolv_conf, NetworkError, PrivateNetwork};
pub use overlay::{Mounted, RootfsMount};
pub use snapshotter::{Rootfs, Snapshotter};
pub use spec::{Bind, ContainerSpec, NetworkMode, Process, SpecError, Tmpfs};
pub use sys::private_mount_namespace;
pub use user::{resolve_user, User};

/// `program` in `PATH`, as a shell would find it: the first executable
/// file of that name. One rule for every helper strata runs.
fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| fs_err::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}
