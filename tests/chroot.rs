//! Chroot isolation (`--isolation chroot`, what strata falls back to where
//! no user namespace can be made) on this machine: the loud warning first,
//! RUN with every mount kind put in as files and taken out, layers the same
//! as a namespaced build's, USER/WORKDIR/ENV honoured, and what cannot be
//! honoured refused. The fallback itself, in a container under Docker's
//! default profiles, is in tests/incontainer.rs.

mod support;

use support::build::golden;
use support::TestRoot;

/// Whiteouts, an opaque directory, owners other than root, a setuid bit.
const CHANGES: &str = "FROM busybox:latest
RUN mkdir -p /d/e /keep && touch /d/e/f /gone /keep/k && echo hi > /hello && chown 1000:1000 /hello && chown 65534:100 /keep/k && chown 2:3 /d/e && chmod 4755 /hello
RUN rm /gone && rm -rf /d && mkdir /d && touch /d/new && rm /bin/vi
COPY a /a
";

fn chroot_build(root: &TestRoot, dockerfile: &str, files: &[(&str, &str)], args: &[&str]) -> support::Run {
    let context = root.write_context(dockerfile, files);
    let mut all = vec!["build", "--progress", "plain"];
    all.extend_from_slice(args);
    all.push(context.to_str().unwrap());
    let output = root.command(&all).env("STRATA_ISOLATION", "chroot").output().expect("run strata");
    support::Run::from_output(&all, output)
}

#[test]
fn layers_match_a_namespaced_build_and_the_warning_comes_first() {
    let (chroot, namespaced) = (TestRoot::new(), TestRoot::new());
    for root in [&chroot, &namespaced] {
        root.busybox();
    }
    let built = chroot_build(&chroot, CHANGES, &[("a", "a\n")], &["-t", "changes"]).success();
    let first = built.stderr.lines().next().unwrap_or_default();
    assert!(first.contains("WARNING: CHROOT ISOLATION") && first.contains("does NOT protect"), "{}", built.stderr);
    namespaced.build(CHANGES, &[("a", "a\n")], &["-t", "changes"]).success();
    let (ours, theirs) = (chroot.layers("changes"), namespaced.layers("changes"));
    assert_eq!(ours[1..], theirs[1..], "chroot isolation gives the layers namespaces give");
    golden("rootless-whiteouts", "layers", &ours[1..].join("\n"));
}

#[test]
fn run_mounts_are_put_in_and_taken_out() {
    let root = TestRoot::new();
    root.busybox();
    let secret = root.scratch("secret");
    fs_err::write(&secret, "s3cret\n").unwrap();
    let dockerfile = "FROM busybox:latest
ENV GREETING=hello
COPY a /a
RUN --mount=type=cache,target=/cache --mount=type=secret,id=s --mount=type=tmpfs,target=/t --mount=type=bind,target=/ctx \
 echo run >> /cache/log && cat /a /cache/log /run/secrets/s /ctx/a > /out && echo x > /t/x && echo $GREETING > /env && ls /dev > /devs
RUN echo 'bob:x:1234:1234::/home/bob:/bin/sh' >> /etc/passwd
USER bob
WORKDIR /home/bob/w
RUN id -u > me && pwd >> me
";
    let secret_arg = format!("id=s,src={}", secret.display());
    chroot_build(&root, dockerfile, &[("a", "a\n")], &["--secret", &secret_arg, "-t", "app"]).success();
    let rootfs = root.rootfs("app");
    assert_eq!(fs_err::read_to_string(rootfs.join("out")).unwrap(), "a\nrun\ns3cret\na\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("env")).unwrap(), "hello\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("home/bob/w/me")).unwrap(), "1234\n/home/bob/w\n");
    for device in ["null", "zero", "urandom"] {
        assert!(fs_err::read_to_string(rootfs.join("devs")).unwrap().lines().any(|l| l == device), "/dev/{device} was there");
    }
    // Nothing of the mounts reaches the image.
    for gone in ["cache", "t", "ctx", "run/secrets", "dev/null", "etc/hostname", "etc/resolv.conf"] {
        assert!(fs_err::symlink_metadata(rootfs.join(gone)).is_err(), "/{gone} is not in the image");
    }
    // The cache mount kept what the first build wrote.
    fs_err::write(root.context_dir().join("a"), "b\n").unwrap();
    chroot_build(&root, dockerfile, &[], &["--secret", &secret_arg, "-t", "app"]).success();
    assert_eq!(fs_err::read_to_string(root.rootfs("app").join("out")).unwrap(), "b\nrun\nrun\ns3cret\nb\n");
}

#[test]
fn an_image_file_at_a_mount_target_is_kept() {
    let root = TestRoot::new();
    root.busybox();
    let dockerfile = "FROM busybox:latest
COPY hostname /etc/hostname
RUN mkdir -p /cache && echo image > /cache/mine
RUN --mount=type=cache,target=/cache cat /etc/hostname /cache/mine > /seen 2>&1; echo cache > /cache/written
";
    chroot_build(&root, dockerfile, &[("hostname", "image\n")], &["-t", "kept"]).success();
    let rootfs = root.rootfs("kept");
    assert_eq!(fs_err::read_to_string(rootfs.join("seen")).unwrap(), "strata\ncat: can't open '/cache/mine': No such file or directory\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("cache/mine")).unwrap(), "image\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("etc/hostname")).unwrap(), "image\n");
    assert!(!rootfs.join("cache/written").exists(), "the cache's content stays out of the image");
}

#[test]
fn what_chroot_cannot_honour_is_refused() {
    let root = TestRoot::new();
    root.busybox();
    chroot_build(&root, "FROM busybox:latest\nRUN --network=none true\n", &[], &[]).failure().says("--network=none cannot be honoured with chroot isolation");
    chroot_build(&root, "FROM busybox:latest\nRUN true\n", &[], &["--snapshotter", "overlay"]).failure().says("--snapshotter native");
}
