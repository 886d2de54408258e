//! strata building on bases other tools made. Each directory of
//! `testdata/differential-bases/` is named for the tool that makes its base
//! (`docker_import`, `docker_commit`, `classic_builder`, `buildkit`,
//! `buildah`); the base is pushed to the test registry, and strata builds
//! the directory's `Dockerfile` (`FROM ${BASE}`, pulled on demand) on it.
//! The result — every file outside `/bin`, the config and the history — is
//! compared with the directory's `expected` (`STRATA_BLESS=1` rewrites it).
//! `base.Dockerfile`, where present, is what the builders build the base from.

use std::path::Path;
use std::process::Command;

use libtest_mimic::{Failed, Trial};

use crate::compare;
use crate::image::{busybox_tarball, strata_image};
use crate::support::docker::checked;
use crate::{blessing, case_dirs, Services, Shared, BASE};

pub fn trials(shared: &Shared) -> Vec<Trial> {
    case_dirs("differential-bases")
        .into_iter()
        .map(|dir| {
            let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let shared = shared.clone();
            Trial::test(format!("bases::{name}"), move || run_case(shared.get(), &dir, &name))
        })
        .collect()
}

fn run_case(services: &Services, dir: &Path, name: &str) -> Result<(), Failed> {
    let base = format!("{}/base-{}:1", services.registry.host(), name.replace('_', "-"));
    match name {
        "docker_import" => docker_import(services, &base),
        "docker_commit" => docker_commit(services, &base),
        "classic_builder" => docker_build(services, dir, &base, "0"),
        "buildkit" => docker_build(services, dir, &base, "1"),
        "buildah" => buildah(services, &base),
        other => return Err(format!("no recipe for a base made by {other:?}").into()),
    }
    let tag = format!("on-{}:latest", name.replace('_', "-"));
    let context = dir.to_str().expect("UTF-8 path");
    let base_arg = format!("BASE={base}");
    services.strata.run(&["build", "--progress", "plain", "--build-arg", &base_arg, "-t", &tag, context]).success();
    let image = strata_image(services, &tag, &format!("on-{name}"));
    let actual = describe_outside_bin(&image.rootfs, &image.config);
    let path = dir.join("expected");
    if blessing() {
        return fs_err::write(&path, actual).map_err(|e| format!("{}: {e}", path.display()).into());
    }
    let expected = fs_err::read_to_string(&path).map_err(|e| format!("{}: {e} (STRATA_BLESS=1 writes it)", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(expected.as_str(), actual.as_str());
    Err(format!("{} differs:\n{}", path.display(), diff.unified_diff().header("expected", "actual")).into())
}

/// [`compare::describe`] without the busybox applets of `/bin`.
fn describe_outside_bin(rootfs: &Path, config: &serde_json::Value) -> String {
    let lines = compare::describe(rootfs, config);
    lines.iter().filter(|l| !l.starts_with("rootfs symlink bin/") && !l.starts_with("rootfs file bin/")).map(|l| format!("{l}\n")).collect()
}

/// `docker import` with changes: user, workdir, entrypoint and cmd.
fn docker_import(services: &Services, base: &str) {
    let tarball = services.scratch("import-base.tar");
    busybox_tarball(&services.scratch("import-rootfs"), &tarball);
    let changes = ["ENV PATH=/bin", "USER app", "WORKDIR /home/app", r#"ENTRYPOINT ["/bin/sh", "-c"]"#, r#"CMD ["echo imported"]"#];
    let mut args = vec!["import"];
    for change in &changes {
        args.extend_from_slice(&["-c", change]);
    }
    args.extend_from_slice(&[tarball.to_str().expect("UTF-8 path"), base]);
    services.dockerd.ok(&args);
    services.dockerd.ok(&["push", base]);
}

/// `docker commit` of a container that added a user and a file.
fn docker_commit(services: &Services, base: &str) {
    let container = "strata-diff-commit";
    let _ = services.dockerd.docker(&["rm", "-f", container]).output();
    let script = "echo builder:x:2000:2000::/home/builder:/bin/sh >> /etc/passwd && echo builder:x:2000: >> /etc/group && mkdir -p /home/builder && chown 2000:2000 /home/builder && echo committed > /committed.txt";
    services.dockerd.ok(&["run", "--network=none", "--name", container, BASE, "sh", "-c", script]);
    services.dockerd.ok(&["commit", "-c", r#"CMD ["cat", "/committed.txt"]"#, "-c", "ENV COMMITTED=yes", container, base]);
    services.dockerd.ok(&["rm", container]);
    services.dockerd.ok(&["push", base]);
}

/// `docker build` of the case's `base.Dockerfile`; `buildkit` "0" is the classic builder.
fn docker_build(services: &Services, dir: &Path, base: &str, buildkit: &str) {
    let dockerfile = dir.join("base.Dockerfile");
    let mut command = services.dockerd.docker(&["build", "--network=host", "-t", base, "-f"]);
    command.arg(&dockerfile).arg(dir).env("DOCKER_BUILDKIT", buildkit);
    checked("docker build of the base", command.output().expect("run docker build"));
    services.dockerd.ok(&["push", base]);
}

/// `buildah from scratch`, the busybox rootfs added as a tarball (`add`
/// keeps its owners; `copy` would make everything root's), configured,
/// committed in Docker format (for the healthcheck) and pushed; private
/// storage (vfs) under the scratch space.
fn buildah(services: &Services, base: &str) {
    let tarball = services.scratch("buildah-base.tar");
    busybox_tarball(&services.scratch("buildah-rootfs"), &tarball);
    let container = buildah_ok(services, &["from", "scratch"]).trim().to_owned();
    buildah_ok(services, &["add", &container, tarball.to_str().expect("UTF-8 path"), "/"]);
    let config = [
        "--env=PATH=/bin",
        "--user=app",
        "--workingdir=/home/app",
        r#"--entrypoint=["/bin/sh", "-c"]"#,
        "--cmd=echo from buildah",
        "--healthcheck=CMD true",
        "--healthcheck-interval=7s",
        "--label=made-by=buildah",
        "--port=8080/tcp",
    ];
    let mut args = vec!["config"];
    args.extend_from_slice(&config);
    args.push(&container);
    buildah_ok(services, &args);
    buildah_ok(services, &["commit", "--format", "docker", &container, "base-buildah"]);
    buildah_ok(services, &["push", "--tls-verify=false", "base-buildah", &format!("docker://{base}")]);
}

/// `buildah ARGS…` with the suite's private storage; returns stdout.
pub fn buildah_ok(services: &Services, args: &[&str]) -> String {
    let root = services.scratch("buildah-root");
    let runroot = services.scratch("buildah-runroot");
    let output = Command::new("buildah")
        .arg("--root")
        .arg(&root)
        .arg("--runroot")
        .arg(&runroot)
        .args(["--storage-driver", "vfs"])
        .args(args)
        .env("BUILDAH_ISOLATION", "chroot")
        .output()
        .expect("run buildah (bash tests/deps.sh installs it)");
    checked(&format!("buildah {args:?}"), output)
}
