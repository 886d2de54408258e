//! Chaos: builds killed at random moments, and builds racing a prune loop.
//!
//! - `sigkill_at_random_moments`: one build (context hashing of 300
//!   files, a COPY of them, a RUN writing 1 MB through a cache mount, the
//!   commit, `--output type=oci`, `--push` to a local registry) is killed
//!   with SIGKILL at 30+ moments drawn from a seeded generator over the
//!   length of a whole build. After each kill: no process of the build is
//!   left (the test is the children's subreaper, so orphans come to it),
//!   `strata cache verify` is clean, no mount is left under the store or
//!   `/dev/shm/strata-*`, and the same build then succeeds. The seed is
//!   printed; `STRATA_CHAOS_SEED=N` replays a run (`STRATA_CHAOS_KILLS`
//!   changes the number of kills, 30 by default).
//! - `concurrent_builds_and_a_prune_loop`: 8 builds sharing a base and a
//!   cache mount while `strata cache prune --all -f` runs in a loop: every
//!   build succeeds and verify is clean afterwards.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::registry::Registry;
use support::TestRoot;

/// The tests adopt orphans and count children: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const DOCKERFILE: &str = "\
FROM busybox:latest
ARG N
COPY files/ /files/
RUN --mount=type=cache,target=/cache head -c 1000000 /dev/urandom > /cache/r && cp /cache/r /big && echo $N > /n
RUN cat /files/n.txt /n > /sum
";

/// xorshift64*: enough randomness for kill moments, replayable from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    match std::env::var("STRATA_CHAOS_SEED") {
        Ok(text) => text.parse().expect("STRATA_CHAOS_SEED is a number"),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1,
    }
}

/// Makes this process the subreaper of its descendants, so a killed
/// build's orphans become its children and can be counted.
fn adopt_orphans() {
    nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
}

/// Children of this process other than the registry, after reaping the
/// ones that ended; waits up to 5 s for stragglers.
fn leftover_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        while let Ok(status) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        let mut left = Vec::new();
        for entry in fs_err::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = fs_err::read_to_string(entry.path().join("stat")) else { continue };
            // `pid (comm) state ppid …`; comm may hold spaces.
            let Some(after) = stat.rsplit_once(") ").map(|(_, rest)| rest) else { continue };
            if after.split(' ').nth(1) != Some(me.as_str()) {
                continue;
            }
            let comm = fs_err::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if comm.trim() == "docker-registry" {
                continue;
            }
            let cmdline = fs_err::read(entry.path().join("cmdline")).unwrap_or_default();
            left.push(format!("{} {}", entry.file_name().to_string_lossy(), String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mounts under the store root or in /dev/shm/strata-*.
fn leftover_mounts(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().into_owned();
    fs_err::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|target| target.starts_with(&root) || target.starts_with("/dev/shm/strata-"))
        .map(str::to_owned)
        .collect()
}

fn assert_verify_clean(root: &TestRoot, context: &str) {
    let verify = root.run(&["cache", "verify"]);
    assert_eq!(verify.code, Some(0), "{context}: verify is not clean:\n{}\n{}", verify.stdout, verify.stderr);
}

/// The context: 300 files of 2 kB (hashing and COPY take a while) and
/// `files/n.txt`, which each build changes.
fn write_context(root: &TestRoot) -> PathBuf {
    let files: Vec<(String, String)> = (0..300).map(|i| (format!("files/d{:02}/f{i:04}", i % 30), format!("{i:>2048}"))).collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    root.write_context(DOCKERFILE, &refs)
}

/// The phase a killed build was in: its last progress line, shortened.
fn phase(log: &str) -> String {
    let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(nothing printed)");
    let words: Vec<&str> = last.split_whitespace().take(6).collect();
    words.join(" ")
}

struct Chaos<'a> {
    root: &'a TestRoot,
    context: PathBuf,
    registry: &'a Registry,
}

impl Chaos<'_> {
    fn start(&self, n: usize) -> Child {
        fs_err::write(self.context.join("files/n.txt"), format!("{n}\n")).unwrap();
        let out = self.root.scratch(&format!("out-{n}.tar"));
        let tag = format!("{}/chaos:latest", self.registry.host());
        let args = [
            "build",
            "--progress",
            "plain",
            "--build-arg",
            &format!("N={n}"),
            "-t",
            &tag,
            "--push",
            "--output",
            &format!("type=oci,dest={}", out.display()),
            self.context.to_str().unwrap(),
        ];
        self.root.command(&args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("start strata build")
    }

    fn build(&self, n: usize) -> (bool, String, Duration) {
        let started = Instant::now();
        let output = self.start(n).wait_with_output().unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned(), started.elapsed())
    }
}

