//! Files written once: a COPY that runs again because some of its files
//! changed links the unchanged ones to its previous snapshot, and a shared
//! inode is never written through (overlay copy-up, native copies), while
//! the layers stay what a copy from scratch would make, and verify and
//! prune stay exact.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use support::TestRoot;

const DOCKERFILE: &str = "FROM busybox\nCOPY . /app\n";

/// Every snapshot holding `rel`, with the file's inode.
fn copies(root: &TestRoot, rel: &str) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    for entry in fs_err::read_dir(root.root.join("snapshots")).unwrap() {
        let path = entry.unwrap().path().join(rel);
        if let Ok(meta) = fs_err::symlink_metadata(&path) {
            found.push((path, meta.ino()));
        }
    }
    found
}

fn read(path: &Path) -> String {
    fs_err::read_to_string(path).unwrap()
}

/// Two builds of `COPY . /app`, `b.txt` changed in between: `app:1`, `app:2`.
fn two_builds() -> TestRoot {
    let root = TestRoot::new();
    root.busybox();
    let files = [("a.txt", "same\n"), ("b.txt", "first\n"), ("sub/c.txt", "deep\n"), ("big.bin", &"x".repeat(100_000))];
    root.build(DOCKERFILE, &files, &["-t", "app:1"]).success();
    root.build("", &[("b.txt", "second\n")], &["-t", "app:2"]).success();
    root
}

#[test]
fn a_copy_links_the_files_unchanged_since_its_last_build() {
    let root = two_builds();
    for unchanged in ["app/a.txt", "app/sub/c.txt", "app/big.bin"] {
        let found = copies(&root, unchanged);
        assert_eq!(found.len(), 2, "{unchanged} in two snapshots: {found:?}");
        assert_eq!(found[0].1, found[1].1, "{unchanged} is one inode in both snapshots");
    }
    let changed = copies(&root, "app/b.txt");
    assert_eq!(changed.len(), 2);
    assert_ne!(changed[0].1, changed[1].1, "a changed file is written anew");
    let mut contents: Vec<String> = changed.iter().map(|(path, _)| read(path)).collect();
    contents.sort();
    assert_eq!(contents, ["first\n", "second\n"]);
}

#[test]
fn a_linked_layer_is_the_layer_a_fresh_copy_makes() {
    let root = two_builds();
    let fresh = TestRoot::new();
    fresh.busybox();
    let files = [("a.txt", "same\n"), ("b.txt", "second\n"), ("sub/c.txt", "deep\n"), ("big.bin", &"x".repeat(100_000))];
    let context = fresh.write_context(DOCKERFILE, &files);
    // The same metadata as the first store's context, so only linking differs.
    for name in ["a.txt", "b.txt", "sub/c.txt", "big.bin", "sub", "."] {
        let from = fs_err::metadata(root.context_dir().join(name)).unwrap();
        let times = std::fs::FileTimes::new().set_modified(from.modified().unwrap()).set_accessed(from.accessed().unwrap());
        std::fs::File::open(context.join(name)).unwrap().set_times(times).unwrap();
    }
    fresh.build("", &[], &["-t", "app:2"]).success();
    let linked = root.layers("app:2");
    let copied = fresh.layers("app:2");
    assert_eq!(linked.last(), copied.last());
    assert!(!linked.last().unwrap().contains("hardlink"), "{}", linked.last().unwrap());
}

fn appending_leaves_the_other_snapshot_alone(snapshotter: &str) {
    let root = two_builds();
    let before = copies(&root, "app/a.txt");
    let run = "FROM app:2\nRUN echo more >> /app/a.txt && cat /app/a.txt\n";
    let context = root.scratch("append");
    fs_err::create_dir_all(&context).unwrap();
    fs_err::write(context.join("Dockerfile"), run).unwrap();
    root.run(&["build", "--progress", "plain", "--snapshotter", snapshotter, "-t", "appended:1", context.to_str().unwrap()]).success();
    for (path, ino) in &before {
        assert_eq!(read(path), "same\n", "{} unchanged", path.display());
        assert_eq!(fs_err::metadata(path).unwrap().ino(), *ino);
    }
    assert_eq!(read(&root.rootfs("appended:1").join("app/a.txt")), "same\nmore\n");
    assert_eq!(read(&root.rootfs("app:1").join("app/a.txt")), "same\n");
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));
}

