//! The image store through the CLI: `import`, `images`, `inspect`,
//! `history`, `tag` and `rmi` on a busybox rootfs (from /usr/bin/busybox,
//! Debian package busybox-static: `bash tests/deps.sh`), layer sharing,
//! name validation, concurrent imports, and SIGKILL during an import.

mod support;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::TestRoot;

/// A store holding one import of the busybox rootfs, tagged `busybox:1.35`.
struct Busybox {
    root: TestRoot,
    tarball: PathBuf,
    id: String,
}

const CHANGES: &[&str] = &["--change", "CMD [\"sh\"]", "--change", "ENV PATH=/bin", "--message", "busybox from Debian"];

fn busybox() -> Busybox {
    let root = TestRoot::new();
    let tarball = root.scratch("busybox.tar.gz");
    support::busybox_tarball(&root.scratch(""), &tarball);
    let id = root.import(&tarball, "busybox:1.35", CHANGES);
    Busybox { root, tarball, id }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))).collect()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("open blob")).read_to_end(&mut plain).expect("gunzip blob");
    plain
}

#[test]
fn import_prints_the_image_id_and_lists_the_image() {
    let Busybox { root, id, .. } = busybox();
    assert!(id.starts_with("sha256:") && support::is_hex_digest(&id[7..]), "import prints the image ID, got {id:?}");
    let short = &id[7..19];

    let table = root.ok(&["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row:\n{table}");
    let header: Vec<&str> = lines[0].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    let row: Vec<&str> = lines[1].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(&row[..3], ["busybox", "1.35", short], "row: {}", lines[1]);
    assert!(row[3].ends_with("ago"), "CREATED is relative: {}", lines[1]);
    assert!(row[4].ends_with("MB"), "SIZE of busybox is megabytes: {}", lines[1]);

    let full = root.ok(&["images", "--no-trunc"]);
    assert!(full.contains(&id), "--no-trunc shows the full ID:\n{full}");

    let rows = json_lines(&root.ok(&["images", "--format", "json"]));
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["Repository"], "busybox");
    assert_eq!(row["Tag"], "1.35");
    assert_eq!(row["ID"], short);
    let manifest = row["Digest"].as_str().expect("Digest");
    assert!(root.blobs_dir().join(&manifest[7..]).is_file(), "the manifest {manifest} is a stored blob");
    assert!(row["VirtualSize"].as_u64().expect("VirtualSize") > 1_000_000);
    assert!(row["CreatedAt"].as_str().expect("CreatedAt").ends_with('Z'));
}

