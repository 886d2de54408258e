//! Garbage collection after a build. A failure here does not fail the
//! build (its image is stored): the outcome carries it, to be reported as
//! a warning.

use crate::cache::{self, GcOutcome, GcPolicy, PolicyError};
use crate::store::{Store, StoreError};

/// The GC a build asks for; text fields are parsed after the build, so a
/// bad value warns instead of failing a finished build.
#[derive(Debug, Clone, Default)]
pub struct GcRequest {
    /// No collection at all.
    pub disabled: bool,
    /// Overrides `strata.toml`'s `keep-storage` (`5GB`, `10%`).
    pub keep_storage: Option<String>,
    /// Overrides `strata.toml`'s `keep-duration` (`60d`).
    pub keep_duration: Option<String>,
}

/// Why the GC after a build did not run through.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// `strata.toml` or a `--gc-*` value is not valid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The collection itself failed.
    #[error(transparent)]
    Collect(#[from] StoreError),
}

impl GcRequest {
    fn policy(&self, store: &Store) -> Result<GcPolicy, PolicyError> {
        let mut policy = GcPolicy::load(store.root())?;
        if self.disabled {
            policy.enabled = false;
        }
        if let Some(size) = &self.keep_storage {
            policy.keep_storage = cache::parse_keep_storage(size)?;
        }
        if let Some(duration) = &self.keep_duration {
            policy.keep_duration = cache::parse_duration(duration)?;
        }
        Ok(policy)
    }

    /// Collects when due (or when this request set a policy); `None` when it did not run.
    pub(super) fn run(&self, store: &Store, added_layers: bool) -> Result<Option<GcOutcome>, GcError> {
        store.release_lease();
        let policy = self.policy(store)?;
        // A policy given with the build is meant for this build.
        let asked = self.keep_storage.is_some() || self.keep_duration.is_some();
        if !policy.enabled || !(asked || cache::gc_due(store, added_layers)) {
            return Ok(None);
        }
        let collected = cache::collect(store, &policy);
        cache::mark_gc(store);
        Ok(Some(collected?))
    }
}
