//! A step's root filesystem without overlayfs, for machines that cannot
//! mount it (nested in another overlay, no privilege for it, old kernels):
//! the parent's snapshots are copied into one plain directory, and when the
//! step is done the tree is compared with what was copied. The changes come
//! out in the same overlayfs form as [`super::RootfsMount`]'s upper
//! directory (whiteouts, opaque directories), so the rest of strata cannot
//! tell the two apart.
//!
//! Change detection follows containerd's "native" differ: a path counts as
//! changed when its type, mode, owner, size, mtime (to the nanosecond),
//! device number, symlink target or inode differ from what was recorded
//! (for directories also the inode's generation and birth time, since a
//! directory removed and made again may get its old inode number back).
//! Two kinds of change go unseen:
//! - a file rewritten in place to the same size whose mtime is then put
//!   back (or lands on the same nanosecond): nothing short of hashing every
//!   file could see it, and tools that do it (`touch -r`, `rsync -t`) mean
//!   the file to look unchanged;
//! - a change of extended attributes only: `setfattr` alters only the
//!   ctime, which cannot be recorded in a copy (copying sets it). Builds
//!   that set capabilities do it with the file they just installed, which
//!   is already new.
//!
//! The price is a full copy of the layers per step (`copy_file_range`,
//! so btrfs and xfs reflink the data) and a walk of the tree at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::sys::{birth_time, inode_generation, make_node, set_owner, set_times};
use crate::layer::{is_overlay_xattr, opaque_xattr};

/// What to copy: layers (bottom first, as an image lists them) and a
/// scratch directory that will hold `merged/` and `upper/`.
pub struct RootfsCopy<'a> {
    /// Layer directories, bottom first.
    pub layers: &'a [PathBuf],
    /// Directory for `merged/` and `upper/`; emptied of what an interrupted step left.
    pub scratch: &'a Path,
    /// No changes are collected; the copy is thrown away.
    pub read_only: bool,
}

/// A copied root filesystem; the copy is removed when dropped.
#[derive(Debug)]
pub struct Copied {
    merged: PathBuf,
    upper: Option<PathBuf>,
    /// The merged tree as it was handed out (not for read-only roots).
    before: Option<Node>,
    removed: bool,
}

impl RootfsCopy<'_> {
    /// Copies the layers into `scratch/merged` (upper layers over lower, whiteouts applied) and records the tree to diff later.
    pub fn prepare(&self) -> io::Result<Copied> {
        let merged = self.scratch.join("merged");
        // What an interrupted earlier step left would be taken for content.
        remove(&merged)?;
        fs_err::create_dir_all(&merged).map_err(context("create", &merged))?;
        let mut copied = Copied { merged, upper: None, before: None, removed: false };
        for layer in self.layers {
            Layer::default().apply(layer, &copied.merged)?;
        }
        if !self.read_only {
            let upper = self.scratch.join("upper");
            fs_err::create_dir_all(&upper).map_err(context("create", &upper))?;
            copied.before = Some(Node::record(&copied.merged)?);
            copied.upper = Some(upper);
        }
        Ok(copied)
    }
}

impl Copied {
    /// The merged tree: the container's root.
    pub fn root(&self) -> &Path {
        &self.merged
    }

    /// Writes the changes into the upper directory, removes the copy and
    /// returns the upper directory (`None` when read-only).
    pub fn finish(mut self) -> io::Result<Option<PathBuf>> {
        if let (Some(upper), Some(before)) = (&self.upper, &self.before) {
            let mut diff = Diff { merged: &self.merged, upper, before, made: HashSet::new(), dirs: Vec::new() };
            diff.dir(Path::new(""), before)?;
            diff.finish()?;
        }
        self.remove()?;
        Ok(self.upper.take())
    }

    fn remove(&mut self) -> io::Result<()> {
        if !self.removed {
            remove(&self.merged)?;
            self.removed = true;
        }
        Ok(())
    }
}

