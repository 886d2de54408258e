//! COPY and ADD: sources (paths, URLs or heredocs), destination and flags.

use serde::Serialize;

use crate::syntax::heredoc::Heredoc;

/// One source of COPY/ADD.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A path or glob in the context (or stage/image for `--from`), or a URL for ADD.
    Path { path: String },
    /// `<<NAME`: a file whose content is the heredoc body.
    Heredoc { heredoc: Heredoc },
}

/// `COPY [--from=] [--chown=] [--chmod=] [--link] [--parents] [--exclude=]... src... dest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Copy {
    pub sources: Vec<Source>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
}

/// `ADD [--chown=] [--chmod=] [--link] [--keep-git-dir] [--checksum=] [--exclude=]... [--unpack] src... dest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Add {
    pub sources: Vec<Source>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: bool,
    pub checksum: Option<String>,
    pub exclude: Vec<String>,
    pub unpack: Option<bool>,
}

/// Splits arguments into sources and destination; a source written `<<NAME`
/// that names one of the instruction's heredocs becomes that heredoc.
pub fn sources_and_dest(args: Vec<String>, heredocs: &[Heredoc]) -> Option<(Vec<Source>, String)> {
    let mut args = args;
    let dest = args.pop()?;
    if args.is_empty() {
        return None;
    }
    let sources = args
        .into_iter()
        .map(|path| match heredoc_for(&path, heredocs) {
            Some(heredoc) => Source::Heredoc { heredoc: heredoc.clone() },
            None => Source::Path { path },
        })
        .collect();
    Some((sources, dest))
}

fn heredoc_for<'a>(word: &str, heredocs: &'a [Heredoc]) -> Option<&'a Heredoc> {
    let name = crate::syntax::heredoc::marker_name(word)?;
    heredocs.iter().find(|h| h.name == name)
}

/// Whether a literal `--chmod` value is valid: octal (`755`, `0644`) or
/// symbolic (`u+x,g-w`, `a=rX`). Values with variables are checked later.
pub fn is_valid_chmod(value: &str) -> bool {
    if value.contains('$') {
        return true;
    }
    if value.chars().all(|c| c.is_digit(8)) {
        return !value.is_empty() && value.len() <= 4;
    }
    value.split(',').all(|clause| {
        let ops = clause.trim_start_matches(['u', 'g', 'o', 'a']);
        ops.starts_with(['+', '-', '=']) && ops.chars().all(|c| "+-=rwxXst".contains(c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chmod_forms() {
        for ok in ["755", "0644", "u+x", "a=rX,g-w", "${MODE}"] {
            assert!(is_valid_chmod(ok), "{ok}");
        }
        for bad in ["", "888", "12345", "u+q", "x"] {
            assert!(!is_valid_chmod(bad), "{bad}");
        }
    }
}
