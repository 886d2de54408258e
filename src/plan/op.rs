//! `Op`: the contract between planning and solving. Values are final
//! (variables expanded, paths resolved against WORKDIR); nothing here is
//! Dockerfile syntax, so the solver never needs to know any.

use serde::Serialize;

use crate::image::ConfigChange;
use crate::syntax::{LineRange, Span};

/// One step of a stage.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub op: Op,
    /// Where the step comes from (ONBUILD triggers: the FROM line).
    pub lines: LineRange,
    #[serde(skip)]
    pub span: Span,
    /// The instruction as written, for progress output.
    pub text: String,
    /// The image history's `created_by`, as BuildKit writes it; `None`:
    /// the step writes no history entry (ONBUILD, `--label`).
    pub created_by: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// An edit of the config only (history entry with `empty_layer`).
    Config {
        change: ConfigChange,
    },
    /// MAINTAINER: the image's `author`.
    Author {
        name: String,
    },
    /// ARG: changes nothing in the image but its history (BuildKit writes
    /// an `ARG` entry); the values live in the plan's scopes.
    Arg,
    /// WORKDIR: the config's working dir, created as a layer when missing,
    /// owned by the current USER (as BuildKit does).
    Workdir {
        path: String,
        user: Option<String>,
    },
    Copy(CopyOp),
    Run(RunOp),
}

/// Where COPY/ADD or a bind mount reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum SourceRoot {
    Context,
    Stage(usize),
    Image(String),
}

/// One COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CopySource {
    /// A path or wildcard pattern in the source root.
    Path { path: String },
    /// A heredoc: a file named `name` holding `content`.
    Inline { name: String, content: String },
    /// ADD of an http(s) URL.
    Url { url: String },
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOp {
    pub from: SourceRoot,
    pub sources: Vec<CopySource>,
    /// Absolute; a trailing `/` kept (it means "into this directory").
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `Some` for ADD.
    pub add: Option<AddOptions>,
}

/// What ADD does beyond COPY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddOptions {
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    /// Extract local archives (true unless `--unpack=false`).
    pub unpack: bool,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunOp {
    pub argv: Vec<String>,
    /// Build args and ENV the process sees (ENV wins).
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: String,
    pub network: Network,
    pub insecure: bool,
    pub mounts: Vec<MountOp>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    #[default]
    Default,
    None,
    Host,
}

/// One `RUN --mount`, expanded: a typed payload per kind (see
/// `solve/mount/` for what each becomes in the container).
///
/// Serialised through [`MountRecord`], the flat form the step's cache key
/// has always hashed, so keys stay stable across this typing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "MountRecord")]
pub enum MountOp {
    Bind(BindMount),
    Cache(CacheMount),
    Tmpfs(TmpfsMount),
    Secret(SecretMount),
    Ssh(SshMount),
}

/// `type=bind`: a path of the context, a stage or an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Absolute (joined to the working directory).
    pub target: String,
    /// Inside the source root; `None`: its root.
    pub source: Option<String>,
    pub from: SourceRoot,
    pub readonly: bool,
}

/// `type=cache`: a directory kept across builds, keyed by `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMount {
    pub target: String,
    /// Defaults to the target as written, cleaned (as BuildKit keys it).
    pub id: String,
    pub source: Option<String>,
    pub from: SourceRoot,
    pub readonly: bool,
    pub sharing: Sharing,
    pub owner: MountOwner,
}

/// `type=tmpfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    pub target: String,
    /// As written (`64m`): binary units, as `docker run --tmpfs` reads them.
    pub size: Option<String>,
}

/// `type=secret`: a `--secret` value as a file, or an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMount {
    /// `None`: `/run/secrets/ID` (or no file, with `env`).
    pub target: Option<String>,
    /// `None`: the target's file name.
    pub id: Option<String>,
    pub required: bool,
    pub env: Option<String>,
    pub readonly: bool,
    pub owner: MountOwner,
}

