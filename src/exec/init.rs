//! `strata __init`: the process that becomes a container. The parent
//! starts it with an empty environment and a [`ContainerSpec`] on
//! descriptor 3; it joins the step's cgroup, enters new namespaces (a
//! cgroup namespace among them), forks the container's PID 1, which mounts
//! /proc, /dev, /sys and the bind mounts, pivots into the root, masks what
//! the container must not see, confines itself ([`super::sandbox`]) and
//! runs the command as its own child while it reaps zombies and forwards
//! signals.
//!
//! It must be a freshly exec'd process: `unshare` of a mount or PID
//! namespace is refused to a multi-threaded process, and the forks here
//! rely on there being no other threads.

use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::sandbox;
use super::spec::{ContainerSpec, NetworkMode};
use super::sys;
use super::user::{resolve_user, User};

/// Exit code when the container could not be set up (as `env` uses).
const SETUP_FAILED: i32 = 125;
/// Exit code when the command could not be executed.
const EXEC_FAILED: i32 = 127;

/// Entry point of `strata __init`; returns the exit code.
pub fn main() -> i32 {
    let spec: ContainerSpec = match read_spec().map(|bytes| serde_json::from_slice(&bytes)) {
        Ok(Ok(spec)) => spec,
        Ok(Err(e)) => return fail(&format!("container setup: bad container spec: {e}")),
        Err(e) => return fail(&format!("container setup: cannot read the container spec: {e}")),
    };
    let outcome = match spec.isolation {
        super::Isolation::Namespaces => outer(&spec),
        super::Isolation::Chroot => super::chroot::run(&spec),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => fail(&e.to_string()),
    }
}

/// The spec from descriptor [`super::container::SPEC_FD`], which is then closed.
fn read_spec() -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::from(sys::inherited_fd(super::container::SPEC_FD)?).read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub(super) fn fail(message: &str) -> i32 {
    eprintln!("strata: {message}");
    SETUP_FAILED
}

/// Outside the new PID namespace: unshare, fork PID 1, wait for it.
fn outer(spec: &ContainerSpec) -> io::Result<i32> {
    // Die with the build that started us.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    // Join the step's cgroup before forking: every process of the
    // container is then accounted and limited.
    for procs in &spec.cgroup_procs {
        fs_err::write(procs, std::process::id().to_string()).map_err(context("join the cgroup"))?;
    }
    // After joining: the step's cgroup becomes the root the container sees.
    sys::unshare_cgroup_namespace().map_err(context("enter a cgroup namespace"))?;
    if let NetworkMode::Join(netns) = &spec.network {
        sys::join_network(netns).map_err(context("join the network namespace"))?;
    }
    sys::unshare_namespaces(spec.network == NetworkMode::None)?;
    match sys::fork_process()? {
        Some(pid1) => wait_for(pid1),
        None => {
            let code = match pid1(spec) {
                Ok(code) => code,
                Err(e) => fail(&e.to_string()),
            };
            std::process::exit(code)
        }
    }
}

/// PID 1 of the container.
fn pid1(spec: &ContainerSpec) -> io::Result<i32> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    sys::make_mounts_private().map_err(context("make mounts private"))?;
    if spec.network == NetworkMode::None {
        sys::loopback_up().map_err(context("bring up loopback"))?;
    }
    nix::unistd::sethostname(&spec.hostname).map_err(|e| context("set the hostname")(e.into()))?;
    mount_system(spec)?;
    sys::pivot_into(&spec.root).map_err(context("pivot into the root"))?;
    if !spec.privileged {
        // Devices made in the container can never be opened from the root.
        sys::remount_bind(Path::new("/"), false).map_err(context("mount the root nodev"))?;
        sandbox::mask_paths()?;
    }
    let user = resolve_user(spec.user.as_deref(), Path::new("/etc")).map_err(|e| switch_user_error(spec, e))?;
    // Keeps the container's processes out of /proc/1 (its memory, exe,
    // descriptors) and this process's children out of each other until
    // they exec.
    nix::sys::prctl::set_dumpable(false).map_err(|e| context("make the init undumpable")(e.into()))?;
    if !spec.privileged {
        sandbox::confine(spec)?;
    }
    // Signals are taken with sigwait below; the command gets them back.
    let forwarded = forwarded_signals();
    forwarded.thread_block()?;
    match sys::fork_process()? {
        None => {
            forwarded.thread_unblock()?;
            let (message, code) = exec_command(spec, &user);
            eprintln!("strata: {message}");
            std::process::exit(code)
        }
        Some(command) => supervise(command, &forwarded),
    }
}

