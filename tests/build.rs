//! `strata build` end to end: the real binary, a busybox base imported as
//! `busybox:latest`, a context in a temporary directory, and checks on the
//! log, the store and the exported image (see tests/support/build.rs).
//!
//! Trees are compared with golden files under `testdata/build/<case>/`;
//! `STRATA_BLESS=1 cargo test --test build` rewrites them.

mod support;

use support::build::{cached_steps, golden, image_id, steps, tree};
use support::TestRoot;

/// A test root with the busybox base imported.
fn root() -> TestRoot {
    let root = TestRoot::new();
    root.busybox();
    root
}

// ---------------------------------------------------------------- stages

#[test]
fn multi_stage_copies_from_named_and_indexed_stages() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest AS first
RUN mkdir /out && echo one > /out/one.txt

FROM busybox:latest
RUN echo two > /two.txt

FROM busybox:latest AS final
COPY --from=first /out/one.txt /result/
COPY --from=1 /two.txt /result/two.txt
";
    root.build(dockerfile, &[], &["-t", "multi:1"]).success();
    let rootfs = root.rootfs("multi:1");
    golden("multi_stage", "result.txt", &tree(&rootfs.join("result")));
}

#[test]
fn target_builds_only_the_stages_it_needs() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest AS base
RUN echo base > /base.txt

FROM base AS wanted
RUN echo wanted > /wanted.txt

FROM busybox:latest AS broken
RUN exit 1

FROM does-not-exist.invalid/nothing:never AS missing
RUN echo never

FROM wanted AS last
COPY --from=broken / /
COPY --from=missing / /
";
    let run = root.build(dockerfile, &[], &["--target", "wanted", "-t", "wanted:1"]).success();
    assert!(!run.stderr.contains("exit 1"), "the broken stage ran:\n{}", run.stderr);
    assert!(!run.stderr.contains("does-not-exist"), "the missing base was resolved:\n{}", run.stderr);
    assert_eq!(steps(&run.stderr), 2, "only base and wanted run:\n{}", run.stderr);
    let rootfs = root.rootfs("wanted:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("base.txt")).unwrap(), "base\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("wanted.txt")).unwrap(), "wanted\n");
}

#[test]
fn unknown_target_is_a_clear_error() {
    let root = root();
    let dockerfile = "FROM busybox:latest AS one\nFROM busybox:latest AS two\n";
    let run = root.build(dockerfile, &[], &["--target", "three"]).failure();
    assert!(run.message().contains("three"), "the message names the stage:\n{}", run.stderr);
    assert!(run.message().to_lowercase().contains("stage") || run.message().contains("target"), "{}", run.stderr);
}

#[test]
fn syntax_error_shows_file_line_and_column() {
    let root = root();
    let run = root.build("FROM busybox:latest\nRUN true\nCOPPY a b\n", &[], &[]).failure();
    assert!(run.stderr.contains("Dockerfile:3:1"), "file:line:col in:\n{}", run.stderr);
    assert!(run.stderr.contains("unknown instruction: COPPY"), "{}", run.stderr);
}

// ---------------------------------------------------------------- ARG / ENV

#[test]
fn global_arg_selects_the_base_and_build_arg_overrides_it() {
    let root = root();
    root.busybox_as("other:1", &["LABEL which=other"]);
    let dockerfile = "\
ARG BASE=busybox:latest
FROM ${BASE}
RUN echo built > /built
";
    root.build(dockerfile, &[], &["-t", "a:1"]).success();
    root.build(dockerfile, &[], &["-t", "b:1", "--build-arg", "BASE=other:1"]).success();
    assert_eq!(root.inspect("a:1")["Config"]["Labels"]["which"], serde_json::Value::Null);
    assert_eq!(root.inspect("b:1")["Config"]["Labels"]["which"], "other");
}

#[test]
fn arg_scoping_build_args_and_env_precedence() {
    let root = root();
    let dockerfile = "\
ARG GLOBAL=global-default
ARG REDECLARED=outer
FROM busybox:latest
RUN echo \"global=[$GLOBAL]\" > /args
ARG REDECLARED
RUN echo \"redeclared=[$REDECLARED]\" >> /args
ARG OVERRIDDEN=dockerfile
RUN echo \"overridden=[$OVERRIDDEN]\" >> /args
ARG SHADOWED=arg
ENV SHADOWED=env
RUN echo \"shadowed=[$SHADOWED]\" >> /args
ARG TARGETARCH
RUN echo \"targetarch=[$TARGETARCH]\" >> /args
";
    let run =
        root.build(dockerfile, &[], &["-t", "args:1", "--build-arg", "OVERRIDDEN=cli", "--build-arg", "SHADOWED=cli", "--build-arg", "NOBODY=x"]).success();
    assert!(run.stderr.contains("NOBODY"), "the unused build arg is reported:\n{}", run.stderr);
    let rootfs = root.rootfs("args:1");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(
        fs_err::read_to_string(rootfs.join("args")).unwrap(),
        format!("global=[]\nredeclared=[outer]\noverridden=[cli]\nshadowed=[env]\ntargetarch=[{arch}]\n")
    );
    let warning = run.stderr.lines().filter(|l| l.contains("NOBODY")).collect::<Vec<_>>();
    assert_eq!(warning.len(), 1, "one warning:\n{}", run.stderr);
    assert!(!run.stderr.lines().any(|l| l.contains("OVERRIDDEN") && l.contains("not consumed")), "{}", run.stderr);
}

