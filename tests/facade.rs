//! The library's build façade, driven in-process: `build::Request` →
//! `build::Outcome` with an archive context, `--label`-style labels, several
//! outputs at once, the cache on a second build, and typed errors — what a
//! program embedding strata sees, without the CLI in between.
//!
//! Builds here have no RUN step (no container), so they need no overlay or
//! namespace; the native snapshotter mounts nothing.

use std::io::Cursor;
use std::path::Path;

use strata::build::{self, BuildError, ContextSource, Request, Sinks};
use strata::exec::Snapshotter;
use strata::export;
use strata::layer::Compression;
use strata::plan::{PlanOptions, Platform};
use strata::progress::Quiet;
use strata::registry::NoProgress;
use strata::solve::SolveOptions;
use strata::store::Store;

const DOCKERFILE: &str = "FROM scratch\nCOPY hello.txt /app/\nCOPY conf/ /etc/app/\nENV MODE=prod\n";

/// A context archive in memory: the Dockerfile at `docker/Dockerfile`
/// (inside the archive, as `strata build -f docker/Dockerfile -` takes it).
fn context_tar(dockerfile: &str) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, body) in [("docker/Dockerfile", dockerfile), ("hello.txt", "hello\n"), ("conf/app.toml", "level = 3\n")] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, path, body.as_bytes()).expect("append to the context archive");
    }
    tar.into_inner().expect("finish the context archive")
}

fn request(dockerfile: &str, outputs: Vec<Box<dyn export::Exporter>>) -> Request {
    Request {
        context: ContextSource::Tar(Box::new(Cursor::new(context_tar(dockerfile)))),
        dockerfile: Some("docker/Dockerfile".into()),
        plan: PlanOptions { target: None, build_args: Default::default(), platform: Platform::host() },
        platforms: Vec::new(),
        solve: SolveOptions { snapshotter: Snapshotter::Native, ..SolveOptions::default() },
        tags: vec!["facade/app:1".parse().expect("a valid tag")],
        labels: vec![("org.example.team".into(), "build".into())],
        pull: false,
        registry: Default::default(),
        cache_from: Vec::new(),
        cache_to: Vec::new(),
        outputs,
        compression: Compression::Gzip,
        gc: build::GcRequest { disabled: true, ..Default::default() },
        quiet: true,
    }
}

const SINKS: Sinks<'static> = Sinks { progress: &Quiet, downloads: &NoProgress, uploads: &NoProgress, checks: &strata::build::NoChecks };

fn leftovers(tmp: &Path) -> Vec<String> {
    fs_err::read_dir(tmp).map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

#[test]
fn an_archive_context_builds_through_the_library_into_every_output() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("root")).expect("open the store");
    let out = dir.path().join("out");
    let spec = |kind: &str, name: &str| export::parse(&format!("type={kind},dest={}", out.join(name).display())).expect("a valid --output");
    let outputs = vec![spec("local", "rootfs"), spec("tar", "rootfs.tar"), spec("oci-dir", "layout"), spec("docker", "app.tar")];

    let outcome = build::build(&store, request(DOCKERFILE, outputs), &SINKS).expect("the build succeeds");

    assert_eq!((outcome.cached_steps, outcome.total_steps), (0, 2), "both COPY steps ran (config edits make no layer)");
    let kinds: Vec<_> = outcome.exported.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["local", "tar", "oci-dir", "docker"], "each output reported, in order");
    assert_eq!(fs_err::read_to_string(out.join("rootfs/app/hello.txt")).expect("the local output holds the file"), "hello\n");
    assert_eq!(fs_err::read_to_string(out.join("rootfs/etc/app/app.toml")).expect("the directory's contents copied"), "level = 3\n");
    assert!(out.join("layout/index.json").is_file() && out.join("layout/oci-layout").is_file(), "an OCI layout directory");
    let tarred: Vec<String> = tar::Archive::new(std::fs::File::open(out.join("rootfs.tar")).expect("the tar output"))
        .entries()
        .expect("a tar")
        .filter_map(|e| e.ok()?.path().ok().map(|p| p.display().to_string()))
        .collect();
    assert!(tarred.iter().any(|p| p.trim_end_matches('/') == "app/hello.txt"), "the tar output holds the file: {tarred:?}");
    assert!(out.join("app.tar").is_file(), "the docker archive written");

    let config = &outcome.image.config.config;
    assert_eq!(config.labels.as_ref().and_then(|l| l.get("org.example.team")).map(String::as_str), Some("build"), "the request's label is on the image");
    assert_eq!(store.resolve("facade/app:1").expect("the tag names the image").id(), outcome.id());
    assert!(
        leftovers(&dir.path().join("root/tmp")).is_empty(),
        "the unpacked context and export scratch are gone: {:?}",
        leftovers(&dir.path().join("root/tmp"))
    );

    let again = build::build(&store, request(DOCKERFILE, Vec::new()), &SINKS).expect("the second build succeeds");
    assert_eq!(again.cached_steps, again.total_steps, "every step is cached the second time");
    assert_eq!(again.id(), outcome.id(), "the same image");
    assert!(again.exported.is_empty(), "no outputs asked, none written");
}

#[test]
fn a_dockerfile_that_does_not_parse_comes_back_typed_with_its_text() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("root")).expect("open the store");
    let bad = "FROM scratch\nCOPY --chmod=999999999999 a /\nNOTANINSTRUCTION x\n";
    match build::build(&store, request(bad, Vec::new()), &SINKS) {
        Err(BuildError::Parse { name, text, .. }) => {
            assert!(name.ends_with("docker/Dockerfile"), "{name}");
            assert_eq!(text, bad, "the text to point into comes with the error");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert!(leftovers(&dir.path().join("root/tmp")).is_empty(), "a failed build removes the unpacked context too");
}

#[test]
fn a_missing_dockerfile_in_the_archive_is_a_read_error_naming_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("root")).expect("open the store");
    let mut request = request(DOCKERFILE, Vec::new());
    request.dockerfile = Some("nowhere/Dockerfile".into());
    match build::build(&store, request, &SINKS) {
        Err(BuildError::ReadDockerfile { path, .. }) => assert!(path.ends_with("nowhere/Dockerfile"), "{}", path.display()),
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn a_hostile_archive_context_is_refused_not_unpacked_outside() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(&dir.path().join("root")).expect("open the store");
    // A good context with one more entry that climbs out of it.
    let good = context_tar(DOCKERFILE);
    let mut tar = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(&good[..]).entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        let header = entry.header().clone();
        tar.append(&header, &mut entry).expect("copy an entry");
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    // `append_data` refuses `..`; the raw header takes it, as a hostile archive would.
    header.as_gnu_mut().expect("a gnu header").name[..20].copy_from_slice(b"../../escaped.txt\0\0\0");
    header.set_cksum();
    tar.append(&header, &b"evil"[..]).expect("append");
    let mut request = request(DOCKERFILE, Vec::new());
    request.context = ContextSource::Tar(Box::new(Cursor::new(tar.into_inner().expect("finish"))));
    match build::build(&store, request, &SINKS) {
        Err(BuildError::Store(error)) => assert!(error.to_string().contains(".."), "the error names the entry: {error}"),
        other => panic!("a context with `..` does not build: {other:?}"),
    }
    assert!(!dir.path().join("escaped.txt").exists() && !dir.path().join("root/escaped.txt").exists(), "nothing written outside the context");
}
