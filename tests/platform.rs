//! Builds for another platform: an arm64 busybox base (Debian's
//! busybox-static for arm64, imported with `import --platform`), a native
//! `FROM --platform=$BUILDPLATFORM` stage beside an emulated one, RUN under
//! qemu through binfmt_misc, and the cache on a rebuild.
//!
//! Needs root, overlayfs, the arm64 package in the test cache and the
//! qemu-aarch64 handler: `bash tests/deps.sh` sets all of it up. A missing
//! piece fails the test, saying so.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::build::cached_steps;
use support::{tar_dir, TestRoot};

/// Where tests/deps.sh keeps the arm64 busybox-static package.
fn test_cache() -> PathBuf {
    std::env::var_os("STRATA_TEST_CACHE").map_or_else(|| PathBuf::from("/var/cache/strata-test"), PathBuf::from)
}

/// The arm64 `busybox` binary, unpacked from the cached package into `scratch`.
fn arm64_busybox(scratch: &Path) -> PathBuf {
    let cache = test_cache();
    let deb = fs_err::read_dir(&cache)
        .ok()
        .and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| p.to_string_lossy().ends_with("_arm64.deb") && p.to_string_lossy().contains("busybox-static"))
        })
        .unwrap_or_else(|| panic!("no busybox-static arm64 package in {}: run `bash tests/deps.sh`", cache.display()));
    let status = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(scratch).status().expect("run dpkg-deb");
    assert!(status.success(), "dpkg-deb -x {}", deb.display());
    scratch.join("bin/busybox")
}

/// Fails unless binfmt_misc runs arm64 binaries through qemu with the F flag.
fn require_qemu() {
    let handler = fs_err::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64").unwrap_or_default();
    assert!(
        handler.starts_with("enabled") && handler.lines().any(|l| l.starts_with("flags:") && l.contains('F')),
        "no qemu-aarch64 binfmt_misc handler with the F flag: run `bash tests/deps.sh` (installs qemu-user-static and binfmt-support)"
    );
}