// ---------------------------------------------------------------- COPY

#[test]
fn copy_rules() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest
COPY one.txt /app/files/
COPY dir /app/dircontents
COPY *.md /app/docs/
COPY --chown=app:app one.txt /app/owned
COPY --chmod=0750 one.txt /app/mode
COPY <<EOF /app/heredoc.txt
from a heredoc
EOF
COPY toplink /app/toplink
COPY ignored.txt* /app/maybe/
";
    let files = [
        ("one.txt", "one\n"),
        ("dir/a", "a\n"),
        ("dir/sub/b", "b\n"),
        ("x.md", "x\n"),
        ("y.md", "y\n"),
        ("ignored.txt", "secret\n"),
        (".dockerignore", "ignored.txt\n"),
    ];
    let context = root.write_context(dockerfile, &files);
    // Inside a copied directory a symlink is copied as it is, even when it
    // points outside; a symlink named as the source is followed, with the
    // context as its root (BuildKit's rootPath), so `../../one.txt` is one.txt.
    std::os::unix::fs::symlink("/etc/../../outside", context.join("dir/link")).unwrap();
    std::os::unix::fs::symlink("../../one.txt", context.join("toplink")).unwrap();
    for (path, mode) in [("one.txt", 0o644), ("dir/a", 0o644), ("dir/sub/b", 0o600), ("x.md", 0o644), ("y.md", 0o644), ("dir", 0o755), ("dir/sub", 0o755)] {
        support::set_mode(&context.join(path), mode);
    }
    root.build(dockerfile, &[], &["-t", "copy:1"]).success();
    let rootfs = root.rootfs("copy:1");
    golden("copy_rules", "app.txt", &tree(&rootfs.join("app")));
}

#[test]
fn dockerignored_file_does_not_invalidate_the_cache() {
    let root = root();
    let dockerfile = "FROM busybox:latest\nCOPY . /app/\nRUN ls /app > /listing\n";
    let files = [("kept.txt", "kept\n"), ("ignored.log", "v1\n"), (".dockerignore", "*.log\n")];
    let first = root.build(dockerfile, &files, &["-t", "ign:1"]).success();
    let rootfs = root.rootfs("ign:1");
    assert!(!rootfs.join("app/ignored.log").exists(), "the ignored file was copied");
    assert!(rootfs.join("app/kept.txt").exists());
    let second = root.build(dockerfile, &[("ignored.log", "v2 changed\n")], &["-t", "ign:1"]).success();
    assert_eq!(cached_steps(&second.stderr), 2, "all cached:\n{}", second.stderr);
    assert_eq!(image_id(&first), image_id(&second));
}

// ---------------------------------------------------------------- RUN

#[test]
fn run_writes_deletes_and_replaces() {
    writes_deletes_and_replaces("overlay");
}

/// The copying snapshotter gives the same trees and the same layer.
#[test]
fn native_snapshotter_writes_deletes_and_replaces_alike() {
    writes_deletes_and_replaces("native");
}

