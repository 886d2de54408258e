//! The build cache: typed, length-prefixed [`CacheKey`]s, the records that
//! map a key to its result and the inputs that made it, the comparison
//! that explains a miss, and the cache's upkeep: usage, inventory (`du`),
//! pruning, verification and the garbage-collection policy.

mod explain;
mod history;
mod inventory;
mod key;
mod policy;
mod prune;
mod records;
mod shared;
mod system;
mod usage;
mod verify;

pub use explain::explain_miss;
pub use history::{layer_changes, recent_builds, recent_builds_with_layers, record_build, BuildRecord, LayerChanges, PathChange, StepRecord, KEPT_BUILDS};
pub use inventory::{parse_time, CacheEntry, EntryKind, FindError, Inventory, Totals};
pub use key::{CacheKey, KeyBuilder};
pub use policy::{collect, collect_garbage, gc_due, mark_gc, parse_duration, parse_keep_storage, GcOutcome, GcPolicy, KeepStorage, PolicyError};
pub use prune::{prune, PruneOptions, PruneReport};
pub use records::{Cache, CacheRecord, Input};
pub use shared::{
    select, shared_record, ExportMode, SharedCache, SharedCacheError, SharedIndex, SharedLayer, SharedRecord, UsedStep, ARTIFACT_TYPE, INDEX_MEDIA_TYPE,
};
pub use system::{system_usage, UsageRow};
pub use usage::{BuildUse, Usage};
pub use verify::{verify, Problem, VerifyOptions, VerifyReport};
