//! The build cache: typed, length-prefixed [`CacheKey`]s, the records that
//! map a key to its result and the inputs that made it, and the comparison
//! that explains a miss.

mod explain;
mod key;
mod records;
mod shared;

pub use explain::explain_miss;
pub use key::{CacheKey, KeyBuilder};
pub use records::{Cache, CacheRecord, Input};
pub use shared::{
    select, shared_record, ExportMode, SharedCache, SharedIndex, SharedLayer, SharedRecord, UsedStep, ARTIFACT_TYPE,
    INDEX_MEDIA_TYPE,
};
