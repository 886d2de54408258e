//! Image references in Docker's grammar: `[registry[:port]/]path[:tag][@digest]`,
//! normalised the way `docker` does (`busybox` → `docker.io/library/busybox:latest`).
//!
//! See: github.com/distribution/reference, `reference.go` (grammar) and
//! `normalize.go` (Docker Hub defaults).

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// The registry a reference without one points at.
pub const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_REGISTRY: &str = "index.docker.io";
const MAX_NAME_LEN: usize = 255;

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// `docker.io`, `localhost:5000`, `ghcr.io`, ...
    pub registry: String,
    /// The path: `library/busybox`, `org/app`.
    pub repository: String,
    /// The tag; `latest` when neither a tag nor a digest was given.
    pub tag: Option<String>,
    /// The manifest digest after `@`, which pins the content; may come with a tag.
    pub digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The input (held here) is the empty string.
    #[error("invalid reference {0:?}: empty name")]
    Empty(String),
    /// A part breaks the reference grammar: a bad digest, tag, repository or registry host.
    #[error("invalid reference {input:?}: {reason}")]
    Invalid {
        /// The text as given.
        input: String,
        /// What is wrong with it, for the message.
        reason: &'static str,
    },
    /// The repository has upper-case letters, which registries refuse; holds the input.
    #[error("invalid reference {0:?}: repository name must be lowercase")]
    Uppercase(String),
    /// The name before the tag exceeds the 255 characters Docker's reference grammar allows; holds the input.
    #[error("invalid reference {0:?}: name longer than 255 characters")]
    TooLong(String),
}

impl Reference {
    /// The repository with its registry: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short name Docker shows: `busybox`, `org/app`, `localhost:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.registry != DEFAULT_REGISTRY {
            return self.name();
        }
        self.repository.strip_prefix("library/").unwrap_or(&self.repository).to_owned()
    }

    /// The familiar form with tag/digest: `busybox:latest`.
    pub fn familiar(&self) -> String {
        let mut text = self.familiar_name();
        self.push_suffix(&mut text);
        text
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_owned()), digest: None, ..self.clone() }
    }

    fn push_suffix(&self, text: &mut String) {
        if let Some(tag) = &self.tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.name();
        self.push_suffix(&mut text);
        f.write_str(&text)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(input: &str) -> Result<Reference, ReferenceError> {
        parse(input)
    }
}

fn invalid(input: &str, reason: &'static str) -> ReferenceError {
    ReferenceError::Invalid { input: input.to_owned(), reason }
}

fn parse(input: &str) -> Result<Reference, ReferenceError> {
    if input.is_empty() {
        return Err(ReferenceError::Empty(input.into()));
    }
    let (rest, digest) = match input.split_once('@') {
        Some((rest, d)) => (rest, Some(d.parse::<Digest>().map_err(|_| invalid(input, "bad digest"))?)),
        None => (input, None),
    };
    // A ':' after the last '/' starts the tag; one before it is a port.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        if !is_tag(tag) {
            return Err(invalid(input, "bad tag (letters, digits, '_', '.', '-'; at most 128)"));
        }
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ReferenceError::TooLong(input.into()));
    }
    let (registry, path) = split_registry(name);
    if path.is_empty() || !path.split('/').all(is_path_component) {
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(input.into()));
        }
        return Err(invalid(input, "bad repository name (lowercase letters, digits and separators)"));
    }
    if registry.as_deref().is_some_and(|r| !is_domain(r)) {
        return Err(invalid(input, "bad registry host"));
    }
    let registry = match registry.as_deref() {
        None | Some(LEGACY_REGISTRY) => DEFAULT_REGISTRY.to_owned(),
        Some(r) => r.to_owned(),
    };
    let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') { format!("library/{path}") } else { path.to_owned() };
    let tag = tag.map(str::to_owned).or_else(|| digest.is_none().then(|| "latest".to_owned()));
    Ok(Reference { registry, repository, tag, digest })
}

/// The first component is a registry when it has a '.' or ':' or is `localhost`.
fn split_registry(name: &str) -> (Option<String>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (Some(first.to_owned()), rest),
        _ => (None, name),
    }
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

/// `host[:port]` where host is dot-separated labels or a bracketed IPv6 address.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (h, Some(p)),
        _ => (domain, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if host.starts_with('[') && host.ends_with(']') {
        return host[1..host.len() - 1].bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    !host.is_empty()
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !label.starts_with('-') && !label.ends_with('-'))
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && word(bytes[0]) && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        s.parse::<Reference>().unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("org/app:1.2"), "docker.io/org/app:1.2");
        assert_eq!(full("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(full("127.0.0.1:5000/a/b:v1"), "127.0.0.1:5000/a/b:v1");
        assert_eq!(full("index.docker.io/library/alpine:3"), "docker.io/library/alpine:3");
        let pinned = "busybox@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(full(pinned), format!("docker.io/library/{pinned}"));
        assert_eq!("busybox".parse::<Reference>().unwrap().familiar(), "busybox:latest");
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "Busybox", "a:b:c", "-a", "a//b", "a:", "a@sha256:12", "foo/bar:-x", "a/b_", "ex ample"] {
            assert!(bad.parse::<Reference>().is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!("Busybox".parse::<Reference>(), Err(ReferenceError::Uppercase(_))));
    }
}
