//! Credentials in Docker's client config (`$DOCKER_CONFIG/config.json`,
//! default `~/.docker/config.json`): `auths` entries holding base64
//! `user:password`, and credential helpers (`credsStore` for every
//! registry, `credHelpers` per registry) run as `docker-credential-<name>`.
//! `strata login`/`logout` write the same file, so docker, podman, skopeo
//! and strata share one login. Fields strata does not know are kept.
//!
//! See: docker/cli `cli/config/configfile/file.go`;
//! docker/docker-credential-helpers `client/client.go` (the helper protocol).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::image::DEFAULT_REGISTRY;

/// The key Docker files Docker Hub's credentials under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name as given to `login` (or stored by a helper).
    pub username: String,
    /// The password or access token; never shown (see the `Debug` impl).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    // Never print a password, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Why credentials could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The Docker config file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, as a verb ("read", "write").
        action: &'static str,
        /// The config file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Docker config file is not JSON.
    #[error("{} is not valid JSON: {reason}", path.display())]
    Json {
        /// The config file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// An `auths` entry's `auth` does not decode to `user:password`.
    #[error("the credentials for {registry} in {} are not base64 `user:password`", path.display())]
    BadAuth {
        /// The registry the entry is for.
        registry: String,
        /// The config file.
        path: PathBuf,
    },
    /// A `credsStore` or `credHelpers` program failed or answered nonsense.
    #[error("credential helper docker-credential-{helper} failed for {registry}: {reason}")]
    Helper {
        /// The helper's name (after `docker-credential-`).
        helper: String,
        /// The registry asked about.
        registry: String,
        /// What went wrong (its exit status and output, or why it could not run).
        reason: String,
    },
}

/// Docker's client config file, as read (missing: empty).
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))
            .unwrap_or_else(|| PathBuf::from(".docker"));
        dir.join("config.json")
    }

    /// Reads the config at `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<DockerConfig, CredentialsError> {
        let doc = match fs_err::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| CredentialsError::Json { path: path.to_path_buf(), reason: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(source) => return Err(CredentialsError::Io { action: "read", path: path.to_path_buf(), source }),
        };
        Ok(DockerConfig { path: path.to_path_buf(), doc })
    }

    /// The file this config was read from (and is written back to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credentials for `registry`, from its helper or `auths`.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
        if let Some(helper) = self.helper(registry) {
            return helper_get(&helper, registry);
        }
        let auths = self.doc.get("auths").and_then(Value::as_object);
        let Some(entry) = auths.and_then(|auths| find_entry(auths, registry)) else { return Ok(None) };
        self.decode_entry(registry, entry)
    }

    /// Stores credentials for `registry` (through its helper when one is
    /// configured) and writes the file.
    pub fn store(&mut self, registry: &str, credentials: &Credentials) -> Result<(), CredentialsError> {
        if let Some(helper) = self.helper(registry) {
            let input = json!({ "ServerURL": server_key(registry), "Username": credentials.username, "Secret": credentials.password });
            helper_run(&helper, registry, "store", &input.to_string())?;
            return Ok(());
        }
        let auth = BASE64.encode(format!("{}:{}", credentials.username, credentials.password));
        let auths = self.doc.entry("auths").or_insert_with(|| json!({}));
        if !auths.is_object() {
            *auths = json!({});
        }
        if let Some(auths) = auths.as_object_mut() {
            auths.insert(server_key(registry), json!({ "auth": auth }));
        }
        self.save()
    }

    /// Forgets the credentials for `registry`; false when there were none.
    pub fn erase(&mut self, registry: &str) -> Result<bool, CredentialsError> {
        if let Some(helper) = self.helper(registry) {
            helper_run(&helper, registry, "erase", &server_key(registry))?;
            return Ok(true);
        }
        let Some(auths) = self.doc.get_mut("auths").and_then(Value::as_object_mut) else { return Ok(false) };
        let keys: Vec<String> = auths.keys().filter(|k| normalise_key(k) == normalise_key(&server_key(registry))).cloned().collect();
        for key in &keys {
            auths.remove(key);
        }
        if keys.is_empty() {
            return Ok(false);
        }
        self.save().map(|()| true)
    }

    /// `credHelpers[registry]`, else `credsStore`.
    fn helper(&self, registry: &str) -> Option<String> {
        let per_registry = self.doc.get("credHelpers").and_then(Value::as_object).and_then(|helpers| find_entry(helpers, registry));
        per_registry.or_else(|| self.doc.get("credsStore")).and_then(Value::as_str).filter(|name| !name.is_empty()).map(str::to_owned)
    }

    fn decode_entry(&self, registry: &str, entry: &Value) -> Result<Option<Credentials>, CredentialsError> {
        let bad = || CredentialsError::BadAuth { registry: registry.to_owned(), path: self.path.clone() };
        if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
            let decoded = BASE64.decode(auth.trim()).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (username, password) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credentials { username: username.to_owned(), password: password.to_owned() }));
        }
        let field = |name| entry.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(field("username").zip(field("password")).map(|(username, password)| Credentials { username, password }))
    }

    /// Writes the file beside itself and renames it into place, owner-only.
    fn save(&self) -> Result<(), CredentialsError> {
        let io = |action, source| CredentialsError::Io { action, path: self.path.clone(), source };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs_err::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
        }
        let text = serde_json::to_string_pretty(&self.doc).unwrap_or_default();
        let partial = self.path.with_extension(format!("json.partial-{}", std::process::id()));
        let written = write_private(&partial, text.as_bytes()).and_then(|()| fs_err::rename(&partial, &self.path));
        if written.is_err() {
            let _ = fs_err::remove_file(&partial);
        }
        written.map_err(|e| io("write", e))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The key Docker files a registry's credentials under.
