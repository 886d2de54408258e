//! Chroot isolation's side of `strata __init` (see `isolation.rs`): no
//! namespace and no mount, so whatever a container needs in its root is
//! put there as files before the command and taken out after it, while
//! the init stays outside the root:
//! - `/dev/{null,zero,full,random,urandom,tty}`: device nodes (`mknod`,
//!   CAP_MKNOD), where the image has none;
//! - writable directory mounts (cache mounts, `rw` binds, which are
//!   throwaway copies): moved in with `rename` and moved back, so a cache
//!   keeps what the step wrote;
//! - read-only directory binds: copied in (read-only is not enforced);
//! - files (secrets, DNS files, `/etc/hostname`): copied in;
//! - tmpfs mounts: an empty directory (no size limit).
//!
//! What the image had at a target is set aside (renamed) and put back. A
//! target the image lacked is left as an empty placeholder, which the
//! caller removes from the changes as it removes mount points. Sockets
//! (`--mount=type=ssh`) cannot be moved across filesystems: refused.
//!
//! The command runs in a session of its own, chrooted, without
//! CAP_SYS_CHROOT (which would let it leave the chroot); what is left of
//! its session when it exits is killed.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::Signal;
use rustix::fs::{AtFlags, Mode, OFlags, Timestamps, CWD};

use super::init::{context, exec_command, fail, fd_path, target, wait_for, Kind};
use super::spec::ContainerSpec;
use super::sys;

/// The devices every container gets (as Docker's defaults).
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Where a step's private files are made (in memory) when possible: a
/// writable bind there is a throwaway copy, which may be copied again.
const PRIVATE_SCRATCH: &str = "/dev/shm";

/// What was put into the root, to take out again (last first).
enum Placed {
    Device {
        rel: String,
    },
    /// Moved in from `source`; moved back after.
    Moved {
        rel: String,
        source: PathBuf,
    },
    /// A copy (or empty tmpfs directory) of the given kind; removed after.
    Copy {
        rel: String,
        kind: Kind,
    },
    /// What the image had at `rel`, renamed to `aside` in the same directory.
    Aside {
        rel: String,
        aside: String,
    },
    /// The times of the image's directory `rel`, which placing and removing
    /// entries in it moved: put back, so the step's changes do not show it.
    Times {
        rel: String,
        times: Timestamps,
    },
}

/// Runs `spec` chrooted into its root; returns the command's exit code.
pub(super) fn run(spec: &ContainerSpec) -> io::Result<i32> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    if let Some(why) = super::isolation::chroot_refusal(spec) {
        return Err(io::Error::new(io::ErrorKind::Unsupported, why));
    }
    for procs in &spec.cgroup_procs {
        fs_err::write(procs, std::process::id().to_string())?;
    }
    let root = rustix::fs::open(&spec.root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let mut placed = Vec::new();
    let outcome = place(spec, &root, &mut placed).and_then(|()| run_command(spec));
    let undone = undo(spec, &root, placed);
    let code = outcome?;
    undone?;
    Ok(code)
}

fn place(spec: &ContainerSpec, root: &OwnedFd, placed: &mut Vec<Placed>) -> io::Result<()> {
    let mut parents: Vec<&str> = vec!["dev"];
    parents.extend(
        spec.binds
            .iter()
            .map(|b| b.target.as_str())
            .chain(spec.tmpfs.iter().map(|t| t.target.as_str()))
            .filter_map(|t| t.trim_start_matches('/').rsplit_once('/'))
            .map(|(parent, _)| parent),
    );
    parents.sort_unstable();
    parents.dedup();
    for rel in parents {
        keep_times(root, rel, placed)?;
    }
    for name in DEVICES {
        let rel = format!("dev/{name}");
        let Ok(host) = rustix::fs::stat(Path::new("/dev").join(name)) else { continue };
        let dev = target(root, "dev", Kind::Dir)?;
        let rdev = host.st_rdev;
        match rustix::fs::mknodat(&open_dir(&dev)?, name, rustix::fs::FileType::CharacterDevice, Mode::from_raw_mode(0o666), rdev) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(context(&format!("make /{rel}"))(e.into())),
        }
        rustix::fs::chmodat(&open_dir(&dev)?, name, Mode::from_raw_mode(0o666), AtFlags::empty())?;
        placed.push(Placed::Device { rel });
    }
    for (n, bind) in spec.binds.iter().enumerate() {
        let rel = bind.target.trim_start_matches('/').to_owned();
        set_aside(root, &rel, n, placed)?;
        placed.push(put_bind(spec, root, &rel, &bind.source, bind.read_only, n)?);
    }
    for (n, tmpfs) in spec.tmpfs.iter().enumerate() {
        let rel = tmpfs.target.trim_start_matches('/').to_owned();
        set_aside(root, &rel, spec.binds.len() + n, placed)?;
        let (parent, name) = parent_of(root, &rel)?;
        rustix::fs::mkdirat(&open_dir(&parent)?, name.as_str(), Mode::from_raw_mode(0o1777))?;
        placed.push(Placed::Copy { rel, kind: Kind::Dir });
    }
    Ok(())
}

