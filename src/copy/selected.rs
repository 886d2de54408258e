//! The check that a copy from the build context writes exactly what the
//! step's cache key was computed from.
//!
//! The context module resolves a COPY's sources once (wildcards,
//! `--parents`, `--exclude`, `.dockerignore`) and hashes what it selected;
//! the solver hands that list here as [`Expected`]. Every non-directory
//! entry the copy is about to write must be in it with the same type, inode,
//! size and change times, and checked again on the opened file; after the
//! copy, every listed entry must have been written. Anything else means
//! the context changed between the key and the copy (a file added, removed,
//! rewritten or swapped for a symlink): the copy fails, so no layer is
//! committed under a key that does not describe it.

use std::collections::{BTreeSet, HashMap};

use super::error::CopyError;
use super::root::{Kind, Meta};
use crate::digest::Digest;

/// What an entry was when it was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// `st_mode & S_IFMT`.
    pub file_type: u32,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`, in bytes.
    pub size: u64,
    /// `st_mtime`, in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Any change of content, mode or owner moves it.
    pub ctime_ns: i64,
}

/// The non-directory entries a copy may write, by path relative to the
/// source root (`/`-separated, no leading `/`).
#[derive(Debug, Clone, Default)]
pub struct Expected {
    entries: HashMap<String, Stamp>,
    /// The content digest the key hashed, where known: what lets a copy
    /// link a file written before instead of writing it again.
    contents: HashMap<String, Digest>,
}

impl Expected {
    /// The list, from `(path, stamp)` pairs.
    pub fn new(entries: impl IntoIterator<Item = (String, Stamp)>) -> Expected {
        Expected { entries: entries.into_iter().collect(), contents: HashMap::new() }
    }

    /// Adds the content digests the key was computed from, by path.
    pub fn with_contents(mut self, contents: impl IntoIterator<Item = (String, Digest)>) -> Expected {
        self.contents.extend(contents);
        self
    }

    /// The content digest of `rel`, when the key hashed it.
    pub(super) fn content(&self, rel: &str) -> Option<Digest> {
        self.contents.get(rel).copied()
    }

    /// Whether `rel` may be written, as `meta` shows it now.
    pub(super) fn check(&self, rel: &str, meta: &Meta) -> Result<(), CopyError> {
        let Some(stamp) = self.entries.get(rel) else { return Err(CopyError::NotSelected { path: rel.to_owned() }) };
        let now = Stamp { file_type: file_type(meta.kind), ino: meta.ino, size: meta.size, mtime_ns: nanos(meta.mtime), ctime_ns: nanos(meta.ctime) };
        if now != *stamp {
            return Err(CopyError::SelectionChanged { path: rel.to_owned() });
        }
        Ok(())
    }

    /// The first listed entry that is not in `copied` (what the copy read).
    pub(super) fn missing(&self, copied: &BTreeSet<String>) -> Option<String> {
        let mut missing: Vec<&String> = self.entries.keys().filter(|path| !copied.contains(*path)).collect();
        missing.sort();
        missing.first().map(|path| (*path).clone())
    }
}

fn nanos((seconds, nanoseconds): (i64, i64)) -> i64 {
    seconds.saturating_mul(1_000_000_000).saturating_add(nanoseconds)
}

/// The `S_IFMT` bits of a kind.
fn file_type(kind: Kind) -> u32 {
    match kind {
        Kind::File => 0o100000,
        Kind::Dir => 0o040000,
        Kind::Symlink => 0o120000,
        Kind::Fifo => 0o010000,
        Kind::Char => 0o020000,
        Kind::Block => 0o060000,
        Kind::Socket => 0o140000,
    }
}
