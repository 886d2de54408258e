//! A step's root filesystem through `fuse-overlayfs` (the user-space
//! overlay rootless BuildKit and Podman fall back to where the kernel's
//! overlayfs cannot be mounted in a user namespace, before kernel 5.11).
//! After the unmount its upper directory is rewritten into the form the
//! kernel's overlay leaves, so the rest of strata cannot tell them apart:
//! fuse-overlayfs marks an opaque directory with the xattr
//! `user.fuseoverlayfs.opaque` and a `.wh..wh..opq` file (and may leave a
//! whiteout of `.opq` beside it), and where it cannot make a 0/0 character
//! device it writes a whiteout as a `.wh.NAME` file.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::overlay::Mounted;
use super::sys::make_node;
use crate::layer::{OPAQUE_MARKER, WHITEOUT_PREFIX};

/// The program, looked up in `PATH`.
const PROGRAM: &str = "fuse-overlayfs";
/// fuse-overlayfs's own opaque mark.
const FUSE_OPAQUE_XATTR: &str = "user.fuseoverlayfs.opaque";

/// A mounted fuse-overlayfs root; unmounted when dropped.
#[derive(Debug)]
pub struct FuseMounted {
    mount: Mounted,
    lowers: Vec<PathBuf>,
}

/// The installed fuse-overlayfs, if any (looked up once: the snapshotter
/// choice and every RUN's mount ask).
pub fn program() -> Option<PathBuf> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| super::find_program(PROGRAM)).clone()
}

/// Mounts `layers` (bottom first) at `scratch/merged`, writable unless `read_only`.
pub fn mount(layers: &[PathBuf], scratch: &Path, read_only: bool) -> io::Result<FuseMounted> {
    let program =
        program().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "fuse-overlayfs is not installed (Debian: `apt-get install fuse-overlayfs`)"))?;
    let merged = scratch.join("merged");
    fs_err::create_dir_all(&merged)?;
    let empty = scratch.join("empty");
    let mut lowers: Vec<&Path> = layers.iter().rev().map(PathBuf::as_path).collect();
    if lowers.is_empty() {
        fs_err::create_dir_all(&empty)?;
        lowers.push(&empty);
    }
    let mut options = format!("lowerdir={}", join(&lowers)?);
    let upper = scratch.join("upper");
    if !read_only {
        let work = scratch.join("work");
        fs_err::create_dir_all(&upper)?;
        fs_err::create_dir_all(&work)?;
        options.push_str(&format!(",upperdir={},workdir={}", escape(&upper)?, escape(&work)?));
    }
    let output = Command::new(&program).arg("-o").arg(&options).arg(&merged).output()?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        return Err(io::Error::other(format!("{} failed ({}): {said}", program.display(), output.status)));
    }
    Ok(FuseMounted { mount: Mounted::new(merged, (!read_only).then_some(upper)), lowers: layers.to_vec() })
}

fn join(lowers: &[&Path]) -> io::Result<String> {
    Ok(lowers.iter().map(|l| escape(l)).collect::<io::Result<Vec<_>>>()?.join(":"))
}

/// A path as one mount option value; `:` and `,` would split it.
fn escape(path: &Path) -> io::Result<String> {
    let text = path
        .to_str()
        .filter(|t| !t.contains([':', ',', '\n']))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("fuse-overlayfs cannot take the path {}", path.display())))?;
    Ok(text.to_owned())
}

impl FuseMounted {
    /// The merged view: the container's root.
    pub fn root(&self) -> &Path {
        self.mount.root()
    }

    /// Unmounts and returns the upper directory in the kernel overlay's form.
    pub fn finish(self) -> io::Result<Option<PathBuf>> {
        let upper = self.mount.finish()?;
        if let Some(upper) = &upper {
            normalize(upper, &self.lowers)?;
        }
        Ok(upper)
    }
}

/// Rewrites fuse-overlayfs's marks in the upper directory `upper`
/// (recursively) into the kernel overlay's: opaque directories get
/// [`crate::layer::opaque_xattr`], `.wh.NAME` files become 0/0 character
/// devices. fuse-overlayfs marks every directory it makes opaque; as the
/// kernel does, only one that hides something of the `lowers` stays so.
fn normalize(upper: &Path, lowers: &[PathBuf]) -> io::Result<()> {
    normalize_dir(upper, Path::new(""), lowers)
}

fn normalize_dir(upper: &Path, rel: &Path, lowers: &[PathBuf]) -> io::Result<()> {
    let dir = upper.join(rel);
    let dir = dir.as_path();
    let mut opaque = xattr::get(dir, FUSE_OPAQUE_XATTR)?.is_some();
    if opaque {
        xattr::remove(dir, FUSE_OPAQUE_XATTR)?;
    }
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let path = entry.path();
        let kind = entry.file_type()?;
        let text = name.to_string_lossy();
        if text == OPAQUE_MARKER || text == ".wh..opq" {
            opaque = true;
            fs_err::remove_file(&path)?;
        } else if let Some(hidden) = text.strip_prefix(WHITEOUT_PREFIX).filter(|_| kind.is_file()) {
            fs_err::remove_file(&path)?;
            make_node(&dir.join(hidden), nix::libc::S_IFCHR, 0)?;
        } else if kind.is_dir() {
            normalize_dir(upper, &rel.join(&name), lowers)?;
        }
    }
    let hides = lowers.iter().any(|lower| fs_err::symlink_metadata(lower.join(rel)).is_ok());
    if opaque && hides && !rel.as_os_str().is_empty() {
        xattr::set(dir, crate::layer::opaque_xattr(), b"y")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn fuse_marks_become_overlay_marks() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("d");
        fs_err::create_dir_all(&d).unwrap();
        fs_err::write(d.join(OPAQUE_MARKER), "").unwrap();
        fs_err::write(d.join("new"), "n").unwrap();
        fs_err::write(dir.path().join(".wh.gone"), "").unwrap();
        let fresh = dir.path().join("fresh");
        fs_err::create_dir_all(&fresh).unwrap();
        fs_err::write(fresh.join(OPAQUE_MARKER), "").unwrap();
        let lower = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(lower.path().join("d")).unwrap();
        normalize(dir.path(), &[lower.path().to_path_buf()]).unwrap();
        assert!(!fresh.join(OPAQUE_MARKER).exists());
        assert!(xattr::get(&fresh, crate::layer::opaque_xattr()).unwrap().is_none(), "nothing below to hide");
        assert!(fs_err::symlink_metadata(dir.path().join("gone")).unwrap().file_type().is_char_device());
        assert!(!d.join(OPAQUE_MARKER).exists() && d.join("new").exists());
        assert_eq!(xattr::get(&d, crate::layer::opaque_xattr()).unwrap().as_deref(), Some(&b"y"[..]));
        assert!(xattr::get(dir.path(), crate::layer::opaque_xattr()).unwrap().is_none());
    }
}
