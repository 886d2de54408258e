//! From the typed Dockerfile model to what the builder executes. For now:
//! the config edits that CMD, ENV, LABEL and friends make (also used by
//! `strata import --change`).

mod config_edit;

pub use config_edit::{config_edit, ConfigEditError, EditContext};
