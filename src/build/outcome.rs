//! What a build produced: the image, what the cache saved, what was
//! exported where, the GC's result and where the time went.

use std::time::Duration;

use super::GcError;
use crate::cache::GcOutcome;
use crate::context::HashStats;
use crate::digest::Digest;
use crate::export::Exported;
use crate::image::Reference;
use crate::registry::{ExportSummary, ImportSummary};
use crate::store::StoredImage;

/// The result of [`super::build`].
#[derive(Debug)]
pub struct Outcome {
    /// The image as stored (its ID is its config digest).
    pub image: StoredImage,
    /// A multi-platform build's index (one image per platform; `image` is
    /// this machine's platform's, else the first).
    pub index: Option<crate::store::ManifestList>,
    /// The names it was given.
    pub tags: Vec<Reference>,
    /// Steps taken from a cache, of all steps.
    pub cached_steps: usize,
    /// Steps that make a layer.
    pub total_steps: usize,
    /// What hashing the context took.
    pub context: HashStats,
    /// One entry per `--cache-from`.
    pub cache_imports: Vec<ImportSummary>,
    /// One entry per `--cache-to`.
    pub cache_exports: Vec<CacheExport>,
    /// What the outputs wrote, in order (a push: one entry per name).
    pub exported: Vec<Exported>,
    /// The GC after the build: `Ok(None)` when it was not due.
    pub gc: Result<Option<GcOutcome>, GcError>,
    /// Where the time went.
    pub timings: Timings,
}

/// A shared cache written after the build.
#[derive(Debug, Clone)]
pub struct CacheExport {
    /// Where it went (`type=…` spelled out).
    pub location: String,
    /// Records and layers written.
    pub summary: ExportSummary,
}

/// Wall-clock time per phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Context, Dockerfile, plan and base images.
    pub plan: Duration,
    /// The steps (including cache imports).
    pub solve: Duration,
    /// Outputs, pushes and cache exports.
    pub export: Duration,
    /// Everything, GC included.
    pub total: Duration,
}

impl Outcome {
    /// The image ID (`sha256:` of its config).
    pub fn id(&self) -> Digest {
        self.image.id()
    }
}
