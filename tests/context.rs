//! The build context through its public API: the walk (order, lstat only,
//! ignore handling), COPY source selection (wildcards, symlinks kept inside
//! the context), selection digests and the stat cache (hits read nothing,
//! changes are read again), in memory and in the store.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use strata::context::{Context, ContextError, EntryKind, HashOptions, IgnoreFile, MemoryStatCache, NoStatCache, StatCache, StatKey};
use strata::digest::Digest;
use strata::store::{Store, StoreStatCache};
use tempfile::TempDir;

/// Writes `files` (path, content) under a fresh directory.
fn tree(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, content).unwrap();
    }
    dir
}

fn open(dir: &Path) -> Context {
    Context::open(dir, &dir.join("Dockerfile")).unwrap()
}

fn paths(ctx: &Context) -> Vec<&str> {
    ctx.entries().iter().map(|e| e.path.as_str()).collect()
}

/// Hashing that caches everything (no racy window), on two threads.
fn eager() -> HashOptions {
    HashOptions { threads: 2, racy_window: Duration::ZERO }
}

/// A stat cache that counts what it is asked.
#[derive(Default)]
struct Counting {
    inner: MemoryStatCache,
    gets: AtomicUsize,
    hits: AtomicUsize,
    puts: AtomicUsize,
}

impl StatCache for Counting {
    fn get(&self, key: &StatKey) -> Option<Digest> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        let found = self.inner.get(key);
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    fn put(&self, key: StatKey, digest: Digest) {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.inner.put(key, digest);
    }
}

impl Counting {
    fn take(&self) -> (usize, usize, usize) {
        (self.gets.swap(0, Ordering::Relaxed), self.hits.swap(0, Ordering::Relaxed), self.puts.swap(0, Ordering::Relaxed))
    }
}

#[test]
fn walk_is_depth_first_sorted_by_bytes() {
    let dir = tree(&[("a/b.txt", "1"), ("a.txt", "2"), ("B", "3"), ("a/c/d", "4"), ("Dockerfile", "FROM x")]);
    let ctx = open(dir.path());
    assert_eq!(paths(&ctx), ["", "B", "Dockerfile", "a", "a/b.txt", "a/c", "a/c/d", "a.txt"]);
    let root = &ctx.entries()[0];
    assert_eq!(root.kind, EntryKind::Dir);
    let file = ctx.get("a/c/d").unwrap();
    assert_eq!((file.kind, file.size, file.name()), (EntryKind::File, 1, "d"));
    assert!(file.mtime_ns > 0 && file.ctime_ns > 0 && file.ino > 0);
    assert!(ctx.get("a/c").is_some() && ctx.get("missing").is_none());
}

#[test]
fn symlinks_are_entries_never_followed() {
    let outside = tree(&[("secret", "do not read")]);
    let dir = tree(&[("a/b.txt", "inside")]);
    symlink(outside.path(), dir.path().join("escape")).unwrap();
    symlink("../../x", dir.path().join("a/up")).unwrap();
    let ctx = open(dir.path());
    assert_eq!(paths(&ctx), ["", "a", "a/b.txt", "a/up", "escape"]);
    let link = ctx.get("escape").unwrap();
    assert_eq!(link.kind, EntryKind::Symlink);
    assert_eq!(link.link_target.as_deref(), Some(outside.path()));
    assert!(ctx.get("escape/secret").is_none(), "the walk never enters a symlink");
}

#[test]
fn ignored_paths_are_left_out_but_hold_their_exceptions() {
    let dir = tree(&[
        ("docs/keep.txt", "k"),
        ("docs/other.txt", "o"),
        ("node_modules/m/index.js", "m"),
        ("src/main.rs", "fn main() {}"),
        ("Dockerfile", "FROM x"),
        (".dockerignore", "docs\n!docs/keep.txt\nnode_modules\n*.log\nDockerfile"),
        ("debug.log", "l"),
    ]);
    let ctx = open(dir.path());
    // docs/ is listed to hold keep.txt; the ignore file stays in the context;
    // the Dockerfile is excluded like any path (BuildKit sends it apart).
    assert_eq!(paths(&ctx), ["", ".dockerignore", "docs", "docs/keep.txt", "src", "src/main.rs"]);
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let dir = tree(&[("a", "1"), ("b", "2"), (".dockerignore", "a"), ("build/app.Dockerfile", "FROM x")]);
    fs_err::write(dir.path().join("build/app.Dockerfile.dockerignore"), "b\nbuild").unwrap();
    let ctx = Context::open(dir.path(), &dir.path().join("build/app.Dockerfile")).unwrap();
    assert_eq!(paths(&ctx), ["", ".dockerignore", "a"]);
}