impl Drop for Copied {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// Copies one layer onto the merged tree.
#[derive(Default)]
struct Layer {
    /// (device, inode) of the layer's multiply-linked files → their copy,
    /// so hard links stay hard links.
    links: HashMap<(u64, u64), PathBuf>,
}

impl Layer {
    /// The root's own opaque mark is ignored, as overlayfs ignores it.
    fn apply(&mut self, layer: &Path, merged: &Path) -> io::Result<()> {
        let meta = fs_err::symlink_metadata(layer).map_err(context("stat", layer))?;
        self.merge_dir(layer, merged)?;
        finish_dir(layer, merged, &meta)
    }

    fn merge_dir(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        for name in list(from)? {
            let (src, dst) = (from.join(&name), to.join(&name));
            let meta = fs_err::symlink_metadata(&src).map_err(context("stat", &src))?;
            let kind = meta.file_type();
            if is_whiteout(&meta) {
                remove(&dst)?;
            } else if kind.is_dir() {
                self.enter_dir(&src, &dst, &meta)?;
            } else if !kind.is_socket() {
                // Sockets have no layer form; they are left out, as in tar.
                remove(&dst)?;
                self.copy_node(&src, &dst, &meta)?;
            }
        }
        Ok(())
    }

    fn enter_dir(&mut self, src: &Path, dst: &Path, meta: &Metadata) -> io::Result<()> {
        match fs_err::symlink_metadata(dst) {
            Ok(below) if below.is_dir() => {
                if is_opaque(src)? {
                    for name in list(dst)? {
                        remove(&dst.join(name))?;
                    }
                }
            }
            Ok(_) => {
                fs_err::remove_file(dst).map_err(context("replace", dst))?;
                fs_err::create_dir(dst).map_err(context("create", dst))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs_err::create_dir(dst).map_err(context("create", dst))?,
            Err(e) => return Err(context("stat", dst)(e)),
        }
        self.merge_dir(src, dst)?;
        // After the children: creating them moved the directory's mtime.
        finish_dir(src, dst, meta)
    }

    fn copy_node(&mut self, src: &Path, dst: &Path, meta: &Metadata) -> io::Result<()> {
        let key = (meta.dev(), meta.ino());
        if meta.nlink() > 1 {
            if let Some(first) = self.links.get(&key) {
                // A failed link (the first copy replaced since) falls back to a copy.
                if fs_err::hard_link(first, dst).is_ok() {
                    return Ok(());
                }
            }
        }
        let kind = meta.file_type();
        let made = if kind.is_file() {
            fs_err::copy(src, dst).map(drop)
        } else if kind.is_symlink() {
            fs_err::read_link(src).and_then(|target| std::os::unix::fs::symlink(target, dst))
        } else {
            make_node(dst, meta.mode(), meta.rdev())
        };
        made.map_err(context("copy", src))?;
        copy_xattrs(src, dst)?;
        set_meta(dst, &Stat::of(meta))?;
        if meta.nlink() > 1 {
            self.links.insert(key, dst.to_path_buf());
        }
        Ok(())
    }
}

/// Gives `dst` the xattrs and metadata of the layer's directory `src`; the
/// topmost layer's directory is the one overlayfs shows.
fn finish_dir(src: &Path, dst: &Path, meta: &Metadata) -> io::Result<()> {
    let wanted = xattr_names(src)?;
    for name in xattr_names(dst)? {
        if !wanted.contains(&name) {
            xattr::remove(dst, &name).map_err(context("remove xattrs of", dst))?;
        }
    }
    copy_xattrs(src, dst)?;
    set_meta(dst, &Stat::of(meta))
}

/// What is recorded of a path: everything change detection compares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    rdev: u64,
    /// (device, inode): whether it is still the same file.
    id: (u64, u64),
}

impl Stat {
    fn of(meta: &Metadata) -> Stat {
        Stat {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            rdev: meta.rdev(),
            id: (meta.dev(), meta.ino()),
        }
    }

    fn is_dir(&self) -> bool {
        self.mode & nix::libc::S_IFMT == nix::libc::S_IFDIR
    }

    /// Directory sizes are the filesystem's bookkeeping, not content; a
    /// directory's entries changing is seen in its mtime and its children.
    fn same_dir_meta(&self, other: &Stat) -> bool {
        (self.mode, self.uid, self.gid, self.mtime) == (other.mode, other.uid, other.gid, other.mtime)
    }
}

/// What tells a directory made again from the one recorded: ext4 hands a
/// freed inode number straight back, so the number alone does not.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Incarnation {
    generation: Option<u32>,
    birth: Option<(i64, u32)>,
}

