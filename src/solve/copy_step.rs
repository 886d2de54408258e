//! A COPY/ADD step: the copy runs in the step's root filesystem and is
//! committed as its layer. Into a directory no layer has, the files are
//! written straight into the upper directory (see `copy/direct.rs`), where
//! those unchanged since the step's last build are hard links to its
//! previous snapshot (`copy/reuse.rs`) rather than copies.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::{SolveError, Solver};
use crate::copy::{copy, prepare_new_dir, CopyRequest, CopySpec, Expected, Reuse, SourceFilter, SourceLayers};
use crate::digest::Digest;
use crate::exec::Snapshotter;
use crate::store::LayerRecord;

/// Where a copy reads, and what it may reuse.
pub(super) struct CopyFrom<'a> {
    /// The source root: the context, or a stage's or image's mounted root.
    pub source: &'a Path,
    /// The context's `.dockerignore`.
    pub filter: Option<&'a dyn SourceFilter>,
    /// For a copy from the context: what its key covered.
    pub expected: Option<&'a Expected>,
    /// The step's previous snapshot, with its files' contents.
    pub reuse: Option<&'a Reuse>,
    /// For a stage or image source: its snapshot directories, bottom first.
    pub layers: Option<&'a [PathBuf]>,
}

impl Solver<'_> {
    /// Copies `spec` into a root made of `state`'s layers; returns the
    /// layer, if the copy changed anything.
    pub(super) fn copy_step(&self, state: &super::state::StageState, spec: &CopySpec, from: &CopyFrom) -> Result<Option<(Digest, LayerRecord)>, SolveError> {
        let aimed = RefCell::new(None);
        let contents = RefCell::new(Vec::new());
        let layers = match from.layers.filter(|_| self.options.snapshotter == Snapshotter::Overlay) {
            Some(paths) => Some(SourceLayers::open(paths).map_err(|e| SolveError::io("open the layers of", from.source, e))?),
            None => None,
        };
        let run = |op: &CopySpec, root: &Path, direct: bool| -> Result<(), SolveError> {
            let request = CopyRequest {
                op,
                source: from.source,
                filter: from.filter,
                dest_root: root,
                user_db_root: root,
                max_archive_size: self.options.max_add_size,
                expected: from.expected,
                // Links need the destination on the store's filesystem.
                reuse: from.reuse.filter(|_| direct),
                layers: layers.as_ref().filter(|_| direct),
            };
            *contents.borrow_mut() = copy(&request)?.contents;
            Ok(())
        };
        let layer = self.in_rootfs(
            state,
            |root| {
                if self.options.snapshotter == Snapshotter::Overlay {
                    if let Some(direct) = prepare_new_dir(spec, from.source, root)? {
                        *aimed.borrow_mut() = Some(direct);
                        return Ok(());
                    }
                }
                run(spec, root, false)
            },
            // The overlay is unmounted here: the upper directory is the
            // step's to write.
            |upper, failed| match aimed.take() {
                Some(direct) if !failed => run(&direct, upper, true),
                _ => Ok(()),
            },
        )?;
        if let Some((diff_id, _)) = &layer {
            let contents = contents.take();
            if !contents.is_empty() {
                self.store.record_copy_contents(diff_id, &contents)?;
            }
        }
        Ok(layer)
    }

    /// The snapshot a COPY step made in its last build, with the contents
    /// recorded for it; `None` when either is gone.
    pub(super) fn previous_snapshot(&self, layer: &Digest) -> Option<Reuse> {
        let files = self.store.snapshots.contents(layer)?;
        Reuse::open(&self.store.snapshots.path(layer), files).ok()
    }
}
