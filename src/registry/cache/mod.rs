//! The build cache shared through a place other builders can read: a
//! registry (`type=registry,ref=REG/REPO:TAG`) or an OCI layout directory
//! on a shared disk (`type=local,dest=DIR` / `src=DIR`), so a fleet of CI
//! runners builds as if each had built before.
//!
//! Each kind of place is one file implementing [`CacheBackend`] (the parsed
//! `--cache-to`/`--cache-from` value) and [`CachePlace`] (reading and
//! writing the cache there), plus one line in [`KINDS`]. What the cache
//! holds and how records are chosen is the same for every kind and lives
//! in [`shared`]; the solver sees only `cache::SharedCache`.

mod local;
mod registry;
mod shared;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use shared::{export, ExportSummary, ImportSummary, ImportedCache};

use super::client::ClientOptions;
use super::pull::LayerSource;
use super::push::Outgoing;
use super::{RegistryError, TransferProgress};
use crate::cache::ExportMode;
use crate::digest::Digest;
use crate::store::Store;

/// Every cache kind `type=` accepts: its name and its parser.
const KINDS: &[Kind] = &[registry::KIND, local::KIND];

/// One kind of cache place, as `type=NAME` names it.
struct Kind {
    name: &'static str,
    parse: fn(&Fields<'_>, Direction) -> Result<CacheLocation, CacheSpecError>,
}

/// Whether a spec names a cache to read (`--cache-from`) or to write
/// (`--cache-to`); a kind may take different fields for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Import,
    Export,
}

/// The `KEY=VALUE` fields of one spec, for a kind's parser.
struct Fields<'a> {
    text: &'a str,
    values: HashMap<&'a str, &'a str>,
}

impl<'a> Fields<'a> {
    /// The value of `key`; an error showing `usage` when it is missing.
    fn require(&self, kind: &'static str, key: &'static str, usage: &'static str) -> Result<&'a str, CacheSpecError> {
        self.values.get(key).copied().ok_or_else(|| CacheSpecError::Missing { text: self.text.to_owned(), kind, usage })
    }
}

/// A parsed cache place: a kind's settings, before any connection.
pub(in crate::registry) trait CacheBackend: fmt::Debug + fmt::Display + Send + Sync {
    /// The `type=` name of its kind.
    fn kind(&self) -> &'static str;
    /// The registry whose client settings (credentials, TLS) opening needs.
    fn registry_host(&self) -> Option<&str> {
        None
    }
    /// A handle that reads (`push` false) or writes the cache there.
    fn open(&self, push: bool, options: &ClientOptions) -> Box<dyn CachePlace>;
}

/// An opened cache place: its manifest, blobs and layers.
pub(in crate::registry) trait CachePlace: Send + Sync {
    /// The cache manifest; `None` when there is no cache there yet.
    fn manifest(&self) -> Result<Option<Vec<u8>>, RegistryError>;
    /// A small blob's bytes, not yet checked against `digest`.
    fn blob(&self, digest: &Digest) -> Result<Vec<u8>, RegistryError>;
    /// Whether the place has the blob already.
    fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError>;
    /// Where layer blobs stream from when a step needs one.
    fn layers(&self) -> LayerSource<'_>;
    /// Notes that `blobs` were imported from here (a registry remembers
    /// them so a later push can mount them); nothing by default.
    fn imported(&self, _store: &Store, _blobs: &[Digest]) -> Result<(), RegistryError> {
        Ok(())
    }
    /// Writes the blobs the place lacks, then the manifest last; returns how
    /// many blobs other than the index (`index`) were sent.
    fn write(&self, store: &Store, blobs: &mut [Outgoing], index: &Digest, manifest: &[u8], progress: &dyn TransferProgress) -> Result<usize, RegistryError>;
}

/// A small blob from `place`, checked against its digest.
fn read_blob(place: &dyn CachePlace, digest: &Digest) -> Result<Vec<u8>, RegistryError> {
    let bytes = place.blob(digest)?;
    let actual = Digest::of(&bytes);
    if actual != *digest {
        return Err(RegistryError::DigestMismatch { blob: place.layers().describe(digest), expected: *digest, actual });
    }
    Ok(bytes)
}

fn bad_cache(place: String, reason: String) -> RegistryError {
    RegistryError::Protocol { registry: place, reason: format!("not a strata cache: {reason}") }
}

/// Where a cache lives: one of the [`KINDS`].
#[derive(Debug, Clone)]
pub struct CacheLocation(Arc<dyn CacheBackend>);

impl CacheLocation {
    /// The backend behind this location.
    pub(in crate::registry) fn backend(&self) -> &dyn CacheBackend {
        self.0.as_ref()
    }

