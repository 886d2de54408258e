//! A container on a copied root (`RootfsCopy`): a plain directory, not a
//! mount point, which `pivot_into` must still be able to enter; and the
//! step's changes must come out in overlayfs form once the mount points
//! the container needed are taken back out.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use strata::exec::{remove_mount_points, ContainerSpec, Isolation, NetworkMode, RootfsCopy, Runtime, DEFAULT_PATH};

fn busybox_layer(dir: &Path) -> PathBuf {
    let layer = dir.join("base");
    fs_err::create_dir_all(layer.join("bin")).unwrap();
    fs_err::copy("/usr/bin/busybox", layer.join("bin/busybox")).expect("/usr/bin/busybox (apt-get install busybox-static)");
    std::os::unix::fs::symlink("busybox", layer.join("bin/sh")).unwrap();
    fs_err::write(layer.join("gone"), "gone").unwrap();
    layer
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn container_runs_on_a_copied_root() {
    let dir = tempfile::tempdir().unwrap();
    let layers = [busybox_layer(dir.path())];
    let scratch = dir.path().join("step");
    let copied = RootfsCopy { layers: &layers, scratch: &scratch, read_only: false }.prepare().unwrap();
    let spec = ContainerSpec {
        root: copied.root().to_path_buf(),
        argv: ["/bin/sh", "-c", "echo made > /made && rm /gone && cat /made"].map(String::from).to_vec(),
        env: vec![format!("PATH={DEFAULT_PATH}")],
        user: None,
        workdir: "/".into(),
        hostname: "copied".into(),
        network: NetworkMode::Host,
        binds: Vec::new(),
        tmpfs: Vec::new(),
        cgroup_procs: Vec::new(),
        privileged: false,
        cap_add: Vec::new(),
        cap_drop: Vec::new(),
        isolation: Isolation::Namespaces,
    };
    let runtime = Runtime::new(PathBuf::from(env!("CARGO_BIN_EXE_strata")));
    let mut lines = Vec::new();
    let code = runtime.run(&spec, &mut |line| lines.push(line.to_owned())).unwrap();
    assert_eq!((code, lines), (0, vec!["made".to_owned()]));
    let upper = copied.finish().unwrap().unwrap();
    remove_mount_points(&upper, &layers, &spec).unwrap();
    assert_eq!(names(&upper), ["gone", "made"]);
    let gone = fs_err::symlink_metadata(upper.join("gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    assert_eq!(fs_err::read_to_string(upper.join("made")).unwrap(), "made\n");
}
