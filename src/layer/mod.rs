//! The layer codec: OCI layer tarballs written from a directory and unpacked
//! onto one.
//!
//! On disk a layer is a *snapshot* in the form overlayfs reads as a lower
//! directory: a deleted path is a character device 0/0, a directory that
//! hides what lies below it carries `trusted.overlay.opaque=y`. In a tarball
//! those become OCI whiteouts: an empty `.wh.<name>` file and a
//! `.wh..wh..opq` file inside the directory. [`write_layer`] and [`unpack`]
//! translate between the two. In a user namespace (rootless strata)
//! overlayfs reads `user.overlay.opaque` instead ([`opaque_xattr`]); both
//! names become the same tar entry, so a layer does not depend on how it
//! was built.
//!
//! See: OCI image spec, "Image Layer Filesystem Changeset".

mod compression;
pub mod format;
mod limit;
mod pipeline;
mod rootless;
mod unpack;
mod write;

use std::path::PathBuf;

pub use compression::{decompress, Compression, Encoder};
pub use limit::{too_large, Limited, SizeLimit};
pub use pipeline::EncoderThread;
pub use rootless::{in_user_namespace, is_overlay_xattr, opaque_xattr};
pub use unpack::{unpack, unpack_and_recompress, unpack_limited, Unpacked};
pub use write::{write_layer, LayerInfo, WriteOptions};

pub use format::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, OVERLAY_USER_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX};
/// PAX record prefix for extended attributes (as GNU tar and Go write them).
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Why a layer could not be written or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A filesystem operation on the destination or a source file failed.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done, as a verb phrase ("create", "read").
        action: &'static str,
        /// The host path it was done to.
        path: PathBuf,
        /// The underlying I/O error.
        cause: std::io::Error,
    },
    /// Reading the input stream failed (not a damaged compression stream:
    /// that is [`LayerError::Compressed`]).
    #[error("cannot read the layer: {0}")]
    Read(#[source] std::io::Error),
    /// Writing the layer blob or copying into it failed.
    #[error("cannot write the layer: {0}")]
    Write(#[source] std::io::Error),
    /// An entry cannot be unpacked safely: a hard link outside the layer or
    /// to a file not in it, a whiteout of `.` or `..`, an unknown type.
    #[error("refusing layer entry {path:?}: {reason}")]
    Unsafe {
        /// The entry's path as written in the archive.
        path: String,
        /// Why it was refused, for the message.
        reason: &'static str,
    },
    /// The input has no bytes at all.
    #[error("the input is empty: expected a tar archive (plain, gzip or zstd)")]
    Empty,
    /// The stream ended inside a file's data.
    #[error("layer entry {path:?} is truncated: {declared} bytes declared, {actual} present")]
    Truncated {
        /// The entry's path as written in the archive.
        path: String,
        /// The size its header declared, in bytes.
        declared: u64,
        /// How many bytes of it were present.
        actual: u64,
    },
    /// The magic bytes say xz or bzip2, which OCI layers do not use.
    #[error("{0} compression is not supported: use a plain, gzip or zstd tar archive")]
    UnsupportedCompression(&'static str),
    /// The gzip or zstd decoder failed on the input.
    #[error("the {compression} stream is damaged: {reason}")]
    Compressed {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// The decoder's error message.
        reason: String,
    },
    /// The first entry's header could not be read: the input is not tar.
    #[error("the input is not a tar archive (plain, gzip or zstd)")]
    NotTar,
    /// A header after the first could not be read.
    #[error("the tar stream is cut short or damaged after entry {after:?}")]
    Damaged {
        /// The path of the last entry read whole.
        after: String,
    },
    /// A decompression bomb, or an archive larger than the disk or a cap.
    #[error("{}", limit::describe(entry.as_deref(), *end, *limit, *free))]
    TooLarge {
        /// The entry that would cross the limit; `None` when the plain
        /// stream itself ran past it.
        entry: Option<String>,
        /// Where the entry's data would end in the plain tar stream, in bytes.
        end: u64,
        /// The limit, in bytes (see [`SizeLimit`]).
        limit: u64,
        /// The free space measured, when it is what limits.
        free: Option<u64>,
    },
}

impl LayerError {
    fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> LayerError {
        LayerError::Io { action, path: path.to_path_buf(), cause: source }
    }
}
