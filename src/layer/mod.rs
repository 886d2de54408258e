//! The layer codec: OCI layer tarballs written from a directory and unpacked
//! onto one.
//!
//! On disk a layer is a *snapshot* in the form overlayfs reads as a lower
//! directory: a deleted path is a character device 0/0, a directory that
//! hides what lies below it carries `trusted.overlay.opaque=y`. In a tarball
//! those become OCI whiteouts: an empty `.wh.<name>` file and a
//! `.wh..wh..opq` file inside the directory. [`write_layer`] and [`unpack`]
//! translate between the two.
//!
//! See: OCI image spec, "Image Layer Filesystem Changeset".

mod compression;
pub mod format;
mod limit;
mod pipeline;
mod unpack;
mod write;

use std::path::PathBuf;

pub use compression::{decompress, Compression, Encoder};
pub use limit::{too_large, Limited, SizeLimit};
pub use pipeline::EncoderThread;
pub use unpack::{unpack, unpack_and_recompress, unpack_limited, Unpacked};
pub use write::{write_layer, LayerInfo, WriteOptions};

pub use format::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX};
/// PAX record prefix for extended attributes (as GNU tar and Go write them).
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Why a layer could not be written or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("cannot {action} {}: {cause}", path.display())]
    Io { action: &'static str, path: PathBuf, cause: std::io::Error },
    #[error("cannot read the layer: {0}")]
    Read(#[source] std::io::Error),
    #[error("cannot write the layer: {0}")]
    Write(#[source] std::io::Error),
    #[error("refusing layer entry {path:?}: {reason}")]
    Unsafe { path: String, reason: &'static str },
    #[error("the input is empty: expected a tar archive (plain, gzip or zstd)")]
    Empty,
    #[error("layer entry {path:?} is truncated: {declared} bytes declared, {actual} present")]
    Truncated { path: String, declared: u64, actual: u64 },
    #[error("{0} compression is not supported: use a plain, gzip or zstd tar archive")]
    UnsupportedCompression(&'static str),
    #[error("the {compression} stream is damaged: {reason}")]
    Compressed { compression: &'static str, reason: String },
    #[error("the input is not a tar archive (plain, gzip or zstd)")]
    NotTar,
    #[error("the tar stream is cut short or damaged after entry {after:?}")]
    Damaged { after: String },
    /// A decompression bomb, or an archive larger than the disk or a cap.
    #[error("{}", limit::describe(entry.as_deref(), *end, *limit, *free))]
    TooLarge { entry: Option<String>, end: u64, limit: u64, free: Option<u64> },
}

impl LayerError {
    fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> LayerError {
        LayerError::Io { action, path: path.to_path_buf(), cause: source }
    }
}
