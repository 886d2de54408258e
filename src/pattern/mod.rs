//! BuildKit-compatible path patterns and path cleaning, written once for
//! every user: the build context (`.dockerignore`, COPY source selection)
//! and COPY/ADD (`--exclude`, `--parents`, wildcard sources). Pure: strings
//! in, strings out; it depends on nothing else in the crate.
//!
//! - [`path`]: Go's `path.Clean`;
//! - [`glob`]: Go's `filepath.Match` (COPY source wildcards, pattern syntax);
//! - [`matcher`]: moby/patternmatcher (`.dockerignore`, `--exclude`,
//!   `--parents`), through a translation of Go's regexp dialect
//!   (`goregex`);
//! - [`source`]: a COPY source split into its literal part, its wildcard
//!   part and `--parents`' include pattern, and the one resolver of COPY
//!   sources over any [`SourceTree`].

pub mod glob;
mod goregex;
pub mod matcher;
pub mod path;
pub mod source;

pub use glob::{contains_wildcards, match_path, validate, BadPattern};
pub use matcher::{parent_dirs, Pattern, PatternError, PatternSet};
pub use path::{clean, rooted_components};
pub use source::{name_sources, Named, SourceSpec, SourceTree};
