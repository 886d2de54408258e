//! BuildKit's `result` dump of a raw tree: one parenthesised line per
//! instruction, every string quoted as Go's `strconv.Quote` does.
//!
//! See: testdata/conformance/buildkit/FORMAT.md, sections 1.1 and 1.2.

use std::fmt::Write;

use super::ast::Ast;
use super::node::{Args, Node};

/// The dump of every instruction, each line ending in `\n`.
pub fn dump(ast: &Ast) -> String {
    let mut out = String::new();
    for node in &ast.nodes {
        out.push('(');
        dump_node(node, &mut out);
        out.push_str(")\n");
    }
    out
}

fn dump_node(node: &Node, out: &mut String) {
    out.push_str(&node.keyword);
    if !node.flags.is_empty() {
        out.push_str(" [");
        for (i, flag) in node.flags.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            // BuildKit's flag scanner reads bytes and re-encodes each one as a
            // code point (Latin-1); the dump shows flags the same way.
            let latin1: String = flag.text.bytes().map(char::from).collect();
            out.push_str(&go_quote(&latin1));
        }
        out.push(']');
    }
    dump_args(&node.args, out);
}

fn dump_args(args: &Args, out: &mut String) {
    let mut quoted = |s: &str| {
        out.push(' ');
        out.push_str(&go_quote(s));
    };
    match args {
        Args::Words(items) | Args::Json(items) => items.iter().for_each(|s| quoted(s)),
        Args::Shell(text) => quoted(text),
        Args::KeyValues(pairs) => {
            for pair in pairs {
                quoted(&pair.key);
                quoted(&pair.value);
                quoted(if pair.equals { "=" } else { "" });
            }
        }
        Args::Healthcheck { kind, command } => {
            quoted(kind);
            dump_args(command, out);
        }
        Args::Onbuild(Some(inner)) => {
            out.push_str(" (");
            dump_node(inner, out);
            out.push(')');
        }
        Args::Onbuild(None) => {}
        Args::Unknown => quoted(""),
    }
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space.
fn is_go_printable(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup as G, UnicodeGeneralCategory};
    c == ' ' || matches!(c.general_category_group(), G::Letter | G::Mark | G::Number | G::Punctuation | G::Symbol)
}

/// Quotes `s` exactly as Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("\" \\ / \x08 \x0c \n \r \t \0"), r#""\" \\ / \b \f \n \r \t \x00""#);
        assert_eq!(go_quote("♥ é 한"), "\"♥ é 한\"");
        assert_eq!(go_quote("\u{a0}\u{feff}"), r#""\u00a0\ufeff""#);
        assert_eq!(go_quote("\u{e0000}"), r#""\U000e0000""#);
    }
}
