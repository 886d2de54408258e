//! The ARGs BuildKit predefines from the build's platforms.

use crate::image::Platform;

/// The predefined platform ARGs.
impl Platform {
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

/// The proxy variables every RUN sees without an ARG, and which are left
/// out of the image and the cache key (as in BuildKit).
pub const PROXY_ARGS: [&str; 8] = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy"];