#[test]
fn inspect_shows_config_changes_layers_and_diff_ids() {
    let Busybox { root, id, .. } = busybox();
    let image = root.inspect("busybox:1.35");
    assert_eq!(image["Id"], id.as_str());
    assert_eq!(image["RepoTags"], serde_json::json!(["busybox:1.35"]));
    assert_eq!(image["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(image["Config"]["Env"], serde_json::json!(["PATH=/bin"]));
    assert_eq!(image["Os"], "linux");

    let layers = image["Layers"].as_array().expect("Layers");
    assert_eq!(layers.len(), 1, "an import is one layer");
    let layer = &layers[0];
    let diff_id = layer["DiffID"].as_str().expect("DiffID");
    assert_eq!(image["RootFS"]["diff_ids"], serde_json::json!([diff_id]));
    assert_eq!(layer["MediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    // The sizes and digests are those of the stored bytes.
    let blob = root.blobs_dir().join(&layer["Digest"].as_str().expect("Digest")[7..]);
    assert_eq!(layer["Size"].as_u64(), Some(fs_err::metadata(&blob).expect("layer blob").len()));
    let plain = gunzip(&blob);
    assert_eq!(layer["UncompressedSize"].as_u64(), Some(plain.len() as u64));
    assert_eq!(format!("{}", strata::digest::Digest::of(&plain)), diff_id, "the diff_id is the digest of the tar");
    assert_eq!(image["Size"].as_u64(), Some(plain.len() as u64));

    // The unpacked layer is a snapshot named by the diff_id.
    let snapshot = root.snapshots_dir().join(&diff_id[7..]);
    let busybox = fs_err::read(snapshot.join("bin/busybox")).expect("busybox in the snapshot");
    assert_eq!(busybox, fs_err::read(support::BUSYBOX).expect("read busybox"));
    assert_eq!(fs_err::read_link(snapshot.join("bin/sh")).expect("bin/sh link"), Path::new("busybox"));

    // Looked up by ID and ID prefix, too.
    assert_eq!(root.inspect(&id)["Id"], id.as_str());
    assert_eq!(root.inspect(&id[7..19])["Id"], id.as_str());
    root.run(&["inspect", "nosuch:image"]).failure().says("no such image: nosuch:image");
}

#[test]
fn history_has_one_row_for_the_import() {
    let Busybox { root, id, .. } = busybox();
    let table = root.ok(&["history", "busybox:1.35"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row:\n{table}");
    assert!(lines[0].starts_with("IMAGE") && lines[0].contains("CREATED BY") && lines[0].contains("COMMENT"), "{table}");
    assert!(lines[1].starts_with(&id[7..19]), "the top row shows the image ID:\n{table}");
    assert!(lines[1].contains("strata import") && lines[1].contains("busybox from Debian"), "{table}");

    let rows = json_lines(&root.ok(&["history", "--format", "json", "--no-trunc", "busybox:1.35"]));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ID"], id.as_str());
    assert_eq!(rows[0]["CreatedBy"], "strata import");
    assert_eq!(rows[0]["Comment"], "busybox from Debian");
    let image = root.inspect("busybox:1.35");
    assert_eq!(rows[0]["Bytes"], image["Layers"][0]["UncompressedSize"]);
}

#[test]
fn rmi_of_one_tag_only_untags() {
    let Busybox { root, id, .. } = busybox();
    root.ok(&["tag", "busybox:1.35", "registry.local:5000/tools/busybox:stable"]);
    let before = root.state();
    let out = root.ok(&["rmi", "registry.local:5000/tools/busybox:stable"]);
    assert_eq!(out.trim(), "Untagged: registry.local:5000/tools/busybox:stable");
    let image = root.inspect("busybox:1.35");
    assert_eq!(image["Id"], id.as_str());
    assert_eq!(image["RepoTags"], serde_json::json!(["busybox:1.35"]));
    assert_eq!(root.state(), before, "untagging frees nothing");
}

#[test]
fn rmi_by_id_refuses_an_image_with_two_tags_without_force() {
    let Busybox { root, id, .. } = busybox();
    root.ok(&["tag", &id[7..19], "mybox"]);
    let before = root.state();
    root.run(&["rmi", &id[7..19]]).failure().says("is tagged in several repositories (busybox:1.35, mybox:latest)").says("--force");
    assert_eq!(root.inspect("mybox")["RepoTags"], serde_json::json!(["busybox:1.35", "mybox:latest"]));
    assert_eq!(root.state(), before);

    let out = root.ok(&["rmi", "--force", &id[7..19]]);
    assert!(out.contains("Untagged: busybox:1.35") && out.contains("Untagged: mybox:latest"), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");
    assert_store_empty(&root);
}

#[test]
fn removing_the_last_tag_deletes_the_image_and_frees_its_blobs_and_snapshot() {
    let Busybox { root, id, .. } = busybox();
    root.ok(&["tag", "busybox:1.35", "second"]);
    root.ok(&["rmi", "busybox:1.35"]);
    assert_eq!(root.state().snapshots.len(), 1, "the image still has a tag");
    let out = root.ok(&["rmi", "second"]);
    assert!(out.contains("Untagged: second:latest") && out.contains(&format!("Deleted: {id}")), "{out}");
    assert_store_empty(&root);
    root.run(&["inspect", &id]).failure().says("no such image");
}

fn assert_store_empty(root: &TestRoot) {
    let images = root.ok(&["images"]);
    assert_eq!(images.lines().count(), 1, "only the header is left:\n{images}");
    let state = root.state();
    assert!(state.blobs.is_empty(), "blobs/sha256 still holds {:?}", state.blobs);
    assert!(state.snapshots.is_empty(), "snapshots/ still holds {:?}", state.snapshots);
    assert!(root.tmp_entries().is_empty(), "tmp/ still holds {:?}", root.tmp_entries());
}

#[test]
fn two_imports_of_one_tarball_share_the_layer() {
    let Busybox { root, tarball, id } = busybox();
    let other = root.import(&tarball, "other:1", &["--change", "CMD [\"ls\"]"]);
    assert_ne!(id, other, "different configs are different images");
    let (a, b) = (root.inspect("busybox:1.35"), root.inspect("other:1"));
    assert_eq!(a["Layers"][0]["Digest"], b["Layers"][0]["Digest"], "the same layer blob");
    assert_eq!(a["RootFS"], b["RootFS"]);
    let state = root.state();
    assert_eq!(state.snapshots.len(), 1, "one snapshot for both: {:?}", state.snapshots);
    assert_eq!(state.blobs.len(), 5, "one layer blob, two configs, two manifests: {:?}", state.blobs);

    // Removing one image keeps what the other uses.
    root.ok(&["rmi", "other:1"]);
    let after = root.state();
    assert_eq!(after.snapshots, state.snapshots);
    assert_eq!(after.blobs.len(), 3);
    assert_eq!(root.inspect("busybox:1.35")["Id"], id.as_str());
}

#[test]
fn invalid_names_are_refused_before_anything_is_stored() {
    let root = TestRoot::new();
    let tarball = root.scratch("tiny.tar.gz");
    support::tiny_tarball(&root.scratch(""), &tarball, "tiny\n");
    let path = tarball.to_str().expect("UTF-8 path");
    let cases = [
        ("UPPER", "invalid reference \"UPPER\": repository name must be lowercase"),
        ("a:b:c", "invalid reference \"a:b:c\": bad repository name"),
        ("", "invalid reference \"\": empty name"),
        ("name:bad tag!", "invalid reference \"name:bad tag!\""),
    ];
    for (name, message) in cases {
        root.run(&["import", path, name]).failure().says(message);
        root.run(&["tag", "whatever", name]).failure();
    }
    let state = root.state();
    assert!(state.blobs.is_empty() && state.snapshots.is_empty(), "a refused import stored {state:?}");
    root.import(&tarball, "good", &[]);
    root.run(&["tag", "good", "UPPER"]).failure().says("repository name must be lowercase");
    root.run(&["tag", "good", "a:b:c"]).failure().says("bad repository name");
    root.run(&["tag", "nosuch", "fine"]).failure().says("no such image: nosuch");
}

#[test]
fn two_concurrent_imports_both_succeed() {
    let root = TestRoot::new();
    let first = root.scratch("busybox.tar.gz");
    support::busybox_tarball(&root.scratch(""), &first);
    let second = root.scratch("tiny.tar.gz");
    support::tiny_tarball(&root.scratch(""), &second, "second\n");
    let mut children: Vec<(Child, &str)> = [(&first, "one:1"), (&second, "two:1"), (&first, "three:1")]
        .into_iter()
        .map(|(tarball, name)| {
            let child = root
                .command(&["import", tarball.to_str().expect("UTF-8 path"), name])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start strata import");
            (child, name)
        })
        .collect();
    for (child, name) in children.drain(..) {
        let output = child.wait_with_output().expect("wait for strata import");
        assert!(output.status.success(), "import {name} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let rows = json_lines(&root.ok(&["images", "--format", "json"]));
    let names: BTreeSet<String> = rows.iter().map(|r| format!("{}:{}", r["Repository"].as_str().unwrap_or(""), r["Tag"].as_str().unwrap_or(""))).collect();
    assert_eq!(names, ["one:1", "three:1", "two:1"].map(String::from).into());
    assert_eq!(root.state().snapshots.len(), 2, "one and three share their layer");
    root.assert_no_partial_blobs();
    assert!(root.tmp_entries().is_empty(), "tmp/ holds {:?}", root.tmp_entries());
}

/// When to SIGKILL an import.
#[derive(Debug, Clone, Copy)]
enum KillPoint {
    After(Duration),
    /// Once the unpacked rootfs in tmp/ holds this many directories.
    UnpackedDirs(usize),
    /// Once a blob being written in tmp/ is this large.
    BlobBytes(u64),
    /// As soon as the snapshot has been moved into place.
    SnapshotAppears,
}

#[test]
fn sigkill_during_import_leaves_the_store_consistent() {
    let root = TestRoot::new();
    let rootfs = root.scratch("big-rootfs");
    support::random_rootfs(&rootfs, 3000, 200 << 20);
    let tarball = root.scratch("big.tar");
    support::tar_dir(&rootfs, &tarball, false);
    let tarball = tarball.to_str().expect("UTF-8 path").to_owned();
    // zstd: gzip is three times slower in an unoptimised build; the code paths are the same.
    let import = ["import", "--compression", "zstd", tarball.as_str(), "big:1"];
    // An image already there must survive every kill.
    let tiny = root.scratch("tiny.tar.gz");
    support::tiny_tarball(&root.scratch(""), &tiny, "tiny\n");
    root.import(&tiny, "tiny:1", &[]);

    let points = [
        KillPoint::After(Duration::from_millis(50)),
        KillPoint::After(Duration::from_millis(300)),
        KillPoint::After(Duration::from_secs(1)),
        KillPoint::After(Duration::from_secs(2)),
        KillPoint::UnpackedDirs(25),
        KillPoint::BlobBytes(50 << 20),
        KillPoint::SnapshotAppears,
    ];
    let mut reached = Vec::new();
    for point in points {
        let mut child = root.command(&import).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("start import");
        let hit = wait_for(&root, &mut child, point);
        child.kill().expect("SIGKILL strata");
        let status = child.wait().expect("reap strata");
        reached.push(format!("{point:?}: {}", if hit { "killed there" } else { "finished first" }));
        if !hit {
            assert!(status.success(), "{point:?}: the import failed on its own");
        }
        // A reader sees only whole blobs and whole snapshots, even before
        // the next store open cleans up.
        root.assert_no_partial_blobs();
        for snapshot in root.state().snapshots {
            assert_complete_snapshot(&root.snapshots_dir().join(&snapshot), &rootfs);
        }
        let images = root.ok(&["images"]);
        assert!(images.contains("tiny"), "{point:?}: the earlier image is gone:\n{images}");
        assert!(root.tmp_entries().is_empty(), "{point:?}: the next store open left tmp/ with {:?}", root.tmp_entries());
    }
    eprintln!("kill points: {reached:#?}");

    // The import still works, and its snapshot and blob are whole.
    root.ok(&import);
    let image = root.inspect("big:1");
    let diff_id = image["RootFS"]["diff_ids"][0].as_str().expect("diff_id");
    assert!(root.snapshots_dir().join(&diff_id[7..]).is_dir(), "the snapshot is named by the diff_id");
    root.assert_no_partial_blobs();
    assert!(root.tmp_entries().is_empty(), "tmp/ holds {:?}", root.tmp_entries());
    assert!(root.ok(&["images"]).contains("tiny"));
}

/// Waits until `point` is reached (true) or the import exits (false).
fn wait_for(root: &TestRoot, child: &mut Child, point: KillPoint) -> bool {
    let start = Instant::now();
    let snapshots_before = root.state().snapshots;
    loop {
        if child.try_wait().expect("poll strata").is_some() {
            return false;
        }
        let reached = match point {
            KillPoint::After(delay) => start.elapsed() >= delay,
            KillPoint::UnpackedDirs(count) => import_dirs(root).iter().any(|rootfs| support::names(rootfs).len() >= count),
            KillPoint::BlobBytes(size) => tmp_blobs(root).iter().any(|blob| fs_err::metadata(blob).is_ok_and(|m| m.len() >= size)),
            KillPoint::SnapshotAppears => root.state().snapshots != snapshots_before,
        };
        if reached {
            return true;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "{point:?} not reached in 10 minutes");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn import_dirs(root: &TestRoot) -> Vec<PathBuf> {
    root.tmp_entries().into_iter().filter(|n| n.starts_with("import-")).map(|n| root.root.join("tmp").join(n).join("rootfs")).collect()
}

fn tmp_blobs(root: &TestRoot) -> Vec<PathBuf> {
    root.tmp_entries().into_iter().filter(|n| n.starts_with("blob-")).map(|n| root.root.join("tmp").join(n)).collect()
}

/// A snapshot is the rootfs of one of the store's images, whole: here the
/// tiny image's, or every file of the big rootfs with its content.
fn assert_complete_snapshot(snapshot: &Path, big: &Path) {
    if snapshot.join("etc/hostname").is_file() {
        return;
    }
    let expected = support::names(big);
    assert_eq!(support::names(snapshot), expected, "snapshot {} is partial", snapshot.display());
    for dir in expected {
        let files = support::names(&big.join(&dir));
        assert_eq!(support::names(&snapshot.join(&dir)), files, "snapshot {}/{dir} is partial", snapshot.display());
        for file in files {
            let (want, got) = (big.join(&dir).join(&file), snapshot.join(&dir).join(&file));
            let same = fs_err::read(&want).ok() == fs_err::read(&got).ok();
            assert!(same, "{} differs from its source in a snapshot", got.display());
        }
    }
}
