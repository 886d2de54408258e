//! Rootless strata: when the process cannot mount (an ordinary user, or
//! root in a container without `CAP_SYS_ADMIN`), it re-executes itself in
//! a new user namespace, as rootlesskit and `podman unshare` do, so the
//! store, overlay mounts, snapshots and containers all live inside it.
//! Container uid 0 is the user, 1…65535 the user's subordinate range
//! (`/etc/subuid`, mapped by `newuidmap`); without a range only uid 0 is
//! mapped, with a warning. Also explains, with the fix, why a user
//! namespace could not be made.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::subid::{subordinate_range, IdRange};
use super::sys;

/// `CAP_SYS_ADMIN`'s bit in `/proc/self/status`'s `CapEff`.
const CAP_SYS_ADMIN: u32 = 21;

/// Why strata could not enter a user namespace.
#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    /// The kernel refused `unshare(CLONE_NEWUSER)`.
    #[error("cannot create a user namespace: {cause}\n{hint}")]
    Unshare {
        /// The kernel's answer.
        cause: std::io::Error,
        /// What is likely behind it, and the fix.
        hint: String,
    },
    /// `newuidmap`/`newgidmap` are not installed.
    #[error("{tool} not found: rootless strata maps the subordinate ids of {user} with it; install it (Debian/Ubuntu: `apt-get install uidmap`, Fedora: `dnf install shadow-utils`)")]
    NoUidmap {
        /// The missing program.
        tool: &'static str,
        /// The user whose ranges were to be mapped.
        user: String,
    },
    /// Writing the namespace's id maps failed.
    #[error("cannot map ids into the user namespace with {tool}: {reason}")]
    Map {
        /// The program or file that failed.
        tool: String,
        /// What it said.
        reason: String,
    },
    /// Fork, pipes or waiting failed.
    #[error("cannot start strata in a user namespace: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether this process lacks what building needs (mounting), so it must
/// re-execute itself in a user namespace. False inside that namespace.
pub fn needs_user_namespace() -> bool {
    !fs_err::read_to_string("/proc/self/status").is_ok_and(|status| has_capability(&status, CAP_SYS_ADMIN))
}

pub(super) fn has_capability(status: &str, bit: u32) -> bool {
    let effective = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(str::trim);
    effective.and_then(|hex| u64::from_str_radix(hex, 16).ok()).is_some_and(|caps| caps & (1 << bit) != 0)
}

/// Runs this strata command again inside a new user namespace with `root`
/// as its store, and returns its exit code.
pub fn reexec(root: &Path) -> Result<i32, UsernsError> {
    let program = std::env::current_exe()?;
    let plan = MapPlan::for_current_user()?;
    let (ready_read, ready_write) = sys::pipe()?;
    let (gate_read, gate_write) = sys::pipe()?;
    let Some(child) = sys::fork_process()? else {
        drop((ready_read, gate_write));
        std::process::exit(child_main(&program, root, ready_write, gate_read));
    };
    drop((ready_write, gate_read));
    let mut status = [0u8; 4];
    std::fs::File::from(ready_read).read_exact(&mut status)?;
    let errno = i32::from_le_bytes(status);
    if errno != 0 {
        let _ = nix::sys::wait::waitpid(child, None);
        let cause = std::io::Error::from_raw_os_error(errno);
        return Err(UsernsError::Unshare { hint: diagnose(&cause), cause });
    }
    plan.apply(child.as_raw())?;
    std::fs::File::from(gate_write).write_all(b"1")?;
    wait_exit_code(child)
}

/// The forked child: enters the namespace, waits for its maps, becomes
/// strata again. Returns only on failure (the exit code).
fn child_main(program: &Path, root: &Path, ready: std::os::fd::OwnedFd, gate: std::os::fd::OwnedFd) -> i32 {
    let errno = match sys::unshare_user_namespace() {
        Ok(()) => 0,
        Err(e) => e.raw_os_error().unwrap_or(nix::libc::EPERM),
    };
    let _ = std::fs::File::from(ready).write_all(&errno.to_le_bytes());
    let mut byte = [0u8; 1];
    if errno != 0 || std::fs::File::from(gate).read_exact(&mut byte).is_err() {
        return 1;
    }
    // A strata killed by a timeout must not leave its namespace running.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    let error = Command::new(program).args(std::env::args_os().skip(1)).env("STRATA_ROOT", root).exec();
    eprintln!("strata: cannot re-execute {} in the user namespace: {error}", program.display());
    127
}

