//! Hostile and damaged layer tarballs: every input under
//! `testdata/layer/hostile/` (made by `make.py` there) is one case, with
//! its expected outcome beside it: `<case>.err` (unpacking fails with this
//! message) or `<case>.tree` (unpacking succeeds with this tree listing).
//!
//! Two tests per case:
//! - `unpack::<case>`: `layer::unpack` into `dest/` inside a sandbox that
//!   also holds a sentinel file; afterwards the sandbox holds exactly those
//!   two, the sentinel is intact, `/etc/passwd` is untouched and nothing
//!   appeared in the directory the cases aim absolute paths at;
//! - `import::<case>`: `strata import` of the input into a store that
//!   already holds an image; a failure exits 1 with the message, leaves
//!   `tmp/` empty and blobs and snapshots as they were, and the store still
//!   lists its image.
//!
//! `STRATA_BLESS=1 cargo test --test hostile` rewrites the expected files.
//!
//! Then decompression bombs (`bomb::*`): a few kilobytes of zstd or gzip
//! holding a tar whose one file is 1 GiB of zeros (made streaming, never
//! written out whole), against a store on a 64 MB loop-mounted ext4. Import,
//! load (inside a docker-archive, and as the archive itself), ADD and the
//! first use of a pulled layer (pull stores the blob alone)
//! refuse it before writing it, naming the archive and the sizes; `tmp/` is
//! left empty and the filesystem's free space is what it was.

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use strata::layer;
use support::{listing, TestRoot};

/// Where cases aim absolute paths (see make.py); must stay empty.
const ESCAPE: &str = "/tmp/strata-hostile-escape";
const SENTINEL: &[u8] = b"must survive\n";

#[derive(Debug, Clone)]
struct Case {
    name: String,
    input: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Error(String),
    Tree(String),
}

fn main() {
    let args = Arguments::from_args();
    // An existing directory, so a write through a planted symlink would land
    // in it rather than fail for lack of a parent.
    fs_err::create_dir_all(ESCAPE).expect("create the escape canary directory");
    let mut trials = Vec::new();
    for case in cases() {
        let (a, b) = (case.clone(), case.clone());
        trials.push(Trial::test(format!("unpack::{}", case.name), move || unpack_case(&a)));
        trials.push(Trial::test(format!("import::{}", case.name), move || import_case(&b)));
    }
    trials.extend(bomb::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    // Only succeeds when empty; another run may still be using it.
    let _ = fs_err::remove_dir(ESCAPE);
    conclusion.exit();
}

fn hostile_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/layer/hostile")
}

/// Every input file (not the script or expected outcomes), sorted.
fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = support::names(&hostile_dir())
        .into_iter()
        .filter(|name| !name.ends_with(".err") && !name.ends_with(".tree") && !name.ends_with(".py"))
        .map(|file| Case { name: file.split('.').next().unwrap_or_default().to_owned(), input: hostile_dir().join(&file) })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(cases.len() >= 20, "hostile inputs are missing: run python3 testdata/layer/hostile/make.py");
    cases
}

impl Case {
    fn expected_path(&self, extension: &str) -> PathBuf {
        hostile_dir().join(format!("{}.{extension}", self.name))
    }

    fn expected(&self) -> Result<Outcome, Failed> {
        let (err, tree) = (self.expected_path("err"), self.expected_path("tree"));
        match (fs_err::read_to_string(&err), fs_err::read_to_string(&tree)) {
            (Ok(message), Err(_)) => Ok(Outcome::Error(message.trim_end().to_owned())),
            (Err(_), Ok(listing)) => Ok(Outcome::Tree(listing)),
            (Ok(_), Ok(_)) => Err(format!("{} has both a .err and a .tree", self.name).into()),
            (Err(_), Err(_)) => Err(format!("{}: no {} or {} (run with STRATA_BLESS=1 to create one)", self.name, err.display(), tree.display()).into()),
        }
    }

