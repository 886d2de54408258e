//! RUN and its `--mount`, `--network` and `--security` flags.
//!
//! See: grammar/dockerfile.peg, rule `mount_options`; BuildKit's RUN --mount
//! reference for the keys each mount type accepts.

use serde::Serialize;

use super::Command;
use crate::syntax::heredoc::Heredoc;

/// `RUN [--mount=...]... [--network=...] [--security=...] command`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// The command as written; a heredoc appears in it as its `<<NAME` marker.
    pub command: Command,
    /// The heredocs the line opens, in marker order, bodies read.
    pub heredocs: Vec<Heredoc>,
    /// The `--mount=` flags in order.
    pub mounts: Vec<Mount>,
    /// `--network=`; `None` when not given or given empty, or when its value
    /// holds a variable (such a value is ignored).
    pub network: Option<NetworkMode>,
    /// `--security=`; `None` when not given or given empty, or when its value
    /// holds a variable (such a value is ignored).
    pub security: Option<Security>,
}

/// `--network=default|none|host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// The build's default network (what `None` also means).
    Default,
    /// No network: only a loopback interface.
    None,
    /// The host's network namespace (an entitlement the build must allow).
    Host,
}

/// `--security=sandbox|insecure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// The normal sandbox (the default).
    Sandbox,
    /// Full privileges (an entitlement the build must allow).
    Insecure,
}

impl NetworkMode {
    /// The mode a `--network` value names (exact, lower-case), `None` for others.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "default" => Some(NetworkMode::Default),
            "none" => Some(NetworkMode::None),
            "host" => Some(NetworkMode::Host),
            _ => None,
        }
    }
}

impl Security {
    /// The mode a `--security` value names (exact, lower-case), `None` for others.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "sandbox" => Some(Security::Sandbox),
            "insecure" => Some(Security::Insecure),
            _ => None,
        }
    }
}

/// The mount types of `RUN --mount=type=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountType {
    /// A read-only (by default) view of the context, a stage or an image.
    Bind,
    /// A persistent directory shared between builds, keyed by `id`.
    Cache,
    /// An empty in-memory filesystem.
    Tmpfs,
    /// A secret the build was given, as a file or an environment variable.
    Secret,
    /// The SSH agent socket the build was given.
    Ssh,
}

/// `sharing=shared|private|locked` for cache mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    /// Concurrent builds use the same directory at once (the default).
    Shared,
    /// A concurrent build gets its own new directory.
    Private,
    /// A concurrent build waits until the directory is released.
    Locked,
}

/// One `--mount`. Values are as written (variables not yet expanded);
/// literal numeric values are checked here, expanded ones when building.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    /// `type=`; `bind` when not given.
    #[serde(rename = "type")]
    pub kind: MountType,
    /// `target=` (or `dst=`, `destination=`): the mount point. `None`: the
    /// working directory for bind, cache and tmpfs; `/run/secrets/<id>` for
    /// a secret file; an agent socket path for ssh.
    pub target: Option<String>,
    /// `source=` (or `src=`): the path inside `from` to mount (bind, cache);
    /// `None` is its root.
    pub source: Option<String>,
    /// `from=`: a stage name or index, or an image; `None` is the build
    /// context for bind, an empty directory for cache.
    pub from: Option<String>,
    /// `readonly`/`ro` (or not `rw`); true by default for bind, false for the
    /// other types.
    pub readonly: bool,
    /// `id=`: the cache's key (`None`: the target), or which secret or ssh
    /// agent to mount.
    pub id: Option<String>,
    /// `sharing=` for cache mounts; `None` means shared.
    pub sharing: Option<Sharing>,
    /// `mode=`: octal permission bits of the cache directory or secret/ssh
    /// file, as written.
    pub mode: Option<String>,
    /// `uid=`: numeric owner of the cache directory or secret/ssh file, as written.
    pub uid: Option<String>,
    /// `gid=`: numeric group of the cache directory or secret/ssh file, as written.
    pub gid: Option<String>,
    /// `size=` for tmpfs: a byte count with an optional k/m/g suffix; `None`
    /// leaves the kernel's default.
    pub size: Option<String>,
    /// `required` for secret and ssh: fail when the build was not given it
    /// (otherwise the mount is skipped).
    pub required: bool,
    /// `env=` for secrets: expose the secret as this environment variable.
    pub env: Option<String>,
}