#[test]
fn sigkill_at_random_moments() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    adopt_orphans();
    let seed = seed();
    println!("chaos seed: {seed} (STRATA_CHAOS_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let root = TestRoot::new();
    root.busybox();
    let registry = Registry::start();
    let context = write_context(&root);
    let chaos = Chaos { root: &root, context, registry: &registry };
    let (ok, log, whole) = chaos.build(0);
    assert!(ok, "the first build fails:\n{log}");
    let window = whole.as_millis() as u64 + 200;
    println!("a whole build takes {whole:?}; kills fall in the first {window} ms");

    let mut phases = Vec::new();
    let started = Instant::now();
    let mut latest: Option<String> = None;
    let kills: usize = std::env::var("STRATA_CHAOS_KILLS").map_or(30, |n| n.parse().expect("STRATA_CHAOS_KILLS is a number"));
    for kill in 1..=kills {
        let n = kill;
        let delay = Duration::from_millis(rng.below(window));
        let mut child = chaos.start(n);
        std::thread::sleep(delay);
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&output.stderr).into_owned();
        let killed = !output.status.success();
        let at = format!("kill {kill} at {delay:?} (seed {seed})");
        assert!(!log.contains("panicked"), "{at}: the build panicked:\n{log}");
        phases.push(format!("{:>5} ms {} {}", delay.as_millis(), if killed { "killed:" } else { "done before the kill:" }, phase(&log)));

        let checks = Instant::now();
        let left = leftover_children();
        let waited = checks.elapsed();
        assert!(left.is_empty(), "{at}: processes left: {left:?}\n{log}");
        assert_verify_clean(&root, &at);
        let mounts = leftover_mounts(&root.root);
        assert!(mounts.is_empty(), "{at}: mounts left: {mounts:?}");
        let verified = checks.elapsed();
        let (ok, again, rebuilt) = chaos.build(n);
        println!("kill {kill}: children gone after {waited:?}, verified after {verified:?}, rebuilt in {rebuilt:?}");
        assert!(ok, "{at}: the same build afterwards fails:\n{again}");
        // The previous image and its cache go, so verify's work stays flat.
        let id = again.lines().find_map(|l| l.strip_prefix("writing image ").and_then(|r| r.strip_suffix(" done"))).map(str::to_owned);
        if let Some(previous) = std::mem::replace(&mut latest, id) {
            root.ok(&["rmi", &previous]);
            root.ok(&["cache", "prune", "-f"]);
        }
    }
    assert_verify_clean(&root, "the end");
    println!("{kills} kills in {:?}:\n{}", started.elapsed(), phases.join("\n"));
}

#[test]
fn concurrent_builds_and_a_prune_loop() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let root = TestRoot::new();
    root.busybox();
    let dockerfile = "\
FROM busybox:latest
ARG I
RUN --mount=type=cache,target=/cache,id=shared mkdir -p /cache/d && echo $I > /cache/d/$I && head -c 2000000 /dev/urandom > /r
RUN cat /r /r > /rr && echo $I > /i
";
    let contexts: Vec<PathBuf> = (0..8)
        .map(|i| {
            let dir = root.scratch(&format!("ctx-{i}"));
            fs_err::create_dir_all(&dir).unwrap();
            fs_err::write(dir.join("Dockerfile"), dockerfile).unwrap();
            dir
        })
        .collect();
    let building = AtomicBool::new(true);
    let prunes = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let pruner = scope.spawn(|| {
            while building.load(Ordering::SeqCst) {
                let run = root.run(&["cache", "prune", "--all", "-f"]);
                assert_eq!(run.code, Some(0), "prune during builds:\n{}\n{}", run.stdout, run.stderr);
                prunes.fetch_add(1, Ordering::SeqCst);
            }
        });
        let builds: Vec<_> = contexts
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let root = &root;
                scope.spawn(move || {
                    let arg = format!("I={i}");
                    let tag = format!("concurrent:{i}");
                    root.run(&["build", "--progress", "plain", "--build-arg", &arg, "-t", &tag, dir.to_str().unwrap()])
                })
            })
            .collect();
        let runs: Vec<_> = builds.into_iter().map(|b| b.join().unwrap()).collect();
        building.store(false, Ordering::SeqCst);
        pruner.join().unwrap();
        for run in runs {
            run.success();
        }
    });
    let _ = std::io::stdout().flush();
    println!("{} prunes ran during the builds", prunes.load(Ordering::SeqCst));
    assert!(prunes.load(Ordering::SeqCst) >= 2, "the prune loop ran during the builds");
    assert_verify_clean(&root, "after the concurrent builds");
    for i in 0..8 {
        root.inspect(&format!("concurrent:{i}"));
    }
    for i in [0, 7] {
        let rootfs = root.rootfs(&format!("concurrent:{i}"));
        assert_eq!(fs_err::read_to_string(rootfs.join("i")).unwrap(), format!("{i}\n"));
        assert_eq!(fs_err::metadata(rootfs.join("rr")).unwrap().len(), 4_000_000);
    }
}
