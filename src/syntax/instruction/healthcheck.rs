//! HEALTHCHECK: `NONE`, or `CMD` with its timing flags (Go duration syntax,
//! as Docker writes them into the image config in nanoseconds).
//!
//! See: grammar/dockerfile.peg, rule `duration`.

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::digit1;
use nom::combinator::{all_consuming, opt, recognize};
use nom::multi::many1;
use nom::sequence::{pair, preceded};
use nom::IResult;
use serde::Serialize;

use super::Command;

/// The health check an image declares.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any check inherited from the base image.
    None,
    /// `HEALTHCHECK [flags] CMD command`.
    Cmd {
        command: Command,
        /// Durations in nanoseconds, as Docker's config stores them.
        interval: Option<u64>,
        timeout: Option<u64>,
        start_period: Option<u64>,
        start_interval: Option<u64>,
        retries: Option<u32>,
    },
}

/// Rule `duration`: one or more `<number>[.<fraction>]<unit>` parts, e.g.
/// `1m30s`, `1.5h`, `300ms`. Returns nanoseconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let (_, parts) = all_consuming(many1(duration_part))(text).ok()?;
    parts.into_iter().try_fold(0u64, |total, ns| total.checked_add(ns))
}

fn duration_part(input: &str) -> IResult<&str, u64> {
    let (input, number) = recognize(pair(digit1, opt(preceded(tag("."), digit1))))(input)?;
    let (input, unit) = alt((tag("ns"), tag("us"), tag("µs"), tag("ms"), tag("s"), tag("m"), tag("h")))(input)?;
    let scale: f64 = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        _ => 3600e9,
    };
    let value = number.parse::<f64>().unwrap_or(f64::INFINITY) * scale;
    if !value.is_finite() || value > u64::MAX as f64 {
        return Err(nom::Err::Failure(nom::error::Error::new(input, nom::error::ErrorKind::TooLarge)));
    }
    Ok((input, value.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_duration("0s"), Some(0));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration(""), None);
    }
}
