//! A cache shared between machines (`--cache-to` / `--cache-from`): the
//! records of a build's steps, written as an index that travels with the
//! layer blobs (to a registry or an OCI layout directory), and read back
//! by another machine's build. The index is metadata only: a layer comes
//! over only when a step that hits needs its content.
//!
//! The index (`application/vnd.strata.cache.index.v1+json`) is the config
//! blob of the cache artifact's manifest; the README documents it.

use serde::{Deserialize, Serialize};

use super::key::CacheKey;
use super::records::CacheRecord;
use crate::digest::Digest;
use crate::store::LayerRecord;

/// The media type of the index (the artifact's config blob).
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.strata.cache.index.v1+json";
/// The artifact type of the cache manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.strata.cache.v1";

/// Which steps an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportMode {
    /// The steps the final image is made of (its stage and the stages it
    /// is based on).
    #[default]
    Min,
    /// Every step of every stage the build ran.
    Max,
}

/// One step result in a shared cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedRecord {
    /// The step's cache key, as the store computes it.
    pub key: CacheKey,
    /// The previous step's key (or the stage base's): lets a reader follow
    /// a chain without the Dockerfile.
    pub parent: Option<String>,
    /// The step as written, for people reading the index.
    pub step: String,
    /// When the step ran: a hit keeps it, so image IDs stay reproducible.
    pub created: String,
    /// The layer the step added, if any.
    pub layer: Option<SharedLayer>,
}

/// A layer in a shared cache: its diff_id and the compressed blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedLayer {
    /// The uncompressed layer's digest (the image config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// The compressed blob's digest, as a manifest names it.
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    /// The blob's media type (`application/vnd.oci.image.layer.v1.tar+gzip` …).
    pub media_type: String,
    /// The blob's size in bytes.
    pub size: u64,
    /// The uncompressed tar's size in bytes.
    pub uncompressed_size: u64,
}

impl SharedLayer {
    /// The shared form of the store's record of layer `diff_id`.
    pub fn from_record(diff_id: Digest, record: &LayerRecord) -> SharedLayer {
        SharedLayer { diff_id, digest: record.blob, media_type: record.media_type.clone(), size: record.size, uncompressed_size: record.uncompressed_size }
    }

    /// The store's form of this layer, for importing it.
    pub fn record(&self) -> LayerRecord {
        LayerRecord { blob: self.digest, media_type: self.media_type.clone(), size: self.size, uncompressed_size: self.uncompressed_size }
    }
}

/// The index document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedIndex {
    /// `1`; a reader refuses other versions.
    pub version: u32,
    /// Every step of the exported builds.
    pub records: Vec<SharedRecord>,
}

/// A step a build used, with its layer: what an export writes.
#[derive(Debug, Clone)]
pub struct UsedStep {
    /// The step's local cache record.
    pub record: CacheRecord,
    /// The layer it added (diff_id and stored blob); `None`: a config-only step.
    pub layer: Option<(Digest, LayerRecord)>,
}

impl UsedStep {
    fn parent(&self) -> Option<String> {
        self.record.inputs.iter().find(|i| i.name == "parent").map(|i| i.value.clone())
    }
}

/// The records `mode` exports from the steps of a build whose final steps
/// (one per platform) have keys `last`: with `Min`, the chains that end there.
pub fn select(steps: &[UsedStep], last: &[CacheKey], mode: ExportMode) -> Vec<UsedStep> {
    let mut chosen: Vec<UsedStep> = match mode {
        ExportMode::Max => steps.to_vec(),
        ExportMode::Min => last.iter().flat_map(|last| chain(steps, last)).collect(),
    };
    let mut seen = std::collections::BTreeSet::new();
    chosen.retain(|s| seen.insert(s.record.key));
    chosen
}

/// The steps that lead to `last`, first step first.
fn chain(steps: &[UsedStep], last: &CacheKey) -> Vec<UsedStep> {
    let mut chain = Vec::new();
    let mut next = Some(last.to_string());
    while let Some(key) = next.take() {
        if let Some(step) = steps.iter().find(|s| s.record.key.to_string() == key) {
            next = step.parent();
            chain.push(step.clone());
        }
    }
    chain.reverse();
    chain
}

/// The index entry of a step whose layer is `layer` (compressed).
pub fn shared_record(step: &UsedStep, layer: Option<SharedLayer>) -> SharedRecord {
    SharedRecord { key: step.record.key, parent: step.parent(), step: step.record.step.clone(), created: step.record.created.clone(), layer }
}

/// A cache imported with `--cache-from`: its records are known up front;
/// layers are fetched into the store only when asked.
pub trait SharedCache: Sync {
    /// The record for `key`, if the shared cache has one.
    fn record(&self, key: &CacheKey) -> Option<SharedRecord>;
    /// Makes the layer's blob, snapshot and layer record present in the store.
    fn fetch_layer(&self, diff_id: &Digest, layer: &LayerRecord) -> Result<(), SharedCacheError>;
    /// [`SharedCache::fetch_layer`] for several layers (at once, where the
    /// cache can).
    fn fetch_layers(&self, layers: &[(Digest, LayerRecord)]) -> Result<(), SharedCacheError> {
        layers.iter().try_for_each(|(diff_id, layer)| self.fetch_layer(diff_id, layer))
    }
}

/// Why a [`SharedCache`] could not provide a layer.
#[derive(Debug, thiserror::Error)]
pub enum SharedCacheError {
    /// A record names a layer that no imported location holds.
    #[error("layer {diff_id} is in no imported cache")]
    LayerNotImported {
        /// The layer's diff_id.
        diff_id: Digest,
    },
    /// The backend failed to fetch the layer; the cause is typed by the
    /// backend's module (registry, local directory).
    #[error("layer {diff_id}: {cause}")]
    Fetch {
        /// The layer's diff_id.
        diff_id: Digest,
        /// The backend's error.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::Input;

    fn step(key: u8, parent: Option<u8>) -> UsedStep {
        let key_of = |n: u8| CacheKey(Digest::from_bytes([n; 32]));
        let mut inputs = Vec::new();
        if let Some(p) = parent {
            inputs.push(Input::new("parent", key_of(p).to_string()));
        }
        UsedStep {
            record: CacheRecord { key: key_of(key), layer: None, inputs, step: format!("step {key}"), created: String::new(), stage: String::new() },
            layer: None,
        }
    }

    #[test]
    fn min_follows_the_final_chain_and_max_takes_everything() {
        // Stage A: 1 → 2; stage B (the target) based on A: 2 → 3 → 4; unrelated stage: 9.
        let steps = vec![step(1, Some(0)), step(9, Some(0)), step(2, Some(1)), step(3, Some(2)), step(4, Some(3))];
        let last = steps[4].record.key;
        let min: Vec<String> = select(&steps, &[last], ExportMode::Min).iter().map(|s| s.record.step.clone()).collect();
        assert_eq!(min, ["step 1", "step 2", "step 3", "step 4"]);
        assert_eq!(select(&steps, &[last], ExportMode::Max).len(), 5);
    }

    #[test]
    fn min_of_a_multi_platform_build_takes_every_platform_chain_once() {
        // A shared stage 1 → 2; amd64: 2 → 3; arm64: 2 → 5.
        let steps = vec![step(1, Some(0)), step(2, Some(1)), step(3, Some(2)), step(5, Some(2))];
        let last = [steps[2].record.key, steps[3].record.key];
        let min: Vec<String> = select(&steps, &last, ExportMode::Min).iter().map(|s| s.record.step.clone()).collect();
        assert_eq!(min, ["step 1", "step 2", "step 3", "step 5"]);
    }
}