fn writes_deletes_and_replaces(snapshotter: &str) {
    let root = root();
    let dockerfile = "\
FROM busybox:latest
RUN mkdir -p /data/old && echo old > /data/old/file && echo keep > /data/keep
RUN echo new > /new.txt && rm /etc/group && rm -r /data && mkdir /data && echo fresh > /data/fresh
";
    root.build(dockerfile, &[], &["-t", "run:1", "--snapshotter", snapshotter]).success();
    let rootfs = root.rootfs("run:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("new.txt")).unwrap(), "new\n");
    assert!(!rootfs.join("etc/group").exists(), "the deleted base file is gone");
    golden("run_writes_deletes_and_replaces", "data.txt", &tree(&rootfs.join("data")));
    let layers = root.layers("run:1");
    assert_eq!(layers.len(), 3, "base and two RUN layers");
    golden("run_writes_deletes_and_replaces", "last_layer.txt", &layers[2]);
}

#[test]
fn run_user_workdir_shell_exec_and_heredoc() {
    user_workdir_shell_exec_and_heredoc("overlay");
}

#[test]
fn native_snapshotter_user_workdir_shell_exec_and_heredoc() {
    user_workdir_shell_exec_and_heredoc("native");
}

fn user_workdir_shell_exec_and_heredoc(snapshotter: &str) {
    let root = root();
    let dockerfile = "\
FROM busybox:latest
WORKDIR /work/deep
RUN pwd > /out.pwd
USER app
RUN id -u > /tmp/uid
USER root
SHELL [\"/bin/sh\", \"-c\", \"echo shell-changed > /out.shell; $0\"]
RUN true
SHELL [\"/bin/sh\", \"-c\"]
RUN [\"/bin/sh\", \"-c\", \"echo exec-form > /out.exec\"]
RUN <<EOF
echo line1 > /out.heredoc
echo line2 >> /out.heredoc
EOF
";
    root.build(dockerfile, &[], &["-t", "user:1", "--snapshotter", snapshotter]).success();
    let rootfs = root.rootfs("user:1");
    let read = |p: &str| fs_err::read_to_string(rootfs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert!(rootfs.join("work/deep").is_dir());
    assert_eq!(read("out.pwd"), "/work/deep\n");
    assert_eq!(read("tmp/uid"), "1000\n");
    assert_eq!(read("out.shell"), "shell-changed\n");
    assert_eq!(read("out.exec"), "exec-form\n");
    assert_eq!(read("out.heredoc"), "line1\nline2\n");
}

#[test]
fn failing_run_reports_code_output_and_line() {
    let root = root();
    let dockerfile = "FROM busybox:latest\nRUN true\nRUN echo first-line && echo last-words && exit 3\n";
    let run = root.build(dockerfile, &[], &[]).failure();
    assert!(run.message().contains("exited with code 3"), "the code:\n{}", run.stderr);
    assert!(run.stderr.contains("last-words"), "the output:\n{}", run.stderr);
    assert!(run.message().contains("(Dockerfile line 3)"), "the line:\n{}", run.stderr);
}

#[test]
fn run_network_none_has_only_loopback() {
    let root = root();
    let dockerfile = "FROM busybox:latest\nRUN --network=none cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' > /devs\n";
    root.build(dockerfile, &[], &["-t", "net:1"]).success();
    let rootfs = root.rootfs("net:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("devs")).unwrap(), "lo\n");
}

#[test]
fn run_cache_mount_persists_between_builds() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest
RUN --mount=type=cache,target=/c (ls /c; date +%s%N > /c/stamp-$RANDOM) && ls /c | wc -l > /count
";
    root.build(dockerfile, &[], &["-t", "cache:1"]).success();
    assert_eq!(fs_err::read_to_string(root.rootfs("cache:1").join("count")).unwrap().trim(), "1");
    root.build(dockerfile, &[], &["-t", "cache:2", "--no-cache"]).success();
    let rootfs = root.rootfs("cache:2");
    assert_eq!(fs_err::read_to_string(rootfs.join("count")).unwrap().trim(), "2", "the second run sees the first one's file");
    let leftover = fs_err::read_dir(rootfs.join("c")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftover, 0, "the cache mount's content is not in the image");
}

// ---------------------------------------------------------------- cache

const CACHE_DOCKERFILE: &str = "\
FROM busybox:latest
ARG VERSION=1
COPY app.txt /app/
RUN echo \"version $VERSION\" > /version
RUN cat /app/app.txt > /copy
";

fn cache_files() -> [(&'static str, &'static str); 2] {
    [("app.txt", "app v1\n"), ("unrelated.txt", "one\n")]
}

#[test]
fn identical_rebuild_is_fully_cached_with_the_same_id() {
    let root = root();
    let first = root.build(CACHE_DOCKERFILE, &cache_files(), &[]).success();
    assert_eq!(cached_steps(&first.stderr), 0);
    let second = root.build(CACHE_DOCKERFILE, &cache_files(), &[]).success();
    assert_eq!(cached_steps(&second.stderr), 3, "every step cached:\n{}", second.stderr);
    assert_eq!(steps(&second.stderr), 3);
    assert_eq!(image_id(&first), image_id(&second));
    let third = root.build(CACHE_DOCKERFILE, &[("unrelated.txt", "two\n")], &[]).success();
    assert_eq!(cached_steps(&third.stderr), 3, "an unrelated file changes nothing:\n{}", third.stderr);
    assert_eq!(image_id(&first), image_id(&third));
}

/// Builds, changes something, rebuilds with `--explain`: returns the log.
fn explain_after(change: impl FnOnce(&TestRoot) -> Vec<String>) -> (TestRoot, String) {
    let root = root();
    root.build(CACHE_DOCKERFILE, &cache_files(), &[]).success();
    let args = change(&root);
    let mut all: Vec<&str> = vec!["--explain"];
    all.extend(args.iter().map(String::as_str));
    let dockerfile = fs_err::read_to_string(root.context_dir().join("Dockerfile")).unwrap();
    let run = root.build(&dockerfile, &[], &all).success();
    (root, run.stderr)
}

#[test]
fn explain_content_change() {
    let (_root, log) = explain_after(|root| {
        root.write_context("", &[("app.txt", "app v2\n")]);
        vec![]
    });
    assert_eq!(cached_steps(&log), 0, "COPY and both RUNs after it miss:\n{log}");
    assert!(log.contains("app.txt content changed"), "{log}");
}

#[test]
fn explain_mode_change() {
    let (_root, log) = explain_after(|root| {
        support::set_mode(&root.context_dir().join("app.txt"), 0o755);
        vec![]
    });
    assert_eq!(cached_steps(&log), 0, "{log}");
    assert!(log.contains("app.txt metadata changed: 0644 0:0 -> 0755 0:0"), "{log}");
}

#[test]
fn explain_build_arg_change() {
    let (_root, log) = explain_after(|_| vec!["--build-arg".into(), "VERSION=2".into()]);
    assert_eq!(cached_steps(&log), 1, "only the COPY stays cached:\n{log}");
    assert!(log.contains("build-arg/env VERSION changed: 1 -> 2"), "{log}");
}

#[test]
fn explain_run_text_change() {
    let (_root, log) = explain_after(|root| {
        root.write_context(&CACHE_DOCKERFILE.replace("cat /app/app.txt", "cat  /app/app.txt"), &[]);
        vec![]
    });
    assert_eq!(cached_steps(&log), 2, "only the last RUN misses:\n{log}");
    assert!(log.contains("MISS: instruction changed:"), "{log}");
}

#[test]
fn explain_base_image_change() {
    let (_root, log) = explain_after(|root| {
        root.busybox_as("busybox:latest", &["LABEL rebuilt=yes"]);
        vec![]
    });
    assert_eq!(cached_steps(&log), 0, "{log}");
    // The first step's parent is the base: reported as a parent change.
    assert!(log.contains("#1 MISS: parent step changed"), "{log}");
}

// ---------------------------------------------------------------- outputs

#[test]
fn print_graph_json_lists_stages_and_edges() {
    let root = root();
    let dockerfile = "FROM busybox:latest AS a\nRUN true\nFROM busybox:latest AS b\nCOPY --from=a /bin/sh /sh\n";
    let out = root.build(dockerfile, &[], &["--print-graph", "--format", "json"]).success().stdout;
    let graph: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    golden("print_graph_json", "graph.json", &out);
    assert!(graph.is_object(), "{graph}");
}

#[test]
fn iidfile_metadata_file_and_oci_output() {
    let root = root();
    let iid = root.scratch("iid");
    let meta = root.scratch("meta.json");
    let archive = root.scratch("out.tar");
    let args = [
        "-t",
        "out:1",
        "--iidfile",
        iid.to_str().unwrap(),
        "--metadata-file",
        meta.to_str().unwrap(),
        "--output",
        &format!("type=oci,dest={}", archive.display()),
    ];
    let run = root.build("FROM busybox:latest\nRUN echo x > /x\n", &[], &args).success();
    let id = image_id(&run);
    assert_eq!(fs_err::read_to_string(&iid).unwrap(), id);
    let metadata: serde_json::Value = serde_json::from_slice(&fs_err::read(&meta).unwrap()).unwrap();
    assert_eq!(metadata["containerimage.config.digest"], id.as_str());
    assert!(metadata["containerimage.digest"].as_str().is_some_and(|d| d.starts_with("sha256:")), "{metadata}");
    let output = std::process::Command::new("skopeo").arg("inspect").arg(format!("oci-archive:{}", archive.display())).output().expect("run skopeo");
    assert!(output.status.success(), "skopeo: {}", String::from_utf8_lossy(&output.stderr));
    let inspected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inspected["Layers"].as_array().unwrap().len(), 2, "{inspected}");
}

#[test]
fn output_to_standard_output_is_the_tarball_alone() {
    let root = root();
    let dockerfile = "FROM scratch\nCOPY hello.txt /\n";
    let run = root.build(dockerfile, &[("hello.txt", "hi\n")], &["--output", "type=tar,dest=-"]).success();
    assert!(run.stdout.starts_with("hello.txt\0"), "standard output is the filesystem's tar: {:?}", &run.stdout[..run.stdout.len().min(64)]);
    assert!(run.stderr.contains("writing image "), "the log stays on stderr:\n{}", run.stderr);
    root.build(dockerfile, &[], &["-q", "--output", "type=tar,dest=-"]).failure().says("--output dest=- writes to standard output");
}

// ---------------------------------------------------------------- more

#[test]
fn stage_inheritance_onbuild_add_and_config() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest AS base
ENV FOO=bar
WORKDIR /w
ONBUILD RUN echo onbuild >> /w/triggered
FROM base AS child
RUN echo \"$FOO $(pwd)\" > /inherited
ADD a.tar /x/
COPY --from=busybox:latest /etc/group /copied-group
RUN --mount=type=tmpfs,target=/tm touch /tm/x && ls /tm > /tmpfs-listing
CMD [\"sh\"]
";
    let context = root.write_context(dockerfile, &[("t/in.txt", "in the tar\n")]);
    let status = std::process::Command::new("tar").arg("-C").arg(context.join("t")).arg("-cf").arg(context.join("a.tar")).arg("in.txt").status().unwrap();
    assert!(status.success());
    let quiet = root.build(dockerfile, &[], &["-q", "--label", "k=v", "-t", "child:1"]).success();
    let id = quiet.stdout.trim().to_owned();
    assert!(id.starts_with("sha256:") && quiet.stdout.lines().count() == 1, "-q prints the ID only: {:?}", quiet.stdout);
    let rootfs = root.rootfs("child:1");
    let read = |p: &str| fs_err::read_to_string(rootfs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("inherited"), "bar /w\n");
    assert_eq!(read("w/triggered"), "onbuild\n", "the trigger ran once");
    assert_eq!(read("x/in.txt"), "in the tar\n", "ADD unpacked the tarball");
    assert_eq!(read("copied-group"), "root:x:0:\napp:x:1000:\n");
    assert_eq!(read("tmpfs-listing"), "x\n");
    assert!(!rootfs.join("tm/x").exists(), "tmpfs content is not committed");
    let config = root.inspect("child:1")["Config"].clone();
    assert_eq!(config["Labels"]["k"], "v");
    assert_eq!(config["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(config["WorkingDir"], "/w");
    // The trigger is consumed: BuildKit clears OnBuild in the child image.
    assert!(config["OnBuild"].is_null(), "ONBUILD triggers fired and are kept: {config}");
}

#[test]
fn workdir_is_created_as_the_current_user() {
    let root = root();
    root.build("FROM busybox:latest\nUSER app\nWORKDIR /home/app/work\nRUN touch file\n", &[], &["-t", "wd:1"]).success();
    let rootfs = root.rootfs("wd:1");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs_err::metadata(rootfs.join("home/app/work")).unwrap().uid(), 1000);
}

#[test]
fn no_cache_filter_reruns_only_that_stage() {
    let root = root();
    let dockerfile = "FROM busybox:latest AS a\nRUN echo a > /a\nFROM busybox:latest AS b\nCOPY --from=a /a /a\nRUN cat /a > /b\n";
    root.build(dockerfile, &[], &[]).success();
    let run = root.build(dockerfile, &[], &["--no-cache-filter", "b"]).success();
    assert_eq!(cached_steps(&run.stderr), 1, "stage a is cached, b reruns:\n{}", run.stderr);
}

#[test]
fn concurrent_builds_share_one_store() {
    let root = root();
    let mut children = Vec::new();
    for n in 0..3 {
        let dir = root.scratch(&format!("ctx-{n}"));
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(dir.join("Dockerfile"), format!("FROM busybox:latest\nRUN echo shared > /shared\nRUN echo {n} > /n\n")).unwrap();
        let tag = format!("par:{n}");
        children.push((
            n,
            root.command(&["build", "--progress", "plain", "-t", &tag, dir.to_str().unwrap()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        ));
    }
    for (n, mut child) in children {
        assert!(child.wait().unwrap().success(), "build {n} failed");
    }
    for n in 0..3 {
        let rootfs = root.rootfs(&format!("par:{n}"));
        assert_eq!(fs_err::read_to_string(rootfs.join("n")).unwrap(), format!("{n}\n"));
        assert_eq!(fs_err::read_to_string(rootfs.join("shared")).unwrap(), "shared\n");
    }
    root.assert_no_partial_blobs();
}

/// Files changed within the stat cache's "just modified" window (2 s) are
/// always read again; waiting it out makes a test's files cacheable.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(2100));
}

fn files_read(meta: &std::path::Path) -> u64 {
    let metadata: serde_json::Value = serde_json::from_slice(&fs_err::read(meta).unwrap()).unwrap();
    metadata["strata.context"]["files_read"].as_u64().unwrap()
}

#[test]
fn one_changed_file_is_the_only_file_read_again() {
    let root = root();
    let meta = root.scratch("meta.json");
    let files: Vec<(String, String)> = (0..50).map(|i| (format!("src/f{i:02}.txt"), format!("file {i}\n"))).collect();
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    let dockerfile = "FROM busybox:latest\nCOPY src /src\n";
    root.write_context(dockerfile, &borrowed);
    settle();
    let args = ["--metadata-file", meta.to_str().unwrap()];
    root.build(dockerfile, &[], &args).success();
    assert_eq!(files_read(&meta), 50);
    root.build(dockerfile, &[], &args).success();
    assert_eq!(files_read(&meta), 0, "an unchanged context is not read again");
    root.write_context("", &[("src/f07.txt", "changed\n")]);
    settle();
    let run = root.build(dockerfile, &[], &args).success();
    assert_eq!(files_read(&meta), 1, "only the changed file is read");
    assert_eq!(cached_steps(&run.stderr), 0, "{}", run.stderr);
}

#[test]
fn context_from_a_tar_on_stdin() {
    let root = root();
    let dir = root.write_context("FROM busybox:latest\nCOPY hello.txt /hello.txt\n", &[("hello.txt", "hi\n")]);
    let tarball = root.scratch("context.tar.gz");
    let status = std::process::Command::new("tar").arg("-C").arg(&dir).arg("-czf").arg(&tarball).arg(".").status().unwrap();
    assert!(status.success());
    let mut command = root.command(&["build", "-q", "-t", "stdin:1", "-"]);
    command.stdin(std::fs::File::open(&tarball).unwrap());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rootfs = root.rootfs("stdin:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("hello.txt")).unwrap(), "hi\n");
}

/// Every file under `dir` (the store), searched for `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = fs_err::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            pending.extend(fs_err::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if meta.is_file() && fs_err::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path);
        }
    }
    found
}

#[test]
fn secrets_reach_the_run_but_never_the_image_cache_or_logs() {
    let root = root();
    let secret = "correct-horse-battery-staple-1234";
    let secret_file = root.scratch("token");
    fs_err::write(&secret_file, secret).unwrap();
    // The Dockerfile compares digests: the value itself must not be in it.
    let digest = sha256_text(secret);
    let dockerfile = format!(
        "FROM busybox:latest\n\
         RUN --mount=type=secret,id=tok test \"$(sha256sum < /run/secrets/tok | cut -c1-64)\" = {digest} && stat -c %a /run/secrets/tok\n\
         RUN --mount=type=secret,id=tok,env=TOKEN test \"$(printf %s \"$TOKEN\" | sha256sum | cut -c1-64)\" = {digest}\n\
         RUN --mount=type=secret,id=absent echo optional secrets may be missing\n"
    );
    let spec = format!("id=tok,src={}", secret_file.display());
    let run = root.build(&dockerfile, &[], &["-t", "secret:1", "--secret", &spec]).success();
    assert!(run.stderr.contains("400"), "mode 0400:\n{}", run.stderr);
    assert!(!run.stderr.contains(secret), "the secret is in the log");
    let store = root.blobs_dir().parent().unwrap().to_path_buf();
    assert_eq!(files_containing(&store, secret.as_bytes()), Vec::<std::path::PathBuf>::new());
    let layers = root.layers("secret:1").join("\n");
    assert!(!layers.contains("run/secrets"), "the mount point was committed:\n{layers}");
    let missing = root.build("FROM busybox:latest\nRUN --mount=type=secret,id=needed,required=true true\n", &[], &[]).failure();
    assert!(missing.stderr.contains("secret \"needed\" is required"), "{}", missing.stderr);
}

fn sha256_text(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout)[..64].to_owned()
}

#[test]
fn bind_mounts_show_context_and_stages_and_never_commit_or_leak_writes() {
    let root = root();
    let dockerfile = "FROM busybox:latest AS tools\n\
        RUN mkdir /tools && echo from-stage > /tools/t.txt\n\
        FROM busybox:latest\n\
        RUN --mount=type=bind,source=data,target=/mnt/ctx cat /mnt/ctx/a.txt > /ctx.txt\n\
        RUN --mount=type=bind,from=tools,source=/tools,target=/mnt/tools cat /mnt/tools/t.txt > /stage.txt\n\
        RUN --mount=type=bind,source=data,target=/mnt/rw,rw echo scribble > /mnt/rw/new.txt\n\
        RUN --mount=type=bind,source=data,target=/mnt/ro sh -c 'echo x > /mnt/ro/y' || echo read-only\n";
    let run = root.build(dockerfile, &[("data/a.txt", "from-context\n")], &["-t", "bind:1"]).success();
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    assert!(!root.context_dir().join("data/new.txt").exists(), "an rw bind mount wrote into the context");
    let rootfs = root.rootfs("bind:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("ctx.txt")).unwrap(), "from-context\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("stage.txt")).unwrap(), "from-stage\n");
    assert!(!rootfs.join("mnt").exists(), "mount points were committed");
    let changed = root.build(dockerfile, &[("data/a.txt", "changed\n")], &["--explain"]).success();
    assert!(changed.stderr.contains("data/a.txt content changed"), "{}", changed.stderr);
}

#[test]
fn mounts_without_a_target_land_at_the_workdir() {
    let root = root();
    let dockerfile = "FROM busybox:latest\n\
        WORKDIR /src\n\
        RUN --mount=type=bind cat a.txt > /seen.txt && ls > /listing.txt\n\
        RUN --mount=ro,source=data cat b.txt > /seen-sub.txt\n\
        RUN --mount=type=cache echo kept > note && cat note > /cache.txt\n\
        RUN --mount=type=bind <<EOF\n\
        cp a.txt /heredoc.txt\n\
        EOF\n";
    let run = root.build(dockerfile, &[("a.txt", "at-the-workdir\n"), ("data/b.txt", "sub\n")], &["-t", "notarget:1"]).success();
    let rootfs = root.rootfs("notarget:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("seen.txt")).unwrap(), "at-the-workdir\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("listing.txt")).unwrap(), "Dockerfile\na.txt\ndata\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("seen-sub.txt")).unwrap(), "sub\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("cache.txt")).unwrap(), "kept\n");
    assert_eq!(fs_err::read_to_string(rootfs.join("heredoc.txt")).unwrap(), "at-the-workdir\n");
    assert!(rootfs.join("src").is_dir(), "the workdir itself stays");
    assert_eq!(fs_err::read_dir(rootfs.join("src")).unwrap().count(), 0, "what the mounts showed was committed: {}", run.stderr);
    let refused = root.build("FROM busybox:latest\nRUN --mount=type=bind true\n", &[], &[]).failure();
    assert!(refused.stderr.contains("invalid mount target \"/\""), "{}", refused.stderr);
}

