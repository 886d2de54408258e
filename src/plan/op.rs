//! `Op`: the contract between planning and solving. Values are final
//! (variables expanded, paths resolved against WORKDIR); nothing here is
//! Dockerfile syntax, so the solver never needs to know any.

use serde::Serialize;

use crate::image::ConfigChange;
use crate::syntax::{LineRange, Span};

/// One step of a stage.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What the step does, values final.
    pub op: Op,
    /// Where the step comes from (ONBUILD triggers: the FROM line).
    pub lines: LineRange,
    #[serde(skip)]
    /// The instruction's place in the Dockerfile, for error messages.
    pub span: Span,
    /// The instruction as written, for progress output.
    pub text: String,
    /// The image history's `created_by`, as BuildKit writes it; `None`:
    /// the step writes no history entry (ONBUILD, `--label`).
    pub created_by: Option<String>,
}

impl Step {
    /// The stages and images the step reads besides its own stage's root:
    /// a `COPY --from` source and its mounts' `from`.
    pub fn source_roots(&self) -> Vec<&SourceRoot> {
        match &self.op {
            Op::Copy(copy) => vec![&copy.from],
            Op::Run(run) => run.mounts.iter().filter_map(MountOp::from).collect(),
            _ => Vec::new(),
        }
    }

    /// [`Step::source_roots`], to change.
    pub fn source_roots_mut(&mut self) -> Vec<&mut SourceRoot> {
        match &mut self.op {
            Op::Copy(copy) => vec![&mut copy.from],
            Op::Run(run) => run.mounts.iter_mut().filter_map(MountOp::from_mut).collect(),
            _ => Vec::new(),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// An edit of the config only (history entry with `empty_layer`).
    Config {
        /// The config field set, values expanded.
        change: ConfigChange,
    },
    /// MAINTAINER: the image's `author`.
    Author {
        /// The MAINTAINER text as written.
        name: String,
    },
    /// ARG: changes nothing in the image but its history (BuildKit writes
    /// an `ARG` entry); the values live in the plan's scopes.
    Arg,
    /// WORKDIR: the config's working dir, created as a layer when missing,
    /// owned by the current USER (as BuildKit does).
    Workdir {
        /// Absolute, resolved against the previous WORKDIR.
        path: String,
        /// The USER in effect, who owns a directory it creates; `None`: root.
        user: Option<String>,
    },
    /// COPY or ADD.
    Copy(CopyOp),
    /// RUN.
    Run(RunOp),
}

/// Where COPY/ADD or a bind mount reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum SourceRoot {
    /// The build context.
    Context,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image, by reference as written (expanded).
    Image(String),
}

/// One COPY/ADD source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CopySource {
    /// A path or wildcard pattern in the source root.
    Path {
        /// As written (expanded); may hold wildcards.
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
        /// The URL as written (expanded).
        url: String,
    },
}

/// COPY and ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOp {
    /// `--from`; the context unless given.
    pub from: SourceRoot,
    /// The sources, in the order written.
    pub sources: Vec<CopySource>,
    /// Absolute; a trailing `/` kept (it means "into this directory").
    pub dest: String,
    /// `--chown` as written (expanded); `None`: owners kept.
    pub chown: Option<String>,
    /// `--chmod` as written (octal or symbolic); `None`: modes kept.
    pub chmod: Option<String>,
    /// `--link`: the copy is a layer of its own, independent of what is below.
    pub link: bool,
    /// `--parents`: keep each source's path below its root.
    pub parents: bool,
    /// `--exclude` patterns, expanded.
    pub exclude: Vec<String>,
    /// `Some` for ADD.
    pub add: Option<AddOptions>,
}

