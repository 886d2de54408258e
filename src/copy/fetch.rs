//! ADD of an http(s) URL: the body is streamed into the destination file
//! while it is hashed, so `--checksum` is checked without a second read.
//!
//! As BuildKit's HTTP source: the file is named after the URL's last path
//! segment (`__unnamed__` when there is none), mode 0600, owner 0:0, and
//! its modification time is the response's `Last-Modified` when present.
//! Remote archives are never extracted.

use std::io::{self, Read, Write};
use std::time::Duration;

use sha2::Digest as _;

use super::error::CopyError;

/// The name BuildKit gives a download whose URL has no file name.
const UNNAMED: &str = "__unnamed__";

/// An expected digest (`--checksum`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    algorithm: Algorithm,
    hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl Checksum {
    /// Parses `ALGORITHM:HEX` (sha256, sha384 or sha512), as go-digest.
    pub fn parse(value: &str) -> Result<Checksum, CopyError> {
        let bad = || CopyError::BadChecksum { value: value.to_owned() };
        let (name, hex) = value.split_once(':').ok_or_else(bad)?;
        let (algorithm, len) = match name {
            "sha256" => (Algorithm::Sha256, 64),
            "sha384" => (Algorithm::Sha384, 96),
            "sha512" => (Algorithm::Sha512, 128),
            _ => return Err(bad()),
        };
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad());
        }
        Ok(Checksum { algorithm, hex: hex.to_owned() })
    }
}

/// A hasher for one algorithm.
enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha384(h) => format!("sha384:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// What a download was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL as requested (before redirects).
    pub url: String,
    /// `sha256:…` of the body (or the `--checksum` algorithm's digest).
    pub digest: String,
    /// Body length in bytes.
    pub size: u64,
    /// `Last-Modified`, in seconds since the epoch.
    pub modified: Option<i64>,
}

/// The file name BuildKit gives the download of `url`: the last segment
/// of its (percent-decoded) path.
pub fn file_name(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_decode(path);
    match decoded.trim_end_matches('/').rsplit('/').next() {
        Some(base) if !base.is_empty() && base != "." && base != ".." => base.to_owned(),
        _ => UNNAMED.to_owned(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Downloads `url` into `out`, checking `checksum` when given. On a
/// mismatch `out` holds the bytes read; the caller removes it.
pub fn fetch(url: &str, checksum: Option<&Checksum>, out: &mut dyn Write) -> Result<Fetched, CopyError> {
    let fail = |reason: String| CopyError::Fetch { url: url.to_owned(), reason };
    if url.trim_end_matches('/').ends_with(".git") || url.contains(".git#") {
        return Err(CopyError::Unsupported { what: format!("ADD of a git repository ({url})") });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_connect(Some(Duration::from_secs(30))).build().into();
    let response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(CopyError::FetchStatus { url: url.to_owned(), status });
    }
    let modified = response.headers().get("last-modified").and_then(|v| v.to_str().ok()).and_then(parse_http_date);
    let mut body = response.into_body().into_reader();
    let mut hasher = Hasher::new(checksum.map_or(Algorithm::Sha256, |c| c.algorithm));
    let mut size = 0u64;
    let mut buffer = vec![0u8; 256 << 10];
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(e.to_string())),
        };
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n]).map_err(|e| fail(format!("cannot write the download: {e}")))?;
        size += n as u64;
    }
    let digest = hasher.finish();
    if let Some(expected) = checksum {
        let expected = format!("{}:{}", digest.split(':').next().unwrap_or_default(), expected.hex);
        if expected != digest {
            return Err(CopyError::ChecksumMismatch { url: url.to_owned(), expected, actual: digest });
        }
    }
    Ok(Fetched { url: url.to_owned(), digest, size, modified })
}

/// An HTTP date (RFC 9110: IMF-fixdate, RFC 850 or asctime) in seconds
/// since the epoch.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let words: Vec<&str> = text.split([' ', ',', '-']).filter(|w| !w.is_empty()).collect();
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT; RFC 850: Sunday, 06-Nov-94 08:49:37 GMT;
    // asctime: Sun Nov  6 08:49:37 1994.
    let (day, month, year, time) = match words.as_slice() {
        [_, day, month, year, time, "GMT"] => (*day, *month, *year, *time),
        [_, month, day, time, year] => (*day, *month, *year, *time),
        _ => return None,
    };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| *m == month)? as i64 + 1;
    let mut year: i64 = year.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let day: i64 = day.parse().ok()?;
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(file_name("https://example.com/a/b/file.tar.gz?x=1#f"), "file.tar.gz");
        assert_eq!(file_name("https://example.com/dir/"), "dir");
        assert_eq!(file_name("https://example.com"), UNNAMED);
        assert_eq!(file_name("https://example.com/"), UNNAMED);
        assert_eq!(file_name("http://h/with%20space.txt"), "with space.txt");
    }

    #[test]
    fn dates() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn checksums() {
        assert!(Checksum::parse(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(Checksum::parse("sha256:abc").is_err());
        assert!(Checksum::parse(&format!("md5:{}", "a".repeat(32))).is_err());
    }
}