#[test]
fn run_steps_report_resources_and_obey_memory_limits() {
    let root = root();
    let dockerfile = "FROM busybox:latest\nRUN dd if=/dev/zero of=/dev/null bs=100M count=1 && echo allocated\n";
    let run = root.build(dockerfile, &[], &[]).success();
    let resources = run.stderr.lines().find(|l| l.contains("peak memory")).unwrap_or_default().to_owned();
    assert!(resources.contains("MiB") && resources.contains("cpu"), "{}", run.stderr);
    let limited = root.build(dockerfile, &[], &["--no-cache", "--memory", "32m"]).failure();
    assert!(limited.stderr.contains("out of memory"), "{}", limited.stderr);
}

#[test]
fn a_killed_build_leaves_no_mounts_processes_or_temporary_files() {
    let root = root();
    let marker = format!("strata-kill-test-{}", std::process::id());
    let dockerfile = format!("FROM busybox:latest\nRUN echo started && sleep 30 # {marker}\n");
    let dir = root.write_context(&dockerfile, &[]);
    let mut build = root.command(&["build", "--progress", "plain", dir.to_str().unwrap()]);
    build.stderr(std::process::Stdio::piped());
    let mut child = build.spawn().unwrap();
    // Wait until the RUN is running, then kill strata outright.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 && !line.contains("started") {
        line.clear();
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let store = root.blobs_dir().parent().unwrap().parent().unwrap().to_path_buf();
    let mountinfo = fs_err::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(store.to_str().unwrap()), "mounts left behind:\n{mountinfo}");
    let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains(&marker), "the container's processes survived");
    root.ok(&["images"]);
    assert!(root.tmp_entries().is_empty(), "tmp/ not cleaned: {:?}", root.tmp_entries());
    // The next RUN sweeps the killed build's private scratch (it may hold secrets).
    root.build("FROM busybox:latest\nRUN true\n", &[], &[]).success();
    assert!(shm_scratch_of(child.id()).is_empty(), "private scratch of the killed build left in /dev/shm");
}

