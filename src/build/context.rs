//! Where a build's context comes from: a directory, or a tar archive
//! (plain, gzip or zstd; `strata build -` reads one on standard input)
//! unpacked safely into the store's `tmp/` for the build and removed after.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::BuildError;
use crate::layer::unpack;
use crate::store::{Store, StoreError};

/// The build context a [`super::Request`] names.
pub enum ContextSource {
    /// A directory on the host.
    Dir(PathBuf),
    /// A tar stream; the Dockerfile path is then a path inside it.
    Tar(Box<dyn Read + Send>),
}

impl std::fmt::Debug for ContextSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContextSource::Dir(dir) => f.debug_tuple("Dir").field(dir).finish(),
            ContextSource::Tar(_) => f.write_str("Tar(..)"),
        }
    }
}

/// A context ready on disk; an unpacked archive goes away with it.
pub(super) struct OpenedContext {
    pub dir: PathBuf,
    unpacked: bool,
}

impl OpenedContext {
    /// Opens `source`, consuming an archive's stream.
    pub fn open(store: &Store, source: &mut ContextSource) -> Result<OpenedContext, BuildError> {
        match source {
            ContextSource::Dir(dir) => Ok(OpenedContext { dir: dir.clone(), unpacked: false }),
            ContextSource::Tar(reader) => {
                let opened = OpenedContext { dir: store.temp_dir("context")?, unpacked: true };
                unpack(reader, &opened.dir).map_err(StoreError::from)?;
                Ok(opened)
            }
        }
    }

    /// The Dockerfile: `file` as given (inside the archive, for an archive),
    /// else the context's `Dockerfile`.
    pub fn dockerfile(&self, file: Option<&Path>) -> PathBuf {
        match file {
            Some(file) if self.unpacked => self.dir.join(file),
            Some(file) => file.to_path_buf(),
            None => self.dir.join("Dockerfile"),
        }
    }
}

impl Drop for OpenedContext {
    fn drop(&mut self) {
        if self.unpacked {
            let _ = fs_err::remove_dir_all(&self.dir);
        }
    }
}
