//! strata: a daemonless, BuildKit-style Dockerfile build tool.
//!
//! Data flows one way: Dockerfile text is parsed by [`syntax`] into a typed
//! AST, variables are expanded with [`words`], and the command-line layer in
//! [`cli`] renders results and errors at the edge.

pub mod build;
pub mod cache;
pub mod cli;
pub mod context;
pub mod copy;
pub mod digest;
pub mod exec;
pub mod export;
pub mod image;
pub mod layer;
pub mod lint;
pub mod parallel;
pub mod pattern;
pub mod plan;
pub mod progress;
pub mod registry;
pub mod size;
pub mod solve;
pub mod store;
pub mod syntax;
pub mod words;