#[test]
fn ignore_errors_name_the_file() {
    let dir = tree(&[(".dockerignore", "ok\n[")]);
    match Context::open(dir.path(), &dir.path().join("Dockerfile")) {
        Err(ContextError::Ignore { file, source }) => {
            assert_eq!(file, dir.path().join(".dockerignore"));
            assert!(source.to_string().contains("line 2"), "{source}");
        }
        other => panic!("expected an ignore error, got {other:?}"),
    }
    let late = tree(&[(".dockerignore", "[Local-Only]"), ("x", "")]);
    assert!(matches!(Context::open(late.path(), &late.path().join("Dockerfile")), Err(ContextError::Ignore { .. })));
}

#[test]
fn select_resolves_sources_like_buildkit() {
    let dir = tree(&[("a.txt", "a"), ("b.txt", "b"), ("c.md", "c"), ("src/x.rs", "x"), ("src/sub/y.rs", "y")]);
    symlink("src/x.rs", dir.path().join("rel-link")).unwrap();
    symlink("/src", dir.path().join("abs-link")).unwrap();
    let ctx = open(dir.path());
    let names = |sources: &[&str]| -> Vec<(String, String)> {
        let selection = ctx.select(sources).unwrap();
        selection.roots.iter().map(|r| (r.name.clone(), ctx.entries()[r.target].path.clone())).collect()
    };
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(names(&["*.txt"]), [pair("a.txt", "a.txt"), pair("b.txt", "b.txt")]);
    assert_eq!(names(&["../c.md", "./src/"]), [pair("c.md", "c.md"), pair("src", "src")]);
    assert_eq!(names(&["."]), [pair("", "")]);
    assert_eq!(names(&["src/*"]), [pair("src/sub", "src/sub"), pair("src/x.rs", "src/x.rs")]);
    assert_eq!(names(&["*/*.rs"]), [pair("src/x.rs", "src/x.rs")]);
    assert_eq!(names(&["[ab].txt"]), [pair("a.txt", "a.txt"), pair("b.txt", "b.txt")]);
    assert_eq!(names(&["*.none"]), [], "an empty wildcard is no error");
    // Symlinks are followed inside the context; absolute targets are
    // resolved against the context root.
    assert_eq!(names(&["rel-link"]), [pair("rel-link", "src/x.rs")]);
    assert_eq!(names(&["abs-link/sub"]), [pair("abs-link/sub", "src/sub")]);
    assert_eq!(names(&["abs-link/*.rs"]), [pair("src/x.rs", "src/x.rs")]);
    assert!(matches!(ctx.select(&["missing.txt"]), Err(ContextError::NotFound { name }) if name == "missing.txt"));
}

#[test]
fn copy_never_follows_a_symlink_out_of_the_context() {
    let outside = tree(&[("secret", "do not read"), ("etc/passwd", "root")]);
    let dir = tree(&[("data/in.txt", "inside")]);
    symlink(outside.path().join("secret"), dir.path().join("data/abs")).unwrap();
    symlink("../../secret", dir.path().join("data/rel")).unwrap();
    symlink("/etc", dir.path().join("etc-link")).unwrap();
    let ctx = open(dir.path());
    for source in ["data/abs", "data/rel", "etc-link/passwd"] {
        assert!(matches!(ctx.select(&[source]), Err(ContextError::NotFound { .. })), "{source} must not resolve");
    }
    // Copying the directory copies the links themselves, reading only inside.
    let selection = ctx.select(&["data"]).unwrap();
    let counting = Counting::default();
    let result = ctx.digest_with(&selection, &counting, &eager()).unwrap();
    assert_eq!(result.stats.files_read, 1);
    assert_eq!(result.stats.bytes_read, "inside".len() as u64);
}

#[test]
fn a_symlink_loop_is_an_error() {
    let dir = tree(&[]);
    symlink("b", dir.path().join("a")).unwrap();
    symlink("a", dir.path().join("b")).unwrap();
    let ctx = open(dir.path());
    assert!(matches!(ctx.select(&["a"]), Err(ContextError::TooManyLinks { .. })));
}

#[test]
fn the_stat_cache_spares_unchanged_files_and_rereads_changed_ones() {
    let dir = tree(&[("a", "alpha"), ("b/c", "gamma"), ("b/d", "delta")]);
    let cache = Counting::default();
    let ctx = open(dir.path());
    let all = ctx.select(&["."]).unwrap();

    let first = ctx.digest_with(&all, &cache, &eager()).unwrap();
    assert_eq!((first.stats.files_read, first.stats.cache_hits), (3, 0));
    assert_eq!(cache.take(), (3, 0, 3));

    let second = ctx.digest_with(&all, &cache, &eager()).unwrap();
    assert_eq!(second.digest, first.digest);
    assert_eq!((second.stats.files_read, second.stats.bytes_read, second.stats.cache_hits), (0, 0, 3), "a warm hash reads no file");
    assert_eq!(cache.take(), (3, 3, 0));

    fs_err::write(dir.path().join("b/c"), "GAMMA!").unwrap();
    let ctx = open(dir.path());
    let third = ctx.digest_with(&all, &cache, &eager()).unwrap();
    assert_eq!((third.stats.files_read, third.stats.bytes_read), (1, 6), "only the changed file is read");
    assert_eq!(cache.take(), (3, 2, 1));
    assert_ne!(third.digest, first.digest);
}

