//! Parser directives: `# syntax=`, `# escape=`, `# check=` lines at the very
//! top of a Dockerfile. The first line that is not a known directive ends the
//! directive section for good, as in BuildKit.
//!
//! See: grammar/dockerfile.peg, rules `directive` and `check_value`.

use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::{alpha1, alphanumeric0, space0};
use nom::combinator::recognize;
use nom::sequence::pair;
use nom::IResult;
use serde::Serialize;

use super::error::{ErrorKind, ParseError};
use super::span::Span;

/// The directives a Dockerfile declared, with where they were written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Directives {
    /// The escape character (`\` unless `# escape=` changed it).
    pub escape: char,
    /// The `syntax` directive's value (a frontend image reference), if any.
    pub syntax: Option<String>,
    /// The `check` directive, if any.
    pub check: Option<CheckDirective>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { escape: '\\', syntax: None, check: None }
    }
}

/// `# check=skip=<rule>[,<rule>...];error=true|false;experimental=<rule>[,...]`
/// (BuildKit build checks).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CheckDirective {
    /// Rules to skip; `all` skips every rule.
    pub skip: Vec<String>,
    /// Whether check violations fail the build.
    pub error: bool,
    /// Experimental rules to turn on; `all` turns on every one.
    pub experimental: Vec<String>,
}

/// Rule `directive`: `#` blanks name blanks `=` blanks value (trailing blanks dropped).
fn directive_line(line: &str) -> IResult<&str, (&str, &str)> {
    let (rest, _) = tag("#")(line)?;
    let (rest, _) = space0(rest)?;
    let (rest, name) = recognize(pair(alpha1, alphanumeric0))(rest)?;
    let (rest, _) = space0(rest)?;
    let (rest, _) = tag("=")(rest)?;
    let (rest, _) = space0(rest)?;
    let value = rest.trim_end_matches([' ', '\t']);
    let (_, value) = take_while1(|_| true)(value)?;
    Ok(("", (name, value)))
}

/// Reads directives from the first lines; tracks which were seen.
#[derive(Debug, Default)]
pub struct DirectiveScanner {
    done: bool,
    seen: Vec<String>,
    /// The directives read so far (defaults for those not seen).
    pub directives: Directives,
}

impl DirectiveScanner {
    /// Offers one left-trimmed line (offset `at` in the source). Returns
    /// `Ok(true)` when the line was a directive and is consumed.
    pub fn offer(&mut self, line: &str, at: usize) -> Result<bool, ParseError> {
        if self.done {
            return Ok(false);
        }
        let Ok((_, (name, value))) = directive_line(line) else {
            self.done = true;
            return Ok(false);
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(false);
        }
        let span = Span::new(at, at + line.len());
        if self.seen.contains(&name) {
            return Err(ParseError::new(ErrorKind::DuplicateDirective { name }, span));
        }
        self.seen.push(name.clone());
        match name.as_str() {
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(ParseError::new(ErrorKind::InvalidEscape { value: value.into() }, span)),
                }
            }
            "syntax" => self.directives.syntax = Some(value.to_owned()),
            _ => {
                let check = parse_check(value).ok_or_else(|| ParseError::new(ErrorKind::InvalidCheck { value: value.into() }, span))?;
                self.directives.check = Some(check);
            }
        }
        Ok(true)
    }
}

/// Rule `check_value`: `key=value` parts separated by `;` (also the value
/// of the `BUILDKIT_DOCKERFILE_CHECK` build arg). `None` when malformed.
pub fn parse_check(value: &str) -> Option<CheckDirective> {
    let mut check = CheckDirective::default();
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, val) = part.split_once('=')?;
        match key.trim().to_ascii_lowercase().as_str() {
            "skip" => check.skip = rule_list(val),
            "experimental" => check.experimental = rule_list(val),
            "error" => check.error = val.trim().parse().ok()?,
            _ => return None,
        }
    }
    Some(check)
}

fn rule_list(value: &str) -> Vec<String> {
    value.split(',').map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).collect()
}

/// True when `line` (left-trimmed) is a comment line.
pub fn is_comment(line: &str) -> bool {
    line.starts_with('#')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_forms() {
        assert_eq!(directive_line("# escape = `  ").unwrap().1, ("escape", "`"));
        assert_eq!(directive_line("#syntax=docker/dockerfile:1").unwrap().1, ("syntax", "docker/dockerfile:1"));
        assert!(directive_line("# just a comment").is_err());
        assert!(directive_line("# x=").is_err());
    }

    #[test]
    fn check_values() {
        let c = parse_check("skip=JSONArgsRecommended,StageNameCasing;error=true").unwrap();
        assert_eq!(c.skip, ["JSONArgsRecommended", "StageNameCasing"]);
        assert!(c.error);
        assert!(parse_check("nope=1").is_none());
    }
}
