//! A registry for tests: Debian's `docker-registry` (distribution) on
//! 127.0.0.1 with a free port, a temporary storage directory and, when
//! asked, htpasswd basic auth; stopped when dropped. `bash tests/deps.sh`
//! installs it (and `htpasswd`, from apache2-utils).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{Run, TestRoot};

pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

pub struct Registry {
    dir: TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Registry {
    /// A registry without authentication.
    pub fn start() -> Registry {
        Registry::with_auth(None)
    }

    /// A registry that wants `user`/`password` (bcrypt htpasswd).
    pub fn with_auth(auth: Option<(&str, &str)>) -> Registry {
        assert!(Path::new(REGISTRY_BINARY).is_file(), "{REGISTRY_BINARY} is missing: run `bash tests/deps.sh`");
        let dir = tempfile::Builder::new().prefix("strata-registry-").tempdir().expect("create a registry directory");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: strata-test-secret\n",
            dir.path().join("storage").display()
        );
        if let Some((user, password)) = auth {
            let output = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("run htpasswd (apache2-utils)");
            assert!(output.status.success(), "htpasswd: {}", String::from_utf8_lossy(&output.stderr));
            let file = dir.path().join("htpasswd");
            fs_err::write(&file, &output.stdout).expect("write htpasswd");
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: strata-test\n    path: {}\n", file.display()));
        }
        fs_err::write(dir.path().join("config.yml"), config).expect("write the registry config");
        let mut registry = Registry { dir, port, child: None };
        registry.restart();
        registry
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps its blobs and repositories.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage/docker/registry/v2")
    }

    /// The file holding a blob's content.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage().join("blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// Kills the registry (its storage stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts (again) on the same port and storage; returns when it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("find a free port")
}

/// A Docker client config directory for one test, so logins stay in it.
pub struct DockerConfigDir(pub TempDir);

impl DockerConfigDir {
    pub fn new() -> DockerConfigDir {
        DockerConfigDir(tempfile::Builder::new().prefix("strata-docker-config-").tempdir().expect("create a config directory"))
    }

    pub fn config_json(&self) -> PathBuf {
        self.0.path().join("config.json")
    }

    /// `strata ARGS…` in `root` with this config directory.
    pub fn run(&self, root: &TestRoot, args: &[&str]) -> Run {
        let output = root.command(args).env("DOCKER_CONFIG", self.0.path()).output().expect("run strata");
        Run::from_output(args, output)
    }

    /// Like [`DockerConfigDir::run`], with `input` on standard input.
    pub fn run_with_input(&self, root: &TestRoot, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = root
            .command(args)
            .env("DOCKER_CONFIG", self.0.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run strata");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        Run::from_output(args, child.wait_with_output().expect("wait for strata"))
    }
}
