//! The raw syscalls strata needs, behind safe functions. Everything here
//! goes through rustix's and nix's wrappers; each `unsafe` call says why
//! it is sound.
//!
//! Overlay mounts use the new mount API (`fsopen`/`fsconfig`/`fsmount`/
//! `move_mount`) with one `lowerdir+` call per layer, so the number of
//! layers is not limited by the one-page option string of `mount(2)`
//! (which stops Docker and BuildKit at about 128 layers).

use std::io;
use std::path::Path;

use rustix::mount::{
    fsconfig_create, fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount, unmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags,
    UnmountFlags,
};

/// The directories of an overlay mount.
pub struct OverlayDirs<'a> {
    /// Lower layers, topmost first.
    pub lowers: &'a [&'a Path],
    /// Upper and work dir (same filesystem); `None` mounts read-only.
    pub upper: Option<(&'a Path, &'a Path)>,
    /// Opaque marks as `user.overlay.*` xattrs: the only ones a mount in a
    /// user namespace may read (kernel ≥ 5.11).
    pub user_xattr: bool,
}

/// Mounts an overlay filesystem of `dirs` at `target`.
pub fn mount_overlay(dirs: &OverlayDirs<'_>, target: &Path) -> io::Result<()> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    if dirs.user_xattr {
        fsconfig_set_flag(&fs, "userxattr")?;
    }
    for lower in dirs.lowers {
        fsconfig_set_string(&fs, "lowerdir+", *lower)?;
    }
    if let Some((upper, work)) = dirs.upper {
        fsconfig_set_string(&fs, "upperdir", upper)?;
        fsconfig_set_string(&fs, "workdir", work)?;
    }
    fsconfig_create(&fs)?;
    let attrs = if dirs.upper.is_none() { MountAttrFlags::MOUNT_ATTR_RDONLY } else { MountAttrFlags::empty() };
    let mount = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    move_mount(&mount, "", rustix::fs::CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)?;
    Ok(())
}

/// Unmounts `target`; when it is busy, detaches it (it goes away once the
/// last user does).
pub fn unmount_or_detach(target: &Path) -> io::Result<()> {
    match unmount(target, UnmountFlags::empty()) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::BUSY) => Ok(unmount(target, UnmountFlags::DETACH)?),
        Err(e) => Err(e.into()),
    }
}

/// Namespaces a container gets.
pub fn unshare_namespaces(new_network: bool) -> io::Result<()> {
    use nix::sched::CloneFlags;
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    if new_network {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    nix::sched::unshare(flags).map_err(io::Error::from)
}

/// Forks; `Some(pid)` in the parent, `None` in the child.
///
/// Only called from `strata __init` and from the rootless re-exec at the
/// start of `main`: processes that have started no threads, so the child may do anything (not just
/// async-signal-safe calls).
pub fn fork_process() -> io::Result<Option<nix::unistd::Pid>> {
    // SAFETY: the caller is single-threaded (see above), which is what
    // makes the child's use of allocation and locks sound.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Parent { child } => Ok(Some(child)),
        nix::unistd::ForkResult::Child => Ok(None),
    }
}

/// Moves this process into a new user namespace, unmapped until its parent
/// writes the maps (`newuidmap`). Must be called while single-threaded.
pub fn unshare_user_namespace() -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).map_err(io::Error::from)
}

/// Mounts a filesystem of type `fstype` at `target`.
pub fn mount_fs(fstype: &str, target: &Path, flags: nix::mount::MsFlags, data: Option<&str>) -> io::Result<()> {
    nix::mount::mount(Some(fstype), target, Some(fstype), flags, data).map_err(io::Error::from)
}

/// Bind-mounts `source` on `target`.
pub fn bind_mount(source: &Path, target: &Path) -> io::Result<()> {
    use nix::mount::MsFlags;
    nix::mount::mount(Some(source), target, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(io::Error::from)
}

/// Moves this process into a mount namespace of its own whose mounts do not
/// propagate to the host: every mount it makes vanishes when it exits, even
/// when it is killed. Must be called while the process is single-threaded.
pub fn private_mount_namespace() -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    make_mounts_private()
}

/// Stops mount events from propagating back to the host.
pub fn make_mounts_private() -> io::Result<()> {
    use nix::mount::MsFlags;
    nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>).map_err(io::Error::from)
}