fn server_key(registry: &str) -> String {
    if registry == DEFAULT_REGISTRY {
        DOCKER_HUB_KEY.to_owned()
    } else {
        registry.to_owned()
    }
}

/// A key with its scheme and path removed (`https://reg:5000/v1/` → `reg:5000`),
/// since old clients wrote URLs; Docker Hub's legacy keys name `docker.io`.
fn normalise_key(key: &str) -> String {
    let host = key.trim_start_matches("https://").trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DEFAULT_REGISTRY.to_owned(),
        other => other.to_owned(),
    }
}

fn find_entry<'a>(map: &'a Map<String, Value>, registry: &str) -> Option<&'a Value> {
    map.get(&server_key(registry)).or_else(|| map.iter().find(|(key, _)| normalise_key(key) == registry).map(|(_, v)| v))
}

fn helper_get(helper: &str, registry: &str) -> Result<Option<Credentials>, CredentialsError> {
    let output = match helper_run(helper, registry, "get", &server_key(registry)) {
        Ok(output) => output,
        // The helper protocol's answer for "no credentials stored".
        Err(CredentialsError::Helper { reason, .. }) if reason.contains("credentials not found") => return Ok(None),
        Err(e) => return Err(e),
    };
    let fail = |reason: String| CredentialsError::Helper { helper: helper.to_owned(), registry: registry.to_owned(), reason };
    let value: Value = serde_json::from_str(&output).map_err(|e| fail(format!("unreadable answer: {e}")))?;
    let field = |name| value.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (username, password) = (field("Username"), field("Secret"));
    if password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials { username, password }))
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin.
fn helper_run(helper: &str, registry: &str, action: &str, input: &str) -> Result<String, CredentialsError> {
    let fail = |reason: String| CredentialsError::Helper { helper: helper.to_owned(), registry: registry.to_owned(), reason };
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        match stdin.write_all(input.as_bytes()) {
            // A helper may answer without reading its input; its exit status says how it went.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(fail(format!("cannot write to {program}: {e}"))),
            _ => {}
        }
    }
    let output = child.wait_with_output().map_err(|e| fail(format!("{program}: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = if stdout.trim().is_empty() { stderr.trim() } else { stdout.trim() };
        return Err(fail(message.to_owned()));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_get_erase_round_trip_keeps_other_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs_err::write(&path, r#"{"psFormat":"table","auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}}}"#).unwrap();
        let mut config = DockerConfig::load(&path).unwrap();
        assert_eq!(config.get("docker.io").unwrap(), Some(Credentials { username: "u".into(), password: "p".into() }));
        let creds = Credentials { username: "alice".into(), password: "s3:cret".into() };
        config.store("127.0.0.1:5000", &creds).unwrap();
        let reread = DockerConfig::load(&path).unwrap();
        assert_eq!(reread.get("127.0.0.1:5000").unwrap(), Some(creds));
        assert_eq!(reread.doc["psFormat"], "table");
        let mut config = reread;
        assert!(config.erase("127.0.0.1:5000").unwrap());
        assert!(!config.erase("127.0.0.1:5000").unwrap());
        assert_eq!(DockerConfig::load(&path).unwrap().get("127.0.0.1:5000").unwrap(), None);
    }

    #[test]
    fn legacy_keys_match() {
        assert_eq!(normalise_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalise_key("http://reg:5000/v2/"), "reg:5000");
    }
}
