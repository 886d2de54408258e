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

/// One `RUN --mount`, expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountOp {
    pub kind: MountKind,
    pub target: Option<String>,
    pub source: Option<String>,
    pub from: SourceRoot,
    pub readonly: bool,
    pub id: Option<String>,
    pub sharing: Sharing,
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub size: Option<String>,
    pub required: bool,
    pub env: Option<String>,
}

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
