//! What one COPY or ADD asks of the copier, in the copier's own terms: the
//! solver translates the plan's `CopyOp` into this, so `copy` needs nothing
//! of the build graph (the map's `copy → plan` edge is not drawn).

/// One COPY or ADD, values final (expanded, dest absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// The sources, in the order written.
    pub sources: Vec<CopySource>,
    /// Absolute; a trailing `/` kept (it means "into this directory").
    pub dest: String,
    /// `--chown` as written (`user`, `uid:gid`, `user:group`); `None`: owners kept (0:0 for the context).
    pub chown: Option<String>,
    /// `--chmod` as written (octal or symbolic); `None`: modes kept.
    pub chmod: Option<String>,
    /// `--parents`: keep each source's path below its root, not only its last component.
    pub parents: bool,
    /// `--exclude` patterns, matched against source paths.
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
    Path {
        /// As written; may hold `*`, `?`, `[…]` and `**`.
        path: String,
    },
    /// A heredoc: a file named `name` holding `content`.
    Inline {
        /// The file name after `<<`.
        name: String,
        /// The heredoc's body.
        content: String,
    },
    /// ADD of an http(s) URL.
    Url {
        /// The URL as written.
        url: String,
    },
}

/// What ADD does beyond COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddSpec {
    /// `--checksum` (only with one URL source).
    pub checksum: Option<String>,
    /// Extract local archives.
    pub unpack: bool,
}
