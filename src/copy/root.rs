//! In-root file system access: every path is resolved inside a directory
//! the way `chroot` would, and every change is made with `*at` system calls
//! on directory descriptors, so no symlink (absolute or through `..`) ever
//! leads out of the root.
//!
//! Two layers:
//! - [`Root`] opens whole paths with `openat2(RESOLVE_IN_ROOT)`: the kernel
//!   resolves them, absolute symlinks from the root, `..` stopping at it.
//!   [`Root::resolve`] walks a path one component at a time (through those
//!   same in-root opens) to learn where it *leads*, following dangling
//!   symlinks lexically as BuildKit's `fs.RootPath` does.
//! - [`Dir`] is an open directory; its methods take one plain name (never a
//!   path) and never follow a symlink at that name.
//!
//! Everything here is safe Rust over rustix; this file is the only one in
//! `copy/` that makes system calls on paths.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::Timespec;
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags, Timestamps};

/// How many symlinks one resolution may follow (Linux's and Go's limit).
const MAX_LINKS: usize = 255;

/// What kind of file a [`Meta`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Fifo,
    Char,
    Block,
    Socket,
}

/// The `lstat` of a file, in the units the copier needs.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub kind: Kind,
    /// Permission and set-id/sticky bits (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub rdev: u64,
    pub size: u64,
    /// Status change time (seconds, nanoseconds).
    pub ctime: (i64, i64),
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
}

impl Meta {
    fn from_stat(st: &rfs::Stat) -> Meta {
        let kind = match rfs::FileType::from_raw_mode(st.st_mode) {
            rfs::FileType::Directory => Kind::Dir,
            rfs::FileType::Symlink => Kind::Symlink,
            rfs::FileType::Fifo => Kind::Fifo,
            rfs::FileType::CharacterDevice => Kind::Char,
            rfs::FileType::BlockDevice => Kind::Block,
            rfs::FileType::Socket => Kind::Socket,
            _ => Kind::File,
        };
        Meta {
            kind,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
            rdev: st.st_rdev,
            size: u64::try_from(st.st_size).unwrap_or(0),
            ctime: (st.st_ctime, i64::try_from(st.st_ctime_nsec).unwrap_or(0)),
            atime: (st.st_atime, i64::try_from(st.st_atime_nsec).unwrap_or(0)),
            mtime: (st.st_mtime, i64::try_from(st.st_mtime_nsec).unwrap_or(0)),
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}

/// What [`Root::resolve`] does with a relative symlink whose target climbs
/// above the root: stop at the root (`chroot`'s and BuildKit's
/// `fs.RootPath`), or refuse (BuildKit's archive extraction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Clamp,
    Refuse,
}

/// A directory that paths are resolved in, as if it were `/`.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
}

/// The `openat2` resolution every whole-path open uses.
fn in_root() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// A relative path's bytes for a system call (`.` for the root itself).
fn at_path(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

impl AsFd for Root {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Root {
    /// Opens `path` (a directory given by the caller, trusted) as a root.
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = rfs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Root { fd })
    }

    /// The directory `rel` (resolved in this root) as a root of its own.
    pub fn sub_root(&self, rel: &Path) -> io::Result<Root> {
        let fd = rfs::openat2(&self.fd, at_path(rel), OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty(), in_root())?;
        Ok(Root { fd })
    }

    /// `lstat` of `rel`, resolved in the root (the last component is not
    /// followed).
    pub fn lstat(&self, rel: &Path) -> io::Result<Meta> {
        let fd = rfs::openat2(&self.fd, at_path(rel), OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), in_root())?;
        Ok(Meta::from_stat(&rfs::fstat(&fd)?))
    }

    /// `lstat` of `rel`, `None` when it does not exist.
    pub fn try_lstat(&self, rel: &Path) -> io::Result<Option<Meta>> {
        match self.lstat(rel) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The target of the symlink `rel`.
    pub fn read_link(&self, rel: &Path) -> io::Result<PathBuf> {
        let fd = rfs::openat2(&self.fd, at_path(rel), OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), in_root())?;
        let target = rfs::readlinkat(&fd, "", Vec::new())?;
        Ok(PathBuf::from(OsString::from_vec(target.into_bytes())))
    }

    /// Opens the directory `rel` (symlinks followed, in the root).
    pub fn dir(&self, rel: &Path) -> io::Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(Dir { fd: rfs::openat2(&self.fd, at_path(rel), flags, Mode::empty(), in_root())? })
    }

    /// Opens the regular file `rel` for reading (symlinks followed, in the
    /// root).
    pub fn open_file(&self, rel: &Path) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC;
        Ok(File::from(rfs::openat2(&self.fd, at_path(rel), flags, Mode::empty(), in_root())?))
    }

    /// Where `path` leads in the root: a clean relative path with no
    /// symlink in it (but for the last component when `follow_last` is
    /// false). Symlinks are followed as `chroot` would; a part that does not
    /// exist ends the walk and the rest is joined lexically, so a dangling
    /// symlink leads to where it points. Same as BuildKit's `fs.RootPath`.
    pub fn resolve(&self, path: &Path, follow_last: bool, escape: Escape) -> io::Result<PathBuf> {
        let mut pending: VecDeque<OsString> = parts(path);
        let mut resolved: Vec<OsString> = Vec::new();
        let mut links = 0;
        while let Some(part) = pending.pop_front() {
            if part == ".." {
                if resolved.pop().is_none() && escape == Escape::Refuse {
                    return Err(io::Error::new(io::ErrorKind::PermissionDenied, "a symlink points outside the root"));
                }
                continue;
            }
            if pending.is_empty() && !follow_last {
                resolved.push(part);
                break;
            }
            let candidate: PathBuf = resolved.iter().chain([&part]).collect();
            let meta = match self.lstat(&candidate) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // The rest does not exist: join it lexically.
                    resolved.push(part);
                    for rest in pending.drain(..) {
                        if rest == ".." {
                            resolved.pop();
                        } else {
                            resolved.push(rest);
                        }
                    }
                    break;
                }
                Err(e) => return Err(e),
            };
            if meta.kind != Kind::Symlink {
                resolved.push(part);
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from_raw_os_error(rustix::io::Errno::LOOP.raw_os_error()));
            }
            let target = self.read_link(&candidate)?;
            if target.is_absolute() {
                resolved.clear();
            }
            for part in parts(&target).into_iter().rev() {
                pending.push_front(part);
            }
        }
        Ok(resolved.iter().collect())
    }
}

