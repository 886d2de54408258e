//! The store: every path under `--root`.
//!
//! ```text
//! <root>/
//!   blobs/sha256/<hex>     content-addressed blobs: layers, configs, manifests
//!   snapshots/<hex>/       unpacked layers (by diff_id), overlay lower dirs;
//!                          a pulled layer's is made on first use (unpack.rs)
//!   containers/<id>/       working containers: overlay upper/ and work/
//!   meta.redb              tags, images, layers, containers, cache (redb, ACID)
//!   locks/                 flock files: `gc` (shared by users, exclusive by
//!                          garbage collection), `meta` (database access)
//!   leases/                what running builds hold (see lease.rs)
//!   quarantine/            what `strata cache verify --repair` set aside
//!   reserve                preallocated space a prune gives back on a full disk
//!   tmp/                   ingest area; emptied when no other strata runs
//! ```
//!
//! Writers never expose partial data: blobs and snapshots are built in `tmp/`
//! and renamed into place; metadata changes are redb transactions.

mod archive;
mod blob_sources;
mod blobs;
mod containers;
mod distribution;
mod images;
mod indexes;
mod layers;
mod lease;
mod lock;
mod manifest_lists;
mod meta;
mod reserve;
mod snapshots;
mod stat_cache;
mod unpack;
mod usage;

use std::path::{Path, PathBuf};

pub use blobs::{BlobWriter, Blobs};
pub use containers::{working_container_stem, CommitOptions, ContainerRecord, HeldContainer, NewContainer, RunDefaults};
pub use distribution::{CompressedBlob, DistributableImage};
pub use images::{layer_in, source_date_epoch, GcReport, ImageEntry, ImportOptions, Removal, StoredImage};
pub use indexes::config_platform;
pub use layers::UpperAfterCommit;
pub use lease::Lease;
pub use lock::Lock;
pub use manifest_lists::{ListEntry, ManifestList, OCI_INDEX_MEDIA_TYPE};
pub use meta::{ImageRecord, LayerRecord, Meta};
pub use reserve::{free_space, Reserve};
pub use snapshots::{remove_tree, tree_bytes, Snapshots};
pub use stat_cache::{FileStat, StoreStatCache};
pub use unpack::Ensured;

use crate::digest::Digest;

