//! What the integration tests share: [`TestRoot`] (a store in a temporary
//! directory, driven through the real `strata` binary), rootfs and tarball
//! builders, store state snapshots, the tree spec language ([`spec`]) and the
//! text listings golden files hold ([`listing`]).
//!
//! Each test binary includes this module with `mod support;` and uses part
//! of it, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod build;
pub mod disk;
pub mod docker;
pub mod listing;
pub mod registry;
pub mod rootless;
pub mod spec;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A store root in a fresh temporary directory, with scratch space beside it.
pub struct TestRoot {
    dir: TempDir,
    pub root: PathBuf,
    /// Run strata as this unprivileged user ([`TestRoot::rootless`]).
    pub user: Option<&'static str>,
}

/// The outcome of one `strata` run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub args: Vec<String>,
}

impl Run {
    pub fn from_output(args: &[&str], output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Panics unless the run exited 0.
    pub fn success(self) -> Run {
        assert_eq!(self.code, Some(0), "strata {:?} failed:\nstdout:\n{}\nstderr:\n{}", self.args, self.stdout, self.stderr);
        self
    }

    /// Panics unless the run exited 1 with an error message.
    pub fn failure(self) -> Run {
        assert_eq!(self.code, Some(1), "strata {:?} should exit 1:\nstdout:\n{}\nstderr:\n{}", self.args, self.stdout, self.stderr);
        assert!(!self.stderr.trim().is_empty(), "strata {:?} failed without a message", self.args);
        self
    }

    /// stderr without miette's decoration and line wrapping.
    pub fn message(&self) -> String {
        flatten_report(&self.stderr)
    }

    /// Panics unless the error message contains `expected`. Whitespace is
    /// ignored: miette wraps long lines, even inside a long word.
    pub fn says(self, expected: &str) -> Run {
        let squeeze = |text: &str| flatten_report(text).replace(' ', "");
        assert!(squeeze(&self.stderr).contains(&squeeze(expected)), "strata {:?}: expected the message {expected:?} in:\n{}", self.args, self.stderr);
        self
    }
}

/// Removes miette's box drawing and joins wrapped lines, so a message can be
/// compared with the error's one-line `Display`.
pub fn flatten_report(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if "×│╰─▶╭┬·┴╯".contains(c) { ' ' } else { c }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What the store holds on disk: blob and snapshot names, and `tmp/` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreState {
    pub blobs: BTreeSet<String>,
    pub snapshots: BTreeSet<String>,
}

impl TestRoot {
    pub fn new() -> TestRoot {
        let dir = tempfile::Builder::new().prefix("strata-test-").tempdir().expect("create a temporary directory");
        let root = dir.path().join("root");
        TestRoot { dir, root, user: None }
    }

    /// A store at `root` (e.g. on a small filesystem), with scratch space
    /// in a fresh temporary directory.
    pub fn with_root(root: PathBuf) -> TestRoot {
        let dir = tempfile::Builder::new().prefix("strata-test-").tempdir().expect("create a temporary directory");
        TestRoot { dir, root, user: None }
    }

    /// A path in the scratch space beside the store.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `strata --root <root> ARGS…`, not started.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = match self.user {
            Some(user) => rootless::command_as(user, self.dir.path()),
            None => Command::new(strata_binary()),
        };
        command.arg("--root").arg(&self.root).args(args).env("NO_COLOR", "1").env_remove("SOURCE_DATE_EPOCH");
        command
    }

    /// Runs strata to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run strata");
        Run::from_output(args, output)
    }

    /// Runs strata, panicking unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.run(args).success().stdout
    }

    /// Imports `tarball` as `name`; returns the image ID printed.
    pub fn import(&self, tarball: &Path, name: &str, extra: &[&str]) -> String {
        let path = tarball.to_str().expect("UTF-8 temp path");
        let mut args = vec!["import"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[path, name]);
        self.ok(&args).trim().to_owned()
    }

    /// The image's `inspect` document.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", name]);
        let mut documents: Vec<serde_json::Value> = serde_json::from_str(&out).expect("inspect prints a JSON array");
        assert_eq!(documents.len(), 1, "one document per image");
        documents.remove(0)
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    pub fn state(&self) -> StoreState {
        StoreState { blobs: names(&self.blobs_dir()), snapshots: names(&self.snapshots_dir()) }
    }

    /// The entries of `tmp/`.
    pub fn tmp_entries(&self) -> BTreeSet<String> {
        names(&self.root.join("tmp"))
    }

    /// Checks what a reader may see: every blob hashes to its name, and every
    /// snapshot directory is named by a digest.
    pub fn assert_no_partial_blobs(&self) {
        for name in names(&self.blobs_dir()) {
            assert!(is_hex_digest(&name), "stray file in blobs/sha256: {name}");
            let actual = sha256_file(&self.blobs_dir().join(&name));
            assert_eq!(actual, name, "blob {name} does not hash to its name: partial or corrupt");
        }
        for name in names(&self.snapshots_dir()) {
            assert!(is_hex_digest(&name), "stray entry in snapshots/: {name}");
            assert!(self.snapshots_dir().join(&name).is_dir(), "snapshot {name} is not a directory");
        }
    }
}

