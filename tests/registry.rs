//! Registries end to end: the real binary against Debian's docker-registry
//! (distribution) on 127.0.0.1 — push, pull, FROM pulling on demand,
//! `build --push`, login with htpasswd basic auth, and the failures a user
//! meets (wrong password, missing tag, refused connection, a registry that
//! stops mid-push, a tampered blob). `bash tests/deps.sh` installs the
//! registry, htpasswd and skopeo.

mod support;

use std::process::Command;

use support::registry::{free_port, DockerConfigDir, Registry};
use support::TestRoot;

/// `strata inspect` fields of an image: (image ID, manifest digest).
fn ids(root: &TestRoot, config: &DockerConfigDir, name: &str) -> (String, String) {
    let out = config.run(root, &["inspect", name]).success().stdout;
    let documents: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
    let doc = &documents[0];
    (doc["Id"].as_str().unwrap_or_default().to_owned(), doc["Manifest"]["Digest"].as_str().unwrap_or_default().to_owned())
}

/// The digest `push -q` prints.
fn push(root: &TestRoot, config: &DockerConfigDir, args: &[&str]) -> String {
    let mut all = vec!["push", "-q"];
    all.extend_from_slice(args);
    config.run(root, &all).success().stdout.trim().to_owned()
}

fn skopeo_digest(reference: &str) -> String {
    let output = Command::new("skopeo").args(["inspect", "--tls-verify=false", &format!("docker://{reference}")]).output().expect("run skopeo");
    assert!(output.status.success(), "skopeo inspect {reference}: {}", String::from_utf8_lossy(&output.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("skopeo prints JSON");
    doc["Digest"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn push_pull_and_build_from_a_registry() {
    let registry = Registry::start();
    let host = registry.host();
    let config = DockerConfigDir::new();
    let a = TestRoot::new();
    let base = format!("{host}/busybox:1");
    a.busybox_as(&base, &[]);
    let local_manifest = a.inspect(&base)["Manifest"]["Digest"].as_str().unwrap_or_default().to_owned();

    // An imported image (gzip layers) is pushed with its own manifest.
    let pushed = push(&a, &config, &[&base]);
    assert_eq!(pushed, local_manifest, "an imported image keeps its manifest digest");
    assert_eq!(skopeo_digest(&base), pushed, "skopeo sees what strata pushed");
    let again = config.run(&a, &["push", &base]).success();
    assert!(again.stdout.contains("0 blobs uploaded"), "a second push uploads nothing:\n{}", again.stdout);

    // Another repository of the same registry: the layer is mounted, not uploaded.
    let other = config.run(&a, &["push", &base, &format!("{host}/tools/busybox:1")]).success();
    assert!(other.stdout.contains("1 mounted"), "the layer is mounted from busybox:\n{}\n{}", other.stdout, other.stderr);

    // FROM pulls on demand once the image is gone locally.
    a.ok(&["rmi", &base]);
    let dockerfile = format!("FROM {base}\nRUN echo built > /built.txt\nCOPY hello.txt /hello.txt\n");
    let app = format!("{host}/app:1");
    a.write_context(&dockerfile, &[("hello.txt", "hello\n")]);
    let context = a.context_dir();
    let built = config.run(&a, &["build", "--progress", "plain", "--push", "-t", &app, context.to_str().unwrap()]).success();
    assert!(built.stderr.contains(&format!("pulling {host}/busybox:1")), "FROM pulled the base:\n{}", built.stderr);
    assert!(built.stderr.contains(&format!("pushed {app}@sha256:")), "build --push pushed:\n{}", built.stderr);
    let pushed_app = skopeo_digest(&app);
    // Garbage collection keeps the compressed copies a push made of live layers.
    let blobs = a.state().blobs;
    a.ok(&["tag", &app, "throwaway:1"]);
    a.ok(&["rmi", "throwaway:1"]);
    assert_eq!(a.state().blobs, blobs, "rmi's garbage collection kept every blob of the pushed image");

    // A second, empty root pulls the result: same image ID, same manifest digest.
    let b = TestRoot::new();
    let pulled = config.run(&b, &["pull", &app]).success();
    assert!(pulled.stdout.contains(&format!("Digest: {pushed_app}")), "pull reports the digest:\n{}", pulled.stdout);
    let (id_a, _) = ids(&a, &config, &app);
    let (id_b, manifest_b) = ids(&b, &config, &app);
    assert_eq!(id_a, id_b, "the image ID (config digest) survives push and pull");
    assert_eq!(manifest_b, pushed_app, "the pulled manifest is the pushed one, byte for byte");
    b.assert_no_partial_blobs();

    // Pull by digest pins the content and finds the image again.
    let pinned = format!("{host}/app@{pushed_app}");
    let c = TestRoot::new();
    config.run(&c, &["pull", &pinned]).success();
    let (id_c, _) = ids(&c, &config, &pinned);
    assert_eq!(id_c, id_a);

    // An explicit platform the image is not of is refused.
    config.run(&TestRoot::new(), &["pull", "--platform", "linux/s390x", &app]).failure().says(&format!("{app} has no image for linux/s390x"));

    // `run` pulls a missing image too.
    let d = TestRoot::new();
    let ran = config.run(&d, &["run", "--rm", &app, "--", "cat", "/hello.txt", "/built.txt"]).success();
    assert_eq!(ran.stdout, "hello\nbuilt\n");

    // Pulling again downloads nothing.
    let repeat = config.run(&b, &["pull", &app]).success();
    assert!(repeat.stdout.contains("0 layers downloaded"), "{}", repeat.stdout);
}

#[test]
fn basic_auth_login_and_logout() {
    let registry = Registry::with_auth(Some(("alice", "wonderland")));
    let host = registry.host();
    let config = DockerConfigDir::new();
    let root = TestRoot::new();
    let name = format!("{host}/busybox:1");
    root.busybox_as(&name, &[]);

    config.run(&root, &["push", &name]).failure().says(&format!("{host}: unauthorized for busybox")).says(&format!("log in with `strata login {host}`"));
    config.run_with_input(&root, &["login", "-u", "alice", "--password-stdin", &host], "wrong\n").failure().says(&format!("{host}: unauthorized"));
    assert!(!config.config_json().exists(), "a failed login writes nothing");

    let login = config.run_with_input(&root, &["login", "-u", "alice", "--password-stdin", &host], "wonderland\n").success();
    assert!(login.stdout.contains("Login Succeeded"));
    let saved: serde_json::Value = serde_json::from_slice(&fs_err::read(config.config_json()).unwrap()).unwrap();
    assert_eq!(saved["auths"][&host]["auth"], "YWxpY2U6d29uZGVybGFuZA==", "Docker's format: base64 user:password");
    let pushed = push(&root, &config, &[&name]);

    let other = TestRoot::new();
    config.run(&other, &["pull", &name]).success();
    assert_eq!(other.inspect(&name)["Id"], root.inspect(&name)["Id"]);
    assert!(!pushed.is_empty());

    let logout = config.run(&root, &["logout", &host]).success();
    assert!(logout.stdout.contains(&format!("Removing login credentials for {host}")));
    let fresh = TestRoot::new();
    config.run(&fresh, &["pull", &name]).failure().says("unauthorized");
}

#[test]
fn missing_tag_and_refused_connection_are_named() {
    let registry = Registry::start();
    let host = registry.host();
    let config = DockerConfigDir::new();
    let root = TestRoot::new();
    config.run(&root, &["pull", &format!("{host}/busybox:nope")]).failure().says(&format!("manifest unknown: {host}/busybox:nope is not in the registry"));
    let closed = format!("127.0.0.1:{}", free_port());
    config.run(&root, &["pull", &format!("{closed}/busybox:1")]).failure().says(&format!("cannot connect to {closed}: connection refused"));
    let build = root.build(&format!("FROM {host}/nothing:here\nRUN true\n"), &[], &[]);
    assert!(build.message().contains(&format!("manifest unknown: {host}/nothing:here")), "FROM names the missing image:\n{}", build.stderr);
}

#[test]
fn tampered_blob_is_detected() {
    let registry = Registry::start();
    let host = registry.host();
    let config = DockerConfigDir::new();
    let a = TestRoot::new();
    let name = format!("{host}/busybox:1");
    a.busybox_as(&name, &[]);
    push(&a, &config, &[&name]);
    let layer = a.inspect(&name)["Layers"][0]["Digest"].as_str().unwrap_or_default().to_owned();
    let data = registry.blob_path(&layer);
    let mut bytes = fs_err::read(&data).unwrap_or_else(|e| panic!("read {}: {e}", data.display()));
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs_err::write(&data, &bytes).unwrap();

    let b = TestRoot::new();
    config.run(&b, &["pull", &name]).failure().says(&format!("digest mismatch for blob {host}/busybox@{layer}: expected {layer}, got sha256:"));
    b.assert_no_partial_blobs();
    assert!(b.tmp_entries().is_empty(), "nothing is left in tmp/: {:?}", b.tmp_entries());
}

#[test]
fn registry_stopped_mid_push_then_pushed_again() {
    let mut registry = Registry::start();
    let host = registry.host();
    let config = DockerConfigDir::new();
    let root = TestRoot::new();
    let rootfs = root.scratch("big");
    support::random_rootfs(&rootfs, 40, 64 << 20);
    let tarball = root.scratch("big.tar");
    support::tar_dir(&rootfs, &tarball, false);
    let name = format!("{host}/big:1");
    root.import(&tarball, &name, &["--compression", "uncompressed"]);

    let pushing = root
        .command(&["push", "--chunk-size", "256k", "--jobs", "1", &name])
        .env("DOCKER_CONFIG", config.0.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start strata push");
    // Wait for an upload to begin, then pull the plug.
    let uploads = registry.storage().join("repositories/big/_uploads");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !uploads.is_dir() || fs_err::read_dir(&uploads).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "the push never started an upload");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    registry.stop();
    let output = pushing.wait_with_output().expect("wait for strata push");
    let failed = support::Run::from_output(&["push"], output).failure();
    failed.says(&format!("cannot connect to {host}: connection refused"));

    registry.restart();
    let digest = push(&root, &config, &[&name]);
    assert_eq!(skopeo_digest(&name), digest);
    let other = TestRoot::new();
    config.run(&other, &["pull", &name]).success();
    assert_eq!(other.inspect(&name)["Id"], root.inspect(&name)["Id"]);
}

// ------------------------------------------------------------ shared cache

const CI_DOCKERFILE: &str = "\
FROM BASE AS build
COPY src/ /src/
RUN cat /src/a.txt /src/b.txt > /out.txt
RUN echo build-only > /scratch.txt

FROM BASE
COPY --from=build /out.txt /out.txt
COPY static.txt /static.txt
RUN echo final > /final.txt
";

/// A CI runner: a fresh root with its own copy of the context.
fn runner(base: &str, files: &[(&str, &str)]) -> TestRoot {
    let root = TestRoot::new();
    root.write_context(&CI_DOCKERFILE.replace("BASE", base), files);
    root
}

fn ci_build(root: &TestRoot, config: &DockerConfigDir, args: &[&str]) -> support::Run {
    let context = root.context_dir();
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    all.push(context.to_str().unwrap());
    config.run(root, &all).success()
}

const CI_FILES: [(&str, &str); 3] = [("src/a.txt", "a\n"), ("src/b.txt", "b\n"), ("static.txt", "static\n")];

#[test]
fn ci_runners_share_a_cache_through_the_registry() {
    use support::build::{cached_steps, image_id, steps};
    let registry = Registry::start();
    let host = registry.host();
    let config = DockerConfigDir::new();
    let base = format!("{host}/busybox:1");
    let seed = TestRoot::new();
    seed.busybox_as(&base, &[]);
    push(&seed, &config, &[&base]);
    let cache = format!("type=registry,ref={host}/app/cache:main");

    let a = runner(&base, &CI_FILES);
    let first = ci_build(&a, &config, &["--cache-to", &format!("{cache},mode=max"), "-t", "app:1"]);
    assert_eq!(cached_steps(&first.stderr), 0);
    assert!(first.stderr.contains("exported cache to"), "{}", first.stderr);

    // A new runner: every step comes from the registry's cache, and only
    // the layers the final image needs are downloaded.
    let b = runner(&base, &CI_FILES);
    let second = ci_build(&b, &config, &["--cache-from", &cache, "-t", "app:1"]);
    assert_eq!(cached_steps(&second.stderr), steps(&second.stderr), "every step CACHED:\n{}", second.stderr);
    assert_eq!(image_id(&second), image_id(&first), "the same image, bit for bit");
    let (a_snapshots, b_snapshots) = (a.state().snapshots.len(), b.state().snapshots.len());
    // The base is pulled as its blob and, since no step needed its files,
    // never unpacked (layers are unpacked on first use).
    let base_blob = b.inspect(&base)["Layers"][0]["Digest"].as_str().unwrap_or_default()[7..].to_owned();
    assert!(b.state().blobs.contains(&base_blob), "the base is stored as its blob");
    assert_eq!(b_snapshots, 3, "the final stage's three layers, not the build stage's, nor the unused base's");
    assert!(a_snapshots > b_snapshots);
    b.assert_no_partial_blobs();

    // One changed file: only the steps that depend on it run.
    fs_err::write(b.context_dir().join("static.txt"), "changed\n").unwrap();
    let third = ci_build(&b, &config, &["--cache-from", &cache, "--cache-to", &format!("{cache},mode=max"), "-t", "app:2"]);
    assert_eq!(steps(&third.stderr), 6);
    assert_eq!(cached_steps(&third.stderr), 4, "build stage and COPY --from cached, COPY static.txt and RUN rerun:\n{}", third.stderr);
    let rootfs = b.rootfs("app:2");
    assert_eq!(fs_err::read_to_string(rootfs.join("static.txt")).unwrap(), "changed\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("out.txt")).unwrap(), "a\nb\n");
    assert!(third.stderr.contains("(2 sent)"), "only the two new layers go up:\n{}", third.stderr);
}

#[test]
fn a_cache_in_a_shared_directory_and_mode_min() {
    use support::build::{cached_steps, steps};
    let registry = Registry::start();
    let host = registry.host();
    let config = DockerConfigDir::new();
    let base = format!("{host}/busybox:1");
    let seed = TestRoot::new();
    seed.busybox_as(&base, &[]);
    push(&seed, &config, &[&base]);
    let shared = seed.scratch("shared-cache");
    let (max_dir, min_dir) = (shared.join("max"), shared.join("min"));

    let a = runner(&base, &CI_FILES);
    ci_build(
        &a,
        &config,
        &["--cache-to", &format!("type=local,dest={}", max_dir.display()), "--cache-to", &format!("type=local,dest={},mode=min", min_dir.display())],
    );
    // The local default is mode=min too; export max explicitly for the first.
    let a2 = ci_build(&a, &config, &["--cache-to", &format!("type=local,dest={},mode=max", max_dir.display())]);
    assert_eq!(cached_steps(&a2.stderr), 6);
    let layout = Command::new("skopeo").args(["inspect", "--raw", &format!("oci:{}:strata-cache", max_dir.display())]).output().expect("run skopeo");
    assert!(layout.status.success(), "skopeo reads the cache layout: {}", String::from_utf8_lossy(&layout.stderr));

    let b = runner(&base, &CI_FILES);
    let full = ci_build(&b, &config, &["--cache-from", &format!("type=local,src={}", max_dir.display())]);
    assert_eq!(cached_steps(&full.stderr), steps(&full.stderr), "mode=max: every step:\n{}", full.stderr);

    let c = runner(&base, &CI_FILES);
    let min = ci_build(&c, &config, &["--cache-from", &format!("type=local,src={}", min_dir.display())]);
    assert_eq!(cached_steps(&min.stderr), 3, "mode=min holds the final stage's steps only:\n{}", min.stderr);

    let d = runner(&base, &CI_FILES);
    let empty = ci_build(&d, &config, &["--cache-from", &format!("type=local,src={}", shared.join("none").display())]);
    assert!(empty.stderr.contains("no cache at"), "{}", empty.stderr);
}

#[test]
fn a_credential_helper_holds_the_login() {
    let registry = Registry::with_auth(Some(("bob", "builder")));
    let host = registry.host();
    let config = DockerConfigDir::new();
    let helpers = tempfile::tempdir().unwrap();
    let store = helpers.path().join("stored.json");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  get) read server; [ -f '{0}' ] && cat '{0}' || {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n  store) cat > '{0}' ;;\n  erase) rm -f '{0}' ;;\nesac\n",
        store.display()
    );
    let helper = helpers.path().join("docker-credential-strata-test");
    fs_err::write(&helper, script).unwrap();
    support::set_mode(&helper, 0o755);
    fs_err::write(config.config_json(), r#"{"credsStore":"strata-test"}"#).unwrap();
    let path = format!("{}:{}", helpers.path().display(), std::env::var("PATH").unwrap_or_default());
    let root = TestRoot::new();
    let run = |args: &[&str], input: &str| {
        use std::io::Write;
        let mut child = root
            .command(args)
            .env("DOCKER_CONFIG", config.0.path())
            .env("PATH", &path)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        support::Run::from_output(args, child.wait_with_output().unwrap())
    };
    let name = format!("{host}/busybox:1");
    root.busybox_as(&name, &[]);
    run(&["login", "-u", "bob", "--password-stdin", &host], "builder\n").success();
    let stored: serde_json::Value = serde_json::from_slice(&fs_err::read(&store).unwrap()).unwrap();
    assert_eq!(stored["Username"], "bob");
    assert_eq!(stored["ServerURL"], host.as_str());
    let saved = fs_err::read_to_string(config.config_json()).unwrap();
    assert!(!saved.contains("auths"), "the helper holds the secret, not config.json: {saved}");
    run(&["push", &name], "").success();
    run(&["logout", &host], "").success();
    assert!(!store.exists(), "logout erased the helper's entry");
    run(&["push", &name], "").failure().says("unauthorized");
}