fn wait_exit_code(child: nix::unistd::Pid) -> Result<i32, UsernsError> {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(child, None).map_err(std::io::Error::from)? {
            WaitStatus::Exited(_, code) => return Ok(code),
            WaitStatus::Signaled(_, signal, _) => return Ok(128 + signal as i32),
            _ => continue,
        }
    }
}

/// How the namespace's ids are mapped.
enum MapPlan {
    /// `newuidmap`/`newgidmap` with the user's subordinate ranges.
    Subordinate { uid: u32, gid: u32, uids: IdRange, gids: IdRange, tools: (PathBuf, PathBuf) },
    /// Written directly: the user alone (no ranges), or the identity of the
    /// first 65536 ids for root in a container (it holds CAP_SETUID).
    Direct { uid: u32, gid: u32, count: u32 },
}

impl MapPlan {
    fn for_current_user() -> Result<MapPlan, UsernsError> {
        let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
        if uid == 0 {
            return Ok(MapPlan::Direct { uid, gid, count: 65536 });
        }
        let name = nix::unistd::User::from_uid(uid.into()).ok().flatten().map(|u| u.name).unwrap_or_else(|| uid.to_string());
        let (uids, gids) = (subordinate_range(Path::new("/etc/subuid"), &name, uid), subordinate_range(Path::new("/etc/subgid"), &name, gid));
        let (Some(uids), Some(gids)) = (uids, gids) else {
            eprintln!(
                "strata: warning: {name} has no subordinate ids in /etc/subuid and /etc/subgid: only uid 0 is mapped, so `chown` to other users (and images whose files have other owners) will fail. Fix: `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}`"
            );
            return Ok(MapPlan::Direct { uid, gid, count: 1 });
        };
        let tools = (find_tool("newuidmap", &name)?, find_tool("newgidmap", &name)?);
        Ok(MapPlan::Subordinate { uid, gid, uids, gids, tools })
    }

    fn apply(&self, pid: i32) -> Result<(), UsernsError> {
        match self {
            MapPlan::Subordinate { uid, gid, uids, gids, tools } => {
                run_map_tool(&tools.0, pid, *uid, uids)?;
                run_map_tool(&tools.1, pid, *gid, gids)
            }
            MapPlan::Direct { uid, gid, count } => {
                let proc = PathBuf::from(format!("/proc/{pid}"));
                write_map(&proc.join("setgroups"), "deny")?;
                write_map(&proc.join("uid_map"), &format!("0 {uid} {count}"))?;
                write_map(&proc.join("gid_map"), &format!("0 {gid} {count}"))
            }
        }
    }
}

fn find_tool(tool: &'static str, user: &str) -> Result<PathBuf, UsernsError> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/bin", "/usr/sbin", "/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file()).ok_or(UsernsError::NoUidmap { tool, user: user.to_owned() })
}

/// `newuidmap PID 0 UID 1 1 START COUNT`: 0 is the user, the rest the range.
fn run_map_tool(tool: &Path, pid: i32, own: u32, range: &IdRange) -> Result<(), UsernsError> {
    let count = range.count.min(65535);
    let args = [pid.to_string(), "0".into(), own.to_string(), "1".into(), "1".into(), range.start.to_string(), count.to_string()];
    let output = Command::new(tool).args(&args).output().map_err(|e| UsernsError::Map { tool: tool.display().to_string(), reason: e.to_string() })?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let reason = format!("{said} ({}; is it installed setuid root or with cap_setuid? `apt-get install --reinstall uidmap`)", output.status);
    Err(UsernsError::Map { tool: tool.display().to_string(), reason })
}

fn write_map(path: &Path, map: &str) -> Result<(), UsernsError> {
    fs_err::write(path, map).map_err(|e| UsernsError::Map { tool: path.display().to_string(), reason: e.to_string() })
}

/// A line saying that this process runs rootless and how its ids are
/// mapped (from `/proc/self/uid_map`); `None` in the host's namespace.
pub fn describe() -> Option<String> {
    if !crate::layer::in_user_namespace() {
        return None;
    }
    let map = fs_err::read_to_string("/proc/self/uid_map").ok()?;
    let ranges: Vec<String> = map
        .lines()
        .filter_map(|l| {
            let f: Vec<u64> = l.split_whitespace().filter_map(|n| n.parse().ok()).collect();
            let [inside, outside, count] = f[..] else { return None };
            Some(if count == 1 {
                format!("{inside} → host {outside}")
            } else {
                format!("{inside}…{} → host {outside}…{}", inside + count - 1, outside + count - 1)
            })
        })
        .collect();
    Some(format!("rootless: a user namespace mapping uid {}", ranges.join(", ")))
}