/// The normal and `..` components of a path, in order.
fn parts(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// An open directory. Its methods take a single name and never follow a
/// symlink at that name.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

impl Dir {
    /// Another handle on the same directory.
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir { fd: self.fd.try_clone()? })
    }

    /// The names in the directory (without `.` and `..`), sorted bytewise.
    pub fn entries(&self) -> io::Result<Vec<OsString>> {
        let mut reader = rfs::Dir::read_from(&self.fd)?;
        let mut names = Vec::new();
        while let Some(entry) = reader.read() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name.to_vec()));
            }
        }
        names.sort();
        Ok(names)
    }

    /// `lstat` of `name`, `None` when it does not exist.
    pub fn lstat(&self, name: &OsStr) -> io::Result<Option<Meta>> {
        match rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::from_stat(&st))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `fstat` of the directory itself.
    pub fn meta(&self) -> io::Result<Meta> {
        Ok(Meta::from_stat(&rfs::fstat(&self.fd)?))
    }

    /// Opens the file `name` for reading; a symlink there is an error.
    pub fn open_file(&self, name: &OsStr) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
        Ok(File::from(rfs::openat(&self.fd, name, flags, Mode::empty())?))
    }

    /// Opens the subdirectory `name`; a symlink there is an error.
    pub fn open_dir(&self, name: &OsStr) -> io::Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(Dir { fd: rfs::openat(&self.fd, name, flags, Mode::empty())? })
    }

    pub fn read_link(&self, name: &OsStr) -> io::Result<OsString> {
        Ok(OsString::from_vec(rfs::readlinkat(&self.fd, name, Vec::new())?.into_bytes()))
    }

    /// Creates the file `name` (it must not exist) for writing.
    pub fn create_file(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(rfs::openat(&self.fd, name, flags, Mode::from_raw_mode(mode))?))
    }

    pub fn mkdir(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        Ok(rfs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode))?)
    }

    pub fn symlink(&self, target: &OsStr, name: &OsStr) -> io::Result<()> {
        Ok(rfs::symlinkat(target, &self.fd, name)?)
    }

    /// Creates a fifo, socket or device node.
    pub fn mknod(&self, name: &OsStr, kind: Kind, mode: u32, rdev: u64) -> io::Result<()> {
        let file_type = match kind {
            Kind::Fifo => rfs::FileType::Fifo,
            Kind::Char => rfs::FileType::CharacterDevice,
            Kind::Block => rfs::FileType::BlockDevice,
            Kind::Socket => rfs::FileType::Socket,
            _ => return Err(io::ErrorKind::InvalidInput.into()),
        };
        Ok(rfs::mknodat(&self.fd, name, file_type, Mode::from_raw_mode(mode & 0o7777), rdev)?)
    }

    /// Makes `name` here another name of `from_name` in `from`.
    pub fn hard_link(&self, from: &Dir, from_name: &OsStr, name: &OsStr) -> io::Result<()> {
        Ok(rfs::linkat(&from.fd, from_name, &self.fd, name, AtFlags::empty())?)
    }

    /// Removes `name`: an empty directory when `dir`, else any other file.
    pub fn remove(&self, name: &OsStr, dir: bool) -> io::Result<()> {
        Ok(rfs::unlinkat(&self.fd, name, if dir { AtFlags::REMOVEDIR } else { AtFlags::empty() })?)
    }

    /// Removes `name` and, for a directory, everything below it.
    pub fn remove_all(&self, name: &OsStr) -> io::Result<()> {
        let Some(meta) = self.lstat(name)? else { return Ok(()) };
        if meta.is_dir() {
            let sub = self.open_dir(name)?;
            for child in sub.entries()? {
                sub.remove_all(&child)?;
            }
        }
        self.remove(name, meta.is_dir())
    }

    /// `lchown` of `name`.
    pub fn set_owner(&self, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
        let (uid, gid) = (rfs::Uid::from_raw(uid), rfs::Gid::from_raw(gid));
        Ok(rfs::chownat(&self.fd, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)?)
    }

    /// `chmod` of `name`, which must not be a symlink: the node is opened
    /// without following and changed through its `/proc/self/fd` link, so a
    /// symlink swapped in is never followed.
    pub fn set_mode(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let node = rfs::openat(&self.fd, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        if Meta::from_stat(&rfs::fstat(&node)?).kind == Kind::Symlink {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "refusing to chmod a symlink"));
        }
        let proc_link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&node));
        Ok(rfs::chmodat(rfs::CWD, proc_link.as_str(), Mode::from_raw_mode(mode & 0o7777), AtFlags::empty())?)
    }

    /// Sets the access and modification times of `name` (not following a
    /// symlink).
    pub fn set_times(&self, name: &OsStr, atime: (i64, i64), mtime: (i64, i64)) -> io::Result<()> {
        Ok(rfs::utimensat(&self.fd, name, &timestamps(atime, mtime), AtFlags::SYMLINK_NOFOLLOW)?)
    }

    /// Owner, mode and times of the directory itself.
    pub fn set_own_meta(&self, uid: u32, gid: u32, mode: u32, atime: (i64, i64), mtime: (i64, i64)) -> io::Result<()> {
        set_fd_meta(&self.fd, uid, gid, mode, atime, mtime)
    }

    /// The directory's extended attributes.
    pub fn copied_xattrs(&self) -> io::Result<Vec<(OsString, Vec<u8>)>> {
        copied_xattrs(&self.fd)
    }

    pub fn set_xattr(&self, name: &OsStr, value: &[u8]) -> io::Result<()> {
        Ok(rfs::fsetxattr(&self.fd, name, value, rfs::XattrFlags::empty())?)
    }
}

