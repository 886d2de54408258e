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
    let deb = std::fs::read_dir(&cache)
        .ok()
        .and_then(|entries| entries.flatten().map(|e| e.path()).find(|p| p.to_string_lossy().ends_with("_arm64.deb") && p.to_string_lossy().contains("busybox-static")))
        .unwrap_or_else(|| panic!("no busybox-static arm64 package in {}: run `bash tests/deps.sh`", cache.display()));
    let status = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(scratch).status().expect("run dpkg-deb");
    assert!(status.success(), "dpkg-deb -x {}", deb.display());
    scratch.join("bin/busybox")
}

/// Fails unless binfmt_misc runs arm64 binaries through qemu with the F flag.
fn require_qemu() {
    let handler = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64").unwrap_or_default();
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
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy(&binary, rootfs.join("bin/busybox")).unwrap();
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
    assert_eq!(std::fs::read_to_string(rootfs.join("out/arch")).unwrap(), "aarch64\n");
    let again = root.build(CROSS, &[], &["--platform", "linux/arm64", "-t", "cross:arm64"]).success();
    assert_eq!(cached_steps(&again.stderr), 3, "a rebuild is fully cached:\n{}", again.stderr);
}

#[test]
fn a_host_build_of_the_same_file_does_not_share_the_emulated_steps() {
    require_qemu();
    let root = TestRoot::new();
    root.busybox();
    import_arm64(&root, "busybox:arm64");
    let dockerfile = "FROM --platform=$BUILDPLATFORM busybox:latest AS build\nRUN uname -m > /arch\nFROM build\nARG TARGETARCH\nRUN echo $TARGETARCH > /target\n";
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
    for (flag, says) in [("linux", "expected OS/ARCH[/VARIANT]"), ("linux/arm64,linux/amd64", "strata manifest create")] {
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
        std::fs::write(&path, "0").unwrap_or_else(|e| panic!("switch off {}: {e} (run `bash tests/deps.sh` as root)", path.display()));
        HandlerOff(path)
    }
}

impl Drop for HandlerOff {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, "1");
    }
}

#[test]
fn a_foreign_run_without_a_handler_names_the_command_to_register_one() {
    let root = TestRoot::new();
    // Only this test builds for s390x: its handler is off for a moment.
    let _off = HandlerOff::new("qemu-s390x");
    root.build("FROM --platform=linux/s390x scratch\nRUN true\n", &[], &[])
        .failure()
        .says("update-binfmts --enable qemu-s390x");
}