#[test]
fn racy_files_are_hashed_but_not_cached() {
    let dir = tree(&[("fresh", "just written")]);
    let cache = Counting::default();
    let ctx = open(dir.path());
    let options = HashOptions { threads: 1, racy_window: Duration::from_secs(3600) };
    ctx.digest_with(&ctx.select(&["fresh"]).unwrap(), &cache, &options).unwrap();
    assert_eq!(cache.take(), (1, 0, 0));
}

#[test]
fn only_the_selected_files_are_read() {
    let dir = tree(&[("app/main.rs", "main"), ("big/blob", &"x".repeat(100_000)), ("README", "r")]);
    let ctx = open(dir.path());
    let result = ctx.digest_with(&ctx.select(&["app", "README"]).unwrap(), &NoStatCache, &eager()).unwrap();
    assert_eq!((result.stats.files, result.stats.files_read), (2, 2));
}

#[test]
fn selection_digests_ignore_timestamps_but_not_content_or_mode() {
    let dir = tree(&[("f", "one"), ("d/g", "two")]);
    let digest = |dir: &Path| {
        let ctx = open(dir);
        ctx.digest_with(&ctx.select(&["f", "d"]).unwrap(), &NoStatCache, &eager()).unwrap().digest
    };
    let base = digest(dir.path());
    let file = fs::File::options().write(true).open(dir.path().join("f")).unwrap();
    file.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)).unwrap();
    assert_eq!(digest(dir.path()), base, "mtime is not part of the digest");

    fs_err::set_permissions(dir.path().join("f"), fs::Permissions::from_mode(0o600)).unwrap();
    let chmodded = digest(dir.path());
    assert_ne!(chmodded, base, "mode is part of the digest");

    fs_err::write(dir.path().join("d/g"), "TWO").unwrap();
    assert_ne!(digest(dir.path()), chmodded, "content is part of the digest");

    // Same files under another name: a different selection.
    let ctx = open(dir.path());
    let renamed = ctx.digest_with(&ctx.select(&["d", "f"]).unwrap(), &NoStatCache, &eager()).unwrap().digest;
    assert_ne!(renamed, digest(dir.path()), "source order is part of the digest");
}

#[test]
fn hash_all_matches_plain_sha256() {
    let dir = tree(&[("one", "1"), ("two/three", &"3".repeat(300_000))]);
    let ctx = open(dir.path());
    let hashed = ctx.hash_all(&NoStatCache, &eager()).unwrap();
    assert_eq!(hashed.digests, [Digest::of(b"1"), Digest::of("3".repeat(300_000).as_bytes())]);
}

#[test]
fn the_store_stat_cache_persists_across_builds() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_dir.path()).unwrap();
    let dir = tree(&[("a", "alpha"), ("b/c", "gamma")]);
    let build = || {
        let cache = StoreStatCache::open(&store, dir.path()).unwrap();
        let ctx = open(dir.path());
        let result = ctx.digest_with(&ctx.select(&["."]).unwrap(), &cache, &eager()).unwrap();
        cache.commit().unwrap();
        result
    };
    let cold = build();
    assert_eq!(cold.stats.files_read, 2);
    let warm = build();
    assert_eq!((warm.stats.files_read, warm.stats.cache_hits), (0, 2));
    assert_eq!(warm.digest, cold.digest);
}

#[test]
fn walk_matching_agrees_with_single_path_matching() {
    let dir = tree(&[("src/a.rs", ""), ("src/gen/b.rs", ""), ("target/x", ""), ("notes.md", ""), ("docs/a.md", "")]);
    let text = "target\n**/*.md\n!docs/*.md\nsrc/gen";
    let ignore = IgnoreFile::parse(text).unwrap();
    let ctx = Context::with_ignore(dir.path(), IgnoreFile::parse(text).unwrap()).unwrap();
    for entry in &ctx.entries()[1..] {
        assert!(!ignore.matches(&entry.path).unwrap(), "{} is listed but excluded", entry.path);
    }
    assert_eq!(paths(&ctx), ["", "docs", "docs/a.md", "src", "src/a.rs"]);
}

// ------------------------------------------------ selection against copy

