//! `RUN --mount=type=secret`: a `--secret` value as a file in the step's
//! private scratch (bind-mounted read-only), or as an environment variable.
//! Values are read when a RUN mounts them, never stored or logged.

use std::path::{Path, PathBuf};

use super::{set_owner_and_mode, MountSet};
use crate::exec::Bind;
use crate::plan::SecretMount;
use crate::solve::{SolveError, Solver};

pub(super) fn realise(solver: &Solver<'_>, mount: &SecretMount, set: &mut MountSet<'_>) -> Result<(), SolveError> {
    let id = mount.id.clone().unwrap_or_else(|| mount.target.as_deref().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned());
    let Some(value) = solver.options.secrets.value(&id)? else {
        if mount.required {
            return Err(SolveError::SecretRequired { id });
        }
        return Ok(());
    };
    if let Some(name) = &mount.env {
        set.env.push(format!("{name}={}", String::from_utf8_lossy(&value)));
        if mount.target.is_none() {
            return Ok(());
        }
    }
    let target = mount.target.clone().unwrap_or_else(|| format!("/run/secrets/{id}"));
    let file = secret_file(set.scratch, set.binds.len(), &value, mount)?;
    set.binds.push(Bind { source: file, target, read_only: true });
    Ok(())
}

/// Writes a secret for a bind mount: in the step's private scratch (on
/// tmpfs when the machine has /dev/shm), owned and moded as the mount asks
/// (default root, 0400).
fn secret_file(scratch: &Path, n: usize, value: &[u8], mount: &SecretMount) -> Result<PathBuf, SolveError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = scratch.join(format!("secret-{n}"));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(|e| SolveError::io("create", &path, e))?;
    file.write_all(value).map_err(|e| SolveError::io("write", &path, e))?;
    set_owner_and_mode(&path, &mount.owner, 0o400)?;
    Ok(path)
}

/// A `--secret` value that names no secret or no source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretSpecError {
    /// The `--secret` value has no `id=`; holds the value.
    #[error("--secret {0:?}: id= is required")]
    NoId(String),
    /// The `--secret` value has neither `src=` nor `env=`; holds the value.
    #[error("--secret {0:?}: give src=FILE or env=VARIABLE")]
    NoSource(String),
}

/// `--secret id=NAME,src=FILE` or `id=NAME,env=VAR`: where secrets come
/// from. Values are read when a RUN mounts them, never stored or logged.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    sources: std::collections::BTreeMap<String, SecretSource>,
}

#[derive(Debug, Clone)]
enum SecretSource {
    File(PathBuf),
    Env(String),
}

impl Secrets {
    /// Parses `--secret` values.
    pub fn parse(specs: &[String]) -> Result<Secrets, SecretSpecError> {
        let mut sources = std::collections::BTreeMap::new();
        for spec in specs {
            let fields: std::collections::BTreeMap<&str, &str> = spec.split(',').filter_map(|f| f.split_once('=')).collect();
            let id = fields.get("id").ok_or_else(|| SecretSpecError::NoId(spec.clone()))?;
            let source = match (fields.get("src").or(fields.get("source")), fields.get("env")) {
                (Some(file), _) => SecretSource::File(PathBuf::from(file)),
                (None, Some(var)) => SecretSource::Env((*var).to_owned()),
                (None, None) => return Err(SecretSpecError::NoSource(spec.clone())),
            };
            sources.insert((*id).to_owned(), source);
        }
        Ok(Secrets { sources })
    }

    fn value(&self, id: &str) -> Result<Option<Vec<u8>>, SolveError> {
        match self.sources.get(id) {
            None => Ok(None),
            Some(SecretSource::File(path)) => fs_err::read(path).map(Some).map_err(|e| SolveError::io("read the secret", path, e)),
            Some(SecretSource::Env(var)) => Ok(std::env::var_os(var).map(|v| std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec())),
        }
    }
}
