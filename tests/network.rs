//! RUN's network: by default a private namespace behind slirp4netns, so a
//! Dockerfile reaches the outside (here: a server on the host's own
//! address) but neither the host's loopback services nor its interfaces;
//! `--network=host` and `--security=insecure` only with BuildKit's
//! entitlements; no helper process outlives a build. Needs root and
//! slirp4netns (tests/deps.sh installs it).

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::TestRoot;

/// A store with busybox; fails unless the NAT program is installed.
fn root() -> TestRoot {
    let nat = Command::new("sh").args(["-c", "command -v slirp4netns"]).output().expect("run sh");
    assert!(nat.status.success(), "slirp4netns is not installed: run `bash tests/deps.sh` (apt-get install slirp4netns)");
    let root = TestRoot::new();
    root.busybox();
    root
}

/// A TCP server answering every connection with an HTTP response holding
/// `body`; counts the connections it accepted.
struct Server {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    fn start(address: Ipv4Addr, body: &'static str) -> Server {
        let listener = TcpListener::bind((address, 0)).expect("bind a test listener");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = write!(stream, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
        });
        Server { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The host's first global IPv4 address (what `apt-get` traffic leaves by).
fn host_address() -> Ipv4Addr {
    let output = Command::new("ip").args(["-4", "-o", "addr", "show", "scope", "global"]).output().expect("run ip (apt-get install iproute2)");
    let text = String::from_utf8_lossy(&output.stdout);
    let address = text.split_whitespace().skip_while(|w| *w != "inet").nth(1).and_then(|cidr| cidr.split('/').next()?.parse().ok());
    address.unwrap_or_else(|| panic!("the host has no global IPv4 address to test outbound traffic with:\n{text}"))
}

/// A shell line that fetches `/` from `host:port` with busybox nc and
/// prints what came back, or `UNREACHABLE host`.
fn fetch(host: &str, port: u16) -> String {
    format!("(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc -w 3 {host} {port} || echo UNREACHABLE {host})")
}

/// What the steps printed, from a plain-progress build log: the lines
/// `#N SECONDS text`.
fn step_output(stderr: &str) -> String {
    let output = |line: &str| {
        let mut fields = line.strip_prefix('#')?.splitn(3, ' ');
        let (_step, seconds, text) = (fields.next()?, fields.next()?, fields.next()?);
        seconds.parse::<f64>().ok().map(|_| text.to_owned())
    };
    stderr.lines().filter_map(output).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_default_run_cannot_reach_the_hosts_loopback_services() {
    let root = root();
    let server = Server::start(Ipv4Addr::LOCALHOST, "host-loopback-secret");
    let gateway = "$(ip route | awk '/^default/ {print $3}')";
    let dockerfile = format!("FROM busybox\nRUN {}; {}; {}\n", fetch("127.0.0.1", server.port), fetch(gateway, server.port), fetch("10.0.2.2", server.port));
    let run = root.build(&dockerfile, &[], &["--no-cache"]).success();
    let output = step_output(&run.stderr);
    assert!(!output.contains("host-loopback-secret"), "a RUN step reached the host's 127.0.0.1:\n{output}");
    assert_eq!(server.accepted(), 0, "the host's loopback listener accepted a connection from a RUN step:\n{output}");
    assert_eq!(output.lines().filter(|l| l.starts_with("UNREACHABLE")).count(), 3, "{output}");
}

#[test]
fn a_loopback_address_added_in_a_run_stays_off_the_hosts_loopback() {
    let root = root();
    let add = "ip addr add 127.77.77.77/32 dev lo && ip addr show lo";
    // By default the step has no CAP_NET_ADMIN: refused outright.
    let refused = root.build(&format!("FROM busybox\nRUN {add}\n"), &[], &["--no-cache"]).failure();
    assert!(refused.stderr.contains("Operation not permitted"), "{}", refused.stderr);
    assert_host_loopback_untouched(&refused.stderr);
    // With every capability, the address lands in the build's own namespace.
    let privileged = format!("FROM busybox\nRUN --security=insecure {add}\n");
    let run = root.build(&privileged, &[], &["--no-cache", "--allow", "security.insecure"]).success();
    assert_host_loopback_untouched(&run.stderr);
    assert!(step_output(&run.stderr).contains("127.77.77.77"), "the step changed its own loopback:\n{}", run.stderr);
}

fn assert_host_loopback_untouched(build_log: &str) {
    let host = Command::new("ip").args(["addr", "show", "lo"]).output().expect("run ip (apt-get install iproute2)");
    let host = String::from_utf8_lossy(&host.stdout).into_owned();
    if host.contains("127.77.77.77") {
        let _ = Command::new("ip").args(["addr", "del", "127.77.77.77/32", "dev", "lo"]).status();
        panic!("a RUN step added an address to the host's loopback:\n{host}\nbuild:\n{build_log}");
    }
}

#[test]
fn a_default_run_reaches_a_server_on_the_hosts_address() {
    let root = root();
    let address = host_address();
    let server = Server::start(address, "fetched-through-the-nat");
    let dockerfile = format!("FROM busybox\nRUN {} > /fetched && cat /fetched\n", fetch(&address.to_string(), server.port));
    let run = root.build(&dockerfile, &[], &["--no-cache", "-t", "fetched"]).success();
    assert!(step_output(&run.stderr).contains("fetched-through-the-nat"), "{}", run.stderr);
    assert!(server.accepted() >= 1);
}

#[test]
fn a_stage_built_after_another_still_reaches_the_outside() {
    let root = root();
    let address = host_address();
    let server = Server::start(address, "second-stage-fetched");
    // Stage `a` starts the build's network on its worker thread, which ends
    // before the last stage runs.
    let dockerfile =
        format!("FROM busybox AS a\nRUN true\nFROM busybox\nCOPY --from=a /etc/passwd /p\nRUN sleep 1; {}\n", fetch(&address.to_string(), server.port));
    let run = root.build(&dockerfile, &[], &["--no-cache"]).success();
    assert!(step_output(&run.stderr).contains("second-stage-fetched"), "{}", run.stderr);
}

#[test]
fn resolv_conf_names_the_nats_forwarder() {
    let root = root();
    let run = root.build("FROM busybox\nRUN cat /etc/resolv.conf && grep -c . /etc/resolv.conf\n", &[], &["--no-cache"]).success();
    let output = step_output(&run.stderr);
    let nameservers: Vec<&str> = output.lines().filter(|l| l.starts_with("nameserver")).collect();
    assert_eq!(nameservers, ["nameserver 10.0.2.3"], "{output}");
    let host = fs_err::read_to_string("/etc/resolv.conf").unwrap_or_default();
    for line in host.lines().filter(|l| l.starts_with("search") || l.starts_with("options")) {
        assert!(output.contains(line.trim()), "the host's {line:?} is kept:\n{output}");
    }
    let container = root.ok(&["run", "--rm", "busybox:latest", "--", "cat", "/etc/resolv.conf"]);
    assert!(container.contains("nameserver 10.0.2.3"), "strata run is behind the NAT too:\n{container}");
}

#[test]
fn host_network_needs_the_network_host_entitlement() {
    let root = root();
    let server = Server::start(Ipv4Addr::LOCALHOST, "host-network-granted");
    let dockerfile = format!("FROM busybox\nRUN --network=host {}\n", fetch("127.0.0.1", server.port));
    root.build(&dockerfile, &[], &["--no-cache"]).failure().says("network.host is not allowed");
    assert_eq!(server.accepted(), 0, "nothing runs before the entitlement check");
    root.build("FROM busybox\nRUN true\n", &[], &["--no-cache", "--network", "host"]).failure().says("network.host is not allowed");
    let run = root.build(&dockerfile, &[], &["--no-cache", "--allow", "network.host"]).success();
    assert!(step_output(&run.stderr).contains("host-network-granted"), "{}", run.stderr);
    root.build("FROM busybox\nRUN true\n", &[], &["--allow", "device"]).failure().says("unknown entitlement device");
}

#[test]
fn insecure_needs_the_security_insecure_entitlement() {
    let root = root();
    // A privileged step may mount (the default sandbox refuses it).
    let dockerfile = "FROM busybox\nRUN --security=insecure mkdir -p /m && mount -t tmpfs none /m && umount /m\n";
    root.build(dockerfile, &[], &["--no-cache"]).failure().says("security.insecure is not allowed");
    root.build(dockerfile, &[], &["--no-cache", "--allow", "network.host,security.insecure"]).success();
}

#[test]
fn network_none_has_only_loopback() {
    let root = root();
    let run = root.build("FROM busybox\nRUN --network=none ip -o link | cut -d: -f2\n", &[], &["--no-cache"]).success();
    let links: Vec<String> = step_output(&run.stderr).lines().map(|l| l.trim().to_owned()).collect();
    assert_eq!(links, ["lo"], "{}", run.stderr);
    let links = root.ok(&["run", "--rm", "--network", "none", "busybox:latest", "--", "ip", "-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
}

/// Runs of the NAT program found through `dir` (a PATH entry only this
/// test uses), with their command lines.
fn helpers_from(dir: &Path) -> Vec<String> {
    let marker = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = fs_err::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&marker) {
            found.push(cmdline);
        }
    }
    found
}

/// A directory holding only a `slirp4netns` link to the installed one.
fn nat_dir(root: &TestRoot) -> PathBuf {
    let dir = root.scratch("nat-bin");
    fs_err::create_dir_all(&dir).unwrap();
    let installed = Command::new("sh").args(["-c", "command -v slirp4netns"]).output().unwrap();
    let installed = String::from_utf8_lossy(&installed.stdout).trim().to_owned();
    std::os::unix::fs::symlink(installed, dir.join("slirp4netns")).unwrap();
    dir
}

#[test]
fn no_helper_outlives_a_build_that_succeeds_or_fails() {
    let root = root();
    let dir = nat_dir(&root);
    let context = root.write_context("FROM busybox\nRUN true\nRUN true\n", &[]);
    for (dockerfile, ok) in [("FROM busybox\nRUN true\nRUN true\n", true), ("FROM busybox\nRUN true\nRUN exit 3\n", false)] {
        fs_err::write(context.join("Dockerfile"), dockerfile).unwrap();
        let output = root
            .command(&["build", "--progress", "plain", "--no-cache", context.to_str().unwrap()])
            .env("PATH", format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", dir.display()))
            .output()
            .unwrap();
        assert_eq!(output.status.success(), ok, "{}", String::from_utf8_lossy(&output.stderr));
        assert!(!String::from_utf8_lossy(&output.stderr).contains("share the host's network"), "the NAT was found");
        let left = helpers_from(&dir);
        assert!(left.is_empty(), "helpers left after the build:\n{}", left.join("\n"));
    }
}

#[test]
fn no_helper_outlives_a_killed_build() {
    let root = root();
    let dir = nat_dir(&root);
    let context = root.write_context("FROM busybox\nRUN sleep 60\n", &[]);
    let mut build = root
        .command(&["build", "--progress", "plain", "--no-cache", context.to_str().unwrap()])
        .env("PATH", format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", dir.display()))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while helpers_from(&dir).len() < 2 {
        assert!(started.elapsed().as_secs() < 20, "the build never started its network helper");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    build.kill().unwrap();
    build.wait().unwrap();
    let started = std::time::Instant::now();
    while !helpers_from(&dir).is_empty() {
        assert!(started.elapsed().as_secs() < 5, "helpers left after strata was killed:\n{}", helpers_from(&dir).join("\n"));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn without_a_nat_program_steps_share_the_host_network_with_one_warning() {
    let root = root();
    let empty = root.scratch("no-nat-bin");
    fs_err::create_dir_all(&empty).unwrap();
    let context = root.write_context("FROM busybox\nRUN ip -o link | grep -c . > /links\nRUN true\n", &[]);
    let output = root.command(&["build", "--progress", "plain", "--no-cache", context.to_str().unwrap()]).env("PATH", &empty).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr.matches("no slirp4netns in PATH").count(), 1, "one warning per build:\n{stderr}");
}
