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
pub mod print;
mod span;
mod split;

pub use ast::{parse_ast, Ast};
pub use directive::{parse_check, CheckDirective, Directives};
pub use dump::{dump, go_quote};
pub use error::{Arity, ErrorKind, ParseError};
pub use heredoc::Heredoc;
pub use instruction::{go_duration, Dockerfile, Instruction, Located, Stage};
pub use node::{Args, Flag, KeyValue, Node};
pub use span::{LineCol, LineRange, Span};

/// Parses and checks a Dockerfile into the typed model; the same result as
/// `instruction::from_ast(&parse_ast(source)?)`, without holding the raw tree.
/// As in BuildKit, an error of the raw tree (anywhere in the file) wins over
/// an error of the typed layer.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let mut reader = ast::Reader::new(source);
    let mut builder = instruction::Builder::default();
    let mut nodes = 0usize;
    let mut typed_error = None;
    while let Some(node) = reader.next_node()? {
        nodes += 1;
        if typed_error.is_none() {
            typed_error = builder.push_owned(node).err();
        }
    }
    if nodes == 0 {
        return Err(ast::no_instructions());
    }
    if let Some(error) = typed_error {
        return Err(error);
    }
    builder.finish(reader.into_directives())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse` streams; it must give exactly what the two layers give in turn.
    fn same_as_two_layers(source: &str) {
        let layered = parse_ast(source).and_then(|ast| instruction::from_ast(&ast));
        assert_eq!(parse(source), layered, "for {source:?}");
    }

    #[test]
    fn streaming_parse_matches_the_two_layers() {
        same_as_two_layers("");
        same_as_two_layers("# only a comment\n");
        same_as_two_layers("ARG A\nARG B\n");
        same_as_two_layers("FROM a\nRUN <<EOF\nx\nEOF\nONBUILD COPY <<X /x\ny\nX\n");
        // A typed error early, a raw-tree error later: the raw one wins (BuildKit order).
        same_as_two_layers("FROM a\nCOPPY x y\nRUN <<EOF\nnever ends\n");
        same_as_two_layers("FROM a\nCOPPY x y\nENV A=1 B\n");
        // Two typed errors: the first wins.
        same_as_two_layers("RUN x\nFROM a AS 1\n");
        let cases = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/parser");
        for entry in fs_err::read_dir(cases).expect("testdata/parser") {
            let path = entry.expect("entry").path().join("Dockerfile");
            same_as_two_layers(&String::from_utf8_lossy(&fs_err::read(&path).expect("Dockerfile")));
        }
    }
}
