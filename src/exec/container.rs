//! Running a container from the parent's side: start `strata __init` with
//! the spec, stream its output line by line, return its exit code; and
//! after the root is unmounted, take the mount points the container needed
//! back out of the upper directory so they are never committed.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use super::spec::{Bind, ContainerSpec};

/// The PATH a container gets when its environment has none (BuildKit's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The host's DNS files, bound read-only so RUN and `strata run` resolve
/// names as the host does.
pub fn host_network_files() -> Vec<Bind> {
    ["/etc/resolv.conf", "/etc/hosts"]
        .into_iter()
        .filter(|file| Path::new(file).exists())
        .map(|file| Bind { source: PathBuf::from(file), target: file.into(), read_only: true })
        .collect()
}

/// Puts BuildKit's default PATH first when `env` (`KEY=value`) has none.
pub fn ensure_path(env: &mut Vec<String>) {
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
}

/// The mount points every container has.
const SYSTEM_MOUNT_POINTS: [&str; 3] = ["proc", "dev", "sys"];

/// Starts containers by running `<init> __init`.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// A strata binary (the running one unless a test says otherwise).
    pub init: PathBuf,
    running: Arc<Mutex<Running>>,
}

/// The containers started and not yet waited for.
#[derive(Debug, Default)]
struct Running {
    pids: BTreeSet<u32>,
    stopped: bool,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new(PathBuf::from("/proc/self/exe"))
    }
}

impl Runtime {
    /// A runtime whose containers start as `init __init SPEC`.
    pub fn new(init: PathBuf) -> Runtime {
        Runtime { init, running: Arc::default() }
    }

    /// Runs `spec` to completion; each output line (stdout and stderr, in
    /// the order written) goes to `log`. Returns the exit code.
    /// Build containers get their own process group: a Ctrl-C at the
    /// terminal reaches strata alone, which then stops them ([`Runtime::stop`]).
    pub fn run(&self, spec: &ContainerSpec, log: &mut dyn FnMut(&str)) -> io::Result<i32> {
        let mut command = self.init_command(spec)?;
        let (reader, writer) = nix::unistd::pipe()?;
        command.stdin(Stdio::null()).stdout(Stdio::from(writer.try_clone()?)).stderr(Stdio::from(writer));
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if running.stopped {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
            }
            let child = command.spawn()?;
            running.pids.insert(child.id());
            child
        };
        // With the command go our copies of the pipe's write end: the read
        // end then sees EOF when the container's last process exits.
        drop(command);
        let read = read_lines(reader, log);
        let status = child.wait();
        self.running.lock().unwrap_or_else(|e| e.into_inner()).pids.remove(&child.id());
        read?;
        exit_code(status?)
    }

    /// Kills every running container (its init; the kernel then ends the
    /// rest of its PID namespace) and refuses to start new ones.
    pub fn stop(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.stopped = true;
        for pid in &running.pids {
            if let Ok(pid) = i32::try_from(*pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }

    /// Runs `spec` with this process's standard input, output and error
    /// (`strata run`); returns the exit code.
    ///
    /// The container shares the terminal's process group, so SIGINT and
    /// SIGQUIT from the terminal reach it directly; strata outlives them (to clean up after
    /// it) and passes on SIGTERM and SIGHUP, which are addressed to strata.
    pub fn run_attached(&self, spec: &ContainerSpec) -> io::Result<i32> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        let mut command = self.init_command(spec)?;
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGQUIT, SIGTERM, SIGHUP])?;
        let handle = signals.handle();
        let mut child = command.spawn()?;
        drop(command);
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
        let forwarder = std::thread::spawn(move || {
            for signal in signals.forever().filter(|s| [SIGTERM, SIGHUP].contains(s)) {
                if let Ok(signal) = nix::sys::signal::Signal::try_from(signal) {
                    let _ = nix::sys::signal::kill(pid, signal);
                }
            }
        });
        let status = child.wait();
        handle.close();
        let _ = forwarder.join();
        exit_code(status?)
    }

    /// `strata __init` with nothing of this process: an empty environment,
    /// `strata` as its name, and the spec on descriptor [`SPEC_FD`] (a
    /// memfd, never a file on disk: it may hold secrets), so that the
    /// container's /proc/1/cmdline and /proc/1/environ show nothing of
    /// the host.
    fn init_command(&self, spec: &ContainerSpec) -> io::Result<Command> {
        spec.check().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let memfd = rustix::fs::memfd_create("strata-spec", rustix::fs::MemfdFlags::CLOEXEC)?;
        // Above stdio: with a closed stdin the memfd could be descriptor 0,
        // which the child's stdio set-up would replace before it is passed on.
        let memfd = rustix::io::fcntl_dupfd_cloexec(&memfd, SPEC_FD)?;
        let mut file = std::fs::File::from(memfd);
        std::io::Write::write_all(&mut file, &serde_json::to_vec(spec).map_err(io::Error::other)?)?;
        std::io::Seek::rewind(&mut file)?;
        let mut command = Command::new(&self.init);
        std::os::unix::process::CommandExt::arg0(&mut command, "strata");
        command.arg("__init").env_clear();
        super::sys::pass_fd(&mut command, file.into(), SPEC_FD);
        Ok(command)
    }
}