/// Makes `root` the root directory: `pivot_root(".", ".")` then detaching
/// the old root, which needs no directory inside the new root.
///
/// `pivot_root` wants a mount point; a copied root is a plain directory, so
/// `root` is first bind-mounted onto itself (recursively: the mounts already
/// made inside it come along), as runc does for every root. Only this
/// private mount namespace sees the extra mount. The chdir comes after it,
/// so "." names the new mount rather than the directory it covers.
pub fn pivot_into(root: &Path) -> io::Result<()> {
    bind_mount(root, root)?;
    nix::unistd::chdir(root)?;
    nix::unistd::pivot_root(".", ".")?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)?;
    nix::unistd::chdir("/")?;
    Ok(())
}

/// Makes `root` this process's root directory and enters it (chroot
/// isolation: no mount namespace to pivot in).
pub fn chroot_into(root: &Path) -> io::Result<()> {
    nix::unistd::chroot(root)?;
    nix::unistd::chdir("/")?;
    Ok(())
}

/// Creates a device node or fifo of the type in `mode` (`S_IFCHR`,
/// `S_IFBLK`, `S_IFIFO`) with no permissions; they are set afterwards.
/// `mknod` never follows a symlink at `path`: an existing path is `EEXIST`.
pub fn make_node(path: &Path, mode: u32, rdev: u64) -> io::Result<()> {
    use nix::sys::stat::{mknod, Mode, SFlag};
    let kind = SFlag::from_bits_truncate(mode & nix::libc::S_IFMT);
    Ok(mknod(path, kind, Mode::empty(), rdev)?)
}

/// Sets the owner of `path` itself: `lchown` changes a symlink, never what
/// it points to.
pub fn set_owner(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// Sets atime and mtime of `path` itself to `(seconds, nanoseconds)`;
/// `AT_SYMLINK_NOFOLLOW` makes a symlink's own times change.
pub fn set_times(path: &Path, (seconds, nanoseconds): (i64, i64)) -> io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    let time = nix::sys::time::TimeSpec::new(seconds, nanoseconds);
    Ok(utimensat(None, path, &time, &time, UtimensatFlags::NoFollowSymlink)?)
}

/// The inode generation of the directory `path` (`FS_IOC_GETVERSION`),
/// which ext4, xfs and btrfs renew when they hand out a freed inode number
/// again; `None` where the filesystem keeps none or the directory cannot
/// be opened.
pub fn inode_generation(path: &Path) -> io::Result<Option<u32>> {
    use rustix::fs::{Mode, OFlags};
    use rustix::io::Errno;
    use rustix::ioctl::{ioctl, opcode, Getter, Opcode};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let dir = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(dir) => dir,
        Err(Errno::ACCESS | Errno::PERM) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // The opcode is `_IOR('v', 1, long)`, but every filesystem that answers
    // it writes an `int` (`put_user(inode->i_generation, (int __user *)arg)`).
    const GETVERSION: Opcode = opcode::read::<std::ffi::c_long>(b'v', 1);
    // SAFETY: GETVERSION is FS_IOC_GETVERSION, and the kernel writes exactly
    // one `int` for it (see above): `c_int` is the output type it expects.
    let getter = unsafe { Getter::<GETVERSION, std::ffi::c_int>::new() };
    // SAFETY: `dir` is an open descriptor and `getter` matches the opcode.
    match unsafe { ioctl(&dir, getter) } {
        Ok(generation) => Ok(Some(generation as u32)),
        Err(Errno::NOTTY | Errno::OPNOTSUPP | Errno::INVAL | Errno::NOSYS) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// When `path` itself was created (seconds, nanoseconds), where the
/// filesystem records it.
pub fn birth_time(path: &Path) -> io::Result<Option<(i64, u32)>> {
    use rustix::fs::{statx, AtFlags, StatxFlags};
    let stat = statx(rustix::fs::CWD, path, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::BTIME)?;
    if stat.stx_mask & StatxFlags::BTIME.bits() == 0 {
        return Ok(None);
    }
    Ok(Some((stat.stx_btime.tv_sec, stat.stx_btime.tv_nsec)))
}

/// Brings up the loopback interface of the current network namespace.
pub fn loopback_up() -> io::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    // SAFETY: `ifreq` is plain data, zero-initialised, with a NUL-terminated
    // name shorter than IFNAMSIZ; both ioctls only read and write that struct
    // and the socket stays open for their duration.
    unsafe {
        let mut request: nix::libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as nix::libc::c_char;
        }
        if nix::libc::ioctl(sock.as_raw_fd(), nix::libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= (nix::libc::IFF_UP | nix::libc::IFF_RUNNING) as i16;
        if nix::libc::ioctl(sock.as_raw_fd(), nix::libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Moves this process into a new cgroup namespace: its current cgroup
/// becomes the root of what it and its children see.
pub fn unshare_cgroup_namespace() -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP).map_err(io::Error::from)
}

/// Remounts the bind mount at `target` with `nodev` added (devices made in
/// the container can never be opened through it) and `read_only` when
/// asked; the flags it had (`nosuid`, `noexec`, `ro`) stay, since a
/// bind remount replaces them all.
pub fn remount_bind(target: &Path, read_only: bool) -> io::Result<()> {
    use nix::mount::MsFlags;
    use rustix::fs::StatVfsMountFlags as St;
    let had = rustix::fs::statvfs(target)?.f_flag;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV;
    for (st, ms) in [(St::NOSUID, MsFlags::MS_NOSUID), (St::NOEXEC, MsFlags::MS_NOEXEC), (St::RDONLY, MsFlags::MS_RDONLY)] {
        if had.contains(st) {
            flags |= ms;
        }
    }
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>).map_err(io::Error::from)
}

/// Covers the directory `target` with an empty read-only tmpfs.
pub fn mount_empty_read_only(target: &Path) -> io::Result<()> {
    use nix::mount::MsFlags;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_fs("tmpfs", target, flags, Some("size=0"))
}

/// Makes `target` read-only where it is: bound onto itself, remounted
/// `ro,nosuid,nodev,noexec` (as runc does for read-only paths).
pub fn bind_read_only(target: &Path) -> io::Result<()> {
    use nix::mount::MsFlags;
    bind_mount(target, target)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>).map_err(io::Error::from)
}

