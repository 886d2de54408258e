//! Snapshots made on first use. A pulled layer is stored as its blob
//! alone (the pull runs at the speed of a blob copy); the first command
//! that needs its files — a build's `FROM` or `COPY --from`, `run`, a
//! filesystem export — unpacks it here, through [`Store::ensure_snapshot`].
//!
//! The blob's digest was checked while it was downloaded; its content is
//! checked here, as containerd does at unpack: the plain tar must hash to
//! the diff_id the image's config names, or the unpack fails and no
//! snapshot is made. The bomb guard of `layer/limit.rs` applies as to any
//! unpack. One process unpacks a layer at a time (a flock per layer in
//! `locks/unpack/`); the others wait and find the snapshot in place. The
//! work happens in `tmp/` and is renamed into place when whole, so a
//! killed unpack leaves nothing under `snapshots/`.

use std::io::BufReader;
use std::path::PathBuf;

use super::{snapshots, LayerMismatch, LayerRecord, Lock, Store, StoreError};
use crate::digest::Digest;
use crate::layer;

/// Snapshots unpacked at once when several layers need one.
const UNPACK_JOBS: usize = 4;

/// What [`Store::ensure_snapshot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The snapshot was there already (or another process made it meanwhile).
    Present,
    /// This call unpacked it from the layer's blob.
    Unpacked,
}

impl Store {
    /// Makes sure the snapshot of layer `diff_id` is in place, unpacking
    /// it from its blob if needed. The layer is leased first, so a
    /// concurrent prune leaves it be.
    pub fn ensure_snapshot(&self, diff_id: &Digest) -> Result<Ensured, StoreError> {
        if self.snapshots.contains(diff_id) {
            return Ok(Ensured::Present);
        }
        self.hold_layer(diff_id)?;
        let locks = self.root.join("locks/unpack");
        fs_err::create_dir_all(&locks).map_err(|e| StoreError::io("create", &locks, e))?;
        let _unpacking = Lock::exclusive(&locks.join(diff_id.hex()))?;
        if self.snapshots.contains(diff_id) {
            return Ok(Ensured::Present);
        }
        let record = self.layer(diff_id)?.ok_or(StoreError::MissingBlob(*diff_id))?;
        self.unpack_verified(diff_id, &record)?;
        Ok(Ensured::Unpacked)
    }

    /// Whether the store can give layer `diff_id`'s files: its snapshot
    /// is in place, or its blob is there to be unpacked on first use.
    pub fn has_layer_content(&self, diff_id: &Digest, record: &LayerRecord) -> bool {
        self.snapshots.contains(diff_id) || self.blobs.contains(&record.blob)
    }

