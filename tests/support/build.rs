//! Builds through the real binary: the busybox base image, a build context
//! written from `(path, content)` pairs, `strata build`, and the unpacked
//! root filesystem or layer listings of the result (through `strata save`
//! and umoci/tar, so the exported form is what is checked).
//!
//! One helper, so every build test reads as its Dockerfile and its checks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{busybox_rootfs, listing, tar_dir, Run, TestRoot};

/// The environment of the base, as Docker's busybox image has it.
pub const BASE_PATH: &str = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TestRoot {
    /// Imports `busybox:latest`: [`busybox_rootfs`] plus every applet as a
    /// link in `/bin`, a user `app` (1000:1000) and `/etc/group`. Returns its ID.
    pub fn busybox(&self) -> String {
        self.busybox_as("busybox:latest", &[])
    }

    /// Like [`TestRoot::busybox`] under another name, with extra `-c` changes
    /// (a distinct image: its config differs).
    pub fn busybox_as(&self, name: &str, changes: &[&str]) -> String {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let rootfs = self.scratch(&format!("busybox-rootfs-{n}"));
        busybox_rootfs(&rootfs);
        // The host's busybox (the same binary): executing the fresh copy can
        // fail with ETXTBSY while another test thread forks.
        let list = Command::new("busybox").arg("--list").output().expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let link = rootfs.join("bin").join(applet);
            if applet != "busybox" && fs_err::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink("busybox", link).expect("link applet");
            }
        }
        fs_err::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n").unwrap();
        fs_err::write(rootfs.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
        let tarball = self.scratch(&format!("busybox-{n}.tar.gz"));
        tar_dir(&rootfs, &tarball, true);
        fs_err::remove_dir_all(&rootfs).expect("remove the rootfs");
        let mut extra = vec!["-c", BASE_PATH];
        for change in changes {
            extra.extend_from_slice(&["-c", change]);
        }
        self.import(&tarball, name, &extra)
    }

    /// The build context directory (one per test root, kept between builds
    /// so the cache and `--explain` see the same Dockerfile and files).
    pub fn context_dir(&self) -> PathBuf {
        self.scratch("context")
    }

    /// Writes `files` into the context (parents created; other files left
    /// as they are) and the Dockerfile when `dockerfile` is not empty.
    pub fn write_context(&self, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.context_dir();
        fs_err::create_dir_all(&dir).expect("create the context");
        if !dockerfile.is_empty() {
            fs_err::write(dir.join("Dockerfile"), dockerfile).expect("write the Dockerfile");
        }
        for (path, content) in files {
            let path = dir.join(path);
            fs_err::create_dir_all(path.parent().unwrap()).expect("create a context dir");
            fs_err::write(&path, content).expect("write a context file");
        }
        dir
    }

    /// Writes the context as [`TestRoot::write_context`] does, then runs
    /// `strata build --progress plain ARGS… CONTEXT`.
    pub fn build(&self, dockerfile: &str, files: &[(&str, &str)], args: &[&str]) -> Run {
        let dir = self.write_context(dockerfile, files);
        let dir = dir.to_str().expect("UTF-8 temp path").to_owned();
        let mut all = vec!["build", "--progress", "plain"];
        all.extend_from_slice(args);
        all.push(&dir);
        self.run(&all)
    }

    /// `strata save --format oci-dir` then `umoci unpack`: the image's root
    /// filesystem as a directory.
    pub fn rootfs(&self, image: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("unpack-{n}");
        self.ok(&["tag", image, &format!("unpack:{tag}")]);
        let layout = self.scratch(&format!("layout-{n}"));
        self.ok(&["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), &format!("unpack:{tag}")]);
        let bundle = self.scratch(&format!("bundle-{n}"));
        let output = Command::new("umoci")
            .args(["unpack", "--image", &format!("{}:{tag}", layout.display()), bundle.to_str().unwrap()])
            .output()
            .expect("run umoci (tests/deps.sh installs it)");
        assert!(output.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&output.stderr));
        self.ok(&["rmi", &format!("unpack:{tag}")]);
        bundle.join("rootfs")
    }

    /// Each layer of the image as a tar listing ([`listing::layer`]), base
    /// first, from `strata save --format oci-archive` (times left out).
    pub fn layers(&self, image: &str) -> Vec<String> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let archive = self.scratch(&format!("archive-{n}.tar"));
        self.ok(&["save", "--format", "oci-archive", "-o", archive.to_str().unwrap(), image]);
        let dir = self.scratch(&format!("archive-{n}"));
        fs_err::create_dir_all(&dir).unwrap();
        let status = Command::new("tar").arg("-xf").arg(&archive).arg("-C").arg(&dir).status().expect("run tar");
        assert!(status.success(), "untar the oci-archive");
        let manifest: serde_json::Value = serde_json::from_slice(&fs_err::read(dir.join("manifest.json")).unwrap()).unwrap();
        let layers = manifest[0]["Layers"].as_array().expect("manifest.json lists layers");
        layers
            .iter()
            .map(|layer| {
                let bytes = fs_err::read(dir.join(layer.as_str().unwrap())).unwrap();
                let plain = decompress(&bytes);
                without_times(&listing::layer(&plain).unwrap())
            })
            .collect()
    }
}

/// gzip or zstd or plain tar bytes, uncompressed.
fn decompress(bytes: &[u8]) -> Vec<u8> {
    let tool = match bytes {
        [0x1f, 0x8b, ..] => "gzip",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd",
        _ => return bytes.to_vec(),
    };
    let mut child =
        Command::new(tool).args(["-dc"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().expect("run the decompressor");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output.stdout
}

/// A listing with ` mtime=N` removed (builds set times to now).
pub fn without_times(text: &str) -> String {
    let re = regex::Regex::new(r" mtime=\d+").unwrap();
    re.replace_all(text, "").into_owned()
}

/// The tree under `dir` ([`listing::tree`]) without times.
pub fn tree(dir: &Path) -> String {
    without_times(&listing::tree(dir).expect("list the tree"))
}

/// Compares `actual` with `testdata/build/<case>/<file>`; `STRATA_BLESS=1`
/// writes it instead.
pub fn golden(case: &str, file: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/build").join(case).join(file);
    if std::env::var_os("STRATA_BLESS").is_some() {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, actual).unwrap();
        return;
    }
    let expected = fs_err::read_to_string(&path).unwrap_or_else(|_| panic!("{} is missing: run with STRATA_BLESS=1", path.display()));
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual);
        panic!("{} differs (STRATA_BLESS=1 rewrites it):\n{}", path.display(), diff.unified_diff().header("expected", "actual"));
    }
}

/// The number of `#N CACHED` lines of a plain progress log.
pub fn cached_steps(log: &str) -> usize {
    log.lines().filter(|l| l.starts_with('#') && l.ends_with(" CACHED")).count()
}

/// The number of step header lines (`#N [stage i/n] …`) of a plain log.
pub fn steps(log: &str) -> usize {
    log.lines().filter(|l| l.starts_with('#') && l.split_once(' ').is_some_and(|(_, rest)| rest.starts_with('['))).count()
}

/// The image ID of a build's log (`writing image sha256:… done`).
pub fn image_id(run: &Run) -> String {
    run.stderr
        .lines()
        .find_map(|l| l.strip_prefix("writing image ").and_then(|r| r.strip_suffix(" done")))
        .unwrap_or_else(|| panic!("no image ID in:\n{}", run.stderr))
        .to_owned()
}
