//! What the filesystem outputs share: the image's layers mounted read-only
//! (in a scratch directory of the store) and written out as one tree.

use std::path::Path;

use super::ExportError;
use crate::layer::{write_layer, Compression, LayerError, WriteOptions};
use crate::store::Store;

/// Mounts `name`'s layers and hands their merged root to `write`; the mount
/// and scratch space are gone afterwards, whatever `write` returned.
pub(super) fn with_root(
    store: &Store,
    name: &str,
    write: impl FnOnce(&Path) -> Result<(), ExportError>,
    snapshotter: crate::exec::Snapshotter,
) -> Result<(), ExportError> {
    let image = store.resolve(name)?;
    let layers = store.ensure_snapshots(&image.config.rootfs.diff_ids)?;
    let scratch = store.temp_dir("export")?;
    let result = (|| {
        let mounted = snapshotter.mount(&layers, &scratch, true).map_err(|source| ExportError::Write { path: scratch.clone(), source })?;
        let written = write(mounted.root());
        mounted.finish().map_err(|source| ExportError::Write { path: scratch.clone(), source })?;
        written
    })();
    let _ = fs_err::remove_dir_all(&scratch);
    result
}

/// The tree under `root` as one uncompressed, sorted tar stream.
pub(super) fn tar_tree(root: &Path, out: impl std::io::Write + Send + 'static) -> Result<(), LayerError> {
    let options = WriteOptions { compression: Compression::None, source_date_epoch: None };
    write_layer(root, out, &options).map(|_| ())
}