    fn bless(&self, outcome: &Outcome) -> Result<(), Failed> {
        let (write, remove, text) = match outcome {
            Outcome::Error(message) => ("err", "tree", format!("{message}\n")),
            Outcome::Tree(listing) => ("tree", "err", listing.clone()),
        };
        fs_err::write(self.expected_path(write), text)?;
        let _ = fs_err::remove_file(self.expected_path(remove));
        Ok(())
    }
}

fn blessing() -> bool {
    std::env::var_os("STRATA_BLESS").is_some_and(|v| v == "1")
}

fn unpack_case(case: &Case) -> Result<(), Failed> {
    let sandbox = tempfile::tempdir()?;
    let dest = sandbox.path().join("dest");
    fs_err::create_dir(&dest)?;
    fs_err::write(sandbox.path().join("sentinel"), SENTINEL)?;
    let passwd = passwd_state();

    let input = std::fs::File::open(&case.input)?;
    let outcome = match layer::unpack(input, &dest) {
        Err(error) => Outcome::Error(error.to_string()),
        Ok(_) => Outcome::Tree(listing::tree(&dest)?),
    };

    let left: BTreeSet<String> = support::names(sandbox.path());
    let expected_names: BTreeSet<String> = ["dest", "sentinel"].map(String::from).into();
    if left != expected_names {
        return Err(format!("the sandbox around dest/ changed: it holds {left:?}").into());
    }
    if fs_err::read(sandbox.path().join("sentinel"))? != SENTINEL {
        return Err("the sentinel beside dest/ was changed".into());
    }
    let escaped = support::names(Path::new(ESCAPE));
    if !escaped.is_empty() {
        return Err(format!("files appeared in {ESCAPE}: {escaped:?}").into());
    }
    if passwd_state() != passwd {
        return Err("/etc/passwd changed (content, link count or inode)".into());
    }

    if blessing() {
        return case.bless(&outcome);
    }
    let expected = case.expected()?;
    if outcome == expected {
        return Ok(());
    }
    Err(format!("expected {expected:?}\nactual   {outcome:?}").into())
}

fn import_case(case: &Case) -> Result<(), Failed> {
    let expected = case.expected()?;
    let root = TestRoot::new();
    let base = root.scratch("base.tar.gz");
    support::tiny_tarball(&root.scratch(""), &base, "base\n");
    root.import(&base, "base:1", &[]);
    let before = root.state();
    let input = case.input.to_str().ok_or("non-UTF-8 test data path")?;
    let run = root.run(&["import", input, "hostile:1"]);
    match expected {
        Outcome::Error(message) => {
            run.failure().says(&message);
            let tmp = root.tmp_entries();
            if !tmp.is_empty() {
                return Err(format!("the failed import left {tmp:?} in tmp/").into());
            }
            let images = root.ok(&["images"]);
            if !images.contains("base") || images.contains("hostile") {
                return Err(format!("after the failed import, `images` shows:\n{images}").into());
            }
            let after = root.state();
            if after != before {
                return Err(format!("the failed import changed the store:\nbefore {before:?}\nafter  {after:?}").into());
            }
        }
        Outcome::Tree(listing_text) => {
            run.success();
            let image = root.inspect("hostile:1");
            let diff_id = image["RootFS"]["diff_ids"][0].as_str().ok_or("inspect shows no diff_id")?;
            let snapshot = root.snapshots_dir().join(diff_id.trim_start_matches("sha256:"));
            let tree = listing::tree(&snapshot)?;
            if tree != listing_text {
                return Err(format!("the imported snapshot differs from {}.tree:\n{tree}", case.name).into());
            }
            if !root.tmp_entries().is_empty() {
                return Err("the import left files in tmp/".into());
            }
        }
    }
    Ok(())
}

/// Content, link count and inode of /etc/passwd.
fn passwd_state() -> (Vec<u8>, u64, u64) {
    let meta = fs_err::metadata("/etc/passwd").expect("stat /etc/passwd");
    (fs_err::read("/etc/passwd").expect("read /etc/passwd"), meta.nlink(), meta.ino())
}

mod bomb {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use libtest_mimic::{Failed, Trial};

    use crate::support::disk::SmallDisk;
    use crate::support::registry::Registry;
    use crate::support::{Run, TestRoot};

