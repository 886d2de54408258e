//! Where a registry lives: the base URL for a registry name, HTTPS unless
//! the registry is on this machine or named as insecure, and Docker Hub's
//! API host behind `docker.io`.

use crate::image::DEFAULT_REGISTRY;

/// The host Docker Hub's API answers on (`docker.io` itself only redirects).
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A registry's API base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The registry as references name it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// `https://host[:port]` or `http://host[:port]`, without a trailing slash.
    pub base: String,
}

impl Endpoint {
    /// The endpoint of `registry`: plain HTTP for loopback hosts and for
    /// registries listed in `insecure` (by `host` or `host:port`).
    pub fn new(registry: &str, insecure: &[String]) -> Endpoint {
        let host = if registry == DEFAULT_REGISTRY { DOCKER_HUB_API } else { registry };
        let scheme = if is_loopback(registry) || is_listed(registry, insecure) { "http" } else { "https" };
        Endpoint { registry: registry.to_owned(), base: format!("{scheme}://{host}") }
    }

    /// `https://host/v2/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{path}", self.base)
    }

    /// Resolves a `Location` header, which may be relative to the registry.
    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        }
    }
}

/// `localhost`, `127.0.0.0/8` and `::1`, with or without a port.
fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    host == "localhost" || host == "[::1]" || host == "::1" || host.split('.').next() == Some("127") && host.split('.').count() == 4
}

fn is_listed(registry: &str, insecure: &[String]) -> bool {
    insecure.iter().any(|entry| {
        let entry = entry.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
        entry == registry || entry == host_of(registry)
    })
}

/// The host part of `host[:port]` (IPv6 stays bracketed).
fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.find(']').map_or(registry, |end| &registry[..=end]);
    }
    registry.split(':').next().unwrap_or(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_unless_loopback_or_insecure() {
        assert_eq!(Endpoint::new("docker.io", &[]).base, "https://registry-1.docker.io");
        assert_eq!(Endpoint::new("ghcr.io", &[]).url("x/manifests/1"), "https://ghcr.io/v2/x/manifests/1");
        assert_eq!(Endpoint::new("127.0.0.1:5000", &[]).base, "http://127.0.0.1:5000");
        assert_eq!(Endpoint::new("localhost", &[]).base, "http://localhost");
        assert_eq!(Endpoint::new("[::1]:5000", &[]).base, "http://[::1]:5000");
        assert_eq!(Endpoint::new("reg.lan:5000", &["reg.lan".into()]).base, "http://reg.lan:5000");
        assert_eq!(Endpoint::new("reg.lan:5000", &["reg.lan:5001".into()]).base, "https://reg.lan:5000");
        assert_eq!(Endpoint::new("127.example.com", &[]).base, "https://127.example.com");
    }

    #[test]
    fn locations_resolve_against_the_base() {
        let endpoint = Endpoint::new("127.0.0.1:5000", &[]);
        assert_eq!(endpoint.absolute("/v2/a/blobs/uploads/1?x=y"), "http://127.0.0.1:5000/v2/a/blobs/uploads/1?x=y");
        assert_eq!(endpoint.absolute("https://s3/x"), "https://s3/x");
    }
}
