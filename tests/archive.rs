//! `strata save` and `strata load` against the tools that read OCI layouts
//! and Docker archives: oci-image-tool, skopeo and umoci (install them with
//! `bash tests/deps.sh`). The tests run as root (owners, setuid bits and
//! fifos must survive) and fail, never skip, when a tool is missing.
//!
//! Every test imports the same rootfs (Debian's static busybox with
//! symlinks, a hard link, a setuid file, a fifo, a `user.` xattr and files
//! owned by another user) into a fresh store and checks what comes out.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use strata::layer::{write_layer, Compression, WriteOptions};

const STRATA: &str = env!("CARGO_BIN_EXE_strata");
const NAME: &str = "busybox:1.35";
const TAG: &str = "1.35";

/// A temp directory holding the input rootfs and a store with it imported.
struct Fixture {
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        assert!(nix::unistd::geteuid().is_root(), "the archive tests run as root (owners, setuid bits, fifos)");
        let dir = tempfile::tempdir().expect("temp dir");
        let rootfs = dir.path().join("rootfs");
        build_rootfs(&rootfs);
        let tarball = dir.path().join("rootfs.tar.gz");
        let file = fs::File::create(&tarball).unwrap();
        write_layer(&rootfs, file, &WriteOptions { compression: Compression::Gzip, source_date_epoch: None }).unwrap();
        let root = dir.path().join("store");
        strata(&root, &["import", tarball.to_str().unwrap(), NAME]);
        Fixture { dir, rootfs, root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A fresh, empty store beside the first.
    fn other_root(&self, name: &str) -> PathBuf {
        self.path(name)
    }
}

/// The input tree: everything an image layer must carry faithfully.
fn build_rootfs(rootfs: &Path) {
    for dir in ["bin", "etc", "run", "tmp", "var/empty", "usr/share/a-directory-name-long-enough-to-need-pax-records-in-a-tar-header/sub"] {
        fs_err::create_dir_all(rootfs.join(dir)).unwrap();
    }
    fs_err::set_permissions(rootfs, fs::Permissions::from_mode(0o755)).unwrap();
    fs_err::copy("/usr/bin/busybox", rootfs.join("bin/busybox")).expect("/usr/bin/busybox (apt-get install busybox-static)");
    fs_err::set_permissions(rootfs.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::os::unix::fs::symlink("/bin/busybox", rootfs.join("bin/ls")).unwrap();
    fs_err::hard_link(rootfs.join("bin/busybox"), rootfs.join("bin/hardlinked")).unwrap();
    fs_err::copy("/usr/bin/busybox", rootfs.join("bin/su")).unwrap();
    fs_err::set_permissions(rootfs.join("bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs_err::write(rootfs.join("etc/motd"), "hello from strata\n").unwrap();
    fs_err::set_permissions(rootfs.join("etc/motd"), fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(rootfs.join("etc/motd"), Some(1000), Some(1000)).unwrap();
    xattr::set(rootfs.join("etc/motd"), "user.test", b"strata").unwrap();
    fs_err::write(rootfs.join("etc/empty"), "").unwrap();
    nix::unistd::mkfifo(&rootfs.join("run/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    fs_err::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs_err::set_permissions(rootfs.join("var/empty"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(rootfs.join("var/empty"), Some(33), Some(33)).unwrap();
    let long = "usr/share/a-directory-name-long-enough-to-need-pax-records-in-a-tar-header/sub/and-a-long-file-name.txt";
    fs_err::write(rootfs.join(long), "long\n").unwrap();
}

/// One line per path: type, mode, owner, size and content digest or link
/// target, `user.` xattrs, and for hard links the first path of the inode.
fn listing(root: &Path) -> String {
    let mut lines = BTreeMap::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    walk(root, root, &mut lines, &mut inodes);
    lines.into_iter().map(|(path, line)| format!("{path} {line}\n")).collect()
}

fn walk(root: &Path, dir: &Path, lines: &mut BTreeMap<String, String>, inodes: &mut HashMap<(u64, u64), String>) {
    let mut children: Vec<_> = fs_err::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    children.sort();
    for path in children {
        let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let meta = fs_err::symlink_metadata(&path).unwrap();
        let kind = meta.file_type();
        let mut line = format!("mode={:o} owner={}:{}", meta.mode() & 0o7777, meta.uid(), meta.gid());
        if kind.is_symlink() {
            line = format!("symlink owner={}:{} -> {}", meta.uid(), meta.gid(), fs_err::read_link(&path).unwrap().display());
        } else if kind.is_dir() {
            line = format!("dir {line}");
        } else if kind.is_fifo() {
            line = format!("fifo {line}");
        } else if kind.is_file() {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = inodes.get(&key).filter(|_| meta.nlink() > 1) {
                line = format!("file {line} hardlink-of={first}");
            } else {
                inodes.insert(key, rel.clone());
                let digest = hex(&Sha256::digest(fs_err::read(&path).unwrap()));
                line = format!("file {line} size={} sha256={digest}", meta.len());
            }
        } else {
            line = format!("other {line}");
        }
        if !kind.is_symlink() {
            let mut names: Vec<_> = xattr::list(&path).unwrap().filter(|n| n.to_string_lossy().starts_with("user.")).collect();
            names.sort();
            for name in names {
                let value = xattr::get(&path, &name).unwrap().unwrap_or_default();
                line.push_str(&format!(" xattr:{}={}", name.to_string_lossy(), String::from_utf8_lossy(&value)));
            }
        }
        lines.insert(rel, line);
        if kind.is_dir() {
            walk(root, &path, lines, inodes);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a tool and returns its output; a missing tool or a failure fails the test.
fn run(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {shown}: {e} (install the test tools with `bash tests/deps.sh`)"));
    assert!(
        output.status.success(),
        "{shown} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn strata(root: &Path, args: &[&str]) -> Output {
    run(Command::new(STRATA).arg("--root").arg(root).args(args))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `strata inspect IMAGE` as JSON.
fn inspect(root: &Path, image: &str) -> Value {
    let documents: Value = serde_json::from_slice(&strata(root, &["inspect", image]).stdout).unwrap();
    documents[0].clone()
}

fn image_id(root: &Path, image: &str) -> String {
    inspect(root, image)["Id"].as_str().unwrap().to_owned()
}

/// `umoci unpack`s `layout:tag` and asserts its rootfs equals the input tree.
fn assert_unpacks_to_input(fixture: &Fixture, layout: &Path, tag: &str, bundle: &str) {
    let bundle = fixture.path(bundle);
    run(Command::new("umoci").arg("unpack").arg("--image").arg(format!("{}:{tag}", layout.display())).arg(&bundle));
    assert_eq!(listing(&bundle.join("rootfs")), listing(&fixture.rootfs), "umoci's rootfs differs from the input tree");
}

/// The names and contents of a tar's regular files.
fn tar_files(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            files.insert(name, bytes);
        }
    }
    files
}

#[test]
fn oci_dir_passes_the_oci_tools_and_unpacks_to_the_input_tree() {
    let fixture = Fixture::new();
    let layout = fixture.path("layout");
    strata(&fixture.root, &["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), NAME]);

    let validated = run(Command::new("oci-image-tool").args(["validate", "--type", "image", "--ref"]).arg(format!("name={TAG}")).arg(&layout));
    assert!(stdout(&validated).contains("Validation succeeded"), "{}", stdout(&validated));

    let skopeo = run(Command::new("skopeo").arg("inspect").arg(format!("oci:{}:{TAG}", layout.display())));
    let skopeo: Value = serde_json::from_slice(&skopeo.stdout).unwrap();
    let ours = inspect(&fixture.root, NAME);
    assert_eq!(skopeo["Digest"], ours["Manifest"]["Digest"]);
    assert_eq!(skopeo["Layers"][0], ours["Layers"][0]["Digest"]);

    let index: Value = serde_json::from_slice(&fs_err::read(layout.join("index.json")).unwrap()).unwrap();
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(annotations["org.opencontainers.image.ref.name"], TAG);
    assert_eq!(annotations["io.containerd.image.name"], "docker.io/library/busybox:1.35");

    assert_unpacks_to_input(&fixture, &layout, TAG, "bundle");
}

#[test]
fn oci_dir_refuses_a_directory_that_is_not_empty() {
    let fixture = Fixture::new();
    let layout = fixture.path("occupied");
    fs_err::create_dir(&layout).unwrap();
    fs_err::write(layout.join("keep"), "mine").unwrap();
    let output =
        Command::new(STRATA).arg("--root").arg(&fixture.root).args(["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), NAME]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not empty"));
    assert_eq!(fs_err::read_to_string(layout.join("keep")).unwrap(), "mine");
}

#[test]
fn docker_archive_has_the_classic_layout_and_skopeo_reads_it() {
    let fixture = Fixture::new();
    let archive = fixture.path("busybox.tar");
    strata(&fixture.root, &["save", "-o", archive.to_str().unwrap(), NAME]);

    let ours = inspect(&fixture.root, NAME);
    let config_hex = ours["Id"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let diff_id = ours["RootFS"]["diff_ids"][0].as_str().unwrap().to_owned();
    let diff_hex = diff_id.trim_start_matches("sha256:");
    let files = tar_files(&archive);
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    assert_eq!(
        manifest,
        serde_json::json!([{
            "Config": format!("{config_hex}.json"),
            "RepoTags": [NAME],
            "Layers": [format!("{diff_hex}/layer.tar")],
        }])
    );
    assert_eq!(hex(&Sha256::digest(&files[&format!("{config_hex}.json")])), config_hex, "config kept byte for byte");
    assert_eq!(hex(&Sha256::digest(&files[&format!("{diff_hex}/layer.tar")])), diff_hex, "layer.tar is the uncompressed layer");
    let repositories: Value = serde_json::from_slice(&files["repositories"]).unwrap();
    assert_eq!(repositories, serde_json::json!({ "busybox": { TAG: diff_hex } }));

    let skopeo = run(Command::new("skopeo").arg("inspect").arg(format!("docker-archive:{}", archive.display())));
    let skopeo: Value = serde_json::from_slice(&skopeo.stdout).unwrap();
    assert_eq!(skopeo["Architecture"], ours["Architecture"]);
    let copied = fixture.path("copied");
    run(Command::new("skopeo").args(["copy", "-q"]).arg(format!("docker-archive:{}", archive.display())).arg(format!("oci:{}:t", copied.display())));
    assert_unpacks_to_input(&fixture, &copied, "t", "bundle");
}

#[test]
fn docker_archive_round_trips_through_load() {
    let fixture = Fixture::new();
    let archive = fixture.path("busybox.tar");
    strata(&fixture.root, &["save", "-o", archive.to_str().unwrap(), NAME]);
    let fresh = fixture.other_root("fresh");
    let loaded = strata(&fresh, &["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(stdout(&loaded), format!("Loaded image: {NAME}\n"));
    assert_loaded(&fixture, &fresh);
    assert_tree_survives(&fixture, &fresh, "docker");

    // Loading again reuses the layer and changes nothing.
    let again = strata(&fresh, &["load", "-i", archive.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_loaded(&fixture, &fresh);
}

#[test]
fn oci_archive_round_trips_through_load_from_standard_input() {
    let fixture = Fixture::new();
    let archive = fixture.path("busybox.oci.tar");
    let saved = strata(&fixture.root, &["save", "--format", "oci-archive", NAME]);
    fs_err::write(&archive, &saved.stdout).unwrap();
    let files = tar_files(&archive);
    for name in ["oci-layout", "index.json", "manifest.json"] {
        assert!(files.contains_key(name), "oci-archive lacks {name}: {:?}", files.keys().collect::<Vec<_>>());
    }
    run(Command::new("skopeo").arg("inspect").arg(format!("oci-archive:{}:{TAG}", archive.display())));

    let fresh = fixture.other_root("fresh");
    let mut load = Command::new(STRATA)
        .arg("--root")
        .arg(&fresh)
        .args(["load", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    load.stdin.take().unwrap().write_all(&saved.stdout).unwrap();
    let output = load.wait_with_output().unwrap();
    assert!(output.status.success(), "load failed: {output:?}");
    assert_eq!(stdout(&output), format!("Loaded image: {NAME}\n"));
    assert!(output.stderr.is_empty(), "-q printed: {}", String::from_utf8_lossy(&output.stderr));
    assert_loaded(&fixture, &fresh);
    assert_tree_survives(&fixture, &fresh, "oci");
}

#[test]
fn load_reads_the_archives_skopeo_writes() {
    let fixture = Fixture::new();
    let layout = fixture.path("layout");
    strata(&fixture.root, &["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), NAME]);
    let id = image_id(&fixture.root, NAME);
    for (transport, file) in [("docker-archive", "skopeo-docker.tar"), ("oci-archive", "skopeo-oci.tar")] {
        let archive = fixture.path(file);
        run(Command::new("skopeo")
            .args(["copy", "-q"])
            .arg(format!("oci:{}:{TAG}", layout.display()))
            .arg(format!("{transport}:{}:example.com/tools/busybox:v1", archive.display())));
        let fresh = fixture.other_root(&format!("fresh-{transport}"));
        let loaded = strata(&fresh, &["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(stdout(&loaded), "Loaded image: example.com/tools/busybox:v1\n", "{transport}");
        assert_eq!(image_id(&fresh, "example.com/tools/busybox:v1"), id, "{transport}");
    }
}

#[test]
fn an_image_saved_by_id_loads_unnamed() {
    let fixture = Fixture::new();
    let id = image_id(&fixture.root, NAME);
    let archive = fixture.path("by-id.tar");
    strata(&fixture.root, &["save", "-o", archive.to_str().unwrap(), &id[7..19]]);
    let fresh = fixture.other_root("fresh");
    let loaded = strata(&fresh, &["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(stdout(&loaded), format!("Loaded image ID: {id}\n"));
    assert_eq!(image_id(&fresh, &id), id);
}

#[test]
fn load_refuses_entries_outside_the_archive_and_cleans_up() {
    let fixture = Fixture::new();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    let name = b"../escaped";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    builder.append(&header, &b"evil"[..]).unwrap();
    let archive = fixture.path("evil.tar");
    fs_err::write(&archive, builder.into_inner().unwrap()).unwrap();

    let fresh = fixture.other_root("fresh");
    let output = Command::new(STRATA).arg("--root").arg(&fresh).args(["load", "-i", archive.to_str().unwrap()]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("refusing archive entry"), "{output:?}");
    assert!(!fresh.join("tmp/escaped").exists() && !fresh.join("escaped").exists());
    assert_eq!(fs_err::read_dir(fresh.join("tmp")).unwrap().count(), 0, "load left scratch files behind");
}

/// `fresh` holds the fixture's image under the same ID and name, listed by
/// `strata images`, and its layer unpacks (through an OCI layout) to the input tree.
fn assert_loaded(fixture: &Fixture, fresh: &Path) {
    let id = image_id(&fixture.root, NAME);
    assert_eq!(image_id(fresh, NAME), id);
    assert_eq!(inspect(fresh, NAME)["RepoTags"], serde_json::json!([NAME]));
    let images = stdout(&strata(fresh, &["images", "--no-trunc", "--format", "json"]));
    let rows: Vec<Value> = images.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1, "{images}");
    assert_eq!((rows[0]["Repository"].as_str(), rows[0]["Tag"].as_str(), rows[0]["ID"].as_str()), (Some("busybox"), Some(TAG), Some(id.as_str())));
    assert_eq!(fs_err::read_dir(fresh.join("tmp")).unwrap().count(), 0, "load left scratch files behind");
}

/// The loaded image, saved again as an OCI layout, unpacks to the input tree.
fn assert_tree_survives(fixture: &Fixture, fresh: &Path, label: &str) {
    let layout = fixture.path(&format!("layout-{label}"));
    strata(fresh, &["save", "--format", "oci-dir", "-o", layout.to_str().unwrap(), NAME]);
    assert_unpacks_to_input(fixture, &layout, TAG, &format!("bundle-{label}"));
}
