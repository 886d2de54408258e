//! A COPY source as BuildKit reads it, before anything is looked up: the
//! path cleaned against `/` (so `../x` is `x`), cut at its first component
//! holding a wildcard (fsutil's `ResolveWildcards` resolves the part before
//! and matches the rest with `filepath.Match`), and for `--parents` cut
//! first at `/./` (or taken whole, from the root) into the directory to copy
//! and an include pattern below it. The build context's selection and the
//! copy both start here.

use super::glob::contains_wildcards;
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
