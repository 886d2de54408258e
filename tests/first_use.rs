//! Pulled layers are unpacked on first use: `pull` stores blobs alone; the
//! first build, `run` or filesystem export unpacks each layer once (also
//! under concurrent builds), checking its diff_id; a layer whose blob is
//! not its diff_id fails that first use and leaves no snapshot; a process
//! killed while unpacking leaves `cache verify` clean. Against Debian's
//! docker-registry on 127.0.0.1 (`bash tests/deps.sh`); hand-made images
//! are pushed with skopeo from an OCI layout.

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::registry::{DockerConfigDir, Registry};
use support::TestRoot;

/// `busybox` pushed to a fresh registry as `NAME`, and a second, empty
/// store that pulled it.
struct Pulled {
    /// Kept running for the test.
    _registry: Registry,
    config: DockerConfigDir,
    store: TestRoot,
    name: String,
    diff_id: String,
}

fn pulled_busybox() -> Pulled {
    let registry = Registry::start();
    let config = DockerConfigDir::new();
    let name = format!("{}/busybox:1", registry.host());
    let source = TestRoot::new();
    source.busybox_as(&name, &[]);
    config.run(&source, &["push", "-q", &name]).success();
    let store = TestRoot::new();
    config.run(&store, &["pull", &name]).success();
    let diff_id = store.inspect(&name)["RootFS"]["diff_ids"][0].as_str().unwrap_or_default()[7..].to_owned();
    Pulled { _registry: registry, config, store, name, diff_id }
}

fn verify_clean(root: &TestRoot) {
    let verify = root.run(&["cache", "verify"]);
    assert_eq!(verify.code, Some(0), "verify:\n{}{}", verify.stdout, verify.stderr);
}

#[test]
fn pull_stores_blobs_and_the_first_build_unpacks_once() {
    let pulled = pulled_busybox();
    let root = &pulled.store;
    assert!(root.state().snapshots.is_empty(), "pull makes no snapshot: {:?}", root.state().snapshots);
    let layer_blob = root.inspect(&pulled.name)["Layers"][0]["Digest"].as_str().unwrap_or_default()[7..].to_owned();
    assert!(root.state().blobs.contains(&layer_blob), "the layer is stored as its blob");
    verify_clean(root);
    assert!(root.ok(&["images"]).contains("busybox"));

    let dockerfile = format!("FROM {}\nRUN echo built > /built.txt\n", pulled.name);
    pulled.config.run(root, &["build", "-q", "-t", "app:1", root.write_context(&dockerfile, &[]).to_str().unwrap()]).success();
    let snapshot = root.snapshots_dir().join(&pulled.diff_id);
    assert!(snapshot.join("bin/busybox").is_file(), "the first build unpacked the base layer");
    let inode = fs_err::metadata(&snapshot).unwrap().ino();
    let ran = pulled.config.run(root, &["run", "--rm", &pulled.name, "--", "cat", "/etc/group"]).success();
    assert!(ran.stdout.contains("app:x:1000:"), "{}", ran.stdout);
    pulled.config.run(root, &["build", "-q", "--no-cache", "-t", "app:2", root.context_dir().to_str().unwrap()]).success();
    assert_eq!(fs_err::metadata(&snapshot).unwrap().ino(), inode, "later uses find the snapshot made by the first");
    assert!(root.tmp_entries().is_empty(), "{:?}", root.tmp_entries());
    let inspected = root.inspect(&pulled.name);
    assert!(inspected["Layers"][0]["UncompressedSize"].as_u64().unwrap_or(0) > 0, "the size is known once unpacked");
    verify_clean(root);
}

#[test]
fn two_concurrent_builds_on_a_fresh_pull_both_succeed() {
    let pulled = pulled_busybox();
    let root = &pulled.store;
    let mut children = Vec::new();
    for n in 0..2 {
        let context = root.scratch(&format!("context-{n}"));
        fs_err::create_dir_all(&context).unwrap();
        fs_err::write(context.join("Dockerfile"), format!("FROM {}\nRUN echo {n} > /n.txt\n", pulled.name)).unwrap();
        let child = root
            .command(&["build", "-q", "-t", &format!("app:{n}"), context.to_str().unwrap()])
            .env("DOCKER_CONFIG", pulled.config.0.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start strata build");
        children.push(child);
    }
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert!(root.snapshots_dir().join(&pulled.diff_id).join("bin/busybox").is_file());
    assert!(root.tmp_entries().is_empty(), "{:?}", root.tmp_entries());
    root.assert_no_partial_blobs();
    verify_clean(root);
}

/// Pushes a one-layer image made by hand: `layer` (a gzip tar) under a
/// config naming `diff_id`, through an OCI layout and skopeo.
fn push_by_hand(registry: &Registry, root: &TestRoot, name: &str, layer: &[u8], diff_id: &str) -> String {
    let layout = root.scratch(&format!("layout-{}", name.replace([':', '/'], "-")));
    let blobs = layout.join("blobs/sha256");
    fs_err::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = support::sha256_bytes(bytes);
        fs_err::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer_digest, layer_size) = put(layer);
    let config = format!(r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#);
    let (config, config_size) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer_digest}","size":{layer_size}}}]}}"#
    );
    let (manifest, manifest_size) = put(manifest.as_bytes());
    fs_err::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest}","size":{manifest_size},"annotations":{{"org.opencontainers.image.ref.name":"1"}}}}]}}"#
    );
    fs_err::write(layout.join("index.json"), index).unwrap();
    let reference = format!("{}/{name}", registry.host());
    let output = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false", &format!("oci:{}:1", layout.display()), &format!("docker://{reference}")])
        .output()
        .expect("run skopeo (bash tests/deps.sh installs it)");
    assert!(output.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&output.stderr));
    layer_digest
}