/// The descriptor on which `strata __init` reads its spec.
pub const SPEC_FD: i32 = 3;

fn exit_code(status: std::process::ExitStatus) -> io::Result<i32> {
    use std::os::unix::process::ExitStatusExt;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

fn read_lines(reader: OwnedFd, log: &mut dyn FnMut(&str)) -> io::Result<()> {
    let mut lines = BufReader::new(std::fs::File::from(reader));
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        log(text.trim_end_matches(['\n', '\r']));
    }
}

/// Removes from `upper` what exists only because the container needed a
/// mount point there (`/proc`, `/dev`, `/sys`, bind targets): an empty
/// directory or file that no lower layer has. Then prunes the directories
/// that held them if they are now empty copies of a lower directory.
///
/// Each target is resolved through the symlinks of the layers, as the
/// container's init resolved it when it made the mount point: with an image
/// whose `/etc` is a link to `private/etc`, `/etc/hosts` was made as
/// `private/etc/hosts`.
pub fn remove_mount_points(upper: &Path, lowers: &[PathBuf], spec: &ContainerSpec) -> io::Result<()> {
    let binds = spec.binds.iter().map(|b| b.target.as_str()).chain(spec.tmpfs.iter().map(|t| t.target.as_str()));
    let mut stack = vec![upper.to_path_buf()];
    stack.extend(lowers.iter().rev().cloned());
    let targets = SYSTEM_MOUNT_POINTS.iter().copied().chain(binds).filter_map(|t| resolve_in_layers(&stack, t));
    for target in targets {
        let path = upper.join(&target);
        let Ok(meta) = fs_err::symlink_metadata(&path) else { continue };
        let in_lower = lowers.iter().any(|l| fs_err::symlink_metadata(l.join(&target)).is_ok());
        let empty = if meta.is_dir() { fs_err::read_dir(&path)?.next().is_none() } else { meta.is_file() && meta.len() == 0 };
        if in_lower || !empty {
            continue;
        }
        if meta.is_dir() {
            fs_err::remove_dir(&path)?;
        } else {
            fs_err::remove_file(&path)?;
        }
        prune_copied_up_parents(upper, lowers, &target)?;
    }
    Ok(())
}

/// `path` relative to the root of a stack of layer directories (topmost
/// first) with every symlink on the way resolved as inside that root
/// (absolute links from the root, `..` never above it); the last
/// component is not followed. `None` past 40 links, like the kernel.
fn resolve_in_layers(stack: &[PathBuf], path: &str) -> Option<PathBuf> {
    let mut pending = reversed_names(Path::new(path));
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(name) = pending.pop() {
        if name == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&name);
        let link = if pending.is_empty() { None } else { layer_link(stack, &candidate) };
        let Some(target) = link else {
            resolved = candidate;
            continue;
        };
        links += 1;
        if links > 40 {
            return None;
        }
        if target.is_absolute() {
            resolved = PathBuf::new();
        }
        pending.extend(reversed_names(&target));
    }
    Some(resolved)
}