/// Store failures; I/O errors keep the path they concern.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file-system operation under the root failed (permissions, a full
    /// disk, a missing directory).
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, as a verb phrase (`create`, `write blob`).
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A blob (or, for a layer, its `layers_v1` record) that should be in the
    /// store is not; holds its digest (a layer's diff_id in the latter case).
    #[error("blob {0} is not in the store")]
    MissingBlob(Digest),
    /// Stored data no longer matches its name: a blob read whole, or a
    /// snapshot re-tarred or blob re-unpacked to check its diff_id.
    #[error("blob {digest} is corrupt: its content hashes to {actual}")]
    Corrupt {
        /// The digest (or diff_id) it is stored under.
        digest: Digest,
        /// What its content hashes to now.
        actual: Digest,
    },
    /// A blob being written does not hash to the digest the caller expected
    /// (a download or archive member that is not what it claims); nothing is stored.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the caller asked for.
        expected: Digest,
        /// The digest of what was actually written.
        actual: Digest,
    },
    /// The redb metadata database failed (open, transaction, table or commit).
    #[error("metadata database: {0}")]
    Database(Box<redb::Error>),
    /// A metadata row cannot be decoded (damaged or written by an incompatible version).
    #[error("damaged {table} record {key:?}: {reason}")]
    BadRecord {
        /// The table's name with its version (`images_v1`).
        table: String,
        /// The row's key.
        key: String,
        /// The decoder's message.
        reason: String,
    },
    /// No image has this tag, or this ID/manifest digest (or prefix of one);
    /// holds the name as the user gave it.
    #[error("no such image: {0}")]
    NoSuchImage(String),
    /// An ID prefix matches several images, or several containers.
    #[error("{name} is ambiguous: it matches {count} images")]
    Ambiguous {
        /// The prefix as the user gave it.
        name: String,
        /// How many matched.
        count: usize,
    },
    /// `rmi` by ID of an image with several tags, without `--force`.
    #[error("image {id} is tagged in several repositories ({tags}): remove the tags, or use --force")]
    ImageInUse {
        /// The image ID, short form (12 hex digits).
        id: String,
        /// Its tags, short form, comma-separated.
        tags: String,
    },
    /// A stored tag is not a valid image reference.
    #[error(transparent)]
    Reference(#[from] crate::image::ReferenceError),
    /// A manifest cannot be built or read.
    #[error(transparent)]
    Manifest(#[from] crate::image::ManifestError),
    /// A stored image config blob is not a valid image config.
    #[error("image config {digest} is invalid: {reason}")]
    BadConfig {
        /// The config's digest (the image ID).
        digest: Digest,
        /// Why it was rejected (the JSON decoder's message).
        reason: String,
    },
    /// Writing, reading or unpacking a layer tar failed.
    #[error(transparent)]
    Layer(#[from] crate::layer::LayerError),
    /// `import` could not read or unpack the rootfs tarball.
    #[error("cannot import {name}")]
    Import {
        /// The tarball's name as given (`-` for standard input).
        name: String,
        /// Why the tarball was rejected.
        #[source]
        source: crate::layer::LayerError,
    },
    /// No container has this name or unique ID prefix; holds the name as given.
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    /// A new container was given a name another container has; holds the name.
    #[error("a container named {0} already exists")]
    ContainerExists(String),
    /// Another strata command holds the container (it runs in it, commits
    /// or removes it); holds the container's name.
    #[error("container {0} is in use by another strata command")]
    ContainerBusy(String),
    /// A container name breaks the naming rule (see the message, at most 128
    /// characters); holds the name as given.
    #[error("invalid container name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadContainerName(String),
    /// `manifest create` was given two images for one platform.
    #[error("images {first} and {second} are both for {platform}: a manifest list holds one image per platform")]
    DuplicatePlatform {
        /// The platform both are for.
        platform: String,
        /// The first image's short ID.
        first: String,
        /// The second image's short ID.
        second: String,
    },
    /// A layer's blob could not be unpacked into its snapshot (a damaged
    /// or hostile tar, a decompression bomb, a full disk).
    #[error("cannot unpack layer {blob}")]
    Unpack {
        /// The layer's blob.
        blob: Digest,
        /// Why the unpack stopped.
        #[source]
        source: crate::layer::LayerError,
    },
    /// A layer's blob matches its own digest but unpacks to content other
    /// than the diff_id its image's config names: the image is damaged or
    /// was tampered with; no snapshot is made.
    #[error(
        "layer {} unpacks to {}, not to the diff_id {} its image names: the image is damaged or was tampered with (remove it with `strata rmi` and pull it again from a source you trust)",
        .0.blob, .0.actual, .0.diff_id
    )]
    DiffIdMismatch(Box<LayerMismatch>),
    /// A thread unpacking a layer panicked (a bug).
    #[error("a layer unpack thread panicked")]
    UnpackPanicked,
    /// No manifest list has this name; holds the name.
    #[error("no such manifest list: {0} (make one with `strata manifest create`)")]
    NoSuchManifestList(String),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        // Boxed: redb's error is large, and StoreError travels in every Result.
        StoreError::Database(Box::new(e))
    }
}

impl StoreError {
    /// A [`StoreError::Io`] for `action` on `path`.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io { action, path: path.to_path_buf(), source }
    }

    fn missing_or_io(digest: Digest, path: &Path, source: std::io::Error) -> StoreError {
        if source.kind() == std::io::ErrorKind::NotFound {
            StoreError::MissingBlob(digest)
        } else {
            StoreError::io("read", path, source)
        }
    }
}

/// A layer blob whose plain tar is not the diff_id its image names.
#[derive(Debug)]
pub struct LayerMismatch {
    /// The layer's blob.
    pub blob: Digest,
    /// The diff_id the image's config names.
    pub diff_id: Digest,
    /// What the blob's plain tar hashes to.
    pub actual: Digest,
}

/// An open store. Holding it holds a shared `gc` lock, so garbage collection
/// in another process waits until this one is done.
pub struct Store {
    root: PathBuf,
    /// The content-addressed blobs (`blobs/sha256/`).
    pub blobs: Blobs,
    /// The unpacked layers (`snapshots/`).
    pub snapshots: Snapshots,
    /// The metadata database (`meta.redb`).
    pub meta: Meta,
    /// Space set aside for prunes on a full disk (see reserve.rs).
    pub reserve: Reserve,
    tmp: PathBuf,
    lease: Lease,
    /// The shared `gc` lock; let go only while this process sweeps.
    gc: std::sync::Mutex<Option<Lock>>,
}