/// Records the times of the directory `rel` when the image has it.
fn keep_times(root: &OwnedFd, rel: &str, placed: &mut Vec<Placed>) -> io::Result<()> {
    let resolve = rustix::fs::ResolveFlags::IN_ROOT | rustix::fs::ResolveFlags::NO_MAGICLINKS;
    let Ok(dir) = rustix::fs::openat2(root, rel, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), resolve) else { return Ok(()) };
    let stat = rustix::fs::fstat(&dir)?;
    let time = |sec: i64, nsec: u64| rustix::fs::Timespec { tv_sec: sec, tv_nsec: nsec.try_into().unwrap_or(0) };
    let times = Timestamps { last_access: time(stat.st_atime, stat.st_atime_nsec as u64), last_modification: time(stat.st_mtime, stat.st_mtime_nsec as u64) };
    placed.push(Placed::Times { rel: rel.to_owned(), times });
    Ok(())
}

/// Renames what the image has at `rel` out of the way.
fn set_aside(root: &OwnedFd, rel: &str, n: usize, placed: &mut Vec<Placed>) -> io::Result<()> {
    let (parent, name) = parent_of(root, rel)?;
    let dir = open_dir(&parent)?;
    if rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW).is_err() {
        return Ok(());
    }
    let aside = format!(".strata-aside-{}-{n}", std::process::id());
    rustix::fs::renameat(&dir, name.as_str(), &dir, aside.as_str())?;
    placed.push(Placed::Aside { rel: rel.to_owned(), aside });
    Ok(())
}

fn put_bind(spec: &ContainerSpec, root: &OwnedFd, rel: &str, source: &Path, read_only: bool, n: usize) -> io::Result<Placed> {
    let (parent, name) = parent_of(root, rel)?;
    let at = fd_path(&parent).join(&name);
    let meta = fs_err::metadata(source)?;
    let moved = |e: io::Error| {
        let why = if e.raw_os_error() == Some(nix::libc::EXDEV) { "it is on another filesystem than the step's root".to_owned() } else { e.to_string() };
        io::Error::new(e.kind(), format!("chroot isolation cannot mount {} at /{rel}: {why}", source.display()))
    };
    if meta.is_dir() && !read_only {
        match rustix::fs::renameat(CWD, source, &open_dir(&parent)?, name.as_str()) {
            Ok(()) => return Ok(Placed::Moved { rel: rel.to_owned(), source: source.to_path_buf() }),
            // A throwaway `rw` bind elsewhere (in memory) is copied instead.
            Err(rustix::io::Errno::XDEV) if source.starts_with(PRIVATE_SCRATCH) => {}
            Err(e) => return Err(moved(e.into())),
        }
    }
    if meta.is_dir() {
        let scratch = trash_dir(spec)?.join(format!("copy-{n}"));
        let layers = [source.to_path_buf()];
        let copy = super::RootfsCopy { layers: &layers, scratch: &scratch, read_only: true }.prepare()?;
        fs_err::rename(copy.root(), &at)?;
        drop(copy);
        fs_err::remove_dir_all(&scratch)?;
        return Ok(Placed::Copy { rel: rel.to_owned(), kind: Kind::Dir });
    }
    if !meta.is_file() {
        return Err(moved(io::Error::new(
            io::ErrorKind::Unsupported,
            "only directories and regular files can be put into a chroot (ssh agent sockets cannot)",
        )));
    }
    fs_err::copy(source, &at)?;
    Ok(Placed::Copy { rel: rel.to_owned(), kind: Kind::File })
}

/// Forks the command: chrooted, in its own session, without CAP_SYS_CHROOT.
fn run_command(spec: &ContainerSpec) -> io::Result<i32> {
    let Some(command) = sys::fork_process()? else {
        let code = match enter(spec) {
            Ok(()) => {
                let user = super::user::resolve_user(spec.user.as_deref(), Path::new("/etc"));
                match user {
                    Ok(user) => {
                        let (message, code) = exec_command(spec, &user);
                        eprintln!("strata: {message}");
                        code
                    }
                    Err(e) => fail(&format!("cannot switch to user {:?}: {e}", spec.user.as_deref().unwrap_or("root"))),
                }
            }
            Err(e) => fail(&e.to_string()),
        };
        std::process::exit(code)
    };
    let code = wait_for(command);
    // Whatever the command left running in its session goes with it.
    let _ = nix::sys::signal::killpg(command, Signal::SIGKILL);
    code
}

