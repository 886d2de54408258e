//! Images other tools wrote, as bases: each `testdata/build/base_<tool>/`
//! holds an image config in the exact shape that tool writes (the classic
//! builder, `docker import`, `docker commit`, BuildKit, Buildah's OCI
//! config, and one full of nulls without history or `created`), a
//! Dockerfile built on it, and the expected results beside them: the built
//! image's config (`result.json`, times and digests redacted) and what its
//! RUN saw (`seen.txt`: working directory, uid, PATH).
//!
//! The config goes into a docker-archive with a busybox layer and through
//! `strata load`, so it is read exactly as written.

mod support;

use std::path::{Path, PathBuf};

use support::build::golden;
use support::{busybox_rootfs, sha256_bytes, sha256_file, tar_dir, TestRoot};

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/build").join(case)
}

/// A docker-archive of one busybox layer and the case's config (its
/// `<LAYER>` placeholder replaced by the layer's diff_id), tagged `base`.
fn docker_archive(root: &TestRoot, case: &str) -> (PathBuf, Vec<u8>) {
    let dir = root.scratch(&format!("archive-{case}"));
    let rootfs = root.scratch(&format!("rootfs-{case}"));
    busybox_rootfs(&rootfs);
    fs_err::create_dir_all(dir.join("layer")).unwrap();
    let layer = dir.join("layer/layer.tar");
    tar_dir(&rootfs, &layer, false);
    let diff_id = format!("sha256:{}", sha256_file(&layer));
    let template = fs_err::read_to_string(case_dir(case).join("config.json")).expect("the case's config.json");
    let config = template.trim_end().replace("<LAYER>", &diff_id).into_bytes();
    let config_name = format!("{}.json", sha256_bytes(&config));
    fs_err::write(dir.join(&config_name), &config).unwrap();
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": ["base:latest"], "Layers": ["layer/layer.tar"]}]);
    fs_err::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    let archive = root.scratch(&format!("{case}.tar"));
    tar_dir(&dir, &archive, false);
    (archive, config)
}

/// The stored config of `image`, times and digests redacted, keys sorted.
fn redacted_config(root: &TestRoot, image: &str) -> String {
    let id = root.inspect(image)["Id"].as_str().expect("an image ID").to_owned();
    let bytes = fs_err::read(root.blobs_dir().join(&id[7..])).expect("the config blob");
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("the config is JSON");
    let text = serde_json::to_string_pretty(&value).unwrap();
    let digests = regex::Regex::new(r"sha256:[0-9a-f]{64}").unwrap();
    let times = regex::Regex::new(r#""created": "[^"]*""#).unwrap();
    let text = digests.replace_all(&text, "sha256:<digest>");
    format!("{}\n", times.replace_all(&text, r#""created": "<time>""#))
}

fn build_on(case: &str) {
    let root = TestRoot::new();
    let (archive, config) = docker_archive(&root, case);
    root.ok(&["load", "-i", archive.to_str().unwrap()]);
    // Loaded as written: the image ID is the digest of the config's bytes.
    assert_eq!(root.inspect("base")["Id"], format!("sha256:{}", sha256_bytes(&config)), "load rewrote the config");
    let dockerfile = fs_err::read_to_string(case_dir(case).join("Dockerfile")).unwrap();
    root.build(&dockerfile, &[], &["-t", "built:1"]).success();
    golden(case, "result.json", &redacted_config(&root, "built:1"));
    let rootfs = root.rootfs("built:1");
    golden(case, "seen.txt", &fs_err::read_to_string(rootfs.join("seen.txt")).expect("the RUN wrote /seen.txt"));
}

#[test]
fn base_from_the_classic_builder() {
    build_on("base_classic_builder");
}

#[test]
fn base_from_docker_import() {
    build_on("base_docker_import");
}

#[test]
fn base_from_docker_commit() {
    build_on("base_docker_commit");
}

#[test]
fn base_from_buildkit() {
    build_on("base_buildkit");
}

#[test]
fn base_from_buildah_oci() {
    build_on("base_buildah_oci");
}

#[test]
fn base_with_nulls_and_no_history() {
    build_on("base_nulls_and_missing_history");
}

/// Each history entry of `image`'s config, oldest first: `layer` or
/// `empty`, `created_by`, and the comment in brackets.
fn history_listing(root: &TestRoot, image: &str) -> String {
    let history = root.inspect(image)["History"].as_array().expect("a history").clone();
    let mut text = String::new();
    for entry in &history {
        assert!(entry["created"].is_string(), "every entry has a time: {entry}");
        let kind = if entry["empty_layer"].as_bool().unwrap_or(false) { "empty" } else { "layer" };
        let comment = entry["comment"].as_str().map(|c| format!(" [{c}]")).unwrap_or_default();
        text.push_str(&format!("{kind} {}{comment}\n", entry["created_by"].as_str().unwrap_or("")));
    }
    // The base's import names a temporary tarball (numbered by test order).
    let tarball = regex::Regex::new(r"Imported from \S+\]").unwrap();
    tarball.replace_all(&text, "Imported from <tarball>]").into_owned()
}

#[test]
fn history_of_every_instruction_reads_as_buildkit_writes_it() {
    let root = TestRoot::new();
    root.busybox();
    let dockerfile = fs_err::read_to_string(case_dir("history_every_instruction").join("Dockerfile")).unwrap();
    root.build(&dockerfile, &[("a.txt", "a\n"), ("b.txt", "b\n")], &["-t", "every:1", "--build-arg", "FLAVOR=slim"]).success();
    golden("history_every_instruction", "history.txt", &history_listing(&root, "every:1"));
    // `strata history` shows the same entries, newest first, whole.
    let rows: Vec<serde_json::Value> =
        root.ok(&["history", "--no-trunc", "--format", "json", "every:1"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let history = root.inspect("every:1")["History"].as_array().unwrap().clone();
    let shown: Vec<&str> = rows.iter().map(|r| r["CreatedBy"].as_str().unwrap()).collect();
    let written: Vec<&str> = history.iter().rev().map(|h| h["created_by"].as_str().unwrap_or("")).collect();
    assert_eq!(shown, written);
    let empty_sizes = rows.iter().zip(history.iter().rev()).filter(|(row, h)| h["empty_layer"] == true && row["Bytes"] != 0).count();
    assert_eq!(empty_sizes, 0, "empty entries show no size");
}

#[test]
fn scratch_gets_buildkit_defaults() {
    let root = TestRoot::new();
    let dockerfile = fs_err::read_to_string(case_dir("scratch_defaults").join("Dockerfile")).unwrap();
    root.build(&dockerfile, &[("a.txt", "a\n")], &["-t", "scratch:1"]).success();
    golden("scratch_defaults", "result.json", &redacted_config(&root, "scratch:1"));
}