/// `type=ssh`: an `--ssh` agent's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshMount {
    /// `None`: `/run/buildkit/ssh_agent.N`.
    pub target: Option<String>,
    /// `None`: `default`.
    pub id: Option<String>,
    pub required: bool,
    pub readonly: bool,
    pub owner: MountOwner,
}

/// `mode`/`uid`/`gid` of what a mount makes (expanded, not yet checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOwner {
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
}

impl MountOp {
    /// The stage or image the mount reads, if any (bind and cache mounts).
    pub fn from(&self) -> Option<&SourceRoot> {
        match self {
            MountOp::Bind(bind) => Some(&bind.from),
            MountOp::Cache(cache) => Some(&cache.from),
            MountOp::Tmpfs(_) | MountOp::Secret(_) | MountOp::Ssh(_) => None,
        }
    }

    /// Where the mount lands; `None`: the kind's default (secret, ssh).
    pub fn target(&self) -> Option<&str> {
        match self {
            MountOp::Bind(BindMount { target, .. }) | MountOp::Cache(CacheMount { target, .. }) | MountOp::Tmpfs(TmpfsMount { target, .. }) => Some(target),
            MountOp::Secret(SecretMount { target, .. }) | MountOp::Ssh(SshMount { target, .. }) => target.as_deref(),
        }
    }

    /// The cache, secret or agent the mount names.
    pub fn id(&self) -> Option<&str> {
        match self {
            MountOp::Cache(cache) => Some(&cache.id),
            MountOp::Secret(SecretMount { id, .. }) | MountOp::Ssh(SshMount { id, .. }) => id.as_deref(),
            MountOp::Bind(_) | MountOp::Tmpfs(_) => None,
        }
    }
}

/// The flat form of a mount in the step's canonical JSON (and so in its
/// cache key): every key, unused ones at their defaults.
#[derive(Serialize)]
struct MountRecord {
    kind: MountKind,
    target: Option<String>,
    source: Option<String>,
    from: SourceRoot,
    readonly: bool,
    id: Option<String>,
    sharing: Sharing,
    mode: Option<String>,
    uid: Option<String>,
    gid: Option<String>,
    size: Option<String>,
    required: bool,
    env: Option<String>,
}

impl MountRecord {
    fn empty(kind: MountKind) -> MountRecord {
        MountRecord {
            kind,
            target: None,
            source: None,
            from: SourceRoot::Context,
            readonly: false,
            id: None,
            sharing: Sharing::Shared,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            required: false,
            env: None,
        }
    }

    fn owned(self, owner: MountOwner) -> MountRecord {
        MountRecord { mode: owner.mode, uid: owner.uid, gid: owner.gid, ..self }
    }
}

impl From<MountOp> for MountRecord {
    fn from(mount: MountOp) -> MountRecord {
        match mount {
            MountOp::Bind(m) => {
                MountRecord { target: Some(m.target), source: m.source, from: m.from, readonly: m.readonly, ..MountRecord::empty(MountKind::Bind) }
            }
            MountOp::Cache(m) => MountRecord {
                target: Some(m.target),
                source: m.source,
                from: m.from,
                readonly: m.readonly,
                id: Some(m.id),
                sharing: m.sharing,
                ..MountRecord::empty(MountKind::Cache)
            }
            .owned(m.owner),
            MountOp::Tmpfs(m) => MountRecord { target: Some(m.target), size: m.size, ..MountRecord::empty(MountKind::Tmpfs) },
            MountOp::Secret(m) => {
                MountRecord { target: m.target, id: m.id, required: m.required, env: m.env, readonly: m.readonly, ..MountRecord::empty(MountKind::Secret) }
                    .owned(m.owner)
            }
            MountOp::Ssh(m) => {
                MountRecord { target: m.target, id: m.id, required: m.required, readonly: m.readonly, ..MountRecord::empty(MountKind::Ssh) }.owned(m.owner)
            }
        }
    }
}

/// A mount's kind, as the flat record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}
