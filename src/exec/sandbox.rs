//! The confinement of every container that is not privileged, as BuildKit
//! and Docker give it (containerd's default spec): Docker's default
//! capability set, its seccomp profile ([`super::seccomp`]), its masked
//! and read-only paths under /proc and /sys. The container's PID 1 (strata's
//! init) confines itself after the mounts and before it starts the command,
//! so no process of the container keeps the host's full privileges.
//!
//! The inheritable set stays empty, as in Docker since 20.10.14 and
//! containerd since 1.6.1 (CVE-2022-24769): a non-root user cannot regain
//! capabilities through a file's inheritable capabilities.

use std::io;
use std::path::Path;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};

use super::spec::ContainerSpec;
use super::sys;

/// Docker's default capabilities (moby's `oci/caps/defaults.go`).
pub const DEFAULT_CAPABILITIES: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// Hidden from the container (containerd's and Docker's defaults): files
/// get /dev/null bound over them, directories an empty read-only tmpfs.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Visible but read-only.
pub const READ_ONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// A capability name `--cap-add` or `--cap-drop` did not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown capability {0:?} (expected a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL)")]
pub struct UnknownCapability(pub String);

/// `NET_ADMIN`, `cap_net_admin` or `CAP_NET_ADMIN`; `None` for `ALL`.
fn parse_capability(name: &str) -> Result<Option<Capability>, UnknownCapability> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    Capability::from_str(&full).map(Some).map_err(|_| UnknownCapability(name.to_owned()))
}

/// The capabilities of a container: Docker's default set, less `drop`,
/// plus `add` (either may say `ALL`), as `docker run --cap-add/--cap-drop`.
pub fn capabilities(add: &[String], drop: &[String]) -> Result<CapsHashSet, UnknownCapability> {
    let parse = |names: &[String]| -> Result<(bool, Vec<Capability>), UnknownCapability> {
        let parsed = names.iter().map(|n| parse_capability(n)).collect::<Result<Vec<_>, _>>()?;
        Ok((parsed.contains(&None), parsed.into_iter().flatten().collect()))
    };
    let ((add_all, add), (drop_all, drop)) = (parse(add)?, parse(drop)?);
    let mut set: CapsHashSet = if drop_all { CapsHashSet::new() } else { DEFAULT_CAPABILITIES.into_iter().collect() };
    if add_all {
        set = caps::all();
    }
    for cap in &drop {
        set.remove(cap);
    }
    set.extend(add);
    Ok(set)
}

/// Hides and write-protects what [`MASKED_PATHS`] and [`READ_ONLY_PATHS`]
/// name; paths this kernel lacks are skipped. Called after the pivot,
/// while the container's /dev/null is there to bind.
pub fn mask_paths() -> io::Result<()> {
    for path in MASKED_PATHS.map(Path::new) {
        let result = match fs_err::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => Err(e),
            Ok(meta) if meta.is_dir() => sys::mount_empty_read_only(path),
            Ok(_) => sys::bind_mount(Path::new("/dev/null"), path),
        };
        result.map_err(|e| io::Error::new(e.kind(), format!("container setup: mask {}: {e}", path.display())))?;
    }
    for path in READ_ONLY_PATHS.map(Path::new) {
        if fs_err::symlink_metadata(path).is_err() {
            continue;
        }
        sys::bind_read_only(path).map_err(|e| io::Error::new(e.kind(), format!("container setup: make {} read-only: {e}", path.display())))?;
    }
    Ok(())
}

/// Confines the calling process (and so whatever it forks): the bounding
/// set cut to the container's capabilities, the seccomp filters installed
/// while CAP_SYS_ADMIN is still held (no `no_new_privs`, as Docker), then
/// effective and permitted set to the container's capabilities and
/// inheritable and ambient emptied. Every call after the filters
/// (`capset`, `fork`, `setgroups`, `setuid`, `chdir`, `execve`, `wait4`,
/// `kill`, `rt_sigtimedwait`) is one the profile allows.
pub fn confine(spec: &ContainerSpec) -> io::Result<()> {
    let wanted = capabilities(&spec.cap_add, &spec.cap_drop).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let keep = bound(&wanted)?;
    for filter in super::seccomp::filters(&keep)? {
        sys::install_seccomp_filter(&filter).map_err(|e| io::Error::new(e.kind(), format!("container setup: install the seccomp filter: {e}")))?;
    }
    set_capabilities(&keep)
}

/// Cuts the calling process's capabilities to `wanted` (bounding,
/// effective and permitted sets; inheritable and ambient emptied), without
/// a seccomp filter: chroot isolation's command, which cannot install one.
pub fn limit_capabilities(wanted: &CapsHashSet) -> io::Result<()> {
    let keep = bound(wanted)?;
    set_capabilities(&keep)
}

fn failed(what: &'static str) -> impl Fn(caps::errors::CapsError) -> io::Error {
    move |e| io::Error::other(format!("container setup: {what}: {e}"))
}

/// Drops from the bounding set every capability not in `wanted`; returns
/// what is kept: only what this kernel knows (an older one refuses newer
/// capabilities) and this process holds (a capability cannot be given back).
fn bound(wanted: &CapsHashSet) -> io::Result<CapsHashSet> {
    let supported = caps::runtime::thread_all_supported();
    let held = caps::read(None, CapSet::Permitted).map_err(failed("read the capabilities"))?;
    let keep: CapsHashSet = wanted.iter().filter(|c| supported.contains(c) && held.contains(c)).copied().collect();
    for cap in supported.difference(&keep) {
        caps::drop(None, CapSet::Bounding, *cap).map_err(failed("drop a capability from the bounding set"))?;
    }
    Ok(keep)
}

fn set_capabilities(keep: &CapsHashSet) -> io::Result<()> {
    caps::clear(None, CapSet::Ambient).map_err(failed("clear the ambient capabilities"))?;
    caps::clear(None, CapSet::Inheritable).map_err(failed("clear the inheritable capabilities"))?;
    caps::set(None, CapSet::Effective, keep).map_err(failed("set the effective capabilities"))?;
    caps::set(None, CapSet::Permitted, keep).map_err(failed("set the permitted capabilities"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_drop_like_docker() {
        let default: CapsHashSet = DEFAULT_CAPABILITIES.into_iter().collect();
        assert_eq!(capabilities(&[], &[]).unwrap(), default);
        let added = capabilities(&["net_admin".into(), "CAP_SYS_PTRACE".into()], &["MKNOD".into()]).unwrap();
        assert!(added.contains(&Capability::CAP_NET_ADMIN) && added.contains(&Capability::CAP_SYS_PTRACE));
        assert!(!added.contains(&Capability::CAP_MKNOD));
        assert_eq!(capabilities(&["CHOWN".into()], &["ALL".into()]).unwrap(), [Capability::CAP_CHOWN].into_iter().collect());
        assert_eq!(capabilities(&["ALL".into()], &[]).unwrap(), caps::all());
        assert!(capabilities(&["FLY".into()], &[]).is_err());
        // The mask Docker's containers show in /proc/self/status.
        assert_eq!(default.iter().map(|c| c.bitmask()).fold(0, |a, b| a | b), 0xa80425fb);
    }
}
