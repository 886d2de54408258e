//! Dockerfile text to a typed AST with source spans.
//!
//! Two layers, as in BuildKit: [`parse_ast`] gives the raw tree that BuildKit's
//! parser produces (its `result` dump is [`dump`]); [`parse`] checks that tree
//! into the typed [`Dockerfile`] that the rest of strata consumes. Pure: text
//! in, no I/O.
//!
//! See: grammar/dockerfile.peg for the rules each function names.

mod ast;
mod directive;
mod dump;
mod error;
mod heredoc;
pub mod instruction;
mod logical;
mod node;
mod span;
mod split;

pub use ast::{parse_ast, Ast};
pub use directive::{CheckDirective, Directives};
pub use dump::{dump, go_quote};
pub use error::{Arity, ErrorKind, ParseError};
pub use heredoc::Heredoc;
pub use instruction::{Dockerfile, Instruction, Located, Stage};
pub use node::{Args, Flag, KeyValue, Node};
pub use span::{LineCol, LineRange, Span};

/// Parses and checks a Dockerfile into the typed model.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    instruction::from_ast(&parse_ast(source)?)
}