/// A COPY of `sources` from `ctx`'s directory into a fresh directory,
/// checked against the selection made before `change` ran.
fn copy_after_change(
    files: &[(&str, &str)],
    sources: &[&str],
    change: impl FnOnce(&Path),
) -> (TempDir, Result<strata::copy::CopyReport, strata::copy::CopyError>) {
    use strata::plan::{CopyOp, CopySource, SourceRoot};
    let dir = tree(files);
    let ctx = open(dir.path());
    let sources: Vec<String> = sources.iter().map(|s| (*s).to_owned()).collect();
    let selection = ctx.select_copy(&strata::context::CopySources { sources: &sources, parents: false, exclude: &[] }).unwrap();
    let expected = strata::solve::expected_copy(&ctx, &selection);
    change(dir.path());
    let dest = tempfile::tempdir().unwrap();
    let op = CopyOp {
        from: SourceRoot::Context,
        sources: sources.into_iter().map(|path| CopySource::Path { path }).collect(),
        dest: "/out/".to_owned(),
        chown: None,
        chmod: None,
        link: false,
        parents: false,
        exclude: Vec::new(),
        add: None,
    };
    let request = strata::copy::CopyRequest {
        op: &strata::solve::copy_spec(&op),
        source: dir.path(),
        filter: None,
        dest_root: dest.path(),
        user_db_root: dest.path(),
        max_archive_size: None,
        expected: Some(&expected),
        reuse: None,
        layers: None,
    };
    let result = strata::copy::copy(&request);
    (dest, result)
}

#[test]
fn an_unchanged_context_copies_exactly_the_selection() {
    let (dest, result) = copy_after_change(&[("data/a.txt", "a"), ("data/sub/b.txt", "b"), ("one.txt", "1")], &["data", "one.txt"], |_| {});
    let report = result.unwrap();
    assert_eq!(report.files, 3);
    assert_eq!(fs_err::read_to_string(dest.path().join("out/sub/b.txt")).unwrap(), "b");
}

#[test]
fn a_file_swapped_for_a_symlink_after_selection_fails_the_copy() {
    let (dest, result) = copy_after_change(&[("data/a.txt", "a"), ("data/b.txt", "b"), ("secret", "s")], &["data"], |dir| {
        fs_err::remove_file(dir.join("data/b.txt")).unwrap();
        symlink("../secret", dir.join("data/b.txt")).unwrap();
    });
    let error = result.expect_err("the swapped entry is not what the key covered");
    assert!(matches!(&error, strata::copy::CopyError::SelectionChanged { path } if path == "data/b.txt"), "{error}");
    assert!(fs_err::symlink_metadata(dest.path().join("out/b.txt")).is_err(), "the swapped entry was written");
}

#[test]
fn a_named_source_swapped_for_a_symlink_after_selection_fails_the_copy() {
    let (dest, result) = copy_after_change(&[("one.txt", "1"), ("secret", "s")], &["one.txt"], |dir| {
        fs_err::remove_file(dir.join("one.txt")).unwrap();
        symlink("secret", dir.join("one.txt")).unwrap();
    });
    let error = result.expect_err("the symlink leads to a file the key did not cover");
    assert!(matches!(&error, strata::copy::CopyError::NotSelected { path } if path == "secret"), "{error}");
    assert!(!dest.path().join("out/one.txt").exists(), "the unselected file was copied");
}

#[test]
fn files_added_rewritten_or_removed_after_selection_fail_the_copy() {
    let files = [("data/a.txt", "a"), ("data/b.txt", "b")];
    let (dest, added) = copy_after_change(&files, &["data"], |dir| fs_err::write(dir.join("data/added.txt"), "new").unwrap());
    assert!(matches!(added, Err(strata::copy::CopyError::NotSelected { ref path }) if path == "data/added.txt"), "{added:?}");
    assert!(!dest.path().join("out/added.txt").exists());
    let (_, wildcard) = copy_after_change(&files, &["data/*.txt"], |dir| fs_err::write(dir.join("data/c.txt"), "new").unwrap());
    assert!(matches!(wildcard, Err(strata::copy::CopyError::NotSelected { ref path }) if path == "data/c.txt"), "{wildcard:?}");
    let (_, rewritten) = copy_after_change(&files, &["data"], |dir| {
        fs_err::remove_file(dir.join("data/b.txt")).unwrap();
        fs_err::write(dir.join("data/b.txt"), "other").unwrap();
    });
    assert!(matches!(rewritten, Err(strata::copy::CopyError::SelectionChanged { ref path }) if path == "data/b.txt"), "{rewritten:?}");
    let (_, removed) = copy_after_change(&files, &["data"], |dir| fs_err::remove_file(dir.join("data/b.txt")).unwrap());
    assert!(matches!(removed, Err(strata::copy::CopyError::SelectionChanged { ref path }) if path == "data/b.txt"), "{removed:?}");
}