impl Incarnation {
    fn of(dir: &Path) -> io::Result<Incarnation> {
        let generation = inode_generation(dir).map_err(context("read the generation of", dir))?;
        let birth = birth_time(dir).map_err(context("stat", dir))?;
        Ok(Incarnation { generation, birth })
    }
}

/// A path of the recorded tree.
#[derive(Debug)]
struct Node {
    stat: Stat,
    link: Option<PathBuf>,
    /// Directories only.
    incarnation: Option<Incarnation>,
    children: BTreeMap<OsString, Node>,
}

impl Node {
    fn record(path: &Path) -> io::Result<Node> {
        let meta = fs_err::symlink_metadata(path).map_err(context("stat", path))?;
        Node::of(path, &meta)
    }

    fn of(path: &Path, meta: &Metadata) -> io::Result<Node> {
        let mut children = BTreeMap::new();
        let mut incarnation = None;
        if meta.is_dir() {
            incarnation = Some(Incarnation::of(path)?);
            for (name, child) in entries(path)? {
                let node = Node::of(&path.join(&name), &child)?;
                children.insert(name, node);
            }
        }
        Ok(Node { stat: Stat::of(meta), link: link_of(path, meta)?, incarnation, children })
    }

    fn find(&self, rel: &Path) -> Option<&Node> {
        rel.iter().try_fold(self, |node, name| node.children.get(name))
    }
}

/// Writes the changes between the record and the tree into the upper dir.
struct Diff<'a> {
    merged: &'a Path,
    upper: &'a Path,
    before: &'a Node,
    /// Directories of upper already created (relative).
    made: HashSet<PathBuf>,
    /// Upper directories and the metadata they get once filled (parents
    /// first; applied in reverse so no mtime is disturbed afterwards).
    dirs: Vec<(PathBuf, Stat)>,
}

impl Diff<'_> {
    /// `rel` is the same directory in the record and the tree.
    fn dir(&mut self, rel: &Path, before: &Node) -> io::Result<()> {
        let now = entries(&self.merged.join(rel))?;
        for name in before.children.keys() {
            if !now.contains_key(name) {
                self.whiteout(&rel.join(name))?;
            }
        }
        for (name, meta) in now {
            let child = rel.join(&name);
            match before.children.get(&name) {
                None => self.take(&child, &meta, false)?,
                Some(old) => self.compare(&child, old, &meta)?,
            }
        }
        Ok(())
    }

    fn compare(&mut self, rel: &Path, old: &Node, meta: &Metadata) -> io::Result<()> {
        let now = Stat::of(meta);
        let path = self.merged.join(rel);
        match (old.stat.is_dir(), now.is_dir()) {
            // Deleted and made again: whatever was below must stay hidden.
            (true, true) if old.stat.id != now.id || old.incarnation != Some(Incarnation::of(&path)?) => self.take(rel, meta, true),
            (true, true) => {
                if !old.stat.same_dir_meta(&now) {
                    self.make_dir(rel, now)?;
                }
                self.dir(rel, old)
            }
            _ if old.stat == now && old.link == link_of(&path, meta)? => Ok(()),
            _ => self.take(rel, meta, false),
        }
    }

    /// Moves a new or changed path (a whole directory, when new) into upper.
    fn take(&mut self, rel: &Path, meta: &Metadata, opaque: bool) -> io::Result<()> {
        self.parents(rel)?;
        let (from, to) = (self.merged.join(rel), self.upper.join(rel));
        fs_err::rename(&from, &to).map_err(context("move", &from))?;
        if meta.is_dir() {
            // Renaming rewrites `..`, which may touch the mtime.
            self.dirs.push((rel.to_path_buf(), Stat::of(meta)));
        }
        if opaque {
            xattr::set(&to, opaque_xattr(), b"y").map_err(context("mark opaque", &to))?;
        }
        Ok(())
    }

    fn whiteout(&mut self, rel: &Path) -> io::Result<()> {
        self.parents(rel)?;
        let path = self.upper.join(rel);
        make_node(&path, nix::libc::S_IFCHR, 0).map_err(context("create whiteout", &path))
    }

    /// Makes the parents of `rel` in upper, unchanged ones with their
    /// recorded metadata.
    fn parents(&mut self, rel: &Path) -> io::Result<()> {
        let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) else { return Ok(()) };
        if self.made.contains(parent) {
            return Ok(());
        }
        let stat = self.before.find(parent).map(|node| node.stat.clone());
        let stat = stat.ok_or_else(|| io::Error::other(format!("{} is not in the record", parent.display())))?;
        self.make_dir(parent, stat)
    }

    fn make_dir(&mut self, rel: &Path, stat: Stat) -> io::Result<()> {
        self.parents(rel)?;
        let path = self.upper.join(rel);
        fs_err::create_dir(&path).map_err(context("create", &path))?;
        copy_xattrs(&self.merged.join(rel), &path)?;
        self.made.insert(rel.to_path_buf());
        self.dirs.push((rel.to_path_buf(), stat));
        Ok(())
    }

    fn finish(self) -> io::Result<()> {
        for (rel, stat) in self.dirs.iter().rev() {
            set_meta(&self.upper.join(rel), stat)?;
        }
        Ok(())
    }
}

