//! Getting an image out of each tool the same way: an OCI layout (strata's
//! `save --format oci-dir`; docker's `save` through `skopeo copy`), unpacked
//! by umoci, so one unpacker reads both sides; and the config document.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::docker::checked;
use crate::support::{busybox_rootfs, set_mode, tar_dir};
use crate::Services;

/// An image as compared: its unpacked root filesystem and its config.
pub struct Unpacked {
    pub rootfs: PathBuf,
    pub config: Value,
}

/// The busybox rootfs of the tests ([`busybox_rootfs`] with every applet,
/// users `app` and `nobody`, a group `staff` that `app` is in), as a plain
/// tarball at `out`.
pub fn busybox_tarball(dir: &Path, out: &Path) {
    busybox_rootfs(dir);
    let list = Command::new("busybox").arg("--list").output().expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = dir.join("bin").join(applet);
        if applet != "busybox" && fs_err::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink("busybox", link).expect("link applet");
        }
    }
    let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    fs_err::write(dir.join("etc/passwd"), passwd).expect("write passwd");
    fs_err::write(dir.join("etc/group"), "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n").expect("write group");
    fs_err::create_dir_all(dir.join("home/app")).expect("create /home/app");
    std::os::unix::fs::chown(dir.join("home/app"), Some(1000), Some(1000)).expect("chown /home/app");
    set_mode(&dir.join("home/app"), 0o750);
    tar_dir(dir, out, false);
}

/// The config blob of the single image in an OCI layout.
pub fn layout_config(layout: &Path) -> Value {
    let index = read_json(&layout.join("index.json"));
    let manifest = read_json(&blob(layout, index["manifests"][0]["digest"].as_str().expect("index.json names a manifest")));
    read_json(&blob(layout, manifest["config"]["digest"].as_str().expect("the manifest names a config")))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

pub fn read_json(path: &Path) -> Value {
    let bytes = fs_err::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// `umoci unpack` of `layout:tag` into `bundle`; returns the rootfs.
pub fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let _ = fs_err::remove_dir_all(bundle);
    let output = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle)
        .output()
        .expect("run umoci (bash tests/deps.sh installs it)");
    checked("umoci unpack", output);
    bundle.join("rootfs")
}

/// strata's image `name`, saved as an OCI layout and unpacked.
pub fn strata_image(services: &Services, name: &str, key: &str) -> Unpacked {
    let layout = fresh(&services.scratch(&format!("strata-layout-{key}")));
    services.strata.ok(&["tag", name, &format!("unpack:{key}")]);
    services.strata.ok(&["save", "--format", "oci-dir", "-o", layout.to_str().expect("UTF-8 path"), &format!("unpack:{key}")]);
    services.strata.ok(&["rmi", &format!("unpack:{key}")]);
    let rootfs = umoci_unpack(&layout, key, &services.scratch(&format!("strata-bundle-{key}")));
    Unpacked { rootfs, config: layout_config(&layout) }
}

/// dockerd's image `name`: `docker save`, `skopeo copy` to an OCI layout,
/// unpacked; the config is the one in docker's archive.
pub fn docker_image(services: &Services, name: &str, key: &str) -> Unpacked {
    let archive = services.scratch(&format!("docker-{key}.tar"));
    services.dockerd.ok(&["save", "-o", archive.to_str().expect("UTF-8 path"), name]);
    let config = docker_archive_config(&archive);
    let layout = fresh(&services.scratch(&format!("docker-layout-{key}")));
    let output = Command::new("skopeo")
        .arg("copy")
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:{key}", layout.display()))
        .output()
        .expect("run skopeo (bash tests/deps.sh installs it)");
    checked("skopeo copy docker-archive → oci", output);
    let rootfs = umoci_unpack(&layout, key, &services.scratch(&format!("docker-bundle-{key}")));
    Unpacked { rootfs, config }
}

/// The config document of the one image in a docker-archive.
pub fn docker_archive_config(archive: &Path) -> Value {
    let manifest = tar_member(archive, "manifest.json");
    let manifest: Value = serde_json::from_slice(&manifest).expect("manifest.json is JSON");
    let config = manifest[0]["Config"].as_str().expect("manifest.json names the config");
    serde_json::from_slice(&tar_member(archive, config)).expect("the config is JSON")
}

fn tar_member(archive: &Path, member: &str) -> Vec<u8> {
    let output = Command::new("tar").arg("-xOf").arg(archive).arg(member).output().expect("run tar");
    assert!(output.status.success(), "{member} in {}: {}", archive.display(), String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// `dir` removed if present; its parent exists.
fn fresh(dir: &Path) -> PathBuf {
    let _ = fs_err::remove_dir_all(dir);
    if let Some(parent) = dir.parent() {
        fs_err::create_dir_all(parent).expect("create a parent directory");
    }
    dir.to_path_buf()
}