    /// What the bomb's one file declares: far beyond the 64 MB disk.
    const BOMB: u64 = 1 << 30;
    /// Where its data ends in the tar stream (after one 512-byte header).
    const END: u64 = BOMB + 512;

    pub fn trials() -> Vec<Trial> {
        vec![
            Trial::test("bomb::import_zstd", || import("zstd")),
            Trial::test("bomb::import_gzip", || import("gzip")),
            Trial::test("bomb::import_over_max_size", import_capped),
            Trial::test("bomb::load_layer_in_docker_archive", load_layer),
            Trial::test("bomb::load_archive_itself", load_archive),
            Trial::test("bomb::add", add),
            Trial::test("bomb::pull", pull),
        ]
    }

    /// A tar stream of one file `name` of `size` zeros, compressed by
    /// `tool` (`zstd` or `gzip`) into `out`; streamed, never held whole.
    pub fn make(out: &Path, tool: &str, name: &str, size: u64) {
        let file = std::fs::File::create(out).expect("create the bomb");
        let mut child =
            Command::new(tool).args(["-1", "-c"]).stdin(Stdio::piped()).stdout(file).spawn().expect("run the compressor (zstd, gzip: bash tests/deps.sh)");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut header = tar::Header::new_gnu();
        header.set_path(name).expect("a short name");
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        stdin.write_all(header.as_bytes()).expect("write the header");
        let zeros = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            stdin.write_all(&zeros[..n]).expect("stream zeros");
            left -= n as u64;
        }
        let padding = (512 - size % 512) % 512;
        stdin.write_all(&vec![0u8; padding as usize + 1024]).expect("end the archive");
        drop(stdin);
        assert!(child.wait().expect("wait for the compressor").success(), "{tool} failed");
    }

    /// A disk, a store on it (with `busybox` for builds when asked), and a
    /// bomb made with `tool` in the scratch space (off the disk).
    struct Setup {
        disk: SmallDisk,
        root: TestRoot,
        bomb: PathBuf,
    }

    impl Setup {
        fn new(tool: &str, name: &str, busybox: bool) -> Setup {
            let disk = SmallDisk::ext4(64);
            let root = disk.store();
            if busybox {
                root.busybox();
            } else {
                root.ok(&["images"]);
            }
            let bomb = root.scratch(&format!("bomb.tar.{}", if tool == "zstd" { "zst" } else { "gz" }));
            make(&bomb, tool, name, BOMB);
            Setup { disk, root, bomb }
        }

        fn bomb_path(&self) -> &str {
            self.bomb.to_str().expect("UTF-8 temp path")
        }

        /// Runs `attack`, which must fail saying each of `expected`, and
        /// checks that nothing was written: `tmp/` empty, the free space as before.
        fn refused(&self, attack: impl FnOnce() -> Run, expected: &[&str]) -> Result<(), Failed> {
            let before = self.disk.free();
            let mut run = attack().failure();
            for text in expected {
                run = run.says(text);
            }
            let tmp = self.root.tmp_entries();
            if !tmp.is_empty() {
                return Err(format!("the refused archive left {tmp:?} in tmp/").into());
            }
            let after = self.disk.free();
            // A few blocks for metadata, the stat cache and leases.
            if after + (4 << 20) < before {
                return Err(format!("free space fell from {before} to {after} bytes").into());
            }
            let verify = self.root.run(&["cache", "verify"]);
            if verify.code != Some(0) {
                return Err(format!("verify after the refusal:\n{}{}", verify.stdout, verify.stderr).into());
            }
            Ok(())
        }
    }

    fn import(tool: &str) -> Result<(), Failed> {
        let setup = Setup::new(tool, "big", false);
        let path = setup.bomb_path();
        setup.refused(
            || setup.root.run(&["import", path, "bomb:1"]),
            &[&format!("cannot import {path}"), &format!("entry \"big\" would end at byte {END} of the uncompressed stream"), "bytes free on the filesystem"],
        )
    }

    fn import_capped() -> Result<(), Failed> {
        let setup = Setup::new("zstd", "big", false);
        let path = setup.bomb_path();
        setup.refused(
            || setup.root.run(&["import", "--max-size", "10MB", path, "bomb:1"]),
            &[&format!("would end at byte {END}"), "beyond the limit of 10000000 bytes"],
        )
    }

    /// A docker-archive (plain tar) whose one layer is the bomb.
    fn load_layer() -> Result<(), Failed> {
        let setup = Setup::new("zstd", "big", false);
        let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
        let config_name = format!("{}.json", crate::support::sha256_bytes(config));
        let manifest = format!(r#"[{{"Config":"{config_name}","RepoTags":["bomb:1"],"Layers":["layer.tar"]}}]"#);
        let archive = setup.root.scratch("bomb-archive.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&archive)?);
        for (name, bytes) in [("manifest.json", manifest.into_bytes()), (config_name.as_str(), config.to_vec()), ("layer.tar", fs_err::read(&setup.bomb)?)] {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, name, &bytes[..])?;
        }
        tar.finish()?;
        drop(tar);
        let path = archive.to_str().ok_or("UTF-8 temp path")?.to_owned();
        setup.refused(|| setup.root.run(&["load", "-i", &path]), &["cannot unpack layer layer.tar", &format!("would end at byte {END}")])
    }

    /// The archive given to `load` is itself the bomb (a gzip'd tar whose
    /// `layer.tar` is 1 GiB).
    fn load_archive() -> Result<(), Failed> {
        let setup = Setup::new("gzip", "layer.tar", false);
        let path = setup.bomb_path();
        setup.refused(|| setup.root.run(&["load", "-i", path]), &["cannot unpack the archive", &format!("entry \"layer.tar\" would end at byte {END}")])
    }

    fn add() -> Result<(), Failed> {
        let setup = Setup::new("zstd", "big", true);
        let context = setup.root.write_context("FROM busybox:latest\nADD bomb.tar.zst /unpacked/\n", &[]);
        fs_err::copy(&setup.bomb, context.join("bomb.tar.zst"))?;
        setup.refused(
            || setup.root.build("", &[], &["-t", "bomb:1"]),
            &["cannot extract /bomb.tar.zst", &format!("entry \"big\" would end at byte {END}"), "bytes free"],
        )?;
        setup.refused(
            || setup.root.build("", &[], &["--max-add-size", "1MB", "-t", "bomb:1"]),
            &["cannot extract /bomb.tar.zst", "beyond the limit of 1000000 bytes"],
        )
    }

    /// An image whose layer is the bomb, pushed to a registry with skopeo
    /// from a hand-made OCI layout. `pull` stores the (small) blob alone;
    /// the layer is refused where it is unpacked, at its first use.
    fn pull() -> Result<(), Failed> {
        let setup = Setup::new("zstd", "big", false);
        let registry = Registry::start();
        let layout = setup.root.scratch("bomb-layout");
        let blobs = layout.join("blobs/sha256");
        fs_err::create_dir_all(&blobs)?;
        let put = |bytes: &[u8]| -> std::io::Result<(String, usize)> {
            let hex = crate::support::sha256_bytes(bytes);
            fs_err::write(blobs.join(&hex), bytes)?;
            Ok((format!("sha256:{hex}"), bytes.len()))
        };
        let (layer, layer_size) = put(&fs_err::read(&setup.bomb)?)?;
        let config = br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
        let (config, config_size) = put(config)?;
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd","digest":"{layer}","size":{layer_size}}}]}}"#
        );
        let (manifest, manifest_size) = put(manifest.as_bytes())?;
        fs_err::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
        fs_err::write(
            layout.join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"1"}}}}]}}"#
            ),
        )?;
        let reference = format!("{}/bomb:1", registry.host());
        let output = Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false", &format!("oci:{}:1", layout.display()), &format!("docker://{reference}")])
            .output()?;
        if !output.status.success() {
            return Err(format!("skopeo copy: {}", String::from_utf8_lossy(&output.stderr)).into());
        }
        setup.root.ok(&["pull", &reference]);
        setup.refused(
            || setup.root.run(&["run", "--rm", &reference, "--", "true"]),
            &[&format!("cannot unpack layer {layer}"), &format!("would end at byte {END}")],
        )
    }
}
