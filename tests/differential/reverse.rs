//! The other direction: strata builds `testdata/differential-reverse/`, and
//! dockerd and Buildah take the image as strata hands it over — a
//! docker-archive (`docker load`), an oci-archive (`skopeo copy` into the
//! daemon: dockerd 20.10's `docker load` reads no OCI layout) and a push to
//! the registry (`docker pull`, `buildah pull`). dockerd must report
//! strata's image ID (the config digest) and run the image; Buildah must
//! see its config and files.

use std::path::PathBuf;
use std::process::Command;

use libtest_mimic::{Failed, Trial};

use crate::bases::buildah_ok;
use crate::support::docker::checked;
use crate::{Services, Shared};

/// What the image's CMD prints.
const BUILT: &str = "built by strata\n";

/// One way of handing the image over, checked.
type Check = fn(&Services) -> Result<(), Failed>;

pub fn trials(shared: &Shared) -> Vec<Trial> {
    let cases: [(&str, Check); 4] = [
        ("reverse::docker_load_of_docker_archive", docker_archive),
        ("reverse::skopeo_oci_archive_into_dockerd", oci_archive),
        ("reverse::push_then_docker_pull", docker_pull),
        ("reverse::push_then_buildah_pull_and_run", buildah_pull),
    ];
    cases
        .into_iter()
        .map(|(name, check)| {
            let shared = shared.clone();
            Trial::test(name, move || check(shared.get()))
        })
        .collect()
}

/// Builds the image once per trial (cached after the first); returns strata's image ID.
fn build(services: &Services, tag: &str) -> String {
    let context = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/differential-reverse");
    services.strata.run(&["build", "--progress", "plain", "-t", tag, context.to_str().expect("UTF-8 path")]).success();
    services.strata.inspect(tag)["Id"].as_str().expect("inspect shows the ID").to_owned()
}

/// dockerd knows `name` under `id` and runs it: CMD prints what the build wrote.
fn docker_runs(services: &Services, name: &str, id: &str) -> Result<(), Failed> {
    let docker_id = services.dockerd.ok(&["image", "inspect", "-f", "{{.Id}}", name]);
    if docker_id.trim() != id {
        return Err(format!("dockerd reports {} for {name}, strata {id}", docker_id.trim()).into());
    }
    let printed = services.dockerd.ok(&["run", "--rm", "--network=none", name]);
    let hello = services.dockerd.ok(&["run", "--rm", "--network=none", name, "sh", "-c", "id -un; cat /home/runner/hello.txt"]);
    if printed != BUILT || hello != "runner\nhello\n" {
        return Err(format!("docker run {name}: CMD printed {printed:?}, the user and file check {hello:?}").into());
    }
    Ok(())
}

fn docker_archive(services: &Services) -> Result<(), Failed> {
    let id = build(services, "rev-docker-archive:1");
    let archive = services.scratch("rev-docker-archive.tar");
    services.strata.ok(&["save", "--format", "docker-archive", "-o", archive.to_str().expect("UTF-8 path"), "rev-docker-archive:1"]);
    services.dockerd.ok(&["load", "-i", archive.to_str().expect("UTF-8 path")]);
    docker_runs(services, "rev-docker-archive:1", &id)
}

fn oci_archive(services: &Services) -> Result<(), Failed> {
    let id = build(services, "rev-oci-archive:1");
    let archive = services.scratch("rev-oci-archive.tar");
    services.strata.ok(&["save", "--format", "oci-archive", "-o", archive.to_str().expect("UTF-8 path"), "rev-oci-archive:1"]);
    let output = Command::new("skopeo")
        .args(["copy", "--dest-daemon-host", &services.dockerd.host()])
        .arg(format!("oci-archive:{}:1", archive.display()))
        .arg("docker-daemon:rev-oci-archive:1")
        .output()
        .expect("run skopeo");
    checked("skopeo copy oci-archive → docker-daemon", output);
    docker_runs(services, "rev-oci-archive:1", &id)
}

fn docker_pull(services: &Services) -> Result<(), Failed> {
    let id = build(services, "rev-push:1");
    let remote = format!("{}/rev-push:1", services.registry.host());
    services.strata.ok(&["push", "rev-push:1", &remote]);
    services.dockerd.ok(&["pull", &remote]);
    docker_runs(services, &remote, &id)
}

fn buildah_pull(services: &Services) -> Result<(), Failed> {
    let id = build(services, "rev-buildah:1");
    let remote = format!("{}/rev-buildah:1", services.registry.host());
    services.strata.ok(&["push", "rev-buildah:1", &remote]);
    buildah_ok(services, &["pull", "--tls-verify=false", &format!("docker://{remote}")]);
    let inspect: serde_json::Value =
        serde_json::from_str(&buildah_ok(services, &["inspect", "--type", "image", &remote])).map_err(|e| format!("buildah inspect: {e}"))?;
    let seen_id = inspect["FromImageID"].as_str().unwrap_or_default().trim_start_matches("sha256:");
    let config = &inspect["OCIv1"]["config"];
    if format!("sha256:{seen_id}") != id || config["User"] != "runner" || config["Cmd"] != serde_json::json!(["cat", "/built.txt"]) {
        return Err(format!("buildah inspect {remote}: ID {seen_id}, config {config} (strata: {id})").into());
    }
    let container = buildah_ok(services, &["from", &remote]).trim().to_owned();
    let printed = buildah_ok(services, &["run", "--isolation", "chroot", &container, "--", "cat", "/built.txt", "/home/runner/hello.txt"]);
    buildah_ok(services, &["rm", &container]);
    if printed != format!("{BUILT}hello\n") {
        return Err(format!("buildah run printed {printed:?}").into());
    }
    Ok(())
}
