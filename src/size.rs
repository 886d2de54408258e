//! Byte sizes as users write them. Docker reads `1g` two ways and so does
//! strata: resource limits (`--memory`, tmpfs `size=`, transfer chunks) in
//! binary units, as `docker run --memory` does (go-units `RAMInBytes`), and
//! storage amounts (`--keep-storage`, `--max-add-size`) in decimal units, as
//! BuildKit's GC policy does (go-units `FromHumanSize`). Both live here so
//! a flag's meaning is chosen by name, never by which copy a file imported.
//!
//! See: github.com/docker/go-units `size.go`.

/// A size that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The text (held here) is not a binary size such as `--shm-size` or `--memory` take (`64m`, `1g`).
    #[error("invalid size {0:?}: expected a number, optionally with k, m or g")]
    Binary(String),
    /// The text (held here) is not a decimal size or percentage such as `--keep-storage` takes (`10GB`, `512MiB`, `50%`).
    #[error("invalid size {0:?}: expected bytes with an optional unit (kB, MB, GB, TB, KiB, MiB, GiB, TiB) or a percentage")]
    Decimal(String),
    /// The text (held here) parsed to 0 bytes where a limit must be positive.
    #[error("invalid size {0:?}: must be more than 0 bytes")]
    Zero(String),
}

/// A memory-like amount: `64m`, `1g`, `4096`; `k`, `m`, `g` are powers of
/// 1024 (a trailing `b` is allowed), as `docker run --memory` reads them.
pub fn binary_bytes(text: &str) -> Result<u64, SizeError> {
    let bad = || SizeError::Binary(text.to_owned());
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = lower.split_at(lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len()));
    let factor: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(bad()),
    };
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(factor)).ok_or_else(bad)
}

/// [`binary_bytes`] for amounts where 0 makes no sense (chunk sizes).
pub fn nonzero_binary_bytes(text: &str) -> Result<u64, SizeError> {
    match binary_bytes(text)? {
        0 => Err(SizeError::Zero(text.to_owned())),
        n => Ok(n),
    }
}

/// A storage amount: bytes with an optional decimal unit (`kB`, `MB`, `GB`,
/// `TB`; `k`, `m`, `g`, `t` alone are decimal too) or binary one (`KiB` …),
/// fractions allowed (`1.5GB`).
pub fn decimal_bytes(text: &str) -> Result<u64, SizeError> {
    let bad = || SizeError::Decimal(text.to_owned());
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    Ok((number * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_g_is_two_to_the_thirty_for_limits_and_ten_to_the_nine_for_storage() {
        assert_eq!(binary_bytes("1g"), Ok(1 << 30));
        assert_eq!(decimal_bytes("1g"), Ok(1_000_000_000));
        assert_eq!(binary_bytes("64M"), Ok(64 << 20));
        assert_eq!(binary_bytes("4kb"), Ok(4096));
        assert_eq!(binary_bytes("4096"), Ok(4096));
        assert_eq!(decimal_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(decimal_bytes("1.5GB"), Ok(1_500_000_000));
        assert_eq!(decimal_bytes(" 5 GB "), Ok(5_000_000_000));
    }

    #[test]
    fn bad_sizes_are_errors_never_panics() {
        for text in ["", "g", "1x", "-1", "1.5g", "99999999999999999999g", "18446744073709551615g"] {
            assert_eq!(binary_bytes(text), Err(SizeError::Binary(text.to_owned())), "{text}");
        }
        for text in ["", "lots", "1 PB", "1..2"] {
            assert_eq!(decimal_bytes(text), Err(SizeError::Decimal(text.to_owned())), "{text}");
        }
        assert_eq!(nonzero_binary_bytes("0k"), Err(SizeError::Zero("0k".into())));
        assert_eq!(nonzero_binary_bytes("1k"), Ok(1024));
    }
}