fn switch_user_error(spec: &ContainerSpec, error: io::Error) -> io::Error {
    let user = spec.user.as_deref().filter(|u| !u.is_empty()).unwrap_or("root");
    io::Error::new(error.kind(), format!("cannot switch to user {user:?}: {error}"))
}

/// Names the setup step an error comes from.
pub(super) fn context(what: &str) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("container setup: {what}: {e}"))
}

fn forwarded_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2] {
        set.add(signal);
    }
    set
}

/// Reaps every exited process (orphans end up here) and forwards signals
/// to the command until the command exits.
fn supervise(command: Pid, signals: &SigSet) -> io::Result<i32> {
    loop {
        let signal = signals.wait()?;
        if signal != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(command, signal);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == command => return Ok(code),
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid == command => return Ok(128 + signal as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

pub(super) fn wait_for(pid: Pid) -> io::Result<i32> {
    loop {
        match waitpid(pid, None)? {
            WaitStatus::Exited(_, code) => return Ok(code),
            WaitStatus::Signaled(_, signal, _) => return Ok(128 + signal as i32),
            _ => continue,
        }
    }
}

/// Sets the user, working directory and environment, then executes the
/// command; returns only on failure, with the message and exit code that
/// name the step that failed (125 for the setup, 127 for the execve).
pub(super) fn exec_command(spec: &ContainerSpec, user: &User) -> (String, i32) {
    let workdir = |e: io::Error| format!("cannot enter the working directory {:?}: {e}", spec.workdir);
    if let Err(e) = fs_err::create_dir_all(&spec.workdir) {
        return (workdir(e), SETUP_FAILED);
    }
    if let Err(e) = switch_user(user) {
        return (switch_user_error(spec, e).to_string(), SETUP_FAILED);
    }
    if let Err(e) = std::env::set_current_dir(&spec.workdir) {
        return (workdir(e), SETUP_FAILED);
    }
    let (argv, env) = match c_strings(spec, user) {
        Ok(strings) => strings,
        Err(e) => return (format!("cannot set the environment: {e}"), SETUP_FAILED),
    };
    let program = spec.argv.first().map(String::as_str).unwrap_or("");
    let Some(file) = argv.first() else { return ("cannot run an empty command".into(), EXEC_FAILED) };
    // execvpe searches the PATH of this process: make it the container's.
    let path = spec.env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(super::DEFAULT_PATH);
    std::env::set_var("PATH", path);
    let error = match nix::unistd::execvpe(file, &argv, &env) {
        Ok(never) => match never {},
        Err(errno) => io::Error::from(errno),
    };
    (format!("cannot run {program:?}: {error}"), EXEC_FAILED)
}

fn switch_user(user: &User) -> io::Result<()> {
    match nix::unistd::setgroups(&user.groups) {
        // A user namespace mapped without subordinate ids forbids
        // setgroups (as runc's rootless mode, the groups stay as they are).
        Err(nix::errno::Errno::EPERM) if setgroups_denied() => {}
        other => other?,
    }
    nix::unistd::setgid(user.gid)?;
    nix::unistd::setuid(user.uid)?;
    Ok(())
}

fn setgroups_denied() -> bool {
    fs_err::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// The command and environment as C strings; a NUL byte (which the parent
/// refuses before it starts the container) is an error, never dropped.
///
/// As runc does, a command whose environment names no `HOME` gets the
/// user's home directory from the container's /etc/passwd (`/` when the
/// user has no entry).
fn c_strings(spec: &ContainerSpec, user: &User) -> io::Result<(Vec<CString>, Vec<CString>)> {
    let convert = |items: &[String]| -> io::Result<Vec<CString>> {
        items.iter().map(|s| CString::new(s.as_str()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))).collect()
    };
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    Ok((convert(&spec.argv)?, convert(&env)?))
}

/// /proc, a minimal /dev, a read-only /sys, the bind and tmpfs mounts —
/// every target resolved inside the root, so a symlink in the image can
/// never point a mount at the host.
fn mount_system(spec: &ContainerSpec) -> io::Result<()> {
    let root = rustix::fs::open(&spec.root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let nosuid = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    sys::mount_fs("proc", &fd_path(&target(&root, "proc", Kind::Dir)?), nosuid, None).map_err(context("mount /proc"))?;
    let dev = target(&root, "dev", Kind::Dir)?;
    sys::mount_fs("tmpfs", &fd_path(&dev), MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME, Some("mode=755,size=65536k"))
        .map_err(context("mount /dev"))?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let file = target(&root, &format!("dev/{node}"), Kind::File)?;
        sys::bind_mount(&Path::new("/dev").join(node), &fd_path(&file)).map_err(context("bind a device"))?;
    }
    let pts = target(&root, "dev/pts", Kind::Dir)?;
    sys::mount_fs("devpts", &fd_path(&pts), MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some("newinstance,ptmxmode=0666,mode=0620"))
        .map_err(context("mount /dev/pts"))?;
    let shm = target(&root, "dev/shm", Kind::Dir)?;
    sys::mount_fs("tmpfs", &fd_path(&shm), nosuid, Some("mode=1777,size=65536k")).map_err(context("mount /dev/shm"))?;
    // Resolved again: `dev` names the directory the tmpfs now covers.
    let dev_tmpfs = target(&root, "dev", Kind::Dir)?;
    let dev_dir = rustix::fs::openat(&dev_tmpfs, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    for (link, to) in
        [("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")]
    {
        rustix::fs::symlinkat(to, &dev_dir, link)?;
    }
    let read_only = if spec.privileged { MsFlags::empty() } else { MsFlags::MS_RDONLY };
    let sysfs = target(&root, "sys", Kind::Dir)?;
    sys::mount_fs("sysfs", &fd_path(&sysfs), nosuid | read_only, None).map_err(context("mount /sys"))?;
    // Only on a cgroup v2 host: the namespace's root is then the step's own
    // cgroup (v1 hierarchies are not shown, as Docker's v1 mounts are not).
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let cgroup = target(&root, "sys/fs/cgroup", Kind::Dir)?;
        sys::mount_fs("cgroup2", &fd_path(&cgroup), nosuid | read_only, None).map_err(context("mount /sys/fs/cgroup"))?;
    }
    for bind in &spec.binds {
        let kind = if bind.source.is_dir() { Kind::Dir } else { Kind::File };
        let rel = bind.target.trim_start_matches('/');
        let at = target(&root, rel, kind)?;
        sys::bind_mount(&bind.source, &fd_path(&at)).map_err(context("bind mount"))?;
        if bind.read_only || !spec.privileged {
            // Resolved again: the old descriptor names what the mount covers.
            let mounted = target(&root, rel, kind)?;
            sys::remount_bind(&fd_path(&mounted), bind.read_only).map_err(context("remount a bind mount"))?;
        }
    }
    for tmpfs in &spec.tmpfs {
        let at = target(&root, tmpfs.target.trim_start_matches('/'), Kind::Dir)?;
        let data = tmpfs.size.map(|s| format!("size={s}"));
        sys::mount_fs("tmpfs", &fd_path(&at), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, data.as_deref())?;
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Dir,
    File,
}

/// An `O_PATH` descriptor of `rel` inside `root` (symlinks resolved as if
/// `root` were `/`), created — with missing parents — when absent.
pub(super) fn target(root: &OwnedFd, rel: &str, kind: Kind) -> io::Result<OwnedFd> {
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let open = |path: &str, flags: OFlags| rustix::fs::openat2(root, path, flags | OFlags::CLOEXEC, Mode::empty(), resolve);
    match open(rel, OFlags::PATH) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    if !parent.is_empty() {
        target(root, parent, Kind::Dir)?;
    }
    let parent_fd = open(if parent.is_empty() { "." } else { parent }, OFlags::PATH | OFlags::DIRECTORY)?;
    let dir = rustix::fs::openat(&parent_fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    match kind {
        Kind::Dir => rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))?,
        Kind::File => {
            let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC;
            drop(rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(0o644))?);
        }
    }
    Ok(open(rel, OFlags::PATH)?)
}

/// The path the kernel resolves to the file behind `fd`.
pub(super) fn fd_path(fd: &OwnedFd) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
