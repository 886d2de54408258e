//! The confinement of RUN steps and `strata run` (needs root): each attack
//! an ordinary RUN could make on the host is a test that fails while the
//! attack works, and beside them the legitimate work the default
//! confinement must still allow. The capability and seccomp state of a
//! step is compared with `testdata/sandbox/status.txt`
//! (`STRATA_BLESS=1` rewrites it).

mod support;

use std::path::Path;

use support::{Run, TestRoot};

/// A test root with the busybox base imported.
fn root() -> TestRoot {
    let root = TestRoot::new();
    root.busybox();
    root
}

/// Builds `FROM busybox` plus `steps`, uncached.
fn build(root: &TestRoot, steps: &str, args: &[&str]) -> Run {
    let dockerfile = format!("FROM busybox:latest\n{steps}\n");
    let mut all = vec!["--no-cache"];
    all.extend_from_slice(args);
    root.build(&dockerfile, &[], &all)
}

/// The RUN `script` must fail, saying `expected`.
fn refused(script: &str, expected: &str) {
    let root = root();
    build(&root, &format!("RUN {script}"), &[]).failure().says(expected);
}

/// The RUN `script` must succeed (it checks something and exits 1 when
/// the check fails); returns the build log.
fn holds(script: &str) -> String {
    let root = root();
    build(&root, &format!("RUN {script}"), &[]).success().stderr
}

// ------------------------------------------------------------ mounts

#[test]
fn read_only_bind_mount_cannot_be_remounted_writable() {
    let root = root();
    let run = build(&root, "RUN --mount=type=bind,target=/ctx mount -o remount,rw,bind /ctx && touch /ctx/owned", &[]);
    run.failure().says("permission denied");
    assert!(!root.context_dir().join("owned").exists(), "the step wrote into the build context");
}

#[test]
fn etc_hosts_cannot_be_remounted_writable() {
    refused("mount -o remount,bind,rw /etc/hosts", "permission denied");
}

#[test]
fn tmpfs_cannot_be_mounted() {
    refused("mkdir -p /mnt && mount -t tmpfs none /mnt", "permission denied");
}

#[test]
fn cgroup2_cannot_be_mounted_to_make_a_cgroup_in_the_host_tree() {
    // Cleans up after itself should the attack work.
    refused("mkdir -p /cg && mount -t cgroup2 none /cg && mkdir /cg/strata-escape && rmdir /cg/strata-escape", "permission denied");
}

#[test]
fn sys_cannot_be_remounted_writable() {
    refused("mount -o remount,rw /sys", "permission denied");
}

#[test]
fn no_new_user_namespace() {
    refused("unshare -U true", "Operation not permitted");
}

#[test]
fn no_new_mount_namespace() {
    refused("unshare -m true", "Operation not permitted");
}

// ------------------------------------------------------------ devices

/// `b MAJOR MINOR` of the host's root filesystem (a real disk here).
fn host_root_device() -> String {
    use std::os::unix::fs::MetadataExt;
    let dev = fs_err::metadata("/").expect("stat /").dev();
    format!("{} {}", nix::sys::stat::major(dev), nix::sys::stat::minor(dev))
}

/// As Docker, a step may make device nodes (CAP_MKNOD), but every
/// filesystem it can write is mounted `nodev`, so none can be opened.
#[test]
fn block_device_of_the_host_disk_cannot_be_read() {
    let script = format!("mknod /b b 8 0 && mknod /disk b {} && {{ head -c 512 /disk > /dev/null || head -c 512 /b > /dev/null; }}", host_root_device());
    refused(&script, "Permission denied");
}

#[test]
fn device_made_in_a_writable_mount_cannot_be_opened() {
    for dir in ["/", "/dev/", "/tmp/cache/"] {
        let root = root();
        let script = format!("RUN --mount=type=cache,target=/tmp/cache mknod {dir}null2 c 1 3 && echo x > {dir}null2");
        build(&root, &script, &[]).failure().says("Permission denied");
    }
}

// ------------------------------------------------------------ /proc and /sys

#[test]
fn proc_sys_is_read_only() {
    // Writes the value it read: harmless should the attack work.
    refused("cat /proc/sys/vm/swappiness > /tmp/v && cat /tmp/v > /proc/sys/vm/swappiness", "Read-only file system");
}

#[test]
fn sysrq_trigger_cannot_be_written() {
    // Absent on kernels without CONFIG_MAGIC_SYSRQ.
    holds("if [ -e /proc/sysrq-trigger ]; then ! echo h > /proc/sysrq-trigger; fi");
}

#[test]
fn kernel_log_cannot_be_read() {
    refused("dmesg", "Operation not permitted");
}

