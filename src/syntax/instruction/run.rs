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
    pub command: Command,
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Option<NetworkMode>,
    pub security: Option<Security>,
}

/// `--network=default|none|host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    Default,
    None,
    Host,
}

/// `--security=sandbox|insecure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    Sandbox,
    Insecure,
}

impl NetworkMode {
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
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// `sharing=shared|private|locked` for cache mounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// One `--mount`. Values are as written (variables not yet expanded);
/// literal numeric values are checked here, expanded ones when building.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountType,
    pub target: Option<String>,
    pub source: Option<String>,
    pub from: Option<String>,
    pub readonly: bool,
    pub id: Option<String>,
    pub sharing: Option<Sharing>,
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub size: Option<String>,
    pub required: bool,
    pub env: Option<String>,
}

/// What can be wrong with a `--mount` value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MountError {
    #[error("unknown mount type {0:?} (expected bind, cache, tmpfs, secret or ssh)")]
    UnknownType(String),
    #[error("unexpected key {0:?}")]
    UnknownKey(String),
    #[error("key {key:?} is not valid for type={kind}")]
    KeyNotForType { key: String, kind: &'static str },
    #[error("invalid value {value:?} for {key}: expected {expected}")]
    InvalidValue { key: String, value: String, expected: &'static str },
    #[error("{0:?} needs a value ({0}=...)")]
    MissingValue(String),
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
