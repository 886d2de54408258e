//! The build context as the solver reads it: the walked context with its
//! `.dockerignore`, and the store's stat cache so unchanged files are not
//! read again.

use std::path::Path;

use super::file_input_value;
use super::key::ContextSource;
use crate::cache::Input;
use crate::context::{Context, HashOptions, HashStats, IgnoreFile, StatCache, StatKey};
use crate::copy::SourceFilter;
use crate::digest::Digest;
use crate::store::{FileStat, StoreStatCache};

/// A context ready for a build.
pub struct BuildContext {
    context: Context,
    stat_cache: StoreStatCache,
    /// What hashing took, summed over the build (files read, bytes).
    stats: std::sync::Mutex<HashStats>,
}

impl BuildContext {
    pub fn new(context: Context, stat_cache: StoreStatCache) -> BuildContext {
        BuildContext { context, stat_cache, stats: Default::default() }
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

    fn digest(&self, sources: &[String], exclude: &[String]) -> Result<(Digest, Vec<Input>), String> {
        let selection = self.context.select(sources).map_err(|e| e.to_string())?;
        let (digest, files) = self.context.digest_with_files(&selection, &self.stat_cache, &HashOptions::default()).map_err(|e| e.to_string())?;
        if let Ok(mut total) = self.stats.lock() {
            total.files += digest.stats.files;
            total.cache_hits += digest.stats.cache_hits;
            total.files_read += digest.stats.files_read;
            total.bytes_read += digest.stats.bytes_read;
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
        if !exclude.is_empty() {
            inputs.push(Input::new("exclude", exclude.join(",")));
        }
        Ok((digest.digest, inputs))
    }
}