/// Installs a seccomp filter on the calling thread without setting
/// `no_new_privs` (which seccompiler's `apply_filter` would), as Docker
/// does: the kernel allows that to a holder of CAP_SYS_ADMIN. Threads
/// and processes forked afterwards inherit it.
pub fn install_seccomp_filter(program: &[seccompiler::sock_filter]) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp filter too long"))?;
    let fprog = nix::libc::sock_fprog { len, filter: program.as_ptr().cast::<nix::libc::sock_filter>().cast_mut() };
    // SAFETY: seccompiler's `sock_filter` is `#[repr(C)]` with the fields of
    // the kernel's (`code`, `jt`, `jf`, `k`), so the pointer cast keeps the
    // layout; `fprog` and `program` outlive the call, and the kernel only
    // copies the program (copy_from_user), never writing through it.
    let rc = unsafe { nix::libc::syscall(nix::libc::SYS_seccomp, nix::libc::SECCOMP_SET_MODE_FILTER, 0, &fprog as *const nix::libc::sock_fprog) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `fd` the descriptor number `target` of the process `command`
/// starts, the only one it inherits beyond stdio (everything strata opens
/// is close-on-exec).
pub fn pass_fd(command: &mut std::process::Command, fd: std::os::fd::OwnedFd, target: std::os::fd::RawFd) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let hook = move || -> io::Result<()> {
        let raw = fd.as_raw_fd();
        // SAFETY: runs in the forked child before exec, where only
        // async-signal-safe calls are allowed: dup2 and fcntl are. `raw` is
        // open (the closure owns `fd`). dup2 onto itself would keep
        // close-on-exec, so that case clears the flag instead.
        let rc = unsafe {
            if raw == target {
                nix::libc::fcntl(raw, nix::libc::F_SETFD, 0)
            } else {
                nix::libc::dup2(raw, target)
            }
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook makes only async-signal-safe calls (see above) and
    // touches no lock or allocation.
    unsafe { command.pre_exec(hook) };
}

/// Takes ownership of descriptor `fd`, which the parent passed open
/// ([`pass_fd`]); an error when it is not open.
pub fn inherited_fd(fd: std::os::fd::RawFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { nix::libc::fcntl(fd, nix::libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor is open (checked above) and nothing else in
    // this freshly exec'd process owns it: it was set up for this call.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Moves this process into a new network namespace (with only a down
/// loopback: the NAT helper configures it).
pub fn unshare_network() -> io::Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Moves this process into the network namespace `netns` names
/// (`/proc/PID/ns/net`). Needs CAP_SYS_ADMIN, which the init has before
/// confinement.
pub fn join_network(netns: &Path) -> io::Result<()> {
    let file = std::fs::File::open(netns)?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// A pipe (read end, write end), both closed on exec.
pub fn pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Lets programs this process executes inherit `fd`. Only for
/// single-threaded processes: a child another thread spawns meanwhile
/// would inherit it too.
pub fn inherit(fd: &std::os::fd::OwnedFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use std::os::fd::AsRawFd;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty())).map(drop).map_err(io::Error::from)
}