/// A character device 0/0: overlayfs's mark of a deleted path.
fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> io::Result<bool> {
    match xattr::get(dir, opaque_xattr()) {
        Ok(value) => Ok(value.as_deref() == Some(b"y")),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => Ok(false),
        Err(e) => Err(context("read xattrs of", dir)(e)),
    }
}

/// The names in `dir`, unsorted.
fn list(dir: &Path) -> io::Result<Vec<OsString>> {
    let listing = fs_err::read_dir(dir).map_err(context("list", dir))?;
    listing.map(|entry| entry.map(|e| e.file_name()).map_err(context("list", dir))).collect()
}

/// The entries of `dir` with their metadata, sockets left out (they have
/// no layer form, so they are neither recorded nor taken).
fn entries(dir: &Path) -> io::Result<BTreeMap<OsString, Metadata>> {
    let mut found = BTreeMap::new();
    for name in list(dir)? {
        let path = dir.join(&name);
        let meta = fs_err::symlink_metadata(&path).map_err(context("stat", &path))?;
        if !meta.file_type().is_socket() {
            found.insert(name, meta);
        }
    }
    Ok(found)
}

fn link_of(path: &Path, meta: &Metadata) -> io::Result<Option<PathBuf>> {
    if !meta.file_type().is_symlink() {
        return Ok(None);
    }
    fs_err::read_link(path).map(Some).map_err(context("read link", path))
}

