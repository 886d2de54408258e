//! Why a COPY or ADD failed: each variant names the path, pattern or URL
//! concerned. Paths are shown as the build sees them: `/x` in the source
//! or destination root, never the host path of the mount.

use std::path::{Path, PathBuf};

/// A COPY/ADD failure.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A filesystem call on the source or destination failed.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What was being done (`open`, `read`, `resolve`, …).
        action: &'static str,
        /// The path as the build sees it.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// A source path or pattern matched nothing.
    #[error("{path:?}: not found")]
    NotFound {
        /// The source as written in the instruction.
        path: String,
    },
    /// A copied path was outside the selection the step's cache key was computed from.
    #[error("{path:?} was not selected when the step's cache key was computed: the build context changed during the build")]
    NotSelected {
        /// The path, relative to the context.
        path: String,
    },
    /// A selected context entry's stamp (inode, size, times) moved between keying and copying.
    #[error("{path:?} changed after the step's cache key was computed: the build context changed during the build")]
    SelectionChanged {
        /// The path, relative to the context.
        path: String,
    },
    /// A source is excluded by the context's `.dockerignore`.
    #[error("{path:?} is excluded by .dockerignore")]
    Ignored {
        /// The source as written in the instruction.
        path: String,
    },
    /// Several sources were given but the destination does not end with `/`.
    #[error("when using {instruction} with more than one source file, the destination must be a directory and end with a /: {dest:?}")]
    DestNotDirectory {
        /// `COPY` or `ADD`.
        instruction: &'static str,
        /// The destination as the instruction gave it.
        dest: String,
    },
    /// A path component of the destination is an existing non-directory.
    #[error("cannot copy to non-directory: {}", path.display())]
    NotADirectory {
        /// The non-directory, in the destination root.
        path: PathBuf,
    },
    /// A file would overwrite an existing directory of the destination.
    #[error("cannot replace directory {} with a file", path.display())]
    DirectoryInTheWay {
        /// The directory, in the destination root.
        path: PathBuf,
    },
    /// `--chmod` is neither an octal mode up to 07777 nor a symbolic mode.
    #[error("invalid chmod parameter: '{value}'. it should be octal string and between 0 and 07777, or a symbolic mode like u+x,g-w")]
    BadChmod {
        /// The `--chmod` value as written.
        value: String,
    },
    /// A `--chown` user name is not in the destination's `/etc/passwd`.
    #[error("unable to find user {name}: no matching entries in /etc/passwd")]
    UnknownUser {
        /// The user name as written.
        name: String,
    },
    /// A `--chown` group name is not in the destination's `/etc/group`.
    #[error("unable to find group {name}: no matching entries in /etc/group")]
    UnknownGroup {
        /// The group name as written.
        name: String,
    },
    /// An `/etc/passwd` or `/etc/group` entry that `--chown` needed has a non-numeric id.
    #[error("malformed entry in {file}: {line:?}")]
    UserDatabase {
        /// `/etc/passwd` or `/etc/group`.
        file: &'static str,
        /// The offending entry, fields joined by `:`.
        line: String,
    },
    /// An `--exclude` pattern does not parse.
    #[error("invalid exclude pattern: {0}")]
    BadPattern(crate::pattern::PatternError),
    /// A heredoc's file name is empty, holds a `/`, or is `.` or `..`.
    #[error("invalid heredoc file name {name:?}: it must be a plain file name")]
    BadInlineName {
        /// The name as written after `<<`.
        name: String,
    },
    /// `ADD --checksum` was given with several sources or a non-URL source.
    #[error("checksum can't be specified for {what}")]
    ChecksumNotAllowed {
        /// What made it invalid (`multiple sources`, `non-HTTP(S) sources`).
        what: &'static str,
    },
    /// `ADD --checksum` is not of the form `sha256:<64 hex digits>`.
    #[error("invalid checksum {value:?}: expected sha256:<64 hex digits>")]
    BadChecksum {
        /// The `--checksum` value as written.
        value: String,
    },
    /// The downloaded body's digest is not the `--checksum` one.
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// The URL fetched.
        url: String,
        /// The `--checksum` value.
        expected: String,
        /// The digest of what was downloaded, same algorithm.
        actual: String,
    },
    /// An ADD download failed before an HTTP status (DNS, connect, TLS, body read).
    #[error("cannot fetch {url}: {reason}")]
    Fetch {
        /// The URL fetched.
        url: String,
        /// The underlying client error, rendered.
        reason: String,
    },
    /// An ADD download answered with a non-success HTTP status.
    #[error("cannot fetch {url}: HTTP status {status}")]
    FetchStatus {
        /// The URL fetched.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// A form of COPY/ADD strata does not implement (e.g. ADD of a git repository).
    #[error("{what} is not supported")]
    Unsupported {
        /// The feature, for the message.
        what: String,
    },
    /// A local archive ADD recognised could not be read as a whole.
    #[error("cannot extract {archive}: {reason}")]
    Archive {
        /// The archive's source path as written.
        archive: String,
        /// The decoder's error, rendered.
        reason: String,
    },
    /// One entry of an extracted archive is unsafe or could not be written.
    #[error("cannot extract {archive}: entry {entry:?} {reason}")]
    ArchiveEntry {
        /// The archive's source path as written.
        archive: String,
        /// The entry's path inside the archive.
        entry: String,
        /// What is wrong with it.
        reason: String,
    },
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