    /// The registry whose client settings (credentials, TLS) the cache
    /// needs; `None` for a place reached without a registry client.
    pub fn registry_host(&self) -> Option<&str> {
        self.0.registry_host()
    }
}

impl PartialEq for CacheLocation {
    fn eq(&self, other: &CacheLocation) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for CacheLocation {}

impl fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A `--cache-to` or `--cache-from` value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheSpecError {
    /// A field without `=`.
    #[error("invalid cache option {field:?} in {text:?}: expected KEY=VALUE")]
    Field {
        /// The field as written.
        field: String,
        /// The whole value.
        text: String,
    },
    /// `mode=` other than `min` or `max`.
    #[error("invalid cache mode {0:?}: expected min or max")]
    Mode(String),
    /// No `type=`; `choices` lists the registered kinds.
    #[error("{text:?}: give {choices}")]
    NoType {
        /// The whole value.
        text: String,
        /// The registered kinds, as `type=registry or type=local`.
        choices: String,
    },
    /// A `type=` no kind registers; `known` lists those that are.
    #[error("unsupported cache type {kind:?} (expected {known})")]
    Unsupported {
        /// The `type=` value as written.
        kind: String,
        /// The registered kinds.
        known: String,
    },
    /// A field the kind needs is missing.
    #[error("{text:?}: type={kind} needs {usage}")]
    Missing {
        /// The whole value.
        text: String,
        /// The kind that needs the field.
        kind: &'static str,
        /// The field's form, as `ref=REFERENCE`.
        usage: &'static str,
    },
    /// A field's value is malformed.
    #[error("{text:?}: {reason}")]
    Invalid {
        /// The whole value.
        text: String,
        /// What is wrong with the field.
        reason: String,
    },
}

/// A `--cache-to` or `--cache-from` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSpec {
    /// Where the cache lives.
    pub location: CacheLocation,
    /// Which records an export writes.
    pub mode: ExportMode,
}

impl CacheSpec {
    /// `type=registry,ref=REF[,mode=min|max]` or `type=local,dest=DIR[,mode=…]`.
    pub fn parse_to(text: &str) -> Result<CacheSpec, CacheSpecError> {
        CacheSpec::parse(text, Direction::Export)
    }

    /// `type=registry,ref=REF` or `type=local,src=DIR`.
    pub fn parse_from(text: &str) -> Result<CacheSpec, CacheSpecError> {
        CacheSpec::parse(text, Direction::Import)
    }

    fn parse(text: &str, direction: Direction) -> Result<CacheSpec, CacheSpecError> {
        let mut values = HashMap::new();
        for field in text.split(',') {
            let (key, value) = field.split_once('=').ok_or_else(|| CacheSpecError::Field { field: field.to_owned(), text: text.to_owned() })?;
            values.insert(key.trim(), value.trim());
        }
        let mode = match values.get("mode").copied() {
            None | Some("min") => ExportMode::Min,
            Some("max") => ExportMode::Max,
            Some(other) => return Err(CacheSpecError::Mode(other.to_owned())),
        };
        let names = || KINDS.iter().map(|k| k.name);
        let Some(name) = values.get("type").copied() else {
            let choices = names().map(|n| format!("type={n}")).collect::<Vec<_>>().join(" or ");
            return Err(CacheSpecError::NoType { text: text.to_owned(), choices });
        };
        let kind = KINDS.iter().find(|k| k.name == name);
        let kind = kind.ok_or_else(|| CacheSpecError::Unsupported { kind: name.to_owned(), known: names().collect::<Vec<_>>().join(" or ") })?;
        let location = (kind.parse)(&Fields { text, values }, direction)?;
        Ok(CacheSpec { location, mode })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cache_options() {
        let to = CacheSpec::parse_to("type=registry,ref=127.0.0.1:5000/app/cache:main,mode=max").unwrap();
        assert_eq!(to.mode, ExportMode::Max);
        assert_eq!(to.location, CacheLocation::registry("127.0.0.1:5000/app/cache:main".parse().unwrap()));
        assert_eq!(CacheSpec::parse_to("type=local,dest=/c").unwrap(), CacheSpec { location: CacheLocation::local("/c".into()), mode: ExportMode::Min });
        assert_eq!(CacheSpec::parse_from("type=local,src=/c").unwrap().location, CacheLocation::local("/c".into()));
        assert!(CacheSpec::parse_from("type=local,dest=/c").is_err(), "import reads src=");
        assert!(CacheSpec::parse_to("type=s3,bucket=x").is_err());
        let unknown = CacheSpec::parse_to("type=s3,bucket=x").unwrap_err().to_string();
        assert_eq!(unknown, r#"unsupported cache type "s3" (expected registry or local)"#);
        assert_eq!(CacheSpec::parse_from("ref=x").unwrap_err().to_string(), r#""ref=x": give type=registry or type=local"#);
        assert!(CacheSpec::parse_to("type=registry,ref=x,mode=all").is_err());
    }
}
