//! strata inside an unprivileged container: the repository's `Dockerfile`
//! built by strata itself (context from `image/gather.sh`: the test's
//! strata binary and its libraries, on a busybox base), loaded into a
//! privately started dockerd and run WITHOUT `--privileged` — only the
//! security options rootless BuildKit documents — as docs/kubernetes.md's
//! Job runs it: a build with RUN, COPY and a cache mount against a registry
//! on 127.0.0.1, `--cache-to`/`--cache-from type=registry` and `--push`.

mod support;

use std::path::Path;
use std::process::Command;

use support::docker::Dockerd;
use support::registry::Registry;
use support::TestRoot;

/// What rootless BuildKit's docs ask of the container runtime (and
/// docs/kubernetes.md's securityContext says).
const SECURITY: &[&str] = &["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined"];

/// Builds strata's own image with strata, from the repository's Dockerfile.
fn strata_image(host: &TestRoot) -> std::path::PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let context = host.scratch("self");
    fs_err::create_dir_all(context.join("image")).unwrap();
    for file in ["Dockerfile", ".dockerignore", "image/gather.sh"] {
        fs_err::copy(repo.join(file), context.join(file)).unwrap();
    }
    let output = Command::new("sh").arg(context.join("image/gather.sh")).arg(support::strata_binary()).output().expect("run image/gather.sh");
    assert!(output.status.success(), "image/gather.sh: {}", String::from_utf8_lossy(&output.stderr));
    host.busybox();
    host.ok(&["build", "-q", "-t", "strata:self", context.to_str().unwrap()]);
    let archive = host.scratch("strata-image.tar");
    host.ok(&["save", "--format", "docker-archive", "-o", archive.to_str().unwrap(), "strata:self"]);
    archive
}

fn run_build(docker: &Dockerd, volume: &Path, context: &Path, args: &[&str]) -> String {
    let mut all = SECURITY.to_vec();
    all.extend_from_slice(&["--network", "none"]);
    all.extend_from_slice(args);
    run_in_container(docker, volume, context, &all)
}

/// `docker run … strata:self build --progress plain ARGS /workspace`, the
/// security options (if any) among `args` before the first that is not one.
fn run_in_container(docker: &Dockerd, volume: &Path, context: &Path, args: &[&str]) -> String {
    let (volume, context) = (format!("{}:/var/lib/strata", volume.display()), format!("{}:/workspace", context.display()));
    let mut all = vec!["run", "--rm", "--network", "host"];
    let opts = args.chunks(2).take_while(|pair| pair[0] == "--security-opt").count() * 2;
    all.extend_from_slice(&args[..opts]);
    let args = &args[opts..];
    all.extend_from_slice(&["-v", &volume, "-v", &context, "strata:self", "build", "--progress", "plain"]);
    all.extend_from_slice(args);
    all.push("/workspace");
    let output = docker.docker(&all).output().expect("run docker");
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "strata in the container failed:\n{log}");
    log
}

#[test]
fn builds_and_pushes_in_an_unprivileged_container() {
    let host = TestRoot::new();
    let archive = strata_image(&host);
    let registry = Registry::start();
    let reg = registry.host();
    host.ok(&["tag", "busybox:latest", &format!("{reg}/busybox:1")]);
    host.ok(&["push", &format!("{reg}/busybox:1")]);
    let docker = Dockerd::start();
    docker.ok(&["load", "-i", archive.to_str().unwrap()]);

    let context = host.scratch("inner");
    fs_err::create_dir_all(&context).unwrap();
    let dockerfile = format!(
        "FROM {reg}/busybox:1\nCOPY a /a\nRUN --mount=type=cache,target=/cache echo run >> /cache/log && cat /a /cache/log > /out && chown 1000 /out\n"
    );
    fs_err::write(context.join("Dockerfile"), dockerfile).unwrap();
    fs_err::write(context.join("a"), "from the context\n").unwrap();
    let (cache, app) = (format!("type=registry,ref={reg}/cache:1"), format!("{reg}/app:1"));
    let first = run_build(&docker, &host.scratch("volume-1"), &context, &["--cache-to", &cache, "--push", "-t", &app]);
    assert!(first.contains(&format!("pushed {app}")), "{first}");

    // A fresh store (another pod) gets every step from the registry cache.
    let second = run_build(&docker, &host.scratch("volume-2"), &context, &["--cache-from", &cache, "--push", "-t", &app]);
    assert_eq!(support::build::cached_steps(&second), 2, "{second}");

    let check = TestRoot::new();
    check.ok(&["pull", &app]);
    let rootfs = check.rootfs(&app);
    assert_eq!(fs_err::read_to_string(rootfs.join("out")).unwrap(), "from the context\nrun\n");
}

/// Docker's default seccomp profile refuses user namespaces: strata, root
/// in the container, falls back to chroot isolation, says so loudly first,
/// and still builds the image a root build on the host gives.
#[test]
fn falls_back_to_chroot_under_dockers_default_profiles() {
    let host = TestRoot::new();
    let archive = strata_image(&host);
    let registry = Registry::start();
    let reg = registry.host();
    host.ok(&["tag", "busybox:latest", &format!("{reg}/busybox:1")]);
    host.ok(&["push", &format!("{reg}/busybox:1")]);
    let docker = Dockerd::start();
    docker.ok(&["load", "-i", archive.to_str().unwrap()]);

    let dockerfile = format!(
        "FROM {reg}/busybox:1\nCOPY a /a\nRUN --mount=type=cache,target=/cache echo run >> /cache/log && cat /a /cache/log > /out && chown 1000:1000 /out && rm /bin/vi\n"
    );
    let context = host.write_context(&dockerfile, &[("a", "from the context\n")]);
    let app = format!("{reg}/app:chroot");
    let log = run_in_container(&docker, &host.scratch("volume-chroot"), &context, &["--push", "-t", &app]);
    let first = log.lines().find(|l| l.starts_with("strata:")).unwrap_or_default();
    assert!(first.contains("WARNING: CHROOT ISOLATION"), "the first lines say chroot isolation:\n{log}");
    assert!(log.contains(&format!("pushed {app}")), "{log}");

    let check = TestRoot::new();
    check.ok(&["pull", &app]);
    let rootfs = check.rootfs(&app);
    assert_eq!(fs_err::read_to_string(rootfs.join("out")).unwrap(), "from the context\nrun\n");
    assert!(!rootfs.join("bin/vi").exists() && !rootfs.join("cache").exists());
    // The same layers as a root build with namespaces on the host.
    host.build(&dockerfile, &[], &["-t", "app:host"]).success();
    assert_eq!(check.layers(&app)[1..], host.layers("app:host")[1..]);
}
