//! How far an archive may expand: the one guard against decompression
//! bombs, shared by every reader of tar streams (layer unpacking for
//! import, load and pull, the image archives `load` unpacks, ADD's local
//! archives).
//!
//! A few kilobytes of zstd can declare a file of terabytes, and writing it
//! fills the disk long before anything fails. So before an entry is
//! written, where its data ends in the plain tar stream (the entry's
//! offset plus its declared size) is checked against the limit: the free
//! space of the filesystem being written, measured once at the start, or a
//! cap the caller sets when smaller. Entries are written in stream order,
//! so this bounds everything written before a byte of the offending entry
//! lands. [`Limited`] also bounds the plain stream itself, so data that is
//! never written (a huge directory entry, padding after the end of the
//! archive) cannot keep a decompressor busy for hours.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::path::Path;

use super::LayerError;

/// The most an archive may expand to, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimit {
    /// The limit in bytes of the plain tar stream.
    pub bytes: u64,
    /// The free space measured (when it is what limits).
    pub free: Option<u64>,
}

impl SizeLimit {
    /// The smaller of `cap` and the space free for unprivileged writers on
    /// the filesystem holding `dest`.
    pub fn for_dest(dest: &Path, cap: Option<u64>) -> Result<SizeLimit, LayerError> {
        let stats = rustix::fs::statvfs(dest).map_err(|e| LayerError::io("measure the free space of", dest, e.into()))?;
        Ok(SizeLimit::of(stats, cap))
    }

    /// [`SizeLimit::for_dest`] for a directory open as `dir`.
    pub fn for_fd(dir: impl AsFd, cap: Option<u64>) -> Result<SizeLimit, LayerError> {
        let stats = rustix::fs::fstatvfs(dir).map_err(|e| LayerError::io("measure the free space of", Path::new("the destination"), e.into()))?;
        Ok(SizeLimit::of(stats, cap))
    }

    fn of(stats: rustix::fs::StatVfs, cap: Option<u64>) -> SizeLimit {
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        match cap {
            Some(cap) if cap <= free => SizeLimit { bytes: cap, free: None },
            _ => SizeLimit { bytes: free, free: Some(free) },
        }
    }

    /// No limit (for readers that write nothing).
    pub fn none() -> SizeLimit {
        SizeLimit { bytes: u64::MAX, free: None }
    }

    /// Checks that the entry `name`, whose data starts at `offset` of the
    /// plain stream and is `size` bytes long, ends within the limit.
    pub fn check(&self, name: &str, offset: u64, size: u64) -> Result<(), LayerError> {
        let end = offset.saturating_add(size);
        if end <= self.bytes {
            return Ok(());
        }
        Err(self.exceeded(Some(name), end))
    }

    fn exceeded(&self, entry: Option<&str>, end: u64) -> LayerError {
        LayerError::TooLarge { entry: entry.map(str::to_owned), end, limit: self.bytes, free: self.free }
    }

    /// `reader` (a plain tar stream), failing once it yields more than the limit.
    pub fn reader<R: Read>(&self, reader: R) -> Limited<R> {
        Limited { inner: reader, read: 0, limit: *self }
    }
}

/// The message of [`LayerError::TooLarge`].
pub(super) fn describe(entry: Option<&str>, end: u64, limit: u64, free: Option<u64>) -> String {
    let what = match entry {
        Some(name) => format!("entry {name:?} would end at byte {end} of the uncompressed stream"),
        None => format!("the uncompressed stream goes past byte {end}"),
    };
    match free {
        Some(free) => format!("{what}, beyond the {free} bytes free on the filesystem it is unpacked to"),
        None => format!("{what}, beyond the limit of {limit} bytes"),
    }
}

/// A reader that stops with an error past its limit (see [`SizeLimit::reader`]).
pub struct Limited<R> {
    inner: R,
    read: u64,
    limit: SizeLimit,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.limit.bytes {
            return Err(io::Error::other(Exceeded(self.limit.exceeded(None, self.read))));
        }
        Ok(n)
    }
}

/// The error [`Limited`] returns, inside an `io::Error`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Exceeded(LayerError);

/// The [`LayerError::TooLarge`] inside an I/O error from a [`Limited`]
/// reader (through any reader wrapping it), or the error unchanged.
pub fn too_large(error: io::Error) -> Result<LayerError, io::Error> {
    if !error.get_ref().is_some_and(|e| e.is::<Exceeded>()) {
        return Err(error);
    }
    match error.into_inner().map(|e| e.downcast::<Exceeded>()) {
        Some(Ok(exceeded)) => Ok(exceeded.0),
        // Not reached: the error was checked to hold an `Exceeded`.
        _ => Ok(LayerError::Read(io::ErrorKind::Other.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_the_stream_stop_at_the_limit() {
        let limit = SizeLimit { bytes: 1000, free: Some(1000) };
        assert!(limit.check("a", 512, 488).is_ok());
        let error = limit.check("a", 512, 489).unwrap_err();
        assert_eq!(
            error.to_string(),
            "entry \"a\" would end at byte 1001 of the uncompressed stream, beyond the 1000 bytes free on the filesystem it is unpacked to"
        );
        let mut reader = limit.reader(io::repeat(0).take(2000));
        let error = io::copy(&mut reader, &mut io::sink()).unwrap_err();
        assert!(matches!(too_large(error), Ok(LayerError::TooLarge { entry: None, .. })));
        let capped = SizeLimit { bytes: 10, free: None };
        assert_eq!(
            capped.check("b", 0, 11).unwrap_err().to_string(),
            "entry \"b\" would end at byte 11 of the uncompressed stream, beyond the limit of 10 bytes"
        );
    }
}