/// Imports an arm64 busybox as `name` (`import --platform linux/arm64`).
fn import_arm64(root: &TestRoot, name: &str) {
    let unpacked = root.scratch("arm64-deb");
    let binary = arm64_busybox(&unpacked);
    let rootfs = root.scratch("arm64-rootfs");
    for dir in ["bin", "tmp", "etc"] {
        fs_err::create_dir_all(rootfs.join(dir)).unwrap();
    }
    fs_err::copy(&binary, rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "uname", "cat", "echo", "mkdir", "ls"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let tarball = root.scratch("arm64.tar.gz");
    tar_dir(&rootfs, &tarball, true);
    root.import(&tarball, name, &["--platform", "linux/arm64", "-c", "ENV PATH=/bin"]);
}

const CROSS: &str = "\
FROM --platform=$BUILDPLATFORM busybox:latest AS build
ARG TARGETPLATFORM TARGETARCH BUILDPLATFORM
RUN mkdir /out && uname -m > /out/build-arch && echo \"$BUILDPLATFORM $TARGETPLATFORM $TARGETARCH\" > /out/platforms

FROM busybox:arm64
COPY --from=build /out /out
RUN uname -m > /out/arch && cat /out/build-arch /out/platforms /out/arch
";

#[test]
fn an_arm64_build_runs_emulated_beside_a_native_build_stage() {
    require_qemu();
    let root = TestRoot::new();
    root.busybox();
    import_arm64(&root, "busybox:arm64");
    assert_eq!(root.inspect("busybox:arm64")["Architecture"], "arm64");
    let run = root.build(CROSS, &[], &["--platform", "linux/arm64", "-t", "cross:arm64"]).success();
    let log = run.stderr;
    assert!(log.contains("x86_64\n") || log.contains(" x86_64"), "the build stage runs natively:\n{log}");
    assert!(log.contains("linux/amd64 linux/arm64 arm64"), "the build stage sees the target platform:\n{log}");
    assert!(log.contains("aarch64"), "the arm64 RUN runs under qemu:\n{log}");
    let image = root.inspect("cross:arm64");
    assert_eq!(image["Architecture"], "arm64");
    assert_eq!(image["Os"], "linux");
    let rootfs = root.rootfs("cross:arm64");
    assert_eq!(fs_err::read_to_string(rootfs.join("out/arch")).unwrap(), "aarch64\n");
    let again = root.build(CROSS, &[], &["--platform", "linux/arm64", "-t", "cross:arm64"]).success();
    assert_eq!(cached_steps(&again.stderr), 3, "a rebuild is fully cached:\n{}", again.stderr);
}

#[test]
fn a_host_build_of_the_same_file_does_not_share_the_emulated_steps() {
    require_qemu();
    let root = TestRoot::new();
    root.busybox();
    import_arm64(&root, "busybox:arm64");
    let dockerfile =
        "FROM --platform=$BUILDPLATFORM busybox:latest AS build\nRUN uname -m > /arch\nFROM build\nARG TARGETARCH\nRUN echo $TARGETARCH > /target\n";
    root.build(dockerfile, &[], &["--platform", "linux/arm64", "-t", "a:1"]).success();
    let host = root.build(dockerfile, &[], &["-t", "b:1"]).success();
    assert_eq!(cached_steps(&host.stderr), 1, "the build stage is shared, the TARGETARCH step is not:\n{}", host.stderr);
}

#[test]
fn a_foreign_stage_on_a_host_image_and_bad_platforms_are_refused() {
    let root = TestRoot::new();
    root.busybox();
    root.build("FROM busybox:latest\nRUN true\n", &[], &["--platform", "linux/s390x"]).failure().says("strata pull --platform linux/s390x busybox:latest");
    root.build("FROM --platform=nope busybox:latest\n", &[], &[]).failure().says("invalid platform \"nope\"");
    for (flag, says) in [("linux", "expected OS/ARCH[/VARIANT]"), ("linux/arm64,", "expected OS/ARCH[/VARIANT]")] {
        let usage = root.build("FROM scratch\n", &[], &["--platform", flag]);
        assert_eq!(usage.code, Some(2), "a usage error: {usage:?}");
        usage.says(says);
    }
}

/// Switches a binfmt_misc handler off until dropped.
struct HandlerOff(PathBuf);

impl HandlerOff {
    fn new(name: &str) -> HandlerOff {
        let path = Path::new("/proc/sys/fs/binfmt_misc").join(name);
        fs_err::write(&path, "0").unwrap_or_else(|e| panic!("switch off {}: {e} (run `bash tests/deps.sh` as root)", path.display()));
        HandlerOff(path)
    }
}

impl Drop for HandlerOff {
    fn drop(&mut self) {
        let _ = fs_err::write(&self.0, "1");
    }
}

#[test]
fn a_foreign_run_without_a_handler_names_the_command_to_register_one() {
    let root = TestRoot::new();
    // Only this test builds for s390x: its handler is off for a moment.
    let _off = HandlerOff::new("qemu-s390x");
    root.build("FROM --platform=linux/s390x scratch\nRUN true\n", &[], &[]).failure().says("update-binfmts --enable qemu-s390x");
}

/// `skopeo ARGS…`, panicking with its stderr on failure; returns stdout.
fn skopeo(args: &[&str]) -> Vec<u8> {
    let output = Command::new("skopeo").args(args).output().expect("run skopeo (tests/deps.sh installs it)");
    assert!(output.status.success(), "skopeo {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

#[test]
fn two_platform_builds_join_into_an_index_pushed_with_every_manifest() {
    require_qemu();
    let root = TestRoot::new();
    root.busybox();
    import_arm64(&root, "busybox:arm64");
    let dockerfile = "\
FROM --platform=$BUILDPLATFORM busybox:latest AS build
ARG TARGETARCH
RUN echo built for $TARGETARCH > /note
FROM busybox:$TARGETARCH
COPY --from=build /note /note
RUN uname -m > /arch
";
    let host_arch = root.inspect("busybox:latest")["Architecture"].as_str().unwrap().to_owned();
    root.ok(&["tag", "busybox:latest", &format!("busybox:{host_arch}")]);
    root.build(dockerfile, &[], &["-t", "app:amd64"]).success();
    root.build(dockerfile, &[], &["--platform", "linux/arm64", "-t", "app:arm64"]).success();
    let registry = support::registry::Registry::start();
    let name = format!("{}/app:multi", registry.host());
    root.ok(&["manifest", "create", &name, "app:amd64", "app:arm64"]);
    let index: serde_json::Value = serde_json::from_str(&root.ok(&["manifest", "inspect", &name])).unwrap();
    let archs: Vec<&str> = index["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(archs, [host_arch.as_str(), "arm64"]);
    root.ok(&["manifest", "push", &name]);
    let raw: serde_json::Value = serde_json::from_slice(&skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{name}")])).unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2, "{raw}");
    let layout = root.scratch("arm64-layout");
    skopeo(&["copy", "--src-tls-verify=false", "--override-arch", "arm64", &format!("docker://{name}"), &format!("oci:{}:arm64", layout.display())]);
    let bundle = root.scratch("arm64-bundle");
    let output =
        Command::new("umoci").args(["unpack", "--image", &format!("{}:arm64", layout.display()), bundle.to_str().unwrap()]).output().expect("run umoci");
    assert!(output.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&output.stderr));
    let rootfs = bundle.join("rootfs");
    let elf = fs_err::read(rootfs.join("bin/busybox")).unwrap();
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 183, "e_machine of the arm64 image's busybox is EM_AARCH64");
    assert_eq!(fs_err::read_to_string(rootfs.join("arch")).unwrap(), "aarch64\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("note")).unwrap(), "built for arm64\n");
}

/// A base image index in the test registry (`REG/busybox:multi`): this
/// machine's busybox and the arm64 one, joined and pushed by strata.
fn busybox_index(registry: &support::registry::Registry) -> String {
    let root = TestRoot::new();
    root.busybox();
    import_arm64(&root, "busybox:arm64");
    let name = format!("{}/busybox:multi", registry.host());
    root.ok(&["manifest", "create", &name, "busybox:latest", "busybox:arm64"]);
    root.ok(&["manifest", "push", &name]);
    name
}

/// Step titles, and the ids that ran (not cached), of a `--progress json` log.
fn json_steps(stdout: &str) -> (Vec<(u64, String)>, Vec<u64>) {
    let events: Vec<serde_json::Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let started = events.iter().filter(|e| e["event"] == "started").map(|e| (e["id"].as_u64().unwrap(), e["name"].as_str().unwrap().to_owned())).collect();
    let cached: Vec<u64> = events.iter().filter(|e| e["event"] == "cached").map(|e| e["id"].as_u64().unwrap()).collect();
    let ran = events.iter().filter(|e| e["event"] == "done").map(|e| e["id"].as_u64().unwrap()).filter(|id| !cached.contains(id)).collect();
    (started, ran)
}

fn multi_dockerfile(base: &str) -> String {
    format!(
        "FROM --platform=$BUILDPLATFORM {base} AS build\n\
         RUN mkdir /out && uname -m > /out/build-arch && echo compiled > /out/tool\n\
         FROM {base}\n\
         COPY --from=build /out /out\n\
         RUN uname -m > /arch\n"
    )
}

#[test]
fn a_two_platform_build_pushes_one_index_and_runs_the_native_stage_once() {
    require_qemu();
    let registry = support::registry::Registry::start();
    let base = busybox_index(&registry);
    let root = TestRoot::new();
    let dockerfile = multi_dockerfile(&base);
    let app = format!("{}/app:multi", registry.host());
    let context = root.write_context(&dockerfile, &[]);
    let context = context.to_str().unwrap();
    let run = root.run(&["build", "--progress", "json", "--platform", "linux/amd64,linux/arm64", "-t", &app, "--push", context]).success();
    let (started, ran) = json_steps(&run.stdout);
    let titles: Vec<&str> = started.iter().map(|(_, name)| name.as_str()).collect();
    for title in ["[linux/amd64 build 1/1] RUN mkdir", "[linux/amd64 stage-1 2/2] RUN uname", "[linux/arm64 stage-1 1/2] COPY --from=build"] {
        assert!(titles.iter().any(|t| t.starts_with(title)), "no step {title:?} in {titles:#?}");
    }
    let build_runs = started.iter().filter(|(id, name)| name.contains(" build 1/1] ") && ran.contains(id)).count();
    assert_eq!(build_runs, 1, "the $BUILDPLATFORM stage runs once for both platforms:\n{}", run.stdout);
    let ids: std::collections::BTreeSet<u64> = started.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), started.len(), "step numbers are build-wide: {started:?}");

    let raw: serde_json::Value = serde_json::from_slice(&skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{app}")])).unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let archs: Vec<&str> = raw["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(archs, ["amd64", "arm64"], "{raw}");
    let layout = root.scratch("arm64-layout");
    skopeo(&["copy", "--src-tls-verify=false", "--override-arch", "arm64", &format!("docker://{app}"), &format!("oci:{}:arm64", layout.display())]);
    let bundle = root.scratch("arm64-bundle");
    let output =
        Command::new("umoci").args(["unpack", "--image", &format!("{}:arm64", layout.display()), bundle.to_str().unwrap()]).output().expect("run umoci");
    assert!(output.status.success(), "umoci unpack: {}", String::from_utf8_lossy(&output.stderr));
    let rootfs = bundle.join("rootfs");
    let elf = fs_err::read(rootfs.join("bin/busybox")).unwrap();
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 183, "e_machine of the arm64 image's busybox is EM_AARCH64");
    assert_eq!(fs_err::read_to_string(rootfs.join("arch")).unwrap(), "aarch64\n", "the target stage's RUN ran under qemu");
    assert_eq!(fs_err::read_to_string(rootfs.join("out/build-arch")).unwrap(), "x86_64\n", "the build stage ran natively");

    let host = root.rootfs(&app);
    assert_eq!(fs_err::read_to_string(host.join("arch")).unwrap(), "x86_64\n", "the tag stands for this machine's platform");
    let arm = root.ok(&["inspect", "--platform", "linux/arm64", &app]);
    assert!(arm.contains("\"Architecture\": \"arm64\""), "{arm}");
    let copy = format!("{}/copy:1", registry.host());
    root.ok(&["push", &app, &copy]);
    let pushed: serde_json::Value = serde_json::from_slice(&skopeo(&["inspect", "--tls-verify=false", "--raw", &format!("docker://{copy}")])).unwrap();
    assert_eq!(pushed["manifests"].as_array().map(Vec::len), Some(2), "strata push of the tag sends the index: {pushed}");
    let images = root.ok(&["images"]);
    assert!(images.contains("linux/arm64") && images.contains("linux/amd64"), "images shows both platforms:\n{images}");

    let again = root.build(&dockerfile, &[], &["--platform", "linux/amd64,linux/arm64", "-t", &app]).success();
    assert_eq!(cached_steps(&again.stderr), 6, "a rebuild is fully cached for both platforms:\n{}", again.stderr);
    assert_eq!(support::build::steps(&again.stderr), 6, "{}", again.stderr);
}

#[test]
fn a_two_platform_archive_holds_the_index_with_every_manifest() {
    require_qemu();
    let registry = support::registry::Registry::start();
    let base = busybox_index(&registry);
    let root = TestRoot::new();
    let archive = root.scratch("multi.tar");
    let output = format!("type=oci,dest={}", archive.display());
    let cache = format!("type=registry,ref={}/cache:multi", registry.host());
    let to = format!("{cache},mode=max");
    let platforms = ["--platform", "linux/arm64,linux/amd64"];
    root.build(&multi_dockerfile(&base), &[], &[&platforms[..], &["-t", "multi:1", "--output", &output, "--cache-to", &to]].concat()).success();
    let fresh = TestRoot::new();
    let reused = fresh.build(&multi_dockerfile(&base), &[], &[&platforms[..], &["--cache-from", &cache]].concat()).success();
    assert_eq!(cached_steps(&reused.stderr), 6, "--cache-from carries both platforms' records:\n{}", reused.stderr);
    let saved = root.scratch("saved.tar");
    root.ok(&["save", "-o", saved.to_str().unwrap(), "--format", "oci-archive", "multi:1"]);
    for tarball in [&archive, &saved] {
        let dir = root.scratch("unpacked");
        let _ = fs_err::remove_dir_all(&dir);
        fs_err::create_dir_all(&dir).unwrap();
        let status = Command::new("tar").arg("-xf").arg(tarball).arg("-C").arg(&dir).status().unwrap();
        assert!(status.success());
        let index: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(dir.join("index.json")).unwrap()).unwrap();
        let archs: Vec<&str> = index["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
        assert_eq!(archs, ["arm64", "amd64"], "{index}");
    }
}

#[test]
fn docker_load_of_a_two_platform_archive_tags_this_machines_image() {
    require_qemu();
    let registry = support::registry::Registry::start();
    let base = busybox_index(&registry);
    let root = TestRoot::new();
    let archive = root.scratch("multi-docker.tar");
    let output = format!("type=docker,dest={}", archive.display());
    root.build(&multi_dockerfile(&base), &[], &["--platform", "linux/amd64,linux/arm64", "-t", "multi:1", "--output", &output]).success();
    let docker = support::docker::Dockerd::start();
    let loaded = docker.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(loaded.matches("Loaded image: multi:1").count(), 2, "docker 20.10 loads one image per platform:\n{loaded}");
    let arch = docker.ok(&["image", "inspect", "--format", "{{.Architecture}}", "multi:1"]);
    assert_eq!(arch.trim(), "amd64", "the tag ends on this machine's platform, listed last");
    let ids = docker.ok(&["images", "-q", "--no-trunc"]);
    assert_eq!(ids.lines().count(), 2, "both platforms' images are loaded:\n{ids}");
}