    /// [`Store::ensure_snapshot`] for every layer of an image or state
    /// (several unpacked at once); their snapshot paths, bottom first.
    pub fn ensure_snapshots(&self, diff_ids: &[Digest]) -> Result<Vec<PathBuf>, StoreError> {
        let missing: Vec<&Digest> = diff_ids.iter().filter(|d| !self.snapshots.contains(d)).collect();
        for batch in missing.chunks(UNPACK_JOBS) {
            let results: Vec<Result<Ensured, StoreError>> = std::thread::scope(|scope| {
                let handles: Vec<_> = batch.iter().map(|diff_id| scope.spawn(|| self.ensure_snapshot(diff_id))).collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(StoreError::UnpackPanicked))).collect()
            });
            for result in results {
                result?;
            }
        }
        Ok(self.snapshots.paths(diff_ids))
    }

    /// Removes the per-layer unpack locks; only under the exclusive `gc`
    /// lock, when no other process can be waiting on one.
    pub(super) fn remove_unpack_locks(&self) -> Result<(), StoreError> {
        snapshots::remove_tree(&self.root.join("locks/unpack"))
    }

    /// Unpacks `record`'s blob into `tmp/`, checks the diff_id, and moves
    /// the result into place; a blob that unpacks to anything else leaves
    /// no snapshot.
    fn unpack_verified(&self, diff_id: &Digest, record: &LayerRecord) -> Result<(), StoreError> {
        let work = self.temp_dir("unpack")?;
        let result = self.unpack_into(diff_id, record, &work.join("rootfs"));
        let removed = snapshots::remove_tree(&work);
        let unpacked = result?;
        removed?;
        if record.uncompressed_size != unpacked.uncompressed_size {
            let known = LayerRecord { uncompressed_size: unpacked.uncompressed_size, ..record.clone() };
            self.put_layer(diff_id, &known)?;
        }
        Ok(())
    }

    fn unpack_into(&self, diff_id: &Digest, record: &LayerRecord, rootfs: &std::path::Path) -> Result<layer::Unpacked, StoreError> {
        fs_err::create_dir(rootfs).map_err(|e| StoreError::io("create", rootfs, e))?;
        let blob = BufReader::with_capacity(1 << 20, self.blobs.open(&record.blob)?);
        let unpacked = layer::unpack(blob, rootfs).map_err(|source| StoreError::Unpack { blob: record.blob, source })?;
        if unpacked.digest != record.blob {
            return Err(StoreError::Corrupt { digest: record.blob, actual: unpacked.digest });
        }
        if unpacked.diff_id != *diff_id {
            let mismatch = LayerMismatch { blob: record.blob, diff_id: *diff_id, actual: unpacked.diff_id };
            return Err(StoreError::DiffIdMismatch(Box::new(mismatch)));
        }
        self.snapshots.adopt(rootfs, diff_id)?;
        Ok(unpacked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{write_layer, Compression, WriteOptions};

    /// A store holding one gzip layer as its blob alone, as a pull leaves it.
    fn pulled_layer(root: &std::path::Path) -> (Store, Digest) {
        let store = Store::open(root).unwrap();
        let tree = root.join("tree");
        fs_err::create_dir_all(tree.join("etc")).unwrap();
        fs_err::write(tree.join("etc/hello"), "hello\n").unwrap();
        let options = WriteOptions { compression: Compression::Gzip, source_date_epoch: Some(0) };
        let (info, blob) = write_layer(&tree, store.blobs.writer().unwrap(), &options).unwrap();
        blob.commit(Some(&info.digest)).unwrap();
        let record = LayerRecord { blob: info.digest, media_type: Compression::Gzip.media_type().into(), size: info.size, uncompressed_size: 0 };
        store.put_layer(&info.diff_id, &record).unwrap();
        (store, info.diff_id)
    }

    #[test]
    fn concurrent_first_uses_unpack_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, diff_id) = pulled_layer(dir.path());
        assert!(!store.snapshots.contains(&diff_id));
        let outcomes: Vec<Ensured> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4).map(|_| scope.spawn(|| store.ensure_snapshot(&diff_id).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(outcomes.iter().filter(|o| **o == Ensured::Unpacked).count(), 1, "{outcomes:?}");
        assert_eq!(fs_err::read_to_string(store.snapshots.path(&diff_id).join("etc/hello")).unwrap(), "hello\n");
        assert!(store.layer(&diff_id).unwrap().unwrap().uncompressed_size > 0, "the size is known once unpacked");
        assert_eq!(store.ensure_snapshot(&diff_id).unwrap(), Ensured::Present);
    }

    #[test]
    fn a_blob_that_is_not_its_diff_id_leaves_no_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (store, diff_id) = pulled_layer(dir.path());
        let record = store.layer(&diff_id).unwrap().unwrap();
        let claimed = Digest::of(b"another layer");
        store.put_layer(&claimed, &record).unwrap();
        let error = store.ensure_snapshot(&claimed).unwrap_err();
        assert!(matches!(error, StoreError::DiffIdMismatch(_)), "{error}");
        assert!(error.to_string().contains(&claimed.to_string()), "{error}");
        assert!(!store.snapshots.contains(&claimed));
        assert_eq!(fs_err::read_dir(dir.path().join("tmp")).unwrap().count(), 0, "nothing left in tmp/");
    }
}
