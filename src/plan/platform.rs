//! Platforms and the ARGs BuildKit predefines from them.

use std::fmt;

use crate::image::host_architecture;

/// An OCI platform: `linux/amd64`, `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, as `GOOS` spells it.
    pub os: String,
    /// `amd64`, `arm64`, as `GOARCH` spells it.
    pub architecture: String,
    /// `v7`, `v8`; `None`: none given.
    pub variant: Option<String>,
}

impl Platform {
    /// The machine strata runs on.
    pub fn host() -> Platform {
        Platform { os: "linux".into(), architecture: host_architecture().into(), variant: None }
    }

    /// `TARGETPLATFORM`/`BUILDPLATFORM` and their parts, as BuildKit defines
    /// them in the global scope (a stage must redeclare them to see them).
    pub fn predefined_args(target: &Platform, build: &Platform) -> Vec<(String, String)> {
        let mut args = Vec::new();
        for (prefix, platform) in [("TARGET", target), ("BUILD", build)] {
            args.push((format!("{prefix}PLATFORM"), platform.to_string()));
            args.push((format!("{prefix}OS"), platform.os.clone()));
            args.push((format!("{prefix}ARCH"), platform.architecture.clone()));
            args.push((format!("{prefix}VARIANT"), platform.variant.clone().unwrap_or_default()));
        }
        args
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

/// The proxy variables every RUN sees without an ARG, and which are left
/// out of the image and the cache key (as in BuildKit).
pub const PROXY_ARGS: [&str; 8] = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy"];