/// What ADD does beyond COPY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddOptions {
    /// `--checksum` (`sha256:…`), checked against a URL download.
    pub checksum: Option<String>,
    /// `--keep-git-dir` (accepted; git sources are not supported).
    pub keep_git_dir: bool,
    /// Extract local archives (true unless `--unpack=false`).
    pub unpack: bool,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunOp {
    /// The command: exec form as written, shell form prefixed by the SHELL.
    pub argv: Vec<String>,
    /// Build args and ENV the process sees (ENV wins).
    pub env: Vec<(String, String)>,
    /// The USER in effect; `None`: the image's (root when unset).
    pub user: Option<String>,
    /// Absolute working directory of the process.
    pub workdir: String,
    /// `--network`.
    pub network: Network,
    /// `--security=insecure` (needs the `security.insecure` entitlement).
    pub insecure: bool,
    /// `--mount` options, in the order written.
    pub mounts: Vec<MountOp>,
}

/// `RUN --network`: which network the process gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    #[default]
    /// No flag: a private network namespace with outbound access.
    Default,
    /// `none`: loopback only.
    None,
    /// `host`: the host's network (needs the `network.host` entitlement).
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
    /// `type=bind`.
    Bind(BindMount),
    /// `type=cache`.
    Cache(CacheMount),
    /// `type=tmpfs`.
    Tmpfs(TmpfsMount),
    /// `type=secret`.
    Secret(SecretMount),
    /// `type=ssh`.
    Ssh(SshMount),
}

/// `type=bind`: a path of the context, a stage or an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    /// Absolute (joined to the working directory).
    pub target: String,
    /// Inside the source root; `None`: its root.
    pub source: Option<String>,
    /// `from=`; the context unless given.
    pub from: SourceRoot,
    /// Mounted read-only (`ro`; bind mounts are read-only unless `rw`).
    pub readonly: bool,
}

/// `type=cache`: a directory kept across builds, keyed by `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMount {
    /// Absolute (joined to the working directory).
    pub target: String,
    /// Defaults to the target as written, cleaned (as BuildKit keys it).
    pub id: String,
    /// Inside `from`, what a new cache starts with; `None`: empty.
    pub source: Option<String>,
    /// `from=`, seeding a new cache; the context unless given.
    pub from: SourceRoot,
    /// `ro`/`readonly`.
    pub readonly: bool,
    /// `sharing=`: how concurrent builds share the directory.
    pub sharing: Sharing,
    /// `mode`/`uid`/`gid` of a newly made cache directory.
    pub owner: MountOwner,
}

/// `type=tmpfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Absolute (joined to the working directory).
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
    /// `required=true`: fail when the secret was not given; else the mount is skipped.
    pub required: bool,
    /// `env=`: the variable that receives the secret's value; `None`: none.
    pub env: Option<String>,
    /// `ro`/`readonly` as parsed.
    pub readonly: bool,
    /// `mode`/`uid`/`gid` of the secret file.
    pub owner: MountOwner,
}

/// `type=ssh`: an `--ssh` agent's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshMount {
    /// `None`: `/run/buildkit/ssh_agent.N`.
    pub target: Option<String>,
    /// `None`: `default`.
    pub id: Option<String>,
    /// `required=true`: fail when the agent was not given; else the mount is skipped.
    pub required: bool,
    /// `ro`/`readonly` as parsed.
    pub readonly: bool,
    /// `mode`/`uid`/`gid` of the socket.
    pub owner: MountOwner,
}

/// `mode`/`uid`/`gid` of what a mount makes (expanded, not yet checked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountOwner {
    /// Octal, as written; `None`: the kind's default.
    pub mode: Option<String>,
    /// User id as written (expanded); `None`: 0.
    pub uid: Option<String>,
    /// Group id as written (expanded); `None`: 0.
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

    /// [`MountOp::from`], to change.
    pub fn from_mut(&mut self) -> Option<&mut SourceRoot> {
        match self {
            MountOp::Bind(bind) => Some(&mut bind.from),
            MountOp::Cache(cache) => Some(&mut cache.from),
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
    /// `type=bind`.
    Bind,
    /// `type=cache`.
    Cache,
    /// `type=tmpfs`.
    Tmpfs,
    /// `type=secret`.
    Secret,
    /// `type=ssh`.
    Ssh,
}

/// `RUN --mount=type=cache,sharing=`: what concurrent users of one cache id get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// The default: all users see one directory at once.
    Shared,
    /// Each concurrent user gets a fresh directory if the shared one is busy.
    Private,
    /// Users wait for each other.
    Locked,
}