/// The /dev/shm scratch directories of the strata process `pid`.
fn shm_scratch_of(pid: u32) -> Vec<String> {
    let prefix = format!("strata-run-{pid}-");
    fs_err::read_dir("/dev/shm")
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(&prefix)).collect())
        .unwrap_or_default()
}

#[test]
fn cache_mounts_take_owner_mode_and_locked_sharing() {
    let root = root();
    let owned = "FROM busybox:latest\nRUN --mount=type=cache,id=owned,target=/c,uid=1000,mode=0700 stat -c 'owner=%u mode=%a' /c\n";
    let run = root.build(owned, &[], &[]).success();
    assert!(run.stderr.contains("owner=1000 mode=700"), "{}", run.stderr);
    let dockerfile = "FROM busybox:latest AS a\n\
        RUN --mount=type=cache,id=shared-cache,target=/c,sharing=locked echo a >> /c/log && sleep 1\n\
        FROM busybox:latest AS b\n\
        RUN --mount=type=cache,id=shared-cache,target=/c,sharing=locked echo b >> /c/log && sleep 1\n\
        FROM busybox:latest\n\
        COPY --from=a /etc/passwd /a\n\
        COPY --from=b /etc/passwd /b\n\
        RUN --mount=type=cache,id=shared-cache,target=/c cat /c/log\n";
    let run = root.build(dockerfile, &[], &[]).success();
    let log: Vec<&str> = run.stderr.lines().filter(|l| l.ends_with(" a") || l.ends_with(" b")).collect();
    assert_eq!(log.len(), 2, "both stages wrote to the cache:\n{}", run.stderr);
    // Locked: the second stage waited for the first (each holds it 1 s).
    let durations: Vec<f64> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" DONE ") && l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.trim_end_matches('s').parse().ok())
        .collect();
    assert!(durations.iter().any(|d| *d >= 1.9), "no stage waited for the lock:\n{}", run.stderr);
}

