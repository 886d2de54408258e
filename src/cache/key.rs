//! `CacheKey`: a sha256 over typed, length-prefixed fields. Every field is
//! written as `tag length, tag, value length, value`, so no two different
//! field lists can produce the same byte stream (joining strings with a
//! separator would be ambiguous). The recipe of a step's key is in the
//! README ("Cache keys").

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;

/// The version prefix of every step key; bump it when the recipe changes.
const KEY_VERSION: &str = "strata.step.v1";

/// A step's cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct CacheKey(pub Digest);

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Builds a key field by field.
pub struct KeyBuilder {
    hasher: Sha256,
}

impl Default for KeyBuilder {
    fn default() -> Self {
        KeyBuilder::new()
    }
}

impl KeyBuilder {
    /// A builder whose first field is the key recipe's version.
    pub fn new() -> KeyBuilder {
        let mut builder = KeyBuilder { hasher: Sha256::new() };
        builder.bytes("version", KEY_VERSION.as_bytes());
        builder
    }

    /// Adds the field `tag` with a raw value.
    pub fn bytes(&mut self, tag: &str, value: &[u8]) -> &mut Self {
        self.hasher.update((tag.len() as u32).to_be_bytes());
        self.hasher.update(tag.as_bytes());
        self.hasher.update((value.len() as u64).to_be_bytes());
        self.hasher.update(value);
        self
    }

    /// Adds the field `tag` with a text value (its UTF-8 bytes).
    pub fn str(&mut self, tag: &str, value: &str) -> &mut Self {
        self.bytes(tag, value.as_bytes())
    }

    /// Adds the field `tag` with a digest value (its 32 raw bytes).
    pub fn digest(&mut self, tag: &str, value: &Digest) -> &mut Self {
        self.bytes(tag, value.as_bytes())
    }

    /// The key of the fields added so far; the builder can go on.
    pub fn finish(&self) -> CacheKey {
        CacheKey(Digest::from_bytes(self.hasher.clone().finalize().into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unambiguous() {
        let a = KeyBuilder::new().str("a", "bc").finish();
        let b = KeyBuilder::new().str("ab", "c").finish();
        let c = KeyBuilder::new().str("a", "b").str("", "c").finish();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, KeyBuilder::new().str("a", "bc").finish());
    }
}
