//! A full disk: on a small loop-mounted ext4 holding the store, filled to
//! the last block by a file outside it, a build fails saying so and leaves
//! the store consistent, and `strata cache prune --all -f` (the command
//! that frees space) still works: it gives back the store's reserve first,
//! then frees what it prunes; `cache verify` is clean and builds work again.

mod support;

use support::disk::SmallDisk;
use support::TestRoot;

/// Two stages: the first one's layers (3 MB of random data) no image holds.
fn dockerfile(n: usize) -> String {
    format!(
        "FROM busybox:latest AS build\nRUN head -c 3000000 /dev/urandom > /a{n}\nRUN head -c 3000000 /dev/urandom > /b{n}\nRUN echo {n} > /n\n\nFROM busybox:latest\nCOPY --from=build /n /n\n"
    )
}

fn assert_clean(root: &TestRoot) {
    let verify = root.run(&["cache", "verify"]);
    assert_eq!(verify.code, Some(0), "verify:\n{}\n{}", verify.stdout, verify.stderr);
    assert!(root.tmp_entries().is_empty(), "tmp/ holds {:?}", root.tmp_entries());
}

#[test]
fn prune_frees_space_on_a_full_disk_and_builds_work_again() {
    let disk = SmallDisk::ext4(96);
    let root = disk.store();
    root.busybox();
    for n in 0..3 {
        root.build(&dockerfile(n), &[], &["-t", &format!("app:{n}")]).success();
    }
    assert!(root.root.join("reserve").is_file(), "the store keeps a reserve while there is room");
    let filler = disk.fill();

    let failed = root.build(&dockerfile(9), &[], &["-t", "app:9"]).failure().says("No space left on device").says("strata cache prune -f");
    assert!(!failed.stderr.contains("panicked"), "{}", failed.stderr);
    assert_clean(&root);

    let pruned = root.run(&["cache", "prune", "--all", "-f", "--format", "json"]).success();
    let report: serde_json::Value = serde_json::from_str(&pruned.stdout).unwrap();
    assert!(report["freed"].as_u64().unwrap() >= 18_000_000, "six 3 MB layers go:\n{report:#}");
    assert!(disk.free() >= 18_000_000, "the space is free on disk: {} bytes", disk.free());
    assert!(root.root.join("reserve").is_file(), "the reserve is made again once there is room");
    assert_clean(&root);

    root.build(&dockerfile(9), &[], &["-t", "app:9"]).success();
    assert_clean(&root);
    fs_err::remove_file(filler).unwrap();
}

#[test]
fn a_prune_without_a_reserve_frees_the_stat_cache_first() {
    // A store made on an already nearly full disk has no reserve: the files
    // that need no commit (stat cache, cache mounts) go before the records.
    let disk = SmallDisk::ext4(64);
    let root = disk.store();
    root.busybox();
    root.build(&dockerfile(0), &[], &["-t", "app:0"]).success();
    fs_err::remove_file(root.root.join("reserve")).unwrap();
    let filler = disk.fill();
    root.run(&["cache", "prune", "--all", "-f"]).success();
    assert!(disk.free() >= 6_000_000, "the layers went: {} bytes free", disk.free());
    assert_clean(&root);
    fs_err::remove_file(filler).unwrap();
    root.build(&dockerfile(0), &[], &["-t", "app:0"]).success();
}