/// A fake SSH agent: answers each connection's first line with `agent: LINE`.
fn fake_agent(path: &std::path::Path) -> std::thread::JoinHandle<()> {
    use std::io::{BufRead, Write};
    let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(1) {
            let conn = conn.unwrap();
            let mut line = String::new();
            std::io::BufReader::new(&conn).read_line(&mut line).unwrap();
            (&conn).write_all(format!("agent: {line}").as_bytes()).unwrap();
        }
    })
}

#[test]
fn ssh_mounts_reach_the_agent_through_a_socket_that_is_never_committed() {
    let root = root();
    let dir = root.context_dir();
    fs_err::create_dir_all(&dir).unwrap();
    let built = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(dir.join("ping"))
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/ssh/ping.c"))
        .status()
        .expect("run gcc");
    assert!(built.success(), "gcc -static failed (libc6-dev is needed)");
    let agent_path = root.scratch("agent.sock");
    let agent = fake_agent(&agent_path);
    let dockerfile = "FROM busybox:latest\n\
        COPY ping /usr/bin/ping-agent\n\
        RUN --mount=type=ssh,mode=0660,uid=1000 ping-agent && echo \"sock=$SSH_AUTH_SOCK\" && stat -c 'mode=%a uid=%u' $SSH_AUTH_SOCK\n\
        RUN --mount=type=ssh,id=missing echo optional agent skipped\n";
    let ssh = format!("default={}", agent_path.display());
    let run = root.build(dockerfile, &[], &["--ssh", &ssh, "-t", "ssh:1"]).success();
    assert!(run.stderr.contains("agent: ping"), "the agent was not reached:\n{}", run.stderr);
    assert!(run.stderr.contains("sock=/run/buildkit/ssh_agent.0"), "{}", run.stderr);
    assert!(run.stderr.contains("mode=660 uid=1000"), "{}", run.stderr);
    assert!(run.stderr.contains("optional agent skipped"), "{}", run.stderr);
    agent.join().unwrap();
    let rootfs = root.rootfs("ssh:1");
    assert!(!rootfs.join("run/buildkit").exists(), "the socket's mount point was committed");

    let required = "FROM busybox:latest\nRUN --mount=type=ssh,id=deploy,required=true true\n";
    root.build(required, &[], &["--ssh", &ssh]).failure().says("ssh agent \"deploy\" is required");
    root.build("FROM busybox:latest\n", &[], &["--ssh", "default=/nonexistent.sock"]).failure().says("--ssh default=/nonexistent.sock");
}

