//! Rootless strata end to end: the real binary run as the unprivileged
//! `strata-test` (subordinate ids in /etc/subuid and /etc/subgid; `bash
//! tests/deps.sh` makes it) with its own store, through `setpriv`. Builds
//! (RUN, COPY, a cache mount, whiteouts and opaque directories), layers
//! byte-identical to a root build, `cache du`/`prune`, a registry on
//! 127.0.0.1, working containers, and what happens without subordinate ids
//! or a delegated cgroup.

mod support;

use std::os::unix::fs::MetadataExt;

use support::build::{cached_steps, golden};
use support::registry::Registry;
use support::rootless::NO_SUBID_USER;
use support::TestRoot;

/// Whiteouts, an opaque directory, owners other than root and a setuid bit.
const CHANGES: &str = "FROM busybox:latest
RUN mkdir -p /d/e /keep && touch /d/e/f /gone /keep/k && echo hi > /hello && chown 1000:1000 /hello && chown 65534:100 /keep/k && chown 2:3 /d/e && chmod 4755 /hello
RUN rm /gone && rm -rf /d && mkdir /d && touch /d/new && rm /bin/vi
COPY a /a
";

fn rootless() -> TestRoot {
    let root = TestRoot::rootless();
    root.busybox();
    root
}

/// Builds `CHANGES` with a fixed SOURCE_DATE_EPOCH (layer times are
/// otherwise the build's) and returns the image's diff IDs.
fn build_changes(root: &TestRoot) -> Vec<String> {
    build_changes_with(root, &[])
}

fn build_changes_with(root: &TestRoot, args: &[&str]) -> Vec<String> {
    root.write_context(CHANGES, &[("a", "a\n")]);
    let context = root.context_dir();
    let mut all = vec!["build", "--progress", "plain", "-t", "changes"];
    all.extend_from_slice(args);
    all.push(context.to_str().unwrap());
    let output = root.command(&all).env("SOURCE_DATE_EPOCH", "1700000000").output().unwrap();
    let run = support::Run::from_output(&["build"], output).success();
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let inspect = root.inspect("changes");
    let ids = inspect["RootFS"]["diff_ids"].as_array().unwrap_or_else(|| panic!("no diff IDs in {inspect:#}"));
    ids.iter().map(|id| id.as_str().unwrap().to_owned()).collect()
}

#[test]
fn layers_are_byte_identical_to_a_root_build() {
    let rootless = rootless();
    let root = TestRoot::new();
    root.busybox();
    let (theirs, ours) = (build_changes(&root), build_changes(&rootless));
    // Each test root makes its own busybox base (times differ): the built
    // layers are what must match.
    assert_eq!(theirs[1..], ours[1..], "a rootless build must give the layers a root build gives");
    let listings = rootless.layers("changes");
    golden("rootless-whiteouts", "layers", &listings[1..].join("\n"));
}

#[test]
fn fuse_overlayfs_gives_the_layers_of_a_root_build() {
    for file in ["/usr/bin/fuse-overlayfs", "/dev/fuse"] {
        assert!(std::path::Path::new(file).exists(), "{file} is missing: run `bash tests/deps.sh` (packages fuse-overlayfs, fuse3)");
    }
    let rootless = rootless();
    let root = TestRoot::new();
    root.busybox();
    let (theirs, ours) = (build_changes(&root), build_changes_with(&rootless, &["--snapshotter", "fuse-overlayfs"]));
    assert_eq!(theirs[1..], ours[1..], "a rootless build on fuse-overlayfs must give the layers a root build gives");
    let listings = rootless.layers("changes");
    golden("rootless-whiteouts", "layers", &listings[1..].join("\n"));
    let again = rootless.build("FROM busybox:latest\nRUN echo fuse > /f\n", &[], &["--snapshotter", "fuse-overlayfs"]).success();
    assert!(again.stderr.lines().next().is_some_and(|l| l.contains("snapshotter fuse-overlayfs")), "{}", again.stderr);
}

#[test]
fn build_with_run_copy_and_a_cache_mount() {
    let root = rootless();
    let dockerfile =
        "FROM busybox:latest\nCOPY src /src\nRUN --mount=type=cache,target=/cache cat /src/a >> /cache/log && wc -l < /cache/log > /count && id -u > /uid\n";
    let first = root.build(dockerfile, &[("src/a", "one\n")], &["-t", "app"]).success();
    let says = format!("rootless: a user namespace mapping uid 0 → host {}, 1…65535 → host", root.user_uid());
    assert!(first.stderr.lines().next().is_some_and(|l| l.contains(&says) && l.contains("snapshotter overlay (userxattr)")), "{}", first.stderr);
    root.write_context("", &[("src/a", "two\n")]);
    root.build(dockerfile, &[], &["-t", "app"]).success();
    let rootfs = root.rootfs("app");
    // The cache mount kept the first build's line; the container ran as its root.
    assert_eq!(fs_err::read_to_string(rootfs.join("count")).unwrap().trim(), "2");
    assert_eq!(fs_err::read_to_string(rootfs.join("uid")).unwrap().trim(), "0");
    let again = root.build(dockerfile, &[], &["-t", "app"]).success();
    assert_eq!(cached_steps(&again.stderr), 2, "{}", again.stderr);
    // The store stays the user's on the host.
    for path in [root.root.clone(), root.root.join("blobs"), root.root.join("snapshots")] {
        assert_eq!(fs_err::metadata(&path).unwrap().uid(), root.user_uid(), "{} belongs to the user", path.display());
    }
}