fn enter(spec: &ContainerSpec) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    nix::unistd::setsid()?;
    sys::chroot_into(&spec.root).map_err(context("chroot into the root"))?;
    if !spec.privileged {
        let mut drop = spec.cap_drop.clone();
        drop.push("SYS_CHROOT".into());
        let keep = super::sandbox::capabilities(&spec.cap_add, &drop).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        super::sandbox::limit_capabilities(&keep)?;
    }
    Ok(())
}

/// Takes everything placed out of the root again, last first; carries on
/// past failures and returns the first.
fn undo(spec: &ContainerSpec, root: &OwnedFd, placed: Vec<Placed>) -> io::Result<()> {
    let mut first = Ok(());
    for item in placed.into_iter().rev() {
        let result = undo_one(spec, root, item);
        if first.is_ok() {
            first = result;
        }
    }
    first
}

fn undo_one(spec: &ContainerSpec, root: &OwnedFd, item: Placed) -> io::Result<()> {
    match item {
        Placed::Device { rel } => {
            let (parent, name) = parent_of(root, &rel)?;
            Ok(rustix::fs::unlinkat(&open_dir(&parent)?, name.as_str(), AtFlags::empty())?)
        }
        Placed::Moved { rel, source } => {
            let (parent, name) = parent_of(root, &rel)?;
            rustix::fs::renameat(&open_dir(&parent)?, name.as_str(), CWD, &source)?;
            placeholder(&parent, &name, Kind::Dir)
        }
        Placed::Copy { rel, kind } => {
            let (parent, name) = parent_of(root, &rel)?;
            let trash = trash_dir(spec)?.join(format!("trash-{}", rel.replace('/', "_")));
            rustix::fs::renameat(&open_dir(&parent)?, name.as_str(), CWD, &trash)?;
            if fs_err::symlink_metadata(&trash)?.is_dir() {
                fs_err::remove_dir_all(&trash)?;
            } else {
                fs_err::remove_file(&trash)?;
            }
            placeholder(&parent, &name, kind)
        }
        Placed::Aside { rel, aside } => {
            let (parent, name) = parent_of(root, &rel)?;
            let dir = open_dir(&parent)?;
            // The empty placeholder left for a target the image lacked.
            match rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::REMOVEDIR) {
                Err(rustix::io::Errno::NOTDIR) => rustix::fs::unlinkat(&dir, name.as_str(), AtFlags::empty())?,
                other => other?,
            }
            Ok(rustix::fs::renameat(&dir, aside.as_str(), &dir, name.as_str())?)
        }
        Placed::Times { rel, times } => {
            let (parent, name) = parent_of(root, &rel)?;
            Ok(rustix::fs::utimensat(&open_dir(&parent)?, name.as_str(), &times, AtFlags::SYMLINK_NOFOLLOW)?)
        }
    }
}

/// An empty directory or file where a mount's content was, as a mount
/// point would be; the caller's cleanup of mount points removes it.
fn placeholder(parent: &OwnedFd, name: &str, kind: Kind) -> io::Result<()> {
    let dir = open_dir(parent)?;
    match kind {
        Kind::Dir => rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))?,
        Kind::File => drop(rustix::fs::openat(&dir, name, OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC, Mode::from_raw_mode(0o644))?),
    }
    Ok(())
}

/// The directory holding `rel` inside `root` (made when missing, symlinks
/// resolved inside the root) and the last name of `rel`.
fn parent_of(root: &OwnedFd, rel: &str) -> io::Result<(OwnedFd, String)> {
    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    if name.is_empty() || name == "." || name == ".." {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("chroot isolation cannot mount on /{rel}")));
    }
    let fd = if parent.is_empty() {
        rustix::fs::openat(root, ".", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?
    } else {
        target(root, parent, Kind::Dir)?
    };
    Ok((fd, name.to_owned()))
}

/// A readable descriptor of the directory behind an `O_PATH` one (the
/// `*at` calls that change a directory want one).
fn open_dir(path_fd: &OwnedFd) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(path_fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// Strata's own directory beside the root (the step's scratch directory,
/// on the same filesystem), for copies on their way in and out.
fn trash_dir(spec: &ContainerSpec) -> io::Result<PathBuf> {
    let dir = spec.root.parent().unwrap_or(Path::new("/")).join("chroot-mounts");
    fs_err::create_dir_all(&dir)?;
    Ok(dir)
}
