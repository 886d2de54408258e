//! The private network containers get by default: a network namespace of
//! their own, reaching the outside through slirp4netns, a user-space NAT
//! (as rootless BuildKit, Podman and containerd's rootless mode do), so
//! package managers work while the host's interfaces and its loopback
//! services stay out of reach.
//!
//! Starting slirp4netns costs about twice what a `RUN true` container does,
//! so one namespace serves a whole build: `strata __netns` (a fresh,
//! single-threaded process) forks a child that unshares the namespace and
//! holds it, starts slirp4netns on it, prints the child's PID and waits
//! for its standard input to close. Each container's init joins the
//! namespace (`setns`) before it unshares the rest. When the build ends —
//! or strata dies, which closes that pipe — the holder closes slirp4netns'
//! exit pipe and kills the child: no helper outlives the build.
//!
//! slirp4netns rather than pasta: Debian bookworm's pasta (2023-03), run
//! as root, drops to `nobody` before it opens the namespace (so it needs
//! `--runas 0`, giving up its own confinement), forwards every port bound
//! on the host's loopback into the namespace unless told `-T none`, and
//! starts in ~70 ms against slirp4netns' ~25 ms; slirp4netns confines
//! itself (`--enable-sandbox`, `--enable-seccomp`) and refuses the host's
//! loopback with one flag (`--disable-host-loopback`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use nix::sys::signal::Signal;

use super::container::host_network_files;
use super::spec::{Bind, NetworkMode};
use super::sys;

/// The NAT program, looked up in `PATH`.
pub const NAT_PROGRAM: &str = "slirp4netns";
/// slirp4netns' DNS forwarder (its default network 10.0.2.0/24): queries
/// go to the host's resolver, loopback ones (127.0.0.53) included.
pub const NAT_DNS: &str = "10.0.2.3";
/// The interface slirp4netns makes in the namespace.
const TAP: &str = "tap0";

/// Why the private network could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The namespace holder (`strata __netns`, which starts slirp4netns)
    /// could not be started.
    #[error("cannot start the network helper {program}: {cause}")]
    Spawn {
        /// The strata binary run as the holder.
        program: PathBuf,
        /// Why it could not be started.
        cause: io::Error,
    },
    /// The holder or slirp4netns started but did not report the namespace
    /// ready; holds why.
    #[error("the private network did not come up: {0}")]
    NotReady(String),
}

/// A network namespace with outbound NAT, alive while this value is.
#[derive(Debug)]
pub struct PrivateNetwork {
    holder: Child,
    /// Closing it tells the holder to stop.
    stdin: Option<ChildStdin>,
    /// The namespace, held open: containers join it through this
    /// descriptor, which no recycled PID can redirect.
    netns: std::fs::File,
}

impl PrivateNetwork {
    /// Starts one through `init __netns` (a strata binary); `None` when no
    /// NAT program is installed.
    pub fn start(init: &Path) -> Result<Option<PrivateNetwork>, NetworkError> {
        let Some(nat) = super::find_program(NAT_PROGRAM) else { return Ok(None) };
        let spawn = |cause| NetworkError::Spawn { program: init.to_path_buf(), cause };
        let mut holder = Command::new(init)
            .arg("__netns")
            .arg(&nat)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Like the containers: a Ctrl-C reaches strata, which stops it.
            .process_group(0)
            .spawn()
            .map_err(spawn)?;
        let stdin = holder.stdin.take();
        let mut line = String::new();
        if let Some(stdout) = holder.stdout.take() {
            BufReader::new(stdout).read_line(&mut line).map_err(|e| NetworkError::NotReady(e.to_string()))?;
        }
        let Ok(pid) = line.trim().parse::<u32>() else {
            drop(stdin);
            let mut why = String::new();
            if let Some(mut stderr) = holder.stderr.take() {
                let _ = stderr.read_to_string(&mut why);
            }
            let _ = holder.wait();
            return Err(NetworkError::NotReady(why.trim().to_owned()));
        };
        let path = format!("/proc/{pid}/ns/net");
        match std::fs::File::open(&path) {
            Ok(netns) => Ok(Some(PrivateNetwork { holder, stdin, netns })),
            Err(e) => {
                drop(stdin);
                let _ = holder.wait();
                Err(NetworkError::NotReady(format!("{path}: {e}")))
            }
        }
    }

    /// The path containers join the namespace by (this process's
    /// descriptor of it, under `/proc`).
    pub fn netns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), self.netns.as_raw_fd()))
    }
}

impl Drop for PrivateNetwork {
    fn drop(&mut self) {
        // The holder stops slirp4netns and the namespace's child, then exits.
        drop(self.stdin.take());
        let _ = self.holder.wait();
    }
}