#[test]
fn a_run_appending_to_a_linked_file_copies_it_up_under_overlay() {
    appending_leaves_the_other_snapshot_alone("overlay");
}

#[test]
fn a_run_appending_to_a_linked_file_writes_a_copy_under_native() {
    appending_leaves_the_other_snapshot_alone("native");
}

#[test]
fn pruning_the_old_snapshot_keeps_the_linked_files_of_the_new() {
    let root = two_builds();
    root.ok(&["rmi", "app:1"]);
    root.ok(&["cache", "prune", "-f"]);
    let left = copies(&root, "app/a.txt");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(fs_err::metadata(&left[0].0).unwrap().nlink(), 1);
    let sidecars = fs_err::read_dir(root.root.join("snapshot-contents-v1")).unwrap().count();
    assert_eq!(sidecars, 1, "the pruned snapshot's content list went with it");
    assert_eq!(read(&root.rootfs("app:2").join("app/a.txt")), "same\n");
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));
    // A third build links from what is left.
    root.build("", &[("b.txt", "third\n")], &["-t", "app:3"]).success();
    let now = copies(&root, "app/a.txt");
    assert_eq!(now.len(), 2);
    assert_eq!(now[0].1, now[1].1);
}

#[test]
fn a_copy_into_an_existing_directory_still_merges_through_the_mount() {
    let root = TestRoot::new();
    root.busybox();
    let dockerfile = "FROM busybox\nWORKDIR /etc\nCOPY a.txt .\nRUN test -f /etc/passwd && cat /etc/a.txt\n";
    root.build(dockerfile, &[("a.txt", "in etc\n")], &["-t", "etc:1"]).success();
    let rootfs = root.rootfs("etc:1");
    assert_eq!(read(&rootfs.join("etc/a.txt")), "in etc\n");
    assert!(rootfs.join("etc/passwd").is_file());
}

#[test]
fn a_copy_into_a_directory_a_lower_layer_deleted_hides_the_old_contents() {
    let root = TestRoot::new();
    root.busybox();
    let dockerfile = "FROM busybox\nRUN mkdir -p /data && echo old > /data/old.txt\nRUN rm -rf /data\nCOPY new.txt /data/\nRUN ls /data > /listing\n";
    root.build(dockerfile, &[("new.txt", "new\n")], &["-t", "data:1"]).success();
    let rootfs = root.rootfs("data:1");
    assert_eq!(read(&rootfs.join("listing")), "new.txt\n");
    assert!(!rootfs.join("data/old.txt").exists());
}

const FROM_STAGE: &str = "FROM busybox AS build
RUN mkdir -p /out/sub && echo one > /out/one && echo two > /out/two && ln /out/one /out/sub/hard && ln -s two /out/sym
FROM busybox
COPY --from=build /out /dist
RUN echo more >> /dist/two
";

#[test]
fn copy_from_a_stage_links_its_files_and_makes_the_same_layer_as_a_copy() {
    let root = TestRoot::new();
    root.busybox();
    root.build(FROM_STAGE, &[], &["-t", "dist:1"]).success();
    let (built, copied) = (copies(&root, "out/one"), copies(&root, "dist/one"));
    assert_eq!((built.len(), copied.len()), (1, 1), "{built:?} {copied:?}");
    assert_eq!(built[0].1, copied[0].1, "COPY --from links the stage's file");
    assert_eq!(copies(&root, "dist/sub/hard")[0].1, copied[0].1, "a hard link in the source stays one");
    // The RUN after it copied /dist/two up; the stage's file is as it was.
    assert_eq!(read(&copies(&root, "out/two")[0].0), "two\n");
    assert_eq!(read(&root.rootfs("dist:1").join("dist/two")), "two\nmore\n");
    // The native snapshotter copies; the layer is the same.
    let native = TestRoot::new();
    native.busybox();
    native.build(FROM_STAGE, &[], &["-t", "dist:1", "--snapshotter", "native"]).success();
    assert_ne!(copies(&native, "out/one")[0].1, copies(&native, "dist/one")[0].1);
    let (linked, plain) = (root.layers("dist:1"), native.layers("dist:1"));
    assert_eq!(linked[linked.len() - 2], plain[plain.len() - 2]);
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));
}