#[test]
fn kernel_addresses_are_hidden() {
    holds("head -n1 /proc/kallsyms | grep -q . && ! grep -qv '^0000000000000000 ' /proc/kallsyms");
}

#[test]
fn proc_files_that_show_the_host_are_masked() {
    // Masked files are /dev/null (char 1:3); absent ones need no mask.
    holds("for f in /proc/keys /proc/kcore /proc/timer_list /proc/sched_debug; do [ ! -e $f ] || [ \"$(stat -c %t:%T $f)\" = 1:3 ] || exit 1; done; test -z \"$(cat /proc/keys)\"");
}

#[test]
fn sys_firmware_is_empty() {
    holds("test -d /sys/firmware && test -z \"$(ls -A /sys/firmware)\"");
}

#[test]
fn cgroup_namespace_shows_only_the_step_cgroup() {
    holds("cat /proc/self/cgroup && ! grep -v ':/$' /proc/self/cgroup");
}

// ------------------------------------------------------------ open_by_handle_at

#[test]
fn open_by_handle_at_cannot_reach_host_files() {
    let root = root();
    let dir = root.context_dir();
    fs_err::create_dir_all(&dir).unwrap();
    let built = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(dir.join("handle"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sandbox/handle.c"))
        .status()
        .expect("run gcc (tests/deps.sh installs gcc and libc6-dev)");
    assert!(built.success(), "gcc -static failed (libc6-dev is needed)");
    let run = build(&root, "COPY handle /handle\nRUN /handle /etc/hosts", &[]).success();
    assert!(run.stderr.contains("handle of the bind-mounted file: Operation not permitted"), "{}", run.stderr);
    assert!(run.stderr.contains("forged handle of the host root: Operation not permitted"), "{}", run.stderr);
}

// ------------------------------------------------------------ environment

#[test]
fn init_shows_nothing_of_the_host_environment_or_paths() {
    let root = root();
    let dockerfile = "FROM busybox:latest\n\
        RUN --mount=type=secret,id=tok,env=TOKEN true\n\
        RUN echo \"cmdline=$(tr '\\0' ' ' < /proc/1/cmdline)\"; echo \"environ=$(tr '\\0' ' ' < /proc/1/environ)\"; env | sed 's/^/env: /'\n";
    root.write_context(dockerfile, &[]);
    let context = root.context_dir();
    let args = ["build", "--progress", "plain", "--no-cache", "--secret", "id=tok,env=STRATA_TEST_SECRET", context.to_str().unwrap()];
    let output = root.command(&args).env("STRATA_TEST_MARKER", "marker-4c1d9e").env("STRATA_TEST_SECRET", "secret-8f2b71").output().expect("run strata");
    let run = Run::from_output(&args, output).success();
    assert!(run.stderr.contains("cmdline=strata __init"), "{}", run.stderr);
    for secret in ["marker-4c1d9e", "secret-8f2b71"] {
        assert!(!run.stderr.contains(secret), "the log shows {secret:?}:\n{}", run.stderr);
    }
    let seen: Vec<&str> = run.stderr.lines().filter(|l| ["cmdline=", "environ=", "env: "].iter().any(|p| l.contains(p))).collect();
    for leak in ["marker-4c1d9e", "secret-8f2b71", "/dev/shm", "strata-run-", "container.json", "strata-test-"] {
        assert!(!seen.iter().any(|l| l.contains(leak)), "the step saw {leak:?}:\n{}", seen.join("\n"));
    }
}

// ------------------------------------------------------------ legitimate work

#[test]
fn users_can_be_made_and_files_chowned() {
    // busybox-static has no adduser: the same edits by hand, then su.
    let log = holds(
        "echo 'bob:x:1001:1001::/home/bob:/bin/sh' >> /etc/passwd && echo 'bob:x:1001:' >> /etc/group \
         && mkdir -p /home/bob && chown bob:bob /home/bob && su bob -c 'touch /home/bob/mine && id -u' \
         && stat -c 'owner=%U' /home/bob/mine",
    );
    assert!(log.contains("1001") && log.contains("owner=bob"), "{log}");
}

#[test]
fn ping_uses_a_raw_socket() {
    holds("ping -c1 127.0.0.1");
}

#[test]
fn port_80_can_be_bound() {
    let log = holds(
        // The listener's stdin stays open: a listener reading EOF at once would
        // half-close the connection, and a client seeing that may exit before
        // it has sent anything.
        "--network=none sh -c '(sleep 10 | nc -l -p 80 > /tmp/got &); \
         for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo hello | nc 127.0.0.1 80 && break; sleep 0.2; done; \
         sleep 0.5; echo \"got=$(cat /tmp/got)\"'",
    );
    assert!(log.contains("got=hello"), "{log}");
}

#[test]
fn privileged_run_can_mount() {
    let root = root();
    let confined = root.run(&["run", "--rm", "busybox:latest", "--", "sh", "-c", "mkdir -p /mnt && mount -t tmpfs none /mnt"]);
    assert_ne!(confined.code, Some(0), "an unprivileged container mounted a tmpfs");
    let script = "mkdir -p /mnt && mount -t tmpfs none /mnt && grep -q ' /sys sysfs rw' /proc/mounts && grep -E '^CapEff|^Seccomp:' /proc/self/status";
    let run = root.run(&["run", "--rm", "--privileged", "busybox:latest", "--", "sh", "-c", script]).success();
    assert!(run.stdout.contains("Seccomp:\t0"), "{}", run.stdout);
    assert!(!run.stdout.contains("CapEff:\t00000000a80425fb"), "{}", run.stdout);
}

#[test]
fn cap_add_and_cap_drop_change_the_default_set() {
    let root = root();
    let add_address = ["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"];
    root.run(&[&["run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", "busybox:latest", "--"][..], &add_address].concat()).success();
    let without = root.run(&[&["run", "--rm", "--network", "none", "busybox:latest", "--"][..], &add_address].concat());
    assert_ne!(without.code, Some(0), "NET_ADMIN is not in the default set");
    let dropped = root.run(&["run", "--rm", "--cap-drop", "CHOWN", "busybox:latest", "--", "chown", "1000", "/tmp"]);
    assert_ne!(dropped.code, Some(0), "chown worked without CAP_CHOWN");
    root.run(&["run", "--rm", "--cap-add", "FLY", "busybox:latest", "--", "true"]).failure().says("unknown capability \"FLY\"");
}

/// The Cap*, Seccomp and NoNewPrivs lines of a RUN step, as root and as a
/// non-root USER (whose effective and permitted sets the kernel empties on
/// setuid), against the golden file.
#[test]
fn default_capabilities_and_seccomp_match_docker() {
    let root = root();
    let lines = "grep -E '^(Cap|Seccomp:|NoNewPrivs)'";
    let steps = format!("RUN {lines} /proc/self/status > /status-root\nUSER app\nRUN {lines} /proc/self/status > /tmp/status-app");
    build(&root, &steps, &["-t", "status:1"]).success();
    let rootfs = root.rootfs("status:1");
    let read = |path: &str| fs_err::read_to_string(rootfs.join(path)).unwrap();
    let actual = format!("# root\n{}# USER app\n{}", read("status-root"), read("tmp/status-app"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sandbox/status.txt");
    if std::env::var_os("STRATA_BLESS").is_some() {
        fs_err::write(&path, &actual).unwrap();
    }
    assert_eq!(actual, fs_err::read_to_string(&path).unwrap(), "{} differs (STRATA_BLESS=1 rewrites it)", path.display());
}

// ------------------------------------------------------------ errors and layers

#[test]
fn setup_errors_name_their_cause() {
    let root = root();
    // WORKDIR makes its directory: the step before the RUN replaces it.
    let run = build(&root, "WORKDIR /w\nRUN rmdir /w && touch /w\nRUN true", &[]).failure().says("cannot enter the working directory \"/w\"");
    assert!(!run.stderr.contains("cannot run"), "{}", run.stderr);
    let run = build(&root, "USER nobody\nRUN true", &[]).failure().says("cannot switch to user \"nobody\"");
    assert!(!run.stderr.contains("cannot run"), "{}", run.stderr);
    build(&root, "RUN [\"/nonexistent\"]", &[]).failure().says("cannot run \"/nonexistent\"");
}

#[test]
fn nul_bytes_in_the_command_fail_the_step() {
    let root = root();
    build(&root, "RUN echo a\0b", &[]).failure().says("contains a NUL byte");
    build(&root, "ENV X=a\0b\nRUN true", &[]).failure().says("environment variable \"X\" contains a NUL byte");
}

#[test]
fn mount_points_are_not_committed_under_a_symlinked_etc() {
    let root = root();
    // A base whose /etc is a link to private/etc (as on macOS-style images).
    let dockerfile = "FROM busybox:latest AS base\n\
        RUN mkdir -p /new/private/etc /new/tmp && cp -a /bin /new/ && cp /etc/passwd /etc/group /new/private/etc/ && ln -s private/etc /new/etc\n\
        FROM scratch\n\
        COPY --from=base /new/ /\n\
        RUN echo second\n";
    root.build(dockerfile, &[], &["-t", "etclink:1"]).success();
    let layers = root.layers("etclink:1");
    let last = layers.last().unwrap();
    for file in ["hosts", "resolv.conf", "hostname"] {
        assert!(!last.contains(&format!("private/etc/{file}")), "the {file} placeholder was committed:\n{last}");
    }
}