#[test]
fn runtime_files_live_in_the_users_runtime_dir() {
    let root = rootless();
    let runtime = root.scratch("run-user");
    fs_err::create_dir_all(&runtime).unwrap();
    let chown = std::process::Command::new("chown").arg(support::rootless::ROOTLESS_USER).arg(&runtime).status().unwrap();
    assert!(chown.success());
    std::os::unix::fs::PermissionsExt::set_mode(&mut fs_err::metadata(&runtime).unwrap().permissions(), 0o700);
    root.write_context("FROM busybox:latest\nRUN --mount=type=secret,id=s cat /run/secrets/s > /seen\n", &[("s", "secret\n")]);
    let context = root.context_dir();
    let secret = format!("id=s,src={}", context.join("s").display());
    let args = ["build", "--progress", "plain", "--secret", &secret, "-t", "runtime", context.to_str().unwrap()];
    let output = root.command(&args).env("XDG_RUNTIME_DIR", &runtime).output().unwrap();
    support::Run::from_output(&args, output).success();
    let ours = runtime.join("strata");
    let meta = fs_err::metadata(&ours).unwrap_or_else(|_| panic!("{} was made", ours.display()));
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(meta.uid(), root.user_uid());
    assert!(support::names(&ours).is_empty(), "the step's files are gone: {:?}", support::names(&ours));
    assert_eq!(fs_err::read_to_string(root.rootfs("runtime").join("seen")).unwrap(), "secret\n");
}

#[test]
fn cache_du_and_prune() {
    let root = rootless();
    root.build("FROM busybox:latest\nRUN head -c 100000 /dev/zero > /big\n", &[], &["-t", "big"]).success();
    let du: serde_json::Value = serde_json::from_str(&root.ok(&["cache", "du", "--format", "json"])).unwrap();
    assert!(du.to_string().contains("big") || du["entries"].as_array().is_some_and(|e| !e.is_empty()), "{du:#}");
    root.ok(&["rmi", "big"]);
    root.ok(&["cache", "prune", "-f"]);
    let after = root.build("FROM busybox:latest\nRUN head -c 100000 /dev/zero > /big\n", &[], &["-t", "big"]).success();
    assert_eq!(cached_steps(&after.stderr), 0, "prune removed the step:\n{}", after.stderr);
}

#[test]
fn push_and_pull_against_a_local_registry() {
    let registry = Registry::start();
    let reference = format!("{}/rootless/app:1", registry.host());
    let root = rootless();
    root.build("FROM busybox:latest\nRUN echo pushed > /p && chown 1000 /p\n", &[], &["-t", &reference, "--push"]).success();
    let other = TestRoot::rootless();
    other.ok(&["pull", &reference]);
    let rootfs = other.rootfs(&reference);
    assert_eq!(fs_err::read_to_string(rootfs.join("p")).unwrap(), "pushed\n");
}

#[test]
fn from_run_commit() {
    let root = rootless();
    assert_eq!(root.ok(&["from", "--name", "dev", "busybox:latest"]).trim(), "dev");
    root.ok(&["run", "dev", "--", "sh", "-c", "echo hi > /hello && chown 1000:1000 /hello && rm /bin/vi"]);
    assert_eq!(root.ok(&["run", "dev", "--", "stat", "-c", "%u %g", "/hello"]), "1000 1000\n");
    root.ok(&["commit", "dev", "hello:1"]);
    assert_eq!(root.ok(&["run", "--rm", "hello:1", "--", "cat", "/hello"]), "hi\n");
    root.run(&["run", "--rm", "hello:1", "--", "ls", "/bin/vi"]).failure();
    root.ok(&["rm", "dev"]);
}

#[test]
fn limits_need_a_delegated_cgroup_and_usage_is_still_shown() {
    let root = rootless();
    let run = root.build("FROM busybox:latest\nRUN true\n", &[], &[]).success();
    assert!(run.stderr.contains("peak memory"), "usage is measured without a cgroup:\n{}", run.stderr);
    let limited = root.build("FROM busybox:latest\nRUN echo limited\n", &[], &["--memory", "100000000"]);
    if limited.code != Some(0) {
        limited.failure().says("Delegate=yes");
    }
}

#[test]
fn without_subordinate_ids_only_the_user_is_mapped() {
    let root = TestRoot::as_user(NO_SUBID_USER);
    let run = root.run(&["images"]).success();
    assert!(run.stderr.contains("no subordinate ids") && run.stderr.contains("usermod --add-subuids"), "{}", run.stderr);
    root.busybox();
    let failed = root.build("FROM busybox:latest\nRUN chown 1000 /bin/sh\n", &[], &[]);
    failed.failure();
    root.build("FROM busybox:latest\nRUN echo hi > /hi\n", &[], &[]).success();
}