/// The names and `..` of `path`, last first (a stack to pop).
fn reversed_names(path: &Path) -> Vec<std::ffi::OsString> {
    use std::path::Component;
    let names = path.components().filter_map(|c| match c {
        Component::Normal(name) => Some(name.to_owned()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    });
    names.rev().collect()
}

/// The target of `rel` when the topmost layer that has it holds a symlink.
fn layer_link(stack: &[PathBuf], rel: &Path) -> Option<PathBuf> {
    let meta = stack.iter().find_map(|layer| fs_err::symlink_metadata(layer.join(rel)).ok().map(|m| (layer, m)))?;
    if !meta.1.file_type().is_symlink() {
        return None;
    }
    fs_err::read_link(meta.0.join(rel)).ok()
}

fn prune_copied_up_parents(upper: &Path, lowers: &[PathBuf], target: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut dir = target.parent();
    while let Some(rel) = dir.filter(|d| !d.as_os_str().is_empty()) {
        let path = upper.join(rel);
        let Ok(meta) = fs_err::symlink_metadata(&path) else { return Ok(()) };
        if !meta.is_dir() || fs_err::read_dir(&path)?.next().is_some() {
            return Ok(());
        }
        let lower = lowers.iter().rev().find_map(|l| fs_err::symlink_metadata(l.join(rel)).ok());
        // A directory no lower layer has was made only to hold the mount
        // point (`/run/secrets`); one a lower layer has must be an
        // unchanged copy-up to go.
        let same = lower.is_none_or(|l| l.is_dir() && l.mode() == meta.mode() && l.uid() == meta.uid() && l.gid() == meta.gid());
        let opaque = xattr::get(&path, crate::layer::opaque_xattr()).ok().flatten().is_some();
        if !same || opaque {
            return Ok(());
        }
        fs_err::remove_dir(&path)?;
        dir = rel.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with_binds(targets: &[&str]) -> ContainerSpec {
        ContainerSpec {
            root: PathBuf::new(),
            argv: vec!["true".into()],
            env: Vec::new(),
            user: None,
            workdir: "/".into(),
            hostname: "h".into(),
            network: super::super::NetworkMode::None,
            binds: targets.iter().map(|t| Bind { source: PathBuf::from("/dev/null"), target: (*t).into(), read_only: true }).collect(),
            tmpfs: Vec::new(),
            cgroup_procs: Vec::new(),
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            isolation: super::super::Isolation::Namespaces,
        }
    }

    #[test]
    fn mount_points_under_a_symlinked_etc_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (lower, upper) = (dir.path().join("lower"), dir.path().join("upper"));
        fs_err::create_dir_all(lower.join("private/etc")).unwrap();
        fs_err::write(lower.join("private/etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("private/etc", lower.join("etc")).unwrap();
        std::os::unix::fs::symlink("/private/../private", lower.join("p")).unwrap();
        // What the init made: the placeholders where the links lead.
        fs_err::create_dir_all(upper.join("private/etc")).unwrap();
        for file in ["hosts", "resolv.conf", "hostname", "kept"] {
            fs_err::write(upper.join("private/etc").join(file), "").unwrap();
        }
        fs_err::write(upper.join("private/etc/written"), "data").unwrap();
        let spec = spec_with_binds(&["/etc/hosts", "/etc/resolv.conf", "/p/etc/hostname", "/etc/written"]);
        remove_mount_points(&upper, &[lower], &spec).unwrap();
        let left: Vec<String> = fs_err::read_dir(upper.join("private/etc")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        let mut left = left;
        left.sort();
        assert_eq!(left, ["kept", "written"]);
    }

    #[test]
    fn link_loops_resolve_to_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        assert_eq!(resolve_in_layers(&[dir.path().to_path_buf()], "/a/hosts"), None);
        assert_eq!(resolve_in_layers(&[dir.path().to_path_buf()], "/../x/y"), Some(PathBuf::from("x/y")));
    }
}
