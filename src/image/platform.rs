//! Platforms: `linux/amd64`, `linux/arm64/v8`, as OCI documents and
//! `--platform` flags spell them.

use std::fmt;
use std::str::FromStr;

use super::host_architecture;

/// An OCI platform: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Platform {
    /// The operating system: `linux`.
    pub os: String,
    /// The CPU architecture in Go's spelling: `amd64`, `arm64`.
    pub architecture: String,
    /// The CPU variant (`v7` for `arm`), when one matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// A `--platform` value that is no `OS/ARCH[/VARIANT]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {text:?}: expected OS/ARCH[/VARIANT], as linux/arm64")]
pub struct PlatformError {
    /// The value as given.
    pub text: String,
}

impl Platform {
    /// The machine strata runs on.
    pub fn host() -> Platform {
        Platform { os: "linux".into(), architecture: host_architecture().into(), variant: None }
    }

    /// Whether this machine runs the platform's binaries without emulation.
    pub fn is_host(&self) -> bool {
        let host = Platform::host();
        self.os == host.os && self.architecture == host.architecture
    }

    /// A comma-separated `--platform` list, duplicates dropped, order kept.
    pub fn parse_list(text: &str) -> Result<Vec<Platform>, PlatformError> {
        let mut platforms: Vec<Platform> = Vec::new();
        for part in text.split(',').map(str::trim) {
            let platform: Platform = part.parse()?;
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        Ok(platforms)
    }
}

impl FromStr for Platform {
    type Err = PlatformError;

    /// Parses `OS/ARCH[/VARIANT]` (`local` is the host), normalised as
    /// containerd does: `x86_64` is `amd64`, `aarch64` is `arm64`, and
    /// `arm64/v8` drops its redundant variant.
    fn from_str(text: &str) -> Result<Platform, PlatformError> {
        let invalid = || PlatformError { text: text.to_owned() };
        if text == "local" {
            return Ok(Platform::host());
        }
        let lower = text.to_ascii_lowercase();
        let parts: Vec<&str> = lower.split('/').collect();
        let valid = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(invalid());
        }
        let architecture = normalise_arch(parts[1]).to_owned();
        let variant = parts.get(2).map(|v| (*v).to_owned()).filter(|v| !(architecture == "arm64" && v == "v8"));
        Ok(Platform { os: parts[0].to_owned(), architecture, variant })
    }
}

fn normalise_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" => "386",
        other => other,
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_normalised() {
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(arm, Platform { os: "linux".into(), architecture: "arm64".into(), variant: None });
        assert_eq!("linux/aarch64".parse::<Platform>().unwrap(), arm);
        assert_eq!("Linux/x86_64".parse::<Platform>().unwrap().to_string(), "linux/amd64");
        assert_eq!("linux/arm/v7".parse::<Platform>().unwrap().to_string(), "linux/arm/v7");
        assert_eq!("local".parse::<Platform>().unwrap(), Platform::host());
        for bad in ["", "linux", "linux/", "/amd64", "linux/arm/v7/x", "linux/am d64", "linux/../x", "linux/\u{0}"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lists_drop_duplicates_and_keep_order() {
        let list = Platform::parse_list("linux/arm64, linux/amd64,linux/aarch64").unwrap();
        assert_eq!(list.iter().map(ToString::to_string).collect::<Vec<_>>(), ["linux/arm64", "linux/amd64"]);
        assert!(Platform::parse_list("linux/amd64,").is_err());
    }
}
