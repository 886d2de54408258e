//! A registry client for one repository: requests with authentication
//! (Basic, or a Bearer token fetched on the first 401) and retries with
//! backoff for connection failures, resets, 429 and 5xx answers. Bodies are
//! described, not consumed, so a request can be sent again after a retry or
//! a challenge.
//!
//! See: OCI distribution spec `spec.md`; distribution `docs/spec/auth/token.md`.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ureq::http::{self, Response};

use super::auth::{parse_challenge, repository_scope, Challenge};
use super::credentials::Credentials;
use super::endpoint::Endpoint;
use super::RegistryError;

/// How often a request is tried before its failure is reported.
const ATTEMPTS: u32 = 4;
/// The first retry's delay; each further one doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Largest JSON document (manifest, index, token, error) read into memory.
pub const MAX_DOCUMENT: u64 = 16 << 20;

/// A request body that can be sent more than once.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body (GET, HEAD, the POST that starts an upload).
    Empty,
    /// A body held in memory: a manifest, a small blob.
    Bytes(Vec<u8>),
    /// `len` bytes of a file from `offset`: a blob or a chunk of one.
    File {
        /// The file on the host.
        path: PathBuf,
        /// Where the body starts in the file, in bytes.
        offset: u64,
        /// How many bytes to send.
        len: u64,
    },
}

/// What the client needs to reach a repository.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Registries spoken to over plain HTTP besides loopback ones.
    pub insecure: Vec<String>,
    /// Sent when the registry asks for them; `None`: anonymous.
    pub credentials: Option<Credentials>,
}

/// A client for one repository of one registry.
pub struct Client {
    agent: ureq::Agent,
    /// The registry and the base URL its API is reached at.
    pub endpoint: Endpoint,
    /// The repository path in the registry (`library/busybox`).
    pub repository: String,
    credentials: Option<Credentials>,
    /// Token scopes asked for: this repository, and mount sources.
    scopes: Vec<String>,
    /// The `Authorization` header that worked last.
    authorization: Mutex<Option<String>>,
}