fn timestamps(atime: (i64, i64), mtime: (i64, i64)) -> Timestamps {
    Timestamps { last_access: Timespec { tv_sec: atime.0, tv_nsec: atime.1 }, last_modification: Timespec { tv_sec: mtime.0, tv_nsec: mtime.1 } }
}

/// The `fstat` of an open file.
pub fn fd_meta(fd: impl AsFd) -> io::Result<Meta> {
    Ok(Meta::from_stat(&rfs::fstat(fd)?))
}

/// Owner, then mode (a chown clears set-id bits), then times of an open
/// file or directory.
pub fn set_fd_meta(fd: impl AsFd, uid: u32, gid: u32, mode: u32, atime: (i64, i64), mtime: (i64, i64)) -> io::Result<()> {
    let fd = fd.as_fd();
    rfs::fchown(fd, Some(rfs::Uid::from_raw(uid)), Some(rfs::Gid::from_raw(gid)))?;
    rfs::fchmod(fd, Mode::from_raw_mode(mode & 0o7777))?;
    rfs::futimens(fd, &timestamps(atime, mtime))?;
    Ok(())
}

/// The extended attributes of an open file or directory.
pub fn read_xattrs(fd: impl AsFd) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let fd = fd.as_fd();
    let size = match rfs::flistxattr_query(fd) {
        Ok(size) => size,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut list = vec![0u8; size];
    let len = rfs::flistxattr(fd, &mut list[..])?;
    list.truncate(len);
    let mut out = Vec::new();
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        let size = match rfs::fgetxattr_query(fd, name) {
            Ok(size) => size,
            // Removed since it was listed.
            Err(rustix::io::Errno::NODATA) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut value = vec![0u8; size];
        let len = rfs::fgetxattr(fd, name, &mut value[..])?;
        value.truncate(len);
        out.push((name.to_os_string(), value));
    }
    Ok(out)
}

/// The extended attributes a copy carries from an open file or
/// directory: all but overlayfs's own (its marks belong to the snapshot
/// the file sits in, not to the file).
pub fn copied_xattrs(fd: impl AsFd) -> io::Result<Vec<(OsString, Vec<u8>)>> {
    let mut all = read_xattrs(fd)?;
    all.retain(|(k, _)| !crate::layer::is_overlay_xattr(k.as_encoded_bytes()));
    Ok(all)
}

/// Sets an extended attribute on an open file or directory.
pub fn write_xattr(fd: impl AsFd, name: &OsStr, value: &[u8]) -> io::Result<()> {
    Ok(rfs::fsetxattr(fd.as_fd(), name, value, rfs::XattrFlags::empty())?)
}