/// Removes whatever is at `path` (never following a symlink); a missing
/// path is fine.
fn remove(path: &Path) -> io::Result<()> {
    let removed = match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs_err::remove_dir_all(path),
        Ok(_) => fs_err::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(context("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Owner, then mode (chown clears set-id bits), then mtime; a symlink's own.
fn set_meta(path: &Path, stat: &Stat) -> io::Result<()> {
    set_owner(path, stat.uid, stat.gid).map_err(context("chown", path))?;
    if stat.mode & nix::libc::S_IFMT != nix::libc::S_IFLNK {
        fs_err::set_permissions(path, fs::Permissions::from_mode(stat.mode & 0o7777)).map_err(context("chmod", path))?;
    }
    set_times(path, stat.mtime).map_err(context("set times of", path))
}

/// The xattrs of `path` that are content: overlayfs's own are not.
fn xattr_names(path: &Path) -> io::Result<Vec<OsString>> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(context("list xattrs of", path)(e)),
    };
    Ok(names.filter(|name| !is_overlay_xattr(name.as_encoded_bytes())).collect())
}

fn copy_xattrs(from: &Path, to: &Path) -> io::Result<()> {
    for name in xattr_names(from)? {
        if let Some(value) = xattr::get(from, &name).map_err(context("read xattrs of", from))? {
            xattr::set(to, &name, &value).map_err(context("set xattrs of", to))?;
        }
    }
    Ok(())
}

/// Names the action and path an error comes from, keeping its kind.
fn context<'a>(action: &'static str, path: &'a Path) -> impl Fn(io::Error) -> io::Error + 'a {
    move |e| io::Error::new(e.kind(), format!("cannot {action} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn write(path: &Path, text: &str) {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    fn whiteout(path: &Path) {
        make_node(path, nix::libc::S_IFCHR, 0).unwrap();
    }

    fn opaque(path: &Path) -> bool {
        xattr::get(path, opaque_xattr()).unwrap().is_some()
    }

    /// Two layers: the top one deletes `etc/gone` and makes `opq` opaque.
    fn layers(dir: &Path) -> Vec<PathBuf> {
        let (bottom, top) = (dir.join("l1"), dir.join("l2"));
        for file in ["etc/a", "etc/gone", "b", "keep/f", "opq/old", "d/x", "r/old", "usr/bin/tool"] {
            write(&bottom.join(file), file);
        }
        symlink("etc/a", bottom.join("link")).unwrap();
        fs_err::hard_link(bottom.join("b"), bottom.join("b2")).unwrap();
        make_node(&bottom.join("fifo"), nix::libc::S_IFIFO, 0).unwrap();
        fs_err::create_dir(bottom.join("dev")).unwrap();
        make_node(&bottom.join("dev/null"), nix::libc::S_IFCHR, nix::sys::stat::makedev(1, 3)).unwrap();
        xattr::set(bottom.join("etc/a"), "user.origin", b"l1").unwrap();
        write(&bottom.join("locked/f"), "f");
        fs_err::set_permissions(bottom.join("locked"), fs::Permissions::from_mode(0o000)).unwrap();
        let suid = bottom.join("usr/bin/suid");
        write(&suid, "s");
        set_meta(&suid, &Stat { mode: 0o104755, uid: 1000, gid: 1001, size: 0, mtime: (1_600_000_000, 123_456_789), rdev: 0, id: (0, 0) }).unwrap();
        write(&top.join("opq/new"), "new");
        xattr::set(top.join("opq"), opaque_xattr(), b"y").unwrap();
        fs_err::create_dir_all(top.join("etc")).unwrap();
        whiteout(&top.join("etc/gone"));
        write(&top.join("top"), "top");
        vec![bottom, top]
    }

    /// Every path under `root` with a letter for its type (`w` whiteout,
    /// `o` opaque directory).
    fn tree(root: &Path) -> Vec<String> {
        let mut found = Vec::new();
        walk(root, Path::new(""), &mut found);
        found.sort();
        found
    }

    fn walk(root: &Path, rel: &Path, found: &mut Vec<String>) {
        for name in list(&root.join(rel)).unwrap() {
            let rel = rel.join(name);
            let path = root.join(&rel);
            let meta = fs_err::symlink_metadata(&path).unwrap();
            let kind = match meta.file_type() {
                t if t.is_dir() && opaque(&path) => 'o',
                t if t.is_dir() => 'd',
                t if t.is_symlink() => 'l',
                t if t.is_fifo() => 'p',
                _ if is_whiteout(&meta) => 'w',
                _ => 'f',
            };
            found.push(format!("{kind} {}", rel.display()));
            if meta.is_dir() {
                walk(root, &rel, found);
            }
        }
    }

    #[test]
    fn merged_tree_applies_whiteouts_and_opaque_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layers(dir.path());
        let scratch = dir.path().join("step");
        let copied = RootfsCopy { layers: &layers, scratch: &scratch, read_only: true }.prepare().unwrap();
        let root = copied.root();
        let expected = [
            "d d",
            "d dev",
            "d etc",
            "d keep",
            "d locked",
            "d opq",
            "d r",
            "d usr",
            "d usr/bin",
            "f b",
            "f b2",
            "f d/x",
            "f dev/null",
            "f etc/a",
            "f keep/f",
            "f locked/f",
            "f opq/new",
            "f r/old",
            "f top",
            "f usr/bin/suid",
            "f usr/bin/tool",
            "l link",
            "p fifo",
        ];
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(tree(root), expected);
        assert_eq!(fs_err::read_link(root.join("link")).unwrap(), Path::new("etc/a"));
        let (b, b2) = (fs_err::metadata(root.join("b")).unwrap(), fs_err::metadata(root.join("b2")).unwrap());
        assert_eq!(b.ino(), b2.ino());
        let suid = fs_err::symlink_metadata(root.join("usr/bin/suid")).unwrap();
        assert_eq!((suid.mode(), suid.uid(), suid.gid()), (0o104755, 1000, 1001));
        assert_eq!((suid.mtime(), suid.mtime_nsec()), (1_600_000_000, 123_456_789));
        let null = fs_err::symlink_metadata(root.join("dev/null")).unwrap();
        assert!(null.file_type().is_char_device() && null.rdev() == nix::sys::stat::makedev(1, 3));
        assert_eq!(xattr::get(root.join("etc/a"), "user.origin").unwrap().as_deref(), Some(&b"l1"[..]));
        assert_eq!(fs_err::symlink_metadata(root.join("locked")).unwrap().mode() & 0o7777, 0);
        assert!(!opaque(&root.join("opq")));
        assert!(copied.finish().unwrap().is_none());
        assert!(!scratch.join("merged").exists());
    }

    /// The mutations both snapshotters are checked with.
    fn mutate(root: &Path) {
        fs_err::write(root.join("new"), "new").unwrap();
        fs_err::write(root.join("etc/a"), "changed").unwrap();
        fs_err::remove_file(root.join("b")).unwrap();
        fs_err::set_permissions(root.join("keep"), fs::Permissions::from_mode(0o700)).unwrap();
        fs_err::remove_dir_all(root.join("d")).unwrap();
        fs_err::write(root.join("d"), "was a directory").unwrap();
        fs_err::remove_dir_all(root.join("r")).unwrap();
        write(&root.join("r/y"), "y");
        fs_err::write(root.join("usr/bin/tool"), "tool, longer").unwrap();
        write(&root.join("opt/x"), "x");
        symlink("opt/x", root.join("newlink")).unwrap();
        set_owner(&root.join("keep/f"), 7, 7).unwrap();
        fs_err::write(root.join("locked/g"), "g").unwrap();
        fs_err::remove_file(root.join("top")).unwrap();
        write(&root.join("top/z"), "file became a directory");
        fs_err::remove_file(root.join("link")).unwrap();
        fs_err::write(root.join("link"), "symlink became a file").unwrap();
        fs_err::set_permissions(root.join("usr/bin/suid"), fs::Permissions::from_mode(0o4711)).unwrap();
    }

    #[test]
    fn upper_holds_changes_in_overlay_form() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layers(dir.path());
        let scratch = dir.path().join("step");
        let copied = RootfsCopy { layers: &layers, scratch: &scratch, read_only: false }.prepare().unwrap();
        let usr_before = fs_err::symlink_metadata(copied.root().join("usr")).unwrap();
        mutate(copied.root());
        let upper = copied.finish().unwrap().unwrap();
        let expected = [
            "d etc",
            "d keep",
            "d locked",
            "d opt",
            "d top",
            "d usr",
            "d usr/bin",
            "f d",
            "f etc/a",
            "f keep/f",
            "f link",
            "f locked/g",
            "f new",
            "f opt/x",
            "f r/y",
            "f top/z",
            "f usr/bin/suid",
            "f usr/bin/tool",
            "l newlink",
            "o r",
            "w b",
        ];
        assert_eq!(tree(&upper), expected);
        assert_eq!(fs_err::symlink_metadata(upper.join("keep")).unwrap().mode() & 0o7777, 0o700);
        let usr = fs_err::symlink_metadata(upper.join("usr")).unwrap();
        assert_eq!((usr.mode(), usr.mtime(), usr.mtime_nsec()), (usr_before.mode(), usr_before.mtime(), usr_before.mtime_nsec()));
        assert_eq!(fs_err::read_to_string(upper.join("etc/a")).unwrap(), "changed");
        assert_eq!(xattr::get(upper.join("etc/a"), "user.origin").unwrap().as_deref(), Some(&b"l1"[..]));
        assert_eq!(fs_err::symlink_metadata(upper.join("locked")).unwrap().mode() & 0o7777, 0);
        assert_eq!(fs_err::symlink_metadata(upper.join("usr/bin/suid")).unwrap().mode() & 0o7777, 0o4711);
        assert_eq!(fs_err::symlink_metadata(upper.join("b")).unwrap().rdev(), 0);
        assert!(!scratch.join("merged").exists());
    }

    #[test]
    fn unchanged_tree_gives_empty_upper() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layers(dir.path());
        let scratch = dir.path().join("step");
        let copied = RootfsCopy { layers: &layers, scratch: &scratch, read_only: false }.prepare().unwrap();
        let upper = copied.finish().unwrap().unwrap();
        assert_eq!(tree(&upper), Vec::<String>::new());
    }

    #[test]
    fn sockets_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("l1");
        write(&layer.join("f"), "f");
        let _listener = std::os::unix::net::UnixListener::bind(layer.join("sock")).unwrap();
        let scratch = dir.path().join("step");
        let layers = [layer];
        let copied = RootfsCopy { layers: &layers, scratch: &scratch, read_only: false }.prepare().unwrap();
        assert_eq!(tree(copied.root()), ["f f"]);
        let _inside = std::os::unix::net::UnixListener::bind(copied.root().join("sock2")).unwrap();
        assert_eq!(tree(&copied.finish().unwrap().unwrap()), Vec::<String>::new());
    }

    /// Overlayfs (without its index) copies up only the name written
    /// through; the copy keeps both names of the changed file, still linked.
    #[test]
    fn hard_links_stay_linked() {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("l1");
        write(&layer.join("h1"), "h");
        fs_err::hard_link(layer.join("h1"), layer.join("h2")).unwrap();
        fs_err::create_dir(layer.join("tmp")).unwrap();
        fs_err::set_permissions(layer.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        let (layers, scratch) = ([layer], dir.path().join("step"));
        let copied = RootfsCopy { layers: &layers, scratch: &scratch, read_only: false }.prepare().unwrap();
        assert_eq!(fs_err::symlink_metadata(copied.root().join("tmp")).unwrap().mode() & 0o7777, 0o1777);
        let mut file = fs::OpenOptions::new().append(true).open(copied.root().join("h1")).unwrap();
        io::Write::write_all(&mut file, b" more").unwrap();
        drop(file);
        let upper = copied.finish().unwrap().unwrap();
        assert_eq!(tree(&upper), ["f h1", "f h2"]);
        let (h1, h2) = (fs_err::symlink_metadata(upper.join("h1")).unwrap(), fs_err::symlink_metadata(upper.join("h2")).unwrap());
        assert_eq!(h1.ino(), h2.ino());
        assert_eq!(fs_err::read_to_string(upper.join("h2")).unwrap(), "h more");
    }

    /// The tar entries of `upper` as a layer: name, type, mode, owner, size
    /// (directory mtimes differ between the two runs and are left out).
    fn layer_entries(upper: &Path) -> Vec<String> {
        let options = crate::layer::WriteOptions { compression: crate::layer::Compression::None, source_date_epoch: None };
        let (_, tar) = crate::layer::write_layer(upper, Vec::new(), &options).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries = archive.entries().unwrap().map(|entry| {
            let entry = entry.unwrap();
            let header = entry.header();
            let (mode, uid, gid) = (header.mode().unwrap(), header.uid().unwrap(), header.gid().unwrap());
            let path = entry.path().unwrap().display().to_string();
            format!("{path} {:?} {mode:o} {uid}:{gid} {}", header.entry_type(), header.size().unwrap())
        });
        entries.collect()
    }

    #[test]
    fn same_layer_as_overlay() {
        let dir = tempfile::tempdir().unwrap();
        let layers = layers(dir.path());
        let scratch = dir.path().join("overlay");
        let mounted = super::super::RootfsMount { layers: &layers, scratch: &scratch, read_only: false }.mount().unwrap();
        mutate(mounted.root());
        let overlay = layer_entries(&mounted.finish().unwrap().unwrap());
        let scratch = dir.path().join("copy");
        let copied = RootfsCopy { layers: &layers, scratch: &scratch, read_only: false }.prepare().unwrap();
        mutate(copied.root());
        let copy = layer_entries(&copied.finish().unwrap().unwrap());
        // The one difference: overlayfs marks a directory made where a file
        // was opaque, which hides nothing.
        let redundant = "top/.wh..wh..opq Regular 644 0:0 0";
        assert!(overlay.iter().any(|entry| entry == redundant));
        let overlay: Vec<String> = overlay.into_iter().filter(|entry| entry != redundant).collect();
        assert_eq!(copy, overlay);
    }
}