impl Client {
    /// A client for `registry/repository`; `push` asks for push rights too.
    pub fn new(registry: &str, repository: &str, push: bool, options: &ClientOptions) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            endpoint: Endpoint::new(registry, &options.insecure),
            repository: repository.to_owned(),
            credentials: options.credentials.clone(),
            scopes: vec![repository_scope(repository, push)],
            authorization: Mutex::new(None),
        }
    }

    /// Also asks for pull rights on `repository` (a cross-repository mount source).
    pub fn add_pull_scope(&mut self, repository: &str) {
        let scope = repository_scope(repository, false);
        if !self.scopes.contains(&scope) {
            self.scopes.push(scope);
        }
    }

    /// Checks the credentials against the registry's API root (`strata login`).
    pub fn check_login(mut self) -> Result<(), RegistryError> {
        self.scopes.clear();
        let response = self.send("GET", &self.endpoint.url(""), &[], &Body::Empty)?;
        match response.status().as_u16() {
            200 => Ok(()),
            _ => Err(self.status_error("a login check", response)),
        }
    }

    /// `/v2/<repository>/<path>`.
    pub fn url(&self, path: &str) -> String {
        self.endpoint.url(&format!("{}/{path}", self.repository))
    }

    /// Sends a request, authenticating when challenged and retrying
    /// transient failures. Any status is returned; callers judge it.
    pub fn send(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &Body) -> Result<Response<ureq::Body>, RegistryError> {
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send_once(method, url, headers, body);
            if !authenticated && outcome.as_ref().is_ok_and(|r| r.status().as_u16() == 401) {
                self.authenticate(&outcome?)?;
                authenticated = true;
                attempt -= 1;
                continue;
            }
            let retry = match &outcome {
                Err(RegistryError::Connect { retryable, .. }) => *retryable,
                Ok(response) => {
                    let status = response.status().as_u16();
                    status == 429 || (500..600).contains(&status)
                }
                Err(_) => false,
            };
            if !retry || attempt >= ATTEMPTS {
                return outcome;
            }
            std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1));
        }
    }

    fn send_once(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &Body) -> Result<Response<ureq::Body>, RegistryError> {
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(authorization) = self.authorization.lock().ok().and_then(|a| a.clone()) {
            request = request.header("Authorization", authorization);
        }
        let protocol = |e: http::Error| self.protocol(format!("cannot make a request for {url}: {e}"));
        let sent = match body {
            Body::Empty => self.agent.run(request.body(()).map_err(protocol)?),
            Body::Bytes(bytes) => self.agent.run(request.body(bytes.as_slice()).map_err(protocol)?),
            Body::File { path, offset, len } => {
                let mut file = std::fs::File::open(path).map_err(|e| RegistryError::Io { action: "read", path: path.clone(), source: e })?;
                file.seek(SeekFrom::Start(*offset)).map_err(|e| RegistryError::Io { action: "read", path: path.clone(), source: e })?;
                let request = request.header("Content-Length", len.to_string());
                let reader = ureq::SendBody::from_owned_reader(std::io::BufReader::with_capacity(1 << 20, file.take(*len)));
                self.agent.run(request.body(reader).map_err(protocol)?)
            }
        };
        sent.map_err(|e| self.transport_error(e))
    }

    /// Answers a 401: Basic credentials, or a Bearer token from the realm.
    fn authenticate(&self, response: &Response<ureq::Body>) -> Result<(), RegistryError> {
        let header = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let authorization = match parse_challenge(header) {
            Some(Challenge::Basic) => match &self.credentials {
                Some(credentials) => basic(credentials),
                None => return Err(self.unauthorized("the registry needs a user name and password")),
            },
            Some(Challenge::Bearer { realm, service, scope }) => format!("Bearer {}", self.token(&realm, service.as_deref(), scope.as_deref())?),
            None => return Err(self.unauthorized("the registry refused the request")),
        };
        if let Ok(mut slot) = self.authorization.lock() {
            *slot = Some(authorization);
        }
        Ok(())
    }

    /// Fetches a token for this client's scopes (and the challenge's).
    fn token(&self, realm: &str, service: Option<&str>, scope: Option<&str>) -> Result<String, RegistryError> {
        let mut request = self.agent.get(realm);
        if let Some(service) = service {
            request = request.query("service", service);
        }
        let mut scopes = self.scopes.clone();
        scopes.extend(scope.map(str::to_owned).filter(|s| !self.scopes.contains(s)));
        for scope in &scopes {
            request = request.query("scope", scope);
        }
        if let Some(credentials) = &self.credentials {
            request = request.header("Authorization", basic(credentials));
        }
        let response = request.call().map_err(|e| self.transport_error(e))?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => return Err(self.unauthorized("the token service refused the credentials")),
            status => return Err(self.protocol(format!("the token service {realm} answered {status}"))),
        }
        let answer: serde_json::Value = read_json(response).map_err(|reason| self.protocol(format!("unreadable token from {realm}: {reason}")))?;
        answer
            .get("token")
            .or_else(|| answer.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| self.protocol(format!("the token service {realm} sent no token")))
    }

    /// The error for a status the caller did not expect, with the
    /// registry's own error codes and messages when it sent them.
    pub fn status_error(&self, action: &str, response: Response<ureq::Body>) -> RegistryError {
        let status = response.status().as_u16();
        let detail = error_detail(response);
        match status {
            401 => self.unauthorized(&detail.unwrap_or_else(|| "the registry refused the credentials".into())),
            403 => self.unauthorized(&detail.unwrap_or_else(|| "access denied".into())),
            _ => RegistryError::Status {
                registry: self.endpoint.registry.clone(),
                action: action.to_owned(),
                status,
                message: detail.unwrap_or_else(|| status_text(status).to_owned()),
            },
        }
    }

    /// [`RegistryError::Unauthorized`] for this repository, with `detail`
    /// as the registry's reason.
    pub fn unauthorized(&self, detail: &str) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.endpoint.registry.clone(),
            repository: self.repository.clone(),
            detail: detail.to_owned(),
            logged_in: self.credentials.is_some(),
        }
    }

    /// [`RegistryError::Protocol`] for this registry.
    pub fn protocol(&self, reason: String) -> RegistryError {
        RegistryError::Protocol { registry: self.endpoint.registry.clone(), reason }
    }

    /// A transport failure, named by host and port; refused connections,
    /// resets and timeouts may be retried, unknown hosts and TLS failures not.
    pub fn transport_error(&self, error: ureq::Error) -> RegistryError {
        let (cause, retryable) = match &error {
            ureq::Error::Io(e) => (io_cause(e), true),
            ureq::Error::ConnectionFailed => ("connection failed".to_owned(), true),
            ureq::Error::Timeout(t) => (format!("timed out ({t})"), true),
            ureq::Error::HostNotFound => ("host not found".to_owned(), false),
            other => (other.to_string(), false),
        };
        RegistryError::Connect { host: self.endpoint.host_port(), cause, retryable }
    }
}

fn io_cause(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        std::io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        std::io::ErrorKind::UnexpectedEof => "the connection closed early".into(),
        _ => error.to_string(),
    }
}

fn basic(credentials: &Credentials) -> String {
    format!("Basic {}", BASE64.encode(format!("{}:{}", credentials.username, credentials.password)))
}

