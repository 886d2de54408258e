//! The build context as the solver reads it: the walked context with its
//! `.dockerignore`, and the store's stat cache so unchanged files are not
//! read again.

use std::path::Path;

use super::file_input_value;
use super::key::{ContextSource, KeyedSelection};
use crate::cache::Input;
use crate::context::{Context, ContextError, CopySources, Entry, HashOptions, HashStats, IgnoreFile, Selection, StatCache, StatKey};
use crate::copy::{Expected, SourceFilter, Stamp};
use crate::digest::Digest;
use crate::store::{FileStat, StoreStatCache};

/// A context ready for a build.
pub struct BuildContext {
    context: Context,
    stat_cache: StoreStatCache,
    /// What hashing took, summed over the build (files read, bytes).
    stats: std::sync::Mutex<HashStats>,
    /// The content digest of every file a key hashed, by context path: a
    /// copy links an earlier snapshot's file of the same content.
    contents: std::sync::Mutex<std::collections::HashMap<String, Digest>>,
}

impl BuildContext {
    /// A context whose file hashes are remembered in `stat_cache` across builds.
    pub fn new(context: Context, stat_cache: StoreStatCache) -> BuildContext {
        BuildContext { context, stat_cache, stats: Default::default(), contents: Default::default() }
    }

    /// Files asked for, answered by the stat cache, and read, so far.
    pub fn stats(&self) -> HashStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Saves what was learnt about file contents (one transaction).
    pub fn finish(&self) -> Result<usize, crate::store::StoreError> {
        self.stat_cache.commit()
    }
}

/// The store's stat cache seen as the context module's [`StatCache`]: the
/// adapter lives here, where both modules may be used, so neither knows
/// the other.
impl StatCache for StoreStatCache {
    fn get(&self, key: &StatKey) -> Option<Digest> {
        self.lookup(&key.path, &file_stat(key))
    }

    fn put(&self, key: StatKey, digest: Digest) {
        let stat = file_stat(&key);
        self.record(key.path, stat, digest);
    }
}

fn file_stat(key: &StatKey) -> FileStat {
    FileStat { size: key.size, mtime_ns: key.mtime_ns, ctime_ns: key.ctime_ns, ino: key.ino, mode: key.mode }
}

impl SourceFilter for IgnoreFile {
    fn excluded(&self, rel_path: &str) -> bool {
        // A pattern that fails to match (a bad class) hides nothing, as
        // BuildKit's walker treats it.
        self.matches(rel_path).unwrap_or(false)
    }

    fn descend_excluded(&self, rel_dir: &str) -> bool {
        !self.can_skip_dir(rel_dir)
    }
}

impl ContextSource for BuildContext {
    fn root(&self) -> &Path {
        self.context.root()
    }

    fn filter(&self) -> Option<&dyn SourceFilter> {
        let ignore = self.context.ignore();
        (!ignore.is_empty()).then_some(ignore as &dyn SourceFilter)
    }

    fn select(&self, sources: &CopySources) -> Result<KeyedSelection, ContextError> {
        let selection = self.context.select_copy(sources)?;
        let (digest, files) = self.context.digest_with_files(&selection, &self.stat_cache, &HashOptions::default())?;
        if let Ok(mut total) = self.stats.lock() {
            total.files += digest.stats.files;
            total.cache_hits += digest.stats.cache_hits;
            total.files_read += digest.stats.files_read;
            total.bytes_read += digest.stats.bytes_read;
        }
        if let Ok(mut contents) = self.contents.lock() {
            contents.extend(files.iter().map(|(entry, content)| (entry.path.clone(), *content)));
        }
        let mut inputs: Vec<Input> = files
            .iter()
            .map(|(entry, content)| {
                let value = file_input_value(content, entry.permissions(), entry.uid, entry.gid);
                Input::new(format!("file:{}", entry.path), value)
            })
            .collect();
        // `--exclude` patterns change what is copied; they are in the step's
        // op, and named here so a miss can say so.
        if !sources.exclude.is_empty() {
            inputs.push(Input::new("exclude", sources.exclude.join(",")));
        }
        Ok(KeyedSelection { digest: digest.digest, inputs, selection })
    }

    fn expected(&self, selection: &Selection) -> Expected {
        let expected = expected_copy(&self.context, selection);
        let Ok(contents) = self.contents.lock() else { return expected };
        let entries = self.context.copied_entries(selection);
        expected.with_contents(entries.into_iter().filter_map(|entry| contents.get(&entry.path).map(|d| (entry.path.clone(), *d))))
    }
}

/// What a copy of `selection` from `context` must write: every entry the
/// key covered, as it was when the context was walked.
pub fn expected_copy(context: &Context, selection: &Selection) -> Expected {
    Expected::new(context.copied_entries(selection).into_iter().map(|entry| (entry.path.clone(), stamp(entry))))
}

/// What the copy compares an entry with.
fn stamp(entry: &Entry) -> Stamp {
    Stamp { file_type: entry.mode & 0o170000, ino: entry.ino, size: entry.size, mtime_ns: entry.mtime_ns, ctime_ns: entry.ctime_ns }
}
