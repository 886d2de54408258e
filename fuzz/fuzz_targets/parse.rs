//! Fuzz target for the Dockerfile parser: `parse_ast`, `parse` and `dump` must
//! not panic on any text, and every span they report (nodes, flags, words,
//! heredocs, typed instructions, errors) must lie inside the input on char
//! boundaries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata::syntax::instruction::Source;
use strata::syntax::{dump, parse, parse_ast, Args, Heredoc, Instruction, LineCol, Node, ParseError, Span};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let input: &str = &input;

    match parse_ast(input) {
        Ok(ast) => {
            for node in &ast.nodes {
                check_node(input, node, "node");
            }
            let _ = dump(&ast);
        }
        Err(err) => check_error(input, &err, "parse_ast error"),
    }

    match parse(input) {
        Ok(file) => {
            for arg in &file.global_args {
                check_span(input, arg.span, "global ARG");
                check_instruction(input, &arg.value);
            }
            for stage in &file.stages {
                check_span(input, stage.from.span, "FROM");
                for located in &stage.instructions {
                    check_span(input, located.span, "instruction");
                    check_instruction(input, &located.value);
                }
            }
        }
        Err(err) => check_error(input, &err, "parse error"),
    }
});

/// `span.start <= span.end <= input.len()`, both ends on char boundaries.
fn check_span(input: &str, span: Span, what: &str) {
    assert!(
        span.start <= span.end && span.end <= input.len(),
        "{what}: span {span:?} out of bounds (input is {} bytes)",
        input.len()
    );
    assert!(
        input.is_char_boundary(span.start) && input.is_char_boundary(span.end),
        "{what}: span {span:?} not on char boundaries"
    );
}

fn check_error(input: &str, err: &ParseError, what: &str) {
    check_span(input, err.span, what);
    // What the CLI does with an error span: locate it and render the message.
    let _ = LineCol::locate(input, err.span.start);
    let _ = err.to_string();
    let _ = err.help();
}

fn check_heredoc(input: &str, heredoc: &Heredoc, what: &str) {
    check_span(input, heredoc.span, what);
    let _ = heredoc.body();
}

fn check_node(input: &str, node: &Node, what: &str) {
    check_span(input, node.span, what);
    check_span(input, node.keyword_span, "keyword");
    check_span(input, node.args_span, "args");
    for flag in &node.flags {
        check_span(input, flag.span, "flag");
    }
    for span in &node.word_spans {
        check_span(input, *span, "word");
    }
    // One span per word of `Args::Words`, none for the other forms.
    let words = if let Args::Words(words) = &node.args { words.len() } else { 0 };
    assert_eq!(node.word_spans.len(), words, "word spans do not match the words");
    for heredoc in &node.heredocs {
        check_heredoc(input, heredoc, "heredoc");
    }
    if let Args::Onbuild(Some(inner)) = &node.args {
        check_node(input, inner, "ONBUILD trigger");
    }
}

fn check_instruction(input: &str, instruction: &Instruction) {
    let sources = match instruction {
        Instruction::Run(run) => {
            for heredoc in &run.heredocs {
                check_heredoc(input, heredoc, "RUN heredoc");
            }
            return;
        }
        Instruction::Copy(copy) => &copy.sources,
        Instruction::Add(add) => &add.sources,
        Instruction::Onbuild { trigger, .. } => return check_instruction(input, trigger),
        _ => return,
    };
    for source in sources {
        if let Source::Heredoc { heredoc } = source {
            check_heredoc(input, heredoc, "COPY/ADD heredoc");
        }
    }
}
