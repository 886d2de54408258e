//! A private dockerd for tests: its own data root, exec root (where it
//! starts its own containerd), pid file and socket in a temporary
//! directory, with no bridge, no iptables and no forwarding, so the host's
//! networking is never touched. Clients reach it through `DOCKER_HOST`.
//! Stopped (SIGTERM, then SIGKILL) when dropped, and every mount left under
//! its directory is detached.
//!
//! The 20.10 client is called as `/usr/bin/docker` (Debian's docker.io):
//! a newer CLI elsewhere on `PATH` hands `docker build` to a buildx plugin
//! that is not installed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const DOCKERD: &str = "/usr/sbin/dockerd";
pub const DOCKER: &str = "/usr/bin/docker";

pub struct Dockerd {
    dir: TempDir,
    child: Option<Child>,
}

impl Dockerd {
    /// Starts dockerd (overlay2, else vfs) and waits until it answers.
    pub fn start() -> Dockerd {
        for tool in [DOCKERD, DOCKER] {
            assert!(Path::new(tool).is_file(), "{tool} is missing: run `bash tests/deps.sh` (installs docker.io)");
        }
        let dir = tempfile::Builder::new().prefix("strata-dockerd-").tempdir().expect("create a dockerd directory");
        let mut daemon = Dockerd { dir, child: None };
        if daemon.launch("overlay2").is_ok() {
            return daemon;
        }
        let first = daemon.log();
        daemon.stop();
        match daemon.launch("vfs") {
            Ok(()) => daemon,
            Err(e) => panic!("dockerd does not start: {e}\nwith overlay2:\n{first}\nwith vfs:\n{}", daemon.log()),
        }
    }

    fn launch(&mut self, driver: &str) -> Result<(), String> {
        let d = self.dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(DOCKERD)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(self.host())
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false"])
            .args(["--containerd-namespace", "strata-test", "--containerd-plugins-namespace", "strata-test-plugins"])
            .arg(format!("--storage-driver={driver}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {DOCKERD}: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.docker(&["version"]).output().is_ok_and(|o| o.status.success()) {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!("dockerd exited: {status}"));
            }
            if Instant::now() > deadline {
                return Err("dockerd did not answer within 60 s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `unix://…/docker.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// A scratch path inside the daemon's directory.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What dockerd logged.
    pub fn log(&self) -> String {
        fs_err::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// `docker ARGS…` against this daemon (BuildKit on), not started.
    pub fn docker(&self, args: &[&str]) -> Command {
        let mut command = Command::new(DOCKER);
        command.args(args).env("DOCKER_HOST", self.host()).env("DOCKER_BUILDKIT", "1").env("DOCKER_CONFIG", self.dir.path().join("client"));
        command
    }

    /// Runs docker, panicking unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.docker(args).output().expect("run docker");
        checked(&format!("docker {args:?}"), output)
    }

    /// Stops the daemon (and the containerd it started) and detaches
    /// whatever it left mounted under its directory.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kill_containerd();
        for mount in mounts_under(self.dir.path()).into_iter().rev() {
            let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
        }
    }

    /// The containerd dockerd started writes its pid under the exec root;
    /// it normally exits with dockerd.
    fn kill_containerd(&self) {
        let pidfile = self.dir.path().join("exec/containerd/containerd.pid");
        let Ok(text) = fs_err::read_to_string(&pidfile) else { return };
        let Ok(pid) = text.trim().parse::<i32>() else { return };
        let pid = nix::unistd::Pid::from_raw(pid);
        let deadline = Instant::now() + Duration::from_secs(10);
        while nix::sys::signal::kill(pid, None).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Mount points at or below `dir`, in mount order.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs_err::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(point.replace("\\040", " ")))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// stdout of a finished command, panicking with its stderr unless it succeeded.
pub fn checked(what: &str, output: Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