/// Reads a JSON answer (at most [`MAX_DOCUMENT`] bytes).
pub fn read_json<T: serde::de::DeserializeOwned>(response: Response<ureq::Body>) -> Result<T, String> {
    let bytes = read_document(response)?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Reads a small answer whole (at most [`MAX_DOCUMENT`] bytes).
pub fn read_document(response: Response<ureq::Body>) -> Result<Vec<u8>, String> {
    response.into_body().with_config().limit(MAX_DOCUMENT).read_to_vec().map_err(|e| e.to_string())
}

/// `CODE: message; …` from a distribution error body.
fn error_detail(response: Response<ureq::Body>) -> Option<String> {
    let mut bytes = Vec::new();
    response.into_body().into_reader().take(64 << 10).read_to_end(&mut bytes).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let errors = value.get("errors")?.as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("ERROR");
            let message = e.get("message").and_then(|m| m.as_str()).unwrap_or_default();
            format!("{code}: {message}")
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn status_text(status: u16) -> &'static str {
    http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("unexpected answer")
}

impl Endpoint {
    /// `host:port` as connected to (the port the scheme implies when none is given).
    pub fn host_port(&self) -> String {
        let (scheme, host) = self.base.split_once("://").unwrap_or(("https", &self.base));
        if host.rsplit_once(':').is_some_and(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())) {
            host.to_owned()
        } else {
            format!("{host}:{}", if scheme == "http" { 80 } else { 443 })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::registry::fake::{respond, serve};

    fn options(credentials: Option<(&str, &str)>) -> ClientOptions {
        ClientOptions { insecure: Vec::new(), credentials: credentials.map(|(u, p)| Credentials { username: u.into(), password: p.into() }) }
    }

    #[test]
    fn bearer_tokens_are_fetched_with_the_repository_scope() {
        let (port, seen) = serve(|head, port| {
            if head.starts_with("GET /token?") {
                let decoded = head.replace("%3A", ":").replace("%2F", "/").replace("%3a", ":").replace("%2f", "/");
                assert!(decoded.contains("scope=repository:team/app:pull"), "{head}");
                assert!(head.contains("service=fake"), "{head}");
                assert!(head.to_ascii_lowercase().contains("authorization: basic dtpw"), "credentials go to the realm: {head}");
                return respond("200 OK", &[], r#"{"token":"T0K"}"#);
            }
            if head.to_ascii_lowercase().contains("authorization: bearer t0k") {
                return respond("200 OK", &[], "{}");
            }
            let challenge = format!(r#"WWW-Authenticate: Bearer realm="http://127.0.0.1:{port}/token",service="fake""#);
            respond("401 Unauthorized", &[challenge], "")
        });
        let client = Client::new(&format!("127.0.0.1:{port}"), "team/app", false, &options(Some(("u", "p"))));
        let response = client.send("GET", &client.url("manifests/1"), &[], &Body::Empty).unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(seen.lock().unwrap().len(), 3, "challenge, token, retry");
        // The token is kept: the next request goes straight through.
        let again = client.send("GET", &client.url("manifests/1"), &[], &Body::Empty).unwrap();
        assert_eq!(again.status().as_u16(), 200);
        assert_eq!(seen.lock().unwrap().len(), 4);
    }

    #[test]
    fn server_errors_are_retried_with_backoff() {
        let count = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&count);
        let (port, _) = serve(move |_, _| {
            let mut n = counter.lock().unwrap();
            *n += 1;
            if *n <= 2 {
                respond("503 Service Unavailable", &[], "")
            } else {
                respond("200 OK", &[], "{}")
            }
        });
        let client = Client::new(&format!("127.0.0.1:{port}"), "app", false, &options(None));
        let response = client.send("GET", &client.url("manifests/1"), &[], &Body::Empty).unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(*count.lock().unwrap(), 3);
    }

    #[test]
    fn basic_challenge_without_credentials_says_how_to_log_in() {
        let (port, _) = serve(|_, _| respond("401 Unauthorized", &[r#"WWW-Authenticate: Basic realm="r""#.into()], ""));
        let client = Client::new(&format!("127.0.0.1:{port}"), "app", false, &options(None));
        let error = client.send("GET", &client.url("manifests/1"), &[], &Body::Empty).err().map(|e| e.to_string());
        let expected =
            format!("127.0.0.1:{port}: unauthorized for app (the registry needs a user name and password); log in with `strata login 127.0.0.1:{port}`");
        assert_eq!(error, Some(expected));
    }

    #[test]
    fn registry_errors_are_summarised() {
        let body = r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        let (port, _) = serve(move |_, _| respond("403 Forbidden", &[], body));
        let client = Client::new(&format!("127.0.0.1:{port}"), "app", true, &options(Some(("u", "p"))));
        let response = client.send("PUT", &client.url("manifests/1"), &[], &Body::Bytes(b"{}".to_vec())).unwrap();
        let error = client.status_error("the manifest upload", response).to_string();
        assert!(error.contains("unauthorized for app (DENIED: requested access to the resource is denied)"), "{error}");
        assert!(error.contains("log in again"), "{error}");
    }
}