/// Where this process keeps files that live only while it runs and never
/// belong on a disk (a RUN's spec, secrets, agent sockets): for a rootless
/// strata with `$XDG_RUNTIME_DIR` set (systemd's per-user tmpfs, private
/// to the user and emptied at logout and reboot), `$XDG_RUNTIME_DIR/strata`,
/// made mode 0700; else, or when it cannot be made, /dev/shm.
pub fn runtime_dir() -> PathBuf {
    let chosen = runtime_dir_for(crate::layer::in_user_namespace(), std::env::var_os("XDG_RUNTIME_DIR").as_deref());
    if chosen != Path::new(SHARED_RUNTIME_DIR) {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o700).create(&chosen) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(_) => return PathBuf::from(SHARED_RUNTIME_DIR),
        }
    }
    chosen
}

/// Memory every user may write in (mode 1777).
const SHARED_RUNTIME_DIR: &str = "/dev/shm";

fn runtime_dir_for(nested: bool, xdg: Option<&std::ffi::OsStr>) -> PathBuf {
    match xdg.map(Path::new) {
        Some(dir) if nested && dir.is_absolute() && dir.is_dir() => dir.join("strata"),
        _ => PathBuf::from(SHARED_RUNTIME_DIR),
    }
}

/// What is likely behind a refused user namespace (or a refused mount
/// inside one), with the fix.
pub fn diagnose(cause: &std::io::Error) -> String {
    diagnose_with(cause, &|path| fs_err::read_to_string(path).ok())
}

fn diagnose_with(cause: &std::io::Error, read: &dyn Fn(&str) -> Option<String>) -> String {
    let sysctl = |path: &str| read(path).map(|v| v.trim().to_owned());
    if sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0). Fix: `sudo sysctl -w kernel.unprivileged_userns_clone=1` (persist it in /etc/sysctl.d/)".into();
    }
    if sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1, Ubuntu ≥ 23.10). Fix: an AppArmor profile for strata with `userns,` (see the README's Rootless section), or `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`".into();
    }
    if sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") || cause.raw_os_error() == Some(nix::libc::ENOSPC) {
        return "no user namespaces are allowed (user.max_user_namespaces). Fix: `sudo sysctl -w user.max_user_namespaces=28633`".into();
    }
    "in a container, the default seccomp and AppArmor profiles forbid user namespaces and mounts: start it with `--security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined` (see docs/kubernetes.md)".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(files: &[(&str, &str)], errno: i32) -> String {
        let files: Vec<(String, String)> = files.iter().map(|(p, v)| (p.to_string(), v.to_string())).collect();
        diagnose_with(&std::io::Error::from_raw_os_error(errno), &|path| files.iter().find(|(p, _)| p == path).map(|(_, v)| v.clone()))
    }

    #[test]
    fn each_refusal_gets_its_fix() {
        assert!(hint(&[("/proc/sys/kernel/unprivileged_userns_clone", "0\n")], nix::libc::EPERM).contains("sysctl -w kernel.unprivileged_userns_clone=1"));
        let apparmor = hint(&[("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1\n")], nix::libc::EACCES);
        assert!(apparmor.contains("apparmor_restrict_unprivileged_userns=0"));
        assert!(hint(&[("/proc/sys/user/max_user_namespaces", "0\n")], nix::libc::EPERM).contains("user.max_user_namespaces"));
        assert!(hint(&[("/proc/sys/kernel/unprivileged_userns_clone", "1\n")], nix::libc::EPERM).contains("seccomp=unconfined"));
    }

    #[test]
    fn runtime_files_go_to_the_users_runtime_dir_when_rootless() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(runtime_dir_for(true, Some(dir.path().as_os_str())), dir.path().join("strata"));
        assert_eq!(runtime_dir_for(false, Some(dir.path().as_os_str())), Path::new("/dev/shm"));
        assert_eq!(runtime_dir_for(true, None), Path::new("/dev/shm"));
        assert_eq!(runtime_dir_for(true, Some("relative".as_ref())), Path::new("/dev/shm"));
        assert_eq!(runtime_dir_for(true, Some(dir.path().join("missing").as_os_str())), Path::new("/dev/shm"));
    }

    #[test]
    fn capabilities_are_read_from_status() {
        assert!(has_capability("Name:\tx\nCapEff:\t000001ffffffffff\n", CAP_SYS_ADMIN));
        assert!(!has_capability("CapEff:\t0000000000000000\n", CAP_SYS_ADMIN));
        assert!(!has_capability("CapEff:\tnot-hex\n", CAP_SYS_ADMIN));
        assert!(!has_capability("", CAP_SYS_ADMIN));
    }
}
