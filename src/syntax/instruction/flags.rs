//! Typed reading of an instruction's `--flag` words: which flags it accepts,
//! which take values, which may repeat. Mirrors BuildKit's flag rules:
//! `--flag` alone sets a boolean, `--flag=value` sets a string, and flag
//! names are case-sensitive (`--FROM` is an unknown flag).
//!
//! See: BuildKit frontend/dockerfile/instructions/bflag.go, `BFlags.Parse`.

use std::collections::BTreeMap;

use crate::syntax::error::{ErrorKind, ParseError};
use crate::syntax::node::Flag;
use crate::syntax::span::Span;

/// What a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    Value,
    /// `--mount=...`, repeatable.
    Repeated,
}

/// One flag an instruction accepts.
pub type FlagSpec = (&'static str, FlagKind);

/// The flags given to one instruction, checked against its spec.
#[derive(Debug, Default)]
pub struct Flags {
    values: BTreeMap<&'static str, Vec<(Option<String>, Span)>>,
}

impl Flags {
    /// Checks `given` against `spec`: unknown flags, missing values,
    /// repeats of single-valued flags and bad booleans are errors.
    pub fn parse(instruction: &str, given: &[Flag], spec: &[FlagSpec]) -> Result<Flags, ParseError> {
        let mut flags = Flags::default();
        for flag in given {
            let body = flag.text.strip_prefix("--").unwrap_or(&flag.text);
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (body, None),
            };
            let Some(&(known, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                let suggestion = suggest(name, spec.iter().map(|(n, _)| *n)).map(|s| format!("--{s}"));
                let kind = ErrorKind::UnknownFlag { instruction: instruction.to_uppercase(), flag: name.into(), suggestion };
                return Err(ParseError::new(kind, flag.span));
            };
            let entry = flags.values.entry(known).or_default();
            let error = |kind| Err(ParseError::new(kind, flag.span));
            match kind {
                FlagKind::Bool => {
                    if let Some(v) = &value {
                        if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                            let expected = "true or false".into();
                            return error(ErrorKind::InvalidFlagValue { flag: known.into(), value: v.clone(), expected });
                        }
                    }
                }
                FlagKind::Value | FlagKind::Repeated if value.is_none() => {
                    return error(ErrorKind::FlagNeedsValue { flag: known.into() });
                }
                _ => {}
            }
            if kind != FlagKind::Repeated && !entry.is_empty() {
                return error(ErrorKind::DuplicateFlag { flag: known.into() });
            }
            entry.push((value, flag.span));
        }
        Ok(flags)
    }

    /// Whether the flag was given at all (with or without a value).
    pub fn is_used(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A boolean flag: absent is false, `--x` is true, `--x=false` is false.
    pub fn bool(&self, name: &str) -> bool {
        self.values.get(name).and_then(|v| v.last()).is_some_and(|(value, _)| value.as_deref().is_none_or(|v| v.eq_ignore_ascii_case("true")))
    }

    /// A single-valued flag; an empty value counts as not given.
    pub fn value(&self, name: &str) -> Option<(String, Span)> {
        let (value, span) = self.values.get(name)?.last()?;
        value.clone().filter(|v| !v.is_empty()).map(|v| (v, *span))
    }

    /// Every value of a repeatable flag, in order.
    pub fn values(&self, name: &str) -> Vec<(String, Span)> {
        self.values.get(name).map(|all| all.iter().filter_map(|(v, span)| v.clone().map(|v| (v, *span))).collect()).unwrap_or_default()
    }

    /// The value of a flag, or `None`; plain string form.
    pub fn string(&self, name: &str) -> Option<String> {
        self.value(name).map(|(v, _)| v)
    }
}

/// The closest candidate to `word`, if one is close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .map(|c| (strsim::levenshtein(&word, &c.to_ascii_lowercase()), c))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 3) && *distance < c.len())
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(text: &str) -> Flag {
        Flag { text: text.into(), span: Span::default() }
    }

    const SPEC: &[FlagSpec] = &[("link", FlagKind::Bool), ("from", FlagKind::Value), ("exclude", FlagKind::Repeated)];

    #[test]
    fn reads_kinds() {
        let given = [flag("--link"), flag("--from=build"), flag("--exclude=a"), flag("--exclude=b")];
        let flags = Flags::parse("copy", &given, SPEC).unwrap();
        assert!(flags.bool("link"));
        assert_eq!(flags.string("from").as_deref(), Some("build"));
        assert_eq!(flags.values("exclude").len(), 2);
    }

    #[test]
    fn rejects_bad_flags() {
        let err = Flags::parse("copy", &[flag("--form=x")], SPEC).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::UnknownFlag { suggestion: Some(ref s), .. } if s == "--from"));
        assert!(Flags::parse("copy", &[flag("--from")], SPEC).is_err());
        assert!(Flags::parse("copy", &[flag("--from=a"), flag("--from=b")], SPEC).is_err());
        assert!(Flags::parse("copy", &[flag("--link=maybe")], SPEC).is_err());
    }

    #[test]
    fn names_are_case_sensitive() {
        let err = Flags::parse("copy", &[flag("--FROM=build")], SPEC).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::UnknownFlag { ref flag, suggestion: Some(ref s), .. } if flag == "FROM" && s == "--from"));
        assert!(Flags::parse("copy", &[flag("--Link")], SPEC).is_err());
    }
}
