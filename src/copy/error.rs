//! Why a COPY or ADD failed: each variant names the path, pattern or URL
//! concerned. Paths are shown as the build sees them: `/x` in the source
//! or destination root, never the host path of the mount.

use std::path::{Path, PathBuf};

/// A COPY/ADD failure.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot {action} {}: {cause}", path.display())]
    Io { action: &'static str, path: PathBuf, cause: std::io::Error },
    #[error("{path:?}: not found")]
    NotFound { path: String },
    #[error("{path:?} was not selected when the step's cache key was computed: the build context changed during the build")]
    NotSelected { path: String },
    #[error("{path:?} changed after the step's cache key was computed: the build context changed during the build")]
    SelectionChanged { path: String },
    #[error("{path:?} is excluded by .dockerignore")]
    Ignored { path: String },
    #[error("when using {instruction} with more than one source file, the destination must be a directory and end with a /: {dest:?}")]
    DestNotDirectory { instruction: &'static str, dest: String },
    #[error("cannot copy to non-directory: {}", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot replace directory {} with a file", path.display())]
    DirectoryInTheWay { path: PathBuf },
    #[error("invalid chmod parameter: '{value}'. it should be octal string and between 0 and 07777, or a symbolic mode like u+x,g-w")]
    BadChmod { value: String },
    #[error("unable to find user {name}: no matching entries in /etc/passwd")]
    UnknownUser { name: String },
    #[error("unable to find group {name}: no matching entries in /etc/group")]
    UnknownGroup { name: String },
    #[error("malformed entry in {file}: {line:?}")]
    UserDatabase { file: &'static str, line: String },
    #[error("invalid exclude pattern: {0}")]
    BadPattern(crate::pattern::PatternError),
    #[error("invalid heredoc file name {name:?}: it must be a plain file name")]
    BadInlineName { name: String },
    #[error("checksum can't be specified for {what}")]
    ChecksumNotAllowed { what: &'static str },
    #[error("invalid checksum {value:?}: expected sha256:<64 hex digits>")]
    BadChecksum { value: String },
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    ChecksumMismatch { url: String, expected: String, actual: String },
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("cannot fetch {url}: HTTP status {status}")]
    FetchStatus { url: String, status: u16 },
    #[error("{what} is not supported")]
    Unsupported { what: String },
    #[error("cannot extract {archive}: {reason}")]
    Archive { archive: String, reason: String },
    #[error("cannot extract {archive}: entry {entry:?} {reason}")]
    ArchiveEntry { archive: String, entry: String, reason: String },
}

impl CopyError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> CopyError {
        CopyError::Io { action, path: path.to_path_buf(), cause: source }
    }
}

impl From<crate::pattern::PatternError> for CopyError {
    fn from(error: crate::pattern::PatternError) -> CopyError {
        CopyError::BadPattern(error)
    }
}
