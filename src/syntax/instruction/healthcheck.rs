//! HEALTHCHECK: `NONE`, or `CMD` with its timing flags (Go duration syntax,
//! as Docker writes them into the image config in nanoseconds).
//!
//! See: grammar/dockerfile.peg, rule `duration`; Go's `time.ParseDuration`.

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
        /// The command the container runs to check its health.
        command: Command,
        /// Durations in nanoseconds, as Docker's config stores them; `None`
        /// when not given or given as 0 (both mean "the default").
        interval: Option<u64>,
        /// `--timeout`: how long one check may run before it counts as failed
        /// (nanoseconds; `None`: the default).
        timeout: Option<u64>,
        /// `--start-period`: how long after start failures do not count
        /// (nanoseconds; `None`: the default).
        start_period: Option<u64>,
        /// `--start-interval`: the interval during the start period
        /// (nanoseconds; `None`: the default).
        start_interval: Option<u64>,
        /// `--retries`: consecutive failures before the container is
        /// unhealthy; `None` when not given.
        retries: Option<u32>,
    },
}

/// Nanoseconds in each unit Go's `time.ParseDuration` knows.
fn unit_ns(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// The inverse of [`parse_duration`]: Go's `time.Duration.String` of a
/// non-negative count of nanoseconds (`0s`, `1.5µs`, `500ms`, `1m30s`,
/// `1h0m0s`), as Dockerfiles and BuildKit's history write durations.
pub fn go_duration(ns: u64) -> String {
    /// `value / unit` with the fraction's trailing zeros dropped.
    fn decimal(value: u64, unit: u64) -> String {
        let (whole, rest) = (value / unit, value % unit);
        if rest == 0 {
            return whole.to_string();
        }
        let width = unit.ilog10() as usize;
        let fraction = format!("{rest:0width$}");
        format!("{whole}.{}", fraction.trim_end_matches('0'))
    }
    const SECOND: u64 = 1_000_000_000;
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}\u{b5}s", decimal(ns, 1_000));
    }
    if ns < SECOND {
        return format!("{}ms", decimal(ns, 1_000_000));
    }
    let (hours, minutes) = (ns / (3600 * SECOND), ns / (60 * SECOND) % 60);
    let seconds = decimal(ns % (60 * SECOND), SECOND);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// Rule `duration`: Go's `time.ParseDuration`, step for step. A bare `0`
/// (optionally signed), or an optional sign and one or more
/// `<digits>[.<digits>]<unit>` parts (`1m30s`, `1.5h`, `.5s`, `-300ms`).
/// Returns signed nanoseconds; `None` where Go returns an error (no unit,
/// unknown unit, overflow of int64).
pub fn parse_duration(text: &str) -> Option<i64> {
    const LIMIT: u64 = 1 << 63;
    let (negative, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return None;
        }
        // The integer part: overflow past 2^63 is an error.
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut value: u64 = 0;
        for d in s[..digits].bytes() {
            if value > LIMIT / 10 {
                return None;
            }
            value = value * 10 + u64::from(d - b'0');
            if value > LIMIT {
                return None;
            }
        }
        s = &s[digits..];
        // The fraction: digits past what fits are ignored, not an error.
        let (mut fraction, mut scale, mut fraction_digits) = (0u64, 1f64, 0);
        if let Some(rest) = s.strip_prefix('.') {
            fraction_digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for d in rest[..fraction_digits].bytes() {
                if overflow || fraction > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(d - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            s = &rest[fraction_digits..];
        }
        if digits == 0 && fraction_digits == 0 {
            return None;
        }
        // The unit: everything up to the next digit or '.'.
        let unit_len = s.bytes().take_while(|&c| c != b'.' && !c.is_ascii_digit()).count();
        let unit = unit_ns(&s[..unit_len])?;
        s = &s[unit_len..];
        if value > LIMIT / unit {
            return None;
        }
        value *= unit;
        if fraction > 0 {
            // As Go: float64 keeps this nanosecond-exact up to an hour's fraction; truncated.
            value += (fraction as f64 * (unit as f64 / scale)) as u64;
            if value > LIMIT {
                return None;
            }
        }
        // Go adds in uint64 without an overflow check (both are <= 2^63).
        total = total.wrapping_add(value);
        if total > LIMIT {
            return None;
        }
    }
    if negative {
        // Go's -Duration(d): 2^63 becomes i64::MIN.
        return Some((total as i64).wrapping_neg());
    }
    i64::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::{go_duration, parse_duration};

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5\u{b5}s"),
            (300_000_000, "300ms"),
            (1_500_000_000, "1.5s"),
            (30_000_000_000, "30s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (5_400_500_000_000, "1h30m0.5s"),
        ];
        for (ns, text) in cases {
            assert_eq!(go_duration(ns), text, "{ns}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("300ms"), Some(300_000_000));
        assert_eq!(parse_duration("0s"), Some(0));
        assert_eq!(parse_duration(".5s"), Some(500_000_000));
        assert_eq!(parse_duration("1.s"), Some(1_000_000_000));
        assert_eq!(parse_duration("1h1h"), Some(7_200_000_000_000));
        assert_eq!(parse_duration("2\u{b5}s"), Some(2_000));
        assert_eq!(parse_duration("2\u{3bc}s"), Some(2_000));
        assert_eq!(parse_duration("1.0000000000000000000000001s"), Some(1_000_000_000));
        assert_eq!(parse_duration("9223372036854775807ns"), Some(i64::MAX));
        assert_eq!(parse_duration("-9223372036854775808ns"), Some(i64::MIN));
        for bad in ["5", "5x", "", "-", "+", ".", "s", ".s", "1ss", "1s5", "00", "9223372036854775808ns", "2562048h"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bare_zero_and_signs() {
        for zero in ["0", "+0", "-0", "0s", "-0s", "0.0h"] {
            assert_eq!(parse_duration(zero), Some(0), "{zero:?}");
        }
        assert_eq!(parse_duration("-1.5s"), Some(-1_500_000_000));
        assert_eq!(parse_duration("+1ms"), Some(1_000_000));
    }
}