/// The binary under test: `$STRATA_BIN` when set (a copy taken right after
/// the build, or an installed strata), else the one cargo built.
pub fn strata_binary() -> PathBuf {
    std::env::var_os("STRATA_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_strata")), PathBuf::from)
}

/// Sorted entry names of `dir` (empty when it does not exist).
pub fn names(dir: &Path) -> BTreeSet<String> {
    match fs_err::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.expect("readable entry").file_name().to_string_lossy().into_owned()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    }
}

pub fn is_hex_digest(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The sha256 of a file, in hex. Uses `sha256sum`: the test binaries are
/// unoptimised, and stores hold blobs of hundreds of megabytes.
pub fn sha256_file(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().expect("run sha256sum (coreutils)");
    assert!(output.status.success(), "sha256sum {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// The sha256 of `bytes`, in hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Packs `dir` into a tarball at `out` with GNU tar (`gzip`: compressed).
pub fn tar_dir(dir: &Path, out: &Path, gzip: bool) {
    let mut command = Command::new("tar");
    command.arg("--numeric-owner").arg("--sort=name").arg("-C").arg(dir).arg(if gzip { "-czf" } else { "-cf" }).arg(out).arg(".");
    let output = command.output().expect("run tar");
    assert!(output.status.success(), "tar {}: {}", dir.display(), String::from_utf8_lossy(&output.stderr));
}

/// Where busybox comes from (Debian package busybox-static).
pub const BUSYBOX: &str = "/usr/bin/busybox";

/// A minimal busybox root filesystem at `dir`: the static binary, a few
/// applet links, `/etc/passwd` and a sticky `/tmp`.
pub fn busybox_rootfs(dir: &Path) {
    let binary = Path::new(BUSYBOX);
    assert!(binary.is_file(), "{BUSYBOX} is missing: run `bash tests/deps.sh` (installs busybox-static)");
    for sub in ["bin", "etc", "tmp", "root"] {
        fs_err::create_dir_all(dir.join(sub)).expect("create rootfs dir");
    }
    fs_err::copy(binary, dir.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "ls", "cat", "echo", "true"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).expect("link applet");
    }
    fs_err::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("write passwd");
    set_mode(&dir.join("tmp"), 0o1777);
    set_mode(&dir.join("root"), 0o700);
}

/// A busybox rootfs packed as a gzip tarball at `out`.
pub fn busybox_tarball(scratch: &Path, out: &Path) {
    let rootfs = scratch.join(format!("rootfs-{}", out.file_name().unwrap_or_default().to_string_lossy()));
    busybox_rootfs(&rootfs);
    tar_dir(&rootfs, out, true);
}

/// A tiny rootfs tarball (one directory, one file) at `out`.
pub fn tiny_tarball(scratch: &Path, out: &Path, content: &str) {
    let rootfs = scratch.join(format!("tiny-{}", out.file_name().unwrap_or_default().to_string_lossy()));
    fs_err::create_dir_all(rootfs.join("etc")).expect("create tiny rootfs");
    fs_err::write(rootfs.join("etc/hostname"), content).expect("write tiny rootfs");
    tar_dir(&rootfs, out, true);
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A large rootfs at `dir`: `files` files of random data in 50 directories,
/// `total` bytes in all (sizes vary, so files end mid-block).
pub fn random_rootfs(dir: &Path, files: usize, total: u64) {
    use std::io::Read;
    let mut random = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
    let average = total / files as u64;
    for index in 0..files {
        let sub = dir.join(format!("d{:02}", index % 50));
        fs_err::create_dir_all(&sub).expect("create dir");
        // Sizes from 1/2 to 3/2 of the average, deterministic per index.
        let size = average / 2 + (index as u64 * 7919 % average);
        let mut file = std::fs::File::create(sub.join(format!("f{index:05}"))).expect("create file");
        std::io::copy(&mut (&mut random).take(size), &mut file).expect("write random data");
    }
}
