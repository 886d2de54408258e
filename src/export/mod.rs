//! Where a built or stored image goes besides the store: every output kind
//! behind one [`Exporter`] trait, each kind in its own file, all listed once
//! in [`KINDS`]. `strata build --output`, `build --push` and `strata save`
//! reach the same exporters.
//!
//! Adding an output kind means one new file with a [`Kind`] and one line in
//! [`KINDS`].

mod archive;
mod docker;
mod filesystem;
mod image;
mod local;
mod oci;
mod oci_dir;
mod push;
mod tar;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

pub use archive::{save_image, write_atomically};
pub use push::Push;

use crate::digest::Digest;
use crate::exec::Snapshotter;
use crate::layer::Compression;
use crate::registry::{RegistryAccess, TransferProgress};
use crate::store::Store;

/// Every output kind strata can write, in the order `--output` lists them.
pub const KINDS: &[Kind] = &[image::KIND, docker::KIND, oci::KIND, oci_dir::KIND, tar::KIND, local::KIND, push::KIND];

/// One output kind: its `type=` names and how its `key=value` fields make
/// an exporter.
pub struct Kind {
    /// The `type=` name first, then aliases (`strata save --format` names).
    pub names: &'static [&'static str],
    /// Builds the exporter; a missing or bad field is an error here, before any build.
    pub parse: fn(&Fields) -> Result<Box<dyn Exporter>, ExportError>,
}

/// An output's `key=value` fields (`type` included); values are OS strings
/// because `dest` is a path, which need not be UTF-8.
pub type Fields = BTreeMap<String, OsString>;

/// Writes images out of the store.
pub trait Exporter: std::fmt::Debug + Send + Sync {
    /// The `type=` name, for reports.
    fn kind(&self) -> &'static str;
    /// Exports `job.images`; returns what was written.
    fn export(&self, job: &Job<'_>) -> Result<Vec<Exported>, ExportError>;
}

/// What an exporter works with.
pub struct Job<'a> {
    /// Where the images are.
    pub store: &'a Store,
    /// Names or IDs: a name that is one of its image's tags is recorded in
    /// archives; an ID exports the image unnamed, as `docker save` does.
    pub images: &'a [String],
    /// Layer compression where the format compresses layers.
    pub compression: Compression,
    /// How filesystem outputs mount the image's layers.
    pub snapshotter: Snapshotter,
    /// How registries are reached, for pushes.
    pub registry: &'a RegistryAccess,
    /// Where pushes report their blobs.
    pub transfers: &'a dyn TransferProgress,
}

/// One thing an exporter wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The `type=` name.
    pub kind: &'static str,
    /// A path, `-` for standard output, or a registry reference.
    pub dest: String,
    /// The manifest digest, where the output has one (a push).
    pub digest: Option<Digest>,
}

/// Where an archive goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A file, written beside itself and renamed into place.
    File(PathBuf),
    /// Standard output (`dest=-`).
    Stdout,
}

impl Dest {
    fn from_fields(kind: &str, fields: &Fields) -> Result<Dest, ExportError> {
        match fields.get("dest") {
            Some(path) if path == "-" => Ok(Dest::Stdout),
            Some(path) => Ok(Dest::File(PathBuf::from(path))),
            None => Err(ExportError::NeedsDest { kind: kind.to_owned() }),
        }
    }

    fn describe(&self) -> String {
        match self {
            Dest::File(path) => path.display().to_string(),
            Dest::Stdout => "-".into(),
        }
    }
}

/// Why an output could not be chosen or written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExportError {
    /// A kind that writes somewhere was not told where.
    #[error("--output type={kind} needs dest=...")]
    NeedsDest {
        /// The `type=` value as given.
        kind: String,
    },
    /// No kind in [`KINDS`] has this name.
    #[error("unsupported --output type {kind:?} (expected {})", known_kinds())]
    UnknownKind {
        /// The `type=` value as given.
        kind: String,
    },
    /// A filesystem or push output was given several images.
    #[error("type={kind} writes one image, not {count}")]
    OneImage {
        /// The output kind's name (`local`, `tar`, `registry`...).
        kind: &'static str,
        /// How many images the build produced for it.
        count: usize,
    },
    /// Writing the output failed.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the image's filesystem or unpacking it at `dest` failed.
    #[error("cannot export the image's filesystem")]
    Layer(#[source] crate::layer::LayerError),
    /// Reading the image's manifest, config or blobs from the store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Writing a `docker` or `oci` archive failed.
    #[error(transparent)]
    Archive(#[from] crate::image::archive::ArchiveError),
    /// Pushing to a registry (`type=registry` or `push=true`) failed.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
}

fn known_kinds() -> String {
    let names: Vec<_> = KINDS.iter().map(|k| k.names[0]).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Parses `type=KIND,key=value,...` (`type` defaults to `image`) into its exporter.
pub fn parse(spec: &str) -> Result<Box<dyn Exporter>, ExportError> {
    let fields: Fields = spec.split(',').filter_map(|f| f.split_once('=')).map(|(k, v)| (k.to_owned(), v.into())).collect();
    from_fields(&fields)
}

/// The exporter `fields` describe (`type` defaults to `image`).
pub fn from_fields(fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    let kind = fields.get("type").map_or("image".into(), |k| k.to_string_lossy());
    let found = KINDS.iter().find(|k| k.names.contains(&kind.as_ref())).ok_or_else(|| ExportError::UnknownKind { kind: kind.into_owned() })?;
    (found.parse)(fields)
}

/// The one image a filesystem output takes.
fn one_image<'a>(kind: &'static str, job: &Job<'a>) -> Result<&'a str, ExportError> {
    match job.images {
        [one] => Ok(one),
        images => Err(ExportError::OneImage { kind, count: images.len() }),
    }
}

#[cfg(test)]
mod tests;