/// What can be wrong with a `--mount` value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MountError {
    /// `type=` names no known mount type; holds the value as written.
    #[error("unknown mount type {0:?} (expected bind, cache, tmpfs, secret or ssh)")]
    UnknownType(String),
    /// A key no mount type knows; holds the key, lower-cased.
    #[error("unexpected key {0:?}")]
    UnknownKey(String),
    /// A known key the chosen type does not take (`id=` on a tmpfs).
    #[error("key {key:?} is not valid for type={kind}")]
    KeyNotForType {
        /// The key, lower-cased, aliases resolved (`src` reads as `source`).
        key: String,
        /// The mount type's name (`tmpfs`).
        kind: &'static str,
    },
    /// A literal value that cannot be right (`sharing=`, a bad boolean, or a
    /// non-numeric `mode=`, `uid=`, `gid=`, `size=`).
    #[error("invalid value {value:?} for {key}: expected {expected}")]
    InvalidValue {
        /// The key, as resolved.
        key: String,
        /// The value as written.
        value: String,
        /// What would have been accepted, in words.
        expected: &'static str,
    },
    /// A key that takes a value was written bare (`id`); holds the key.
    #[error("{0:?} needs a value ({0}=...)")]
    MissingValue(String),
    /// A double quote opens a CSV field that never closes; holds the whole value.
    #[error("unterminated quote in {0:?}")]
    UnterminatedQuote(String),
}

impl MountType {
    fn name(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }

    fn parse(value: &str) -> Result<Self, MountError> {
        Ok(match value.to_ascii_lowercase().as_str() {
            "bind" => MountType::Bind,
            "cache" => MountType::Cache,
            "tmpfs" => MountType::Tmpfs,
            "secret" => MountType::Secret,
            "ssh" => MountType::Ssh,
            _ => return Err(MountError::UnknownType(value.into())),
        })
    }

    /// Keys beyond `type`/`target` this type accepts.
    fn accepts(self, key: &str) -> bool {
        let keys: &[&str] = match self {
            MountType::Bind => &["source", "from", "readonly"],
            MountType::Cache => &["source", "from", "readonly", "id", "sharing", "mode", "uid", "gid"],
            MountType::Tmpfs => &["size"],
            MountType::Secret | MountType::Ssh => &["id", "required", "mode", "uid", "gid", "env"],
        };
        keys.contains(&key) && !(self == MountType::Ssh && key == "env")
    }
}

/// Rule `mount_options`: comma-separated `key=value` fields (CSV: a field may
/// be double-quoted to hold commas); bare `ro`, `rw`, `readonly`, `required`.
pub fn parse_mount(value: &str) -> Result<Mount, MountError> {
    let fields = csv_fields(value)?;
    let mut kind = MountType::Bind;
    for field in &fields {
        if let Some(("type", v)) = field.split_once('=').map(|(k, v)| (k.trim(), v)) {
            kind = MountType::parse(v.trim())?;
        }
    }
    let mut mount = Mount {
        kind,
        target: None,
        source: None,
        from: None,
        readonly: kind == MountType::Bind,
        id: None,
        sharing: None,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        required: false,
        env: None,
    };
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.to_owned())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        apply_field(&mut mount, &key, val)?;
    }
    // No target is valid for every type, as in BuildKit: bind, cache and
    // tmpfs mounts default to the working directory (resolved when the
    // build is planned), secrets and ssh have their own defaults.
    Ok(mount)
}

