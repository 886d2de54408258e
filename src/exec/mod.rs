//! Filesystems and containers for build steps: overlay mounts of a stack of
//! snapshots with a fresh upper directory (whose contents become the step's
//! layer). Knows nothing of Dockerfiles, the cache or the store's layout.

mod overlay;
mod sys;

pub use overlay::{Mounted, RootfsMount};