impl Store {
    /// Opens (creating if needed) the store at `root`. When no other strata
    /// process uses the store, leftovers of killed runs in `tmp/` are removed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let dirs = ["blobs/sha256", "snapshots", "locks", "tmp"];
        for dir in dirs {
            let path = root.join(dir);
            fs_err::create_dir_all(&path).map_err(|e| StoreError::io("create", &path, e))?;
        }
        let gc_lock = root.join("locks/gc");
        let tmp = root.join("tmp");
        if let Some(_exclusive) = Lock::try_exclusive(&gc_lock)? {
            detach_mounts_under(&tmp)?;
            clean_dir(&tmp)?;
        }
        let gc = Lock::shared(&gc_lock)?;
        let reserve = Reserve::new(root, tmp.clone());
        reserve.ensure()?;
        Ok(Store {
            reserve,
            blobs: Blobs::new(root.join("blobs/sha256"), tmp.clone()),
            snapshots: Snapshots::new(root.join("snapshots")),
            meta: Meta::new(root.join("meta.redb"), root.join("locks/meta")),
            root: root.to_path_buf(),
            tmp,
            lease: Lease::default(),
            gc: std::sync::Mutex::new(Some(gc)),
        })
    }

    /// The directory the store was opened at (`--root`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `RUN --mount=type=cache` directories live (one per id).
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.root.join("cache-mounts")
    }

    /// Where running builds record what they hold (see lease.rs).
    pub fn leases_dir(&self) -> PathBuf {
        self.root.join("leases")
    }

    /// Where `verify --repair` moves what is broken.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// Leases `diff_id` for this process (a layer it is about to write).
    pub fn hold_layer(&self, diff_id: &Digest) -> Result<(), StoreError> {
        self.meta.locked(|| self.hold_layer_locked(diff_id))
    }

    /// [`Store::hold_layer`] for a caller already inside a `meta` transaction.
    pub fn hold_layer_locked(&self, diff_id: &Digest) -> Result<(), StoreError> {
        self.lease.hold(&self.leases_dir(), diff_id)
    }

    /// Ends this process's lease: what it built is committed (a build's
    /// image holds its layers), so its own GC may weigh the rest.
    pub fn release_lease(&self) {
        self.lease.release();
    }

    /// Layers that running strata processes hold (see lease.rs).
    pub fn leased_layers(&self) -> Result<std::collections::BTreeSet<Digest>, StoreError> {
        lease::held_layers(&self.leases_dir())
    }

    /// A fresh, empty directory under `tmp/` (the caller renames or removes it).
    pub fn temp_dir(&self, prefix: &str) -> Result<PathBuf, StoreError> {
        for attempt in 0..100 {
            let path = self.tmp.join(blobs::unique_name(prefix, attempt));
            match fs_err::create_dir(&path) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(StoreError::io("create", &path, e)),
            }
        }
        Err(StoreError::io("create", &self.tmp, std::io::ErrorKind::AlreadyExists.into()))
    }
}

/// Detaches mounts a killed build left under `dir` (step root filesystems),
/// deepest first, so cleaning `dir` never writes through a mount.
fn detach_mounts_under(dir: &Path) -> Result<(), StoreError> {
    let Ok(dir) = dir.canonicalize() else { return Ok(()) };
    let mountinfo = match fs_err::read_to_string("/proc/self/mountinfo") {
        Ok(text) => text,
        Err(_) => return Ok(()),
    };
    let mut targets: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_mountinfo(field)))
        .filter(|target| target.starts_with(&dir) && *target != dir)
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.components().count()));
    for target in targets {
        nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH).map_err(|e| StoreError::io("unmount", &target, e.into()))?;
    }
    Ok(())
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(digits) => {
                out.push(digits.iter().fold(0u8, |n, d| n.wrapping_mul(8).wrapping_add(d - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Empties a directory (not the directory itself).
fn clean_dir(dir: &Path) -> Result<(), StoreError> {
    let entries = fs_err::read_dir(dir).map_err(|e| StoreError::io("list", dir, e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if path.is_dir() && !path.is_symlink() { fs_err::remove_dir_all(&path) } else { fs_err::remove_file(&path) };
        removed.map_err(|e| StoreError::io("clean", &path, e))?;
    }
    Ok(())
}
