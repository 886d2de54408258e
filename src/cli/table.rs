//! Tables and the human forms of sizes and ages, as `docker images` and
//! `docker history` print them.

use std::time::{Duration, SystemTime};

/// Left-aligned columns separated by three spaces, headers first.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Decimal units with three significant digits: `4.26MB`, `812kB`, `0B`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let digits = if value >= 100.0 || unit == 0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.digits$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text };
    format!("{text}{}", UNITS[unit])
}

/// How long ago an RFC 3339 time was: `About a minute ago`, `3 days ago`.
pub fn ago(rfc3339: &str) -> String {
    let Ok(then) = humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z')) else { return "N/A".into() };
    let elapsed = SystemTime::now().duration_since(then).unwrap_or(Duration::ZERO);
    format!("{} ago", human_duration(elapsed))
}

/// Docker's coarse durations.
fn human_duration(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    let (minutes, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        0 => "Less than a second".into(),
        1..=59 => format!("{secs} second{}", plural(secs)),
        60..=119 => "About a minute".into(),
        120..=3_599 => format!("{minutes} minutes"),
        3_600..=7_199 => "About an hour".into(),
        7_200..=172_799 => format!("{hours} hours"),
        172_800..=1_209_599 => format!("{days} days"),
        1_209_600..=5_183_999 => format!("{} weeks", days / 7),
        5_184_000..=63_071_999 => format!("{} months", days / 30),
        _ => format!("{} years", days / 365),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Cuts `text` to `max` characters, ending with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(12_300_000), "12.3MB");
        assert_eq!(human_size(812_000), "812kB");
        assert_eq!(human_size(2_000_000_000), "2GB");
    }

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(3 * 86_400)), "3 days");
    }
}
