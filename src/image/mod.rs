//! OCI images: references, the config document and its edits, manifests,
//! and the canonical JSON every digested document is written in.

pub mod archive;
mod change;
mod config;
mod manifest;
mod platform;
mod reference;

pub use change::{port_keys, ConfigChange};
pub use config::{host_architecture, now_rfc3339, ContainerConfig, Empty, HealthConfig, History, ImageConfig, RootFs, DEFAULT_PATH_ENV};
pub use manifest::{
    descriptor_digest, image_index, index_entry, layer_media_type, Descriptor, ImageIndex, ImageManifest, Manifest, ManifestError, MediaType,
    Platform as OciPlatform,
};
pub use platform::{Platform, PlatformError};
pub use reference::{Reference, ReferenceError, DEFAULT_REGISTRY};

/// Serialises with sorted keys and no insignificant whitespace, so equal
/// documents always hash to the same digest (oci-spec keeps maps in
/// `HashMap`s; going through `serde_json::Value` sorts them).
pub fn canonical_json(value: &impl serde::Serialize) -> Vec<u8> {
    let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    serde_json::to_vec(&value).unwrap_or_default()
}