/// A gzip tarball of `tree` and the digest of its plain tar (its diff_id).
fn layer_of(root: &TestRoot, tree: &Path, name: &str) -> (Vec<u8>, String) {
    let plain = root.scratch(&format!("{name}.tar"));
    support::tar_dir(tree, &plain, false);
    let diff_id = format!("sha256:{}", support::sha256_file(&plain));
    let status = Command::new("gzip").args(["-1", "-k", "-f"]).arg(&plain).status().expect("run gzip");
    assert!(status.success());
    (fs_err::read(root.scratch(&format!("{name}.tar.gz"))).unwrap(), diff_id)
}

#[test]
fn a_layer_that_is_not_its_diff_id_fails_at_first_use_and_leaves_no_snapshot() {
    let registry = Registry::start();
    let root = TestRoot::new();
    let tree = root.scratch("tree");
    fs_err::create_dir_all(tree.join("etc")).unwrap();
    fs_err::write(tree.join("etc/motd"), "hello\n").unwrap();
    let (layer, real_diff_id) = layer_of(&root, &tree, "motd");
    let claimed = format!("sha256:{}", support::sha256_bytes(b"some other layer"));
    assert_ne!(claimed, real_diff_id);
    let blob = push_by_hand(&registry, &root, "liar:1", &layer, &claimed);
    let name = format!("{}/liar:1", registry.host());

    root.ok(&["pull", &name]);
    verify_clean(&root);
    let run = root.run(&["run", "--rm", &name, "--", "true"]).failure();
    let run = run.says(&format!("layer {blob} unpacks to {real_diff_id}, not to the diff_id {claimed} its image names"));
    run.says("the image is damaged or was tampered with");
    let build = root.build(&format!("FROM {name}\nCOPY Dockerfile /\n"), &[], &[]).failure();
    build.says(&format!("not to the diff_id {claimed}"));
    assert!(root.state().snapshots.is_empty(), "no snapshot: {:?}", root.state().snapshots);
    assert!(root.tmp_entries().is_empty(), "{:?}", root.tmp_entries());
    verify_clean(&root);
}

#[test]
fn a_second_blob_for_a_known_diff_id_is_checked_at_pull() {
    let registry = Registry::start();
    let root = TestRoot::new();
    let tree = root.scratch("tree");
    fs_err::create_dir_all(tree.join("etc")).unwrap();
    fs_err::write(tree.join("etc/motd"), "hello\n").unwrap();
    let (layer, diff_id) = layer_of(&root, &tree, "motd");
    push_by_hand(&registry, &root, "good:1", &layer, &diff_id);
    root.ok(&["pull", &format!("{}/good:1", registry.host())]);
    // Another image claims the same diff_id for other content: refused at
    // its pull, so it can never spoil the good image's first use.
    fs_err::write(tree.join("etc/motd"), "evil\n").unwrap();
    let (evil, _) = layer_of(&root, &tree, "evil");
    let blob = push_by_hand(&registry, &root, "evil:1", &evil, &diff_id);
    root.run(&["pull", &format!("{}/evil:1", registry.host())]).failure().says(&format!("layer {blob} unpacks to diff_id"));
    root.build(&format!("FROM {}/good:1\nCOPY Dockerfile /\n", registry.host()), &[], &[]).success();
    assert!(root.snapshots_dir().join(&diff_id[7..]).join("etc/motd").is_file());
}

#[test]
fn a_process_killed_during_the_first_unpack_leaves_verify_clean() {
    let registry = Registry::start();
    let root = TestRoot::new();
    let tree = root.scratch("tree");
    support::random_rootfs(&tree, 400, 96 << 20);
    let (layer, diff_id) = layer_of(&root, &tree, "big");
    push_by_hand(&registry, &root, "big:1", &layer, &diff_id);
    let name = format!("{}/big:1", registry.host());
    root.ok(&["pull", &name]);
    let context = root.write_context(&format!("FROM {name}\nCOPY Dockerfile /\n"), &[]);
    for delay in [0u64, 50, 150] {
        let mut child = root.command(&["build", "-q", context.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        while !root.tmp_entries().iter().any(|e| e.starts_with("unpack-")) {
            assert!(started.elapsed() < Duration::from_secs(60), "the build never started unpacking");
            assert!(child.try_wait().unwrap().is_none(), "the build ended before unpacking");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!root.snapshots_dir().join(&diff_id[7..]).exists(), "no snapshot from a killed unpack (killed {delay} ms in)");
        verify_clean(&root);
    }
    root.ok(&["build", "-q", context.to_str().unwrap()]);
    assert!(root.snapshots_dir().join(&diff_id[7..]).join("d00").is_dir());
    assert!(root.tmp_entries().is_empty(), "{:?}", root.tmp_entries());
    verify_clean(&root);
}
