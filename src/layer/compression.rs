//! Layer compression: gzip (the default, read by every tool), zstd, or none,
//! with the OCI media type of each, and detection of what a stream holds.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::str::FromStr;

use super::LayerError;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Compression {
    /// gzip (`application/vnd.oci.image.layer.v1.tar+gzip`), the default as in `docker build`.
    #[default]
    Gzip,
    /// zstd (`...tar+zstd`); BuildKit's `compression=zstd`.
    Zstd,
    /// A plain tar (`...layer.v1.tar`).
    None,
}

impl Compression {
    /// Every compression strata can write and read.
    pub const ALL: [Compression; 3] = [Compression::Gzip, Compression::Zstd, Compression::None];

    /// `gzip`, `zstd` or `uncompressed`, as in BuildKit's `compression=` (and messages).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "uncompressed",
        }
    }

    /// The OCI layer media type for this compression.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }

    /// The compression a layer media type (OCI or Docker) names.
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd" => Some(Compression::Zstd),
            "application/vnd.oci.image.layer.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            _ => None,
        }
    }

    /// Detects the compression from a stream's first bytes.
    pub fn detect(magic: &[u8]) -> Result<Compression, LayerError> {
        match magic {
            [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Ok(Compression::Zstd),
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Err(LayerError::UnsupportedCompression("xz")),
            [b'B', b'Z', b'h', ..] => Err(LayerError::UnsupportedCompression("bzip2")),
            _ => Ok(Compression::None),
        }
    }

    /// A writer that compresses into `out`; call [`Encoder::finish`].
    pub fn encoder<W: Write>(self, out: W) -> io::Result<Encoder<W>> {
        Ok(match self {
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(out, flate2::Compression::default())),
            Compression::Zstd => Encoder::Zstd(zstd::Encoder::new(out, zstd::DEFAULT_COMPRESSION_LEVEL)?),
            Compression::None => Encoder::None(out),
        })
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Compression, String> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "uncompressed" | "none" => Ok(Compression::None),
            _ => Err(format!("unknown compression {s:?}: expected gzip, zstd or uncompressed")),
        }
    }
}

/// A compressing writer.
pub enum Encoder<W: Write> {
    /// Writes gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// Writes zstd.
    Zstd(zstd::Encoder<'static, W>),
    /// Writes the bytes unchanged.
    None(W),
}

impl<W: Write> Encoder<W> {
    /// Writes the compression trailer and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::None(w) => Ok(w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}

/// Detects the compression of `reader` and returns a reader of the plain
/// tar stream. An empty input is an error: no tool writes a 0-byte layer.
pub fn decompress<'a, R: BufRead + 'a>(mut reader: R) -> Result<(Compression, Box<dyn Read + 'a>), LayerError> {
    let magic = reader.fill_buf().map_err(LayerError::Read)?;
    if magic.is_empty() {
        return Err(LayerError::Empty);
    }
    let compression = Compression::detect(magic)?;
    let plain: Box<dyn Read + 'a> = match compression {
        // Concatenated gzip members (pigz, some registries) form one stream.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::Decoder::with_buffer(reader).map_err(LayerError::Read)?),
        Compression::None => Box::new(reader),
    };
    Ok((compression, plain))
}
