//! The names both sides of a layer agree on: OCI whiteouts in tarballs and
//! overlayfs's markers in snapshots. Pure constants, so the executor (which
//! writes overlay upper dirs) and the copier can name them without the
//! codec, and a name is spelt once.
//!
//! See: OCI image spec, "Image Layer Filesystem Changeset"; Linux
//! `Documentation/filesystems/overlayfs.rst`.

/// Name prefix of a whiteout entry in a layer tarball.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Entry that marks its directory opaque in a layer tarball.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs reads to treat a directory as opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// overlayfs's private xattrs (opaque, redirect, origin …): bookkeeping of
/// the filesystem, never content of an image.
pub const OVERLAY_XATTR_PREFIX: &str = "trusted.overlay.";
/// The opaque xattr of an overlay mounted with `userxattr` (in a user
/// namespace, where `trusted.*` cannot be set: rootless strata).
pub const OVERLAY_USER_OPAQUE_XATTR: &str = "user.overlay.opaque";
/// overlayfs's private xattrs on a `userxattr` mount.
pub const OVERLAY_USER_XATTR_PREFIX: &str = "user.overlay.";