/// The DNS files a container on `network` gets, bound read-only: the
/// host's `/etc/hosts`, and its `/etc/resolv.conf` — or behind the NAT one
/// written into `scratch` (the container's private directory) that names
/// the NAT's forwarder.
pub fn dns_files(network: &NetworkMode, scratch: &Path) -> io::Result<Vec<Bind>> {
    let host = host_network_files();
    if !matches!(network, NetworkMode::Join(_)) {
        return Ok(host);
    }
    let resolv = scratch.join("resolv.conf");
    fs_err::write(&resolv, nat_resolv_conf(&fs_err::read_to_string("/etc/resolv.conf").unwrap_or_default()))?;
    let mut binds = vec![Bind { source: resolv, target: "/etc/resolv.conf".into(), read_only: true }];
    binds.extend(host.into_iter().filter(|b| b.target != "/etc/resolv.conf"));
    Ok(binds)
}

/// The container's `/etc/resolv.conf` behind the NAT: the host's search
/// domains and options, and the NAT's DNS forwarder as the one nameserver
/// (the host's own may be a loopback address the namespace cannot reach).
pub fn nat_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    for line in host.lines() {
        let keyword = line.split_whitespace().next().unwrap_or_default();
        if matches!(keyword, "search" | "domain" | "options") {
            out.push_str(line.trim());
            out.push('\n');
        }
    }
    out.push_str(&format!("nameserver {NAT_DNS}\n"));
    out
}

/// Entry point of `strata __netns NAT_PROGRAM`; returns the exit code.
pub fn holder_main(nat: &Path) -> i32 {
    match hold(nat) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("strata: private network: {e}");
            1
        }
    }
}

/// See the module header. Single-threaded, so the pipe ends slirp4netns
/// inherits reach no other program.
///
/// No parent-death signal here: it follows the thread that spawned us, and
/// the build's worker threads end before the build does. Strata's death
/// closes our stdin, which ends the wait below just as well.
fn hold(nat: &Path) -> io::Result<()> {
    let (unshared_read, unshared_write) = sys::pipe()?;
    let Some(child) = sys::fork_process()? else {
        drop(unshared_read);
        let code = match hold_namespace(unshared_write) {
            Ok(()) => 0,
            Err(_) => 1,
        };
        std::process::exit(code)
    };
    drop(unshared_write);
    let stop = || {
        let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(child, None);
    };
    if std::fs::File::from(unshared_read).read(&mut [0u8])? != 1 {
        stop();
        return Err(io::Error::other("the namespace could not be created"));
    }
    let result = run_nat(nat, child.as_raw() as u32);
    stop();
    result
}

/// The forked child: a new network namespace, held until killed.
fn hold_namespace(ready: OwnedFd) -> io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
    sys::unshare_network()?;
    std::fs::File::from(ready).write_all(b"1")?;
    loop {
        nix::unistd::pause();
    }
}

/// Runs slirp4netns on `pid`'s namespace, reports `pid` on stdout once the
/// network is up, and stops it when stdin closes.
fn run_nat(nat: &Path, pid: u32) -> io::Result<()> {
    // slirp4netns gets only its ends: holding the exit pipe's write end
    // itself, it would never see it close.
    let (ready_read, ready_write) = sys::pipe()?;
    let (exit_read, exit_write) = sys::pipe()?;
    sys::inherit(&ready_write)?;
    sys::inherit(&exit_read)?;
    let mut slirp = Command::new(nat)
        .arg("--configure")
        .arg("--mtu=65520")
        .arg("--disable-host-loopback")
        .arg("--enable-sandbox")
        .arg("--enable-seccomp")
        .arg(format!("--ready-fd={}", ready_write.as_raw_fd()))
        .arg(format!("--exit-fd={}", exit_read.as_raw_fd()))
        .arg(pid.to_string())
        .arg(TAP)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Its log would fill a pipe nobody reads after start-up.
        .stderr(Stdio::null())
        .spawn()?;
    drop(ready_write);
    drop(exit_read);
    let mut byte = [0u8];
    let up = std::fs::File::from(ready_read).read(&mut byte)?;
    if up != 1 {
        let status = slirp.wait()?;
        return Err(io::Error::other(format!("{} exited ({status}) before the network was up", nat.display())));
    }
    let mut stdout = io::stdout();
    writeln!(stdout, "{pid}")?;
    stdout.flush()?;
    // Until strata closes our stdin (or dies).
    let _ = io::copy(&mut io::stdin(), &mut io::sink());
    drop(exit_write);
    let _ = slirp.wait();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_keeps_search_and_options_and_uses_the_forwarder() {
        let host = "# generated\nnameserver 127.0.0.53\nsearch example.lan corp\noptions edns0 trust-ad\n";
        assert_eq!(nat_resolv_conf(host), "search example.lan corp\noptions edns0 trust-ad\nnameserver 10.0.2.3\n");
    }
}
