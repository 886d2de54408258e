//! COPY and ADD: sources (paths, URLs or heredocs), destination and flags.

use serde::Serialize;

use crate::syntax::heredoc::Heredoc;

/// One source of COPY/ADD.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A path or glob in the context (or stage/image for `--from`), or a URL for ADD.
    Path {
        /// The word as written, unexpanded.
        path: String,
    },
    /// `<<NAME`: a file whose content is the heredoc body.
    Heredoc {
        /// The heredoc the marker names, body read.
        heredoc: Heredoc,
    },
}

/// `COPY [--from=] [--chown=] [--chmod=] [--link] [--parents] [--exclude=]... src... dest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Copy {
    /// Every argument but the last, in order; never empty.
    pub sources: Vec<Source>,
    /// The last argument, as written: relative to WORKDIR unless absolute,
    /// a directory when it ends in `/` or there are several sources.
    pub dest: String,
    /// `--from=`: a stage name or index, or an image reference; `None`
    /// copies from the build context.
    pub from: Option<String>,
    /// `--chown=user[:group]` as written; `None`: files from the context are
    /// owned by 0:0, files from a stage or image keep their owners.
    pub chown: Option<String>,
    /// `--chmod=` (octal or symbolic, checked when literal); `None` keeps
    /// the source modes.
    pub chmod: Option<String>,
    /// `--link`: the files form an independent layer that does not depend
    /// on the layers below.
    pub link: bool,
    /// `--parents`: keep the sources' parent directories under `dest`.
    pub parents: bool,
    /// `--exclude=` patterns (repeatable), matched like `.dockerignore`.
    pub exclude: Vec<String>,
}

/// `ADD [--chown=] [--chmod=] [--link] [--keep-git-dir] [--checksum=] [--exclude=]... [--unpack] src... dest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Add {
    /// Every argument but the last, in order; never empty. Paths may be
    /// URLs or git repositories.
    pub sources: Vec<Source>,
    /// The last argument, as written (see [`Copy::dest`]).
    pub dest: String,
    /// `--chown=user[:group]` as written; `None`: owned by 0:0.
    pub chown: Option<String>,
    /// `--chmod=` (octal or symbolic, checked when literal); `None` keeps
    /// the source modes.
    pub chmod: Option<String>,
    /// `--link`: the files form an independent layer.
    pub link: bool,
    /// `--keep-git-dir`: keep `.git` when adding a git repository.
    pub keep_git_dir: bool,
    /// `--checksum=` (`sha256:<hex>`) a downloaded source must match.
    pub checksum: Option<String>,
    /// `--exclude=` patterns (repeatable), matched like `.dockerignore`.
    pub exclude: Vec<String>,
    /// `--unpack[=bool]`; `None` when not given (local archives are then
    /// extracted; downloads never are).
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
