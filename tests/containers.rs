//! Working containers end to end, as root: `strata from`, `run`, `commit`,
//! `containers`, `rm`, volumes, and `build --keep-failed`.

mod support;

use support::TestRoot;

fn root() -> TestRoot {
    let root = TestRoot::new();
    root.busybox();
    root
}

fn container_dirs(root: &TestRoot) -> usize {
    let dir = root.blobs_dir().parent().unwrap().parent().unwrap().join("containers");
    fs_err::read_dir(dir).map_or(0, |entries| entries.count())
}

#[test]
fn from_run_commit_rm_round_trip() {
    let root = root();
    assert_eq!(root.ok(&["from", "busybox:latest"]).trim(), "busybox-working-container");
    assert_eq!(root.ok(&["from", "--name", "dev", "busybox:latest"]).trim(), "dev");
    root.run(&["from", "--name", "dev", "busybox:latest"]).failure().says("already exists");
    root.ok(&["run", "dev", "--", "sh", "-c", "echo hi > /hello && rm /bin/vi && mkdir -p /var/data"]);
    // A second command sees the first one's changes.
    assert_eq!(root.ok(&["run", "dev", "--", "cat", "/hello"]), "hi\n");
    let list = root.ok(&["containers"]);
    assert!(list.contains("dev") && list.contains("busybox-working-container"), "{list}");

    let id = root.ok(&["commit", "-m", "say hi", "-a", "Ann", "--change", "CMD [\"cat\", \"/hello\"]", "dev", "hello:1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(root.ok(&["run", "--rm", "hello:1"]), "hi\n");
    root.run(&["run", "--rm", "hello:1", "--", "ls", "/bin/vi"]).failure();
    let inspect = root.inspect("hello:1");
    assert_eq!(inspect["Author"], "Ann", "{inspect:#}");
    let history = root.ok(&["history", "hello:1"]);
    assert!(history.contains("say hi") && history.contains("strata commit dev"), "{history}");
    // Mount points the container needed are not part of its layer.
    let rootfs = root.rootfs("hello:1");
    assert!(rootfs.join("var/data").is_dir());

    assert_eq!(root.ok(&["rm", "dev", "busybox-working-container"]), "dev\nbusybox-working-container\n");
    assert_eq!(root.ok(&["containers", "--format", "json"]), "");
    assert_eq!(container_dirs(&root), 0);
    root.run(&["rm", "dev"]).failure().says("no such container");
    // The committed image does not need the container.
    assert_eq!(root.ok(&["run", "--rm", "hello:1"]), "hi\n");
}

#[test]
fn a_container_outlives_its_image_and_garbage_collection() {
    let root = root();
    root.ok(&["tag", "busybox:latest", "base:1"]);
    root.ok(&["from", "--name", "keep", "base:1"]);
    root.ok(&["rmi", "base:1", "busybox:latest"]);
    assert_eq!(root.ok(&["run", "keep", "--", "echo", "still here"]), "still here\n");
    root.ok(&["commit", "keep", "again:1"]);
    assert_eq!(root.ok(&["run", "--rm", "again:1", "--", "echo", "ok"]), "ok\n");
}

#[test]
fn volume_data_stays_on_the_host_and_out_of_commits() {
    let root = root();
    let host = root.scratch("volume");
    fs_err::create_dir_all(&host).unwrap();
    let volume = format!("{}:/data", host.display());
    root.ok(&["run", "--rm", "-v", &volume, "busybox:latest", "--", "sh", "-c", "echo kept > /data/file"]);
    assert_eq!(fs_err::read_to_string(host.join("file")).unwrap(), "kept\n");

    root.ok(&["from", "--name", "vol", "busybox:latest"]);
    root.ok(&["run", "-v", &volume, "vol", "--", "sh", "-c", "echo more >> /data/file && echo in-layer > /mine"]);
    assert_eq!(fs_err::read_to_string(host.join("file")).unwrap(), "kept\nmore\n");
    root.ok(&["commit", "vol", "vol:1"]);
    let rootfs = root.rootfs("vol:1");
    assert!(rootfs.join("mine").is_file());
    assert!(!rootfs.join("data").exists(), "the volume's mount point was committed");

    let read_only = format!("{}:/data:ro", host.display());
    let denied = root.run(&["run", "--rm", "-v", &read_only, "busybox:latest", "--", "sh", "-c", "echo x > /data/file"]);
    assert_ne!(denied.code, Some(0), "a read-only volume was written");
}

#[test]
fn keep_failed_keeps_the_failed_step_as_a_container() {
    let root = root();
    let dockerfile = "FROM busybox:latest\nENV STAGE=debug\nWORKDIR /w\nRUN echo partial > /w/out && exit 3\n";
    let run = root.build(dockerfile, &[], &["--keep-failed"]).failure();
    let message = run.message();
    assert!(message.contains("code 3") && message.contains("line 4"), "{message}");
    assert!(message.contains("strata run failed-step -- sh"), "{message}");
    let inside = root.ok(&["run", "failed-step", "--", "sh", "-c", "pwd; cat out; echo $STAGE"]);
    assert_eq!(inside, "/w\npartial\ndebug\n");
    root.ok(&["rm", "failed-step"]);
    // Without the flag nothing is kept.
    root.build(dockerfile, &[], &[]).failure();
    assert_eq!(root.ok(&["containers", "--format", "json"]), "");
}

#[test]
fn native_snapshotter_runs_one_off_containers_and_refuses_working_ones() {
    let root = root();
    let out = root.ok(&["run", "--rm", "--snapshotter", "native", "busybox:latest", "--", "sh", "-c", "echo hi > /x && cat /x"]);
    assert_eq!(out, "hi\n");
    root.ok(&["from", "--name", "w", "busybox:latest"]);
    root.run(&["run", "--snapshotter", "native", "w", "--", "true"]).failure().says("working containers need overlayfs");
}

/// Ctrl-C in `strata run` goes to the command; strata outlives it and
/// still takes the mount points out of the container's changes.
#[test]
fn ctrl_c_reaches_the_command_and_strata_cleans_up() {
    let root = root();
    root.ok(&["from", "--name", "int", "busybox:latest"]);
    let mut run = root.command(&["run", "int", "--", "sh", "-c", "touch /made; echo ready; sleep 30"]);
    std::os::unix::process::CommandExt::process_group(&mut run, 0);
    run.stdout(std::process::Stdio::piped());
    let mut child = run.spawn().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130), "the command's exit code (killed by SIGINT)");
    root.ok(&["commit", "int", "int:1"]);
    let rootfs = root.rootfs("int:1");
    assert!(rootfs.join("made").exists());
    let layer = root.layers("int:1").pop().unwrap();
    for mount_point in ["proc", "sys", "dev/null"] {
        assert!(!layer.contains(mount_point), "{mount_point} was committed:\n{layer}");
    }
}

#[test]
fn bad_names_volumes_and_missing_containers_are_refused_plainly() {
    let root = root();
    root.run(&["from", "--name", "../escape", "busybox:latest"]).failure().says("invalid container name \"../escape\"");
    root.run(&["from", "no-such-image:1"]).failure();
    root.run(&["run", "--rm", "-v", "relative-only", "busybox:latest", "--", "true"]).failure().says("expected HOST:CONTAINER[:ro]");
    root.run(&["run", "--rm", "-v", "/tmp:relative", "busybox:latest", "--", "true"]).failure().says("the container path must be absolute");
    root.run(&["commit", "nothing-here", "x:1"]).failure().says("no such container: nothing-here");
    root.ok(&["from", "--name", "c", "busybox:latest"]);
    root.run(&["commit", "--change", "NOTANINSTRUCTION x", "c", "x:1"]).failure();
    assert_eq!(container_dirs(&root), 1, "failed commands left containers behind");
}
