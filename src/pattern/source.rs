//! A COPY source as BuildKit reads it, before anything is looked up: the
//! path cleaned against `/` (so `../x` is `x`), cut at its first component
//! holding a wildcard (fsutil's `ResolveWildcards` resolves the part before
//! and matches the rest with `filepath.Match`), and for `--parents` cut
//! first at `/./` (or taken whole, from the root) into the directory to copy
//! and an include pattern below it.
//!
//! [`name_sources`] is the one resolver of COPY sources: the same code
//! runs over the walked build context (for the step's cache key) and over a
//! root filesystem opened with openat2 handles (the copy itself, from the
//! context or from a stage or image), each a [`SourceTree`].

use super::glob::{contains_wildcards, match_path};
use super::matcher::{PatternError, PatternSet};
use super::path::rooted_components;

/// One source, split.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Cleaned components up to the first one holding a wildcard (all of
    /// them when there is none); empty for the root.
    pub literal: Vec<String>,
    /// The components from the first wildcard on, `/`-joined: matched
    /// below `literal`.
    pub wildcard: Option<String>,
    /// `--parents`: only what this matches below each source is copied.
    pub include: Option<PatternSet>,
}

impl SourceSpec {
    /// Splits `source`; `parents` for COPY's `--parents`.
    pub fn parse(source: &str, parents: bool) -> Result<SourceSpec, PatternError> {
        let (dir, include) = if parents {
            let (dir, pattern) = source.split_once("/./").unwrap_or(("/", source));
            let pattern = rooted_components(pattern).join("/");
            (dir, if pattern.is_empty() { None } else { Some(PatternSet::new(&[pattern])?) })
        } else {
            (source, None)
        };
        let mut literal = rooted_components(dir);
        let wildcard = literal.iter().position(|c| contains_wildcards(c)).map(|at| literal.split_off(at).join("/"));
        Ok(SourceSpec { literal, wildcard, include })
    }

    /// How many components the wildcard part has (`*`, `?` never match
    /// `/`, so matches are no deeper).
    pub fn wildcard_depth(&self) -> usize {
        self.wildcard.as_deref().map_or(0, |w| w.split('/').count())
    }
}

/// A tree COPY sources are named in.
pub trait SourceTree {
    /// A path of the tree, as the tree spells it.
    type Path: Clone;
    /// A directory wildcards are matched in.
    type Base;
    /// What a walk or resolution failure is (a context or copy error).
    type Error: From<PatternError>;

    /// The path of clean components taken from the root.
    fn path(&self, components: &[String]) -> Self::Path;

    /// Resolves the part of a wildcard source before its first wildcard
    /// (symlinks followed inside the tree): `None` when it is not a
    /// directory, an error when it does not exist. `source` is the source
    /// as written, for errors.
    fn base(&self, path: &Self::Path, source: &str) -> Result<Option<Self::Base>, Self::Error>;

    /// Walks below `base`, depth first in name order, at most `depth`
    /// components deep, without following symlinks: `visit(below, path)`
    /// gets each path (`below` relative to `base`) and says whether it is
    /// taken, and then its subtree is not walked.
    fn walk(&self, base: &Self::Base, depth: usize, visit: &mut dyn FnMut(&str, &Self::Path) -> bool) -> Result<(), Self::Error>;
}

/// A path a source names, before symlinks in it are followed: its last
/// component names the copy when it goes into a directory.
#[derive(Debug, Clone)]
pub struct Named<P> {
    /// The path in the tree, before symlinks in it are followed.
    pub path: P,
    /// `--parents`: only what this matches below the path is copied.
    pub include: Option<PatternSet>,
}

/// The paths `source` names in `tree`, as BuildKit's frontend and fsutil's
/// `ResolveWildcards` name them: the literal path itself, or every path
/// below the wildcard's directory whose path relative to it matches the
/// wildcard part (Go's `filepath.Match`), a matched directory ending the
/// descent. A wildcard matching nothing names nothing (BuildKit's
/// `AllowEmptyWildcard`) but its directory must exist.
pub fn name_sources<T: SourceTree>(tree: &T, source: &str, parents: bool) -> Result<Vec<Named<T::Path>>, T::Error> {
    let spec = SourceSpec::parse(source, parents)?;
    let literal = tree.path(&spec.literal);
    let Some(pattern) = &spec.wildcard else { return Ok(vec![Named { path: literal, include: spec.include }]) };
    let Some(base) = tree.base(&literal, source)? else { return Ok(Vec::new()) };
    let mut matches = Vec::new();
    tree.walk(&base, spec.wildcard_depth(), &mut |below, path| {
        // A malformed pattern matches nothing, as in fsutil.
        let hit = match_path(pattern, below).unwrap_or(false);
        if hit {
            matches.push(Named { path: path.clone(), include: spec.include.clone() });
        }
        hit
    })?;
    Ok(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_buildkit() {
        let spec = SourceSpec::parse("../a/./b/*.txt", false).unwrap();
        assert_eq!(spec.literal, ["a", "b"]);
        assert_eq!(spec.wildcard.as_deref(), Some("*.txt"));
        assert!(spec.include.is_none());
        let spec = SourceSpec::parse("./src/./app/*.rs", true).unwrap();
        assert_eq!(spec.literal, ["src"]);
        assert!(spec.wildcard.is_none());
        assert!(spec.include.unwrap().is_match("app/main.rs"));
        let spec = SourceSpec::parse("pkg/*/go.mod", true).unwrap();
        assert!(spec.literal.is_empty() && spec.wildcard.is_none());
        assert!(spec.include.unwrap().is_match("pkg/a/go.mod"));
        assert_eq!(SourceSpec::parse("a/*/b/c?", false).unwrap().wildcard_depth(), 3);
    }
}