#[test]
fn two_hundred_layers_build_run_and_export() {
    let root = root();
    let mut dockerfile = String::from("FROM busybox:latest\n");
    let mut files = Vec::new();
    for i in 0..200 {
        dockerfile.push_str(&format!("COPY f{i:03} /layers/\n"));
        files.push((format!("f{i:03}"), format!("{i}\n")));
    }
    // Past the mount option page (~128 lower dirs for Docker and BuildKit).
    dockerfile.push_str("RUN ls /layers | wc -l > /count && cat /layers/f000 /layers/f199\n");
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), c.as_str())).collect();
    let run = root.build(&dockerfile, &files, &["-t", "deep:1"]).success();
    assert!(run.stderr.contains(" 199\n"), "{}", run.stderr);
    let inspect = root.inspect("deep:1");
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(202), "base + 200 COPY + RUN");
    assert_eq!(root.ok(&["run", "--rm", "deep:1", "--", "cat", "/count"]).trim(), "200");
    let rootfs = root.rootfs("deep:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("layers/f199")).unwrap(), "199\n");
}

#[test]
fn ctrl_c_leaves_no_mounts_processes_or_temporary_files() {
    let root = root();
    let marker = format!("strata-interrupt-test-{}", std::process::id());
    let dockerfile = format!("FROM busybox:latest\nRUN echo started && sleep 30 # {marker}\n");
    let dir = root.write_context(&dockerfile, &[]);
    let mut build = root.command(&["build", "--progress", "plain", dir.to_str().unwrap()]);
    // Its own process group, as a shell gives a foreground job: Ctrl-C
    // sends SIGINT to the whole group (strata, its init, the command).
    std::os::unix::process::CommandExt::process_group(&mut build, 0);
    build.stderr(std::process::Stdio::piped());
    let mut child = build.spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 && !line.contains("started") {
        line.clear();
    }
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exit code of an interrupted build:\n{rest}");
    assert!(rest.contains("build interrupted"), "{rest}");
    assert!(shm_scratch_of(child.id()).is_empty(), "private scratch left in /dev/shm");
    let store = root.blobs_dir().parent().unwrap().parent().unwrap().to_path_buf();
    let mountinfo = fs_err::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(store.to_str().unwrap()), "mounts left behind:\n{mountinfo}");
    let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&ps.stdout).contains(&marker), "the container's processes survived");
    assert!(root.tmp_entries().is_empty(), "tmp/ not cleaned: {:?}", root.tmp_entries());
}