fn apply_field(mount: &mut Mount, key: &str, val: Option<String>) -> Result<(), MountError> {
    let key = match key {
        "src" => "source",
        "dst" | "destination" => "target",
        "ro" => "readonly",
        other => other,
    };
    match (key, val) {
        ("type", _) => {}
        ("readonly", v) | ("rw" | "readwrite", v) if mount.kind != MountType::Tmpfs => {
            let on = parse_bool(key, v.as_deref())?;
            mount.readonly = if key == "readonly" { on } else { !on };
        }
        ("required", v) if mount.kind.accepts("required") => mount.required = parse_bool(key, v.as_deref())?,
        (key, None) => return Err(MountError::MissingValue(key.into())),
        ("target", Some(v)) => mount.target = Some(v),
        (key, Some(_)) if !mount.kind.accepts(key) => {
            return Err(match key {
                "source" | "from" | "id" | "sharing" | "mode" | "uid" | "gid" | "size" | "env" | "required" => {
                    MountError::KeyNotForType { key: key.into(), kind: mount.kind.name() }
                }
                _ => MountError::UnknownKey(key.into()),
            })
        }
        ("source", Some(v)) => mount.source = Some(v),
        ("from", Some(v)) => mount.from = Some(v),
        ("id", Some(v)) => mount.id = Some(v),
        ("env", Some(v)) => mount.env = Some(v),
        ("sharing", Some(v)) => {
            mount.sharing = Some(match v.as_str() {
                "shared" => Sharing::Shared,
                "private" => Sharing::Private,
                "locked" => Sharing::Locked,
                _ => return Err(invalid("sharing", &v, "shared, private or locked")),
            })
        }
        ("mode", Some(v)) => mount.mode = Some(literal_checked("mode", v, |s| u32::from_str_radix(s, 8).is_ok(), "an octal mode")?),
        ("uid", Some(v)) => mount.uid = Some(literal_checked("uid", v, |s| s.parse::<u32>().is_ok(), "a number")?),
        ("gid", Some(v)) => mount.gid = Some(literal_checked("gid", v, |s| s.parse::<u32>().is_ok(), "a number")?),
        ("size", Some(v)) => mount.size = Some(literal_checked("size", v, is_size, "a size like 64m")?),
        (key, Some(_)) => return Err(MountError::UnknownKey(key.into())),
    }
    Ok(())
}

fn invalid(key: &str, value: &str, expected: &'static str) -> MountError {
    MountError::InvalidValue { key: key.into(), value: value.into(), expected }
}

/// Checks a value now unless it holds a variable (then the build checks it).
fn literal_checked(key: &str, value: String, ok: impl Fn(&str) -> bool, expected: &'static str) -> Result<String, MountError> {
    if value.contains('$') || ok(&value) {
        Ok(value)
    } else {
        Err(invalid(key, &value, expected))
    }
}

fn parse_bool(key: &str, value: Option<&str>) -> Result<bool, MountError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(invalid(key, other, "true or false")),
    }
}

/// Sizes as `docker run --tmpfs` takes them: bytes with an optional k/m/g suffix.
fn is_size(value: &str) -> bool {
    let digits = value.trim_end_matches(|c: char| matches!(c.to_ascii_lowercase(), 'b' | 'k' | 'm' | 'g' | 'i'));
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// Splits CSV fields: commas separate, a double-quoted field keeps commas,
/// `""` inside quotes is one quote.
fn csv_fields(value: &str) -> Result<Vec<String>, MountError> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(MountError::UnterminatedQuote(value.into()));
    }
    fields.push(field);
    Ok(fields.into_iter().filter(|f| !f.trim().is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_mount() {
        let m = parse_mount("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.sharing, Some(Sharing::Locked));
        assert!(!m.readonly);
    }

    #[test]
    fn bind_defaults_readonly() {
        let m = parse_mount("target=/src,source=.,from=build").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.readonly);
        assert!(!parse_mount("type=bind,target=/src,rw").unwrap().readonly);
    }

    #[test]
    fn errors() {
        assert!(matches!(parse_mount("type=nfs,target=/x"), Err(MountError::UnknownType(_))));
        assert!(parse_mount("type=cache").is_ok_and(|m| m.target.is_none()));
        assert!(parse_mount("ro").is_ok_and(|m| m.kind == MountType::Bind && m.readonly));
        assert!(matches!(parse_mount("type=tmpfs,target=/t,id=x"), Err(MountError::KeyNotForType { .. })));
        assert!(matches!(parse_mount("type=cache,target=/t,mode=999"), Err(MountError::InvalidValue { .. })));
        assert!(matches!(parse_mount("type=bind,target=/t,bogus=1"), Err(MountError::UnknownKey(_))));
        assert!(parse_mount("type=secret,id=tok,env=TOKEN").is_ok());
    }
}
