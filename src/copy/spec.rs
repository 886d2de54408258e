//! What one COPY or ADD asks of the copier, in the copier's own terms: the
//! solver translates the plan's `CopyOp` into this, so `copy` needs nothing
//! of the build graph (the map's `copy → plan` edge is not drawn).

/// One COPY or ADD, values final (expanded, dest absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    pub sources: Vec<CopySource>,
    /// Absolute; a trailing `/` kept (it means "into this directory").
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// The sources are the build context: filtered by `.dockerignore`, and
    /// owned by 0:0 in the copy (BuildKit's client resets owners).
    pub from_context: bool,
    /// `Some` for ADD.
    pub add: Option<AddSpec>,
}

/// One source of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path or wildcard pattern in the source root.
    Path { path: String },
    /// A heredoc: a file named `name` holding `content`.
    Inline { name: String, content: String },
    /// ADD of an http(s) URL.
    Url { url: String },
}

/// What ADD does beyond COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddSpec {
    /// `--checksum` (only with one URL source).
    pub checksum: Option<String>,
    /// Extract local archives.
    pub unpack: bool,
}