/// Builds and runs on a store inside an overlay mount (overlayfs cannot
/// use an overlay as its upper layer), with `extra_path` first in PATH;
/// the build's stderr and the run's stdout.
fn build_on_a_store_overlay_cannot_use(root: &TestRoot, extra_path: Option<&std::path::Path>) -> (String, String) {
    let base = root.scratch("overlaid");
    for dir in ["l", "u", "w", "m"] {
        fs_err::create_dir_all(base.join(dir)).unwrap();
    }
    let tarball = root.scratch("busybox.tar");
    let rootfs = root.scratch("busybox-rootfs");
    support::busybox_rootfs(&rootfs);
    support::tar_dir(&rootfs, &tarball, false);
    let context = root.write_context("FROM busybox:1\nRUN echo copied > /hi\n", &[]);
    let b = base.display();
    let script = format!(
        "mount -t overlay overlay -o lowerdir={b}/l,upperdir={b}/u,workdir={b}/w {b}/m && \
         strata --root {b}/m/root import {tar} busybox:1 >/dev/null && \
         strata --root {b}/m/root build --progress plain -t x {ctx} && \
         strata --root {b}/m/root run --rm x -- cat /hi",
        tar = tarball.display(),
        ctx = context.display(),
    );
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_strata")).parent().unwrap();
    let mut path = vec![bin_dir.to_path_buf()];
    path.extend(extra_path.map(std::path::Path::to_path_buf));
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    // A private mount namespace: the overlay goes away with the shell.
    let out = std::process::Command::new("unshare").args(["-m", "sh", "-c", &script]).env("PATH", std::env::join_paths(path).unwrap()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stderr, stdout)
}

/// `auto` tries fuse-overlayfs where the kernel's overlay cannot be
/// mounted (rootless BuildKit's order), and the build works on it.
#[test]
fn auto_snapshotter_takes_fuse_overlayfs_on_a_store_overlay_cannot_use() {
    let root = TestRoot::new();
    let (stderr, stdout) = build_on_a_store_overlay_cannot_use(&root, None);
    assert!(stderr.contains("using fuse-overlayfs"), "fuse-overlayfs is installed by tests/deps.sh: {stderr}");
    assert!(stdout.ends_with("copied\n"), "{stdout}");
}

/// Where fuse-overlayfs fails too, `auto` falls back to copying, and the
/// build still works.
#[test]
fn auto_snapshotter_falls_back_to_native_on_a_store_overlay_cannot_use() {
    let root = TestRoot::new();
    // A fuse-overlayfs that always fails, as where /dev/fuse is missing.
    let fake_fuse = root.scratch("fake-fuse");
    fs_err::create_dir_all(&fake_fuse).unwrap();
    fs_err::write(fake_fuse.join("fuse-overlayfs"), "#!/bin/sh\necho 'fuse: device not found' >&2\nexit 1\n").unwrap();
    fs_err::set_permissions(fake_fuse.join("fuse-overlayfs"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (stderr, stdout) = build_on_a_store_overlay_cannot_use(&root, Some(&fake_fuse));
    assert!(stderr.contains("using the native (copying) snapshotter"), "{stderr}");
    assert!(stdout.ends_with("copied\n"), "{stdout}");
}

/// A built layer is kept once, as its snapshot: its tar is made again for a
/// save, checked against the diff_id, so a snapshot changed behind the
/// store's back fails the save instead of exporting different content.
#[test]
fn built_layers_are_kept_as_snapshots_and_streamed_when_saved() {
    let root = root();
    root.build("FROM busybox:latest\nRUN echo data > /data\n", &[], &["-t", "lazy:1"]).success();
    let inspect = root.inspect("lazy:1");
    let diff_id = inspect["Layers"][1]["DiffID"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    assert!(!root.blobs_dir().join(&diff_id).exists(), "the layer's tar was stored beside its snapshot");
    let snapshot = root.snapshots_dir().join(&diff_id);
    assert!(snapshot.join("data").is_file());
    let rootfs = root.rootfs("lazy:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("data")).unwrap(), "data\n");
    fs_err::write(snapshot.join("data"), "tampered\n").unwrap();
    let out = root.scratch("tampered.tar");
    root.run(&["save", "-o", out.to_str().unwrap(), "lazy:1"]).failure().says(&format!("sha256:{diff_id}"));
    assert!(!out.exists(), "a failed save left its output");
}
