//! Context hashing on a generated tree (default 20,000 files, 400 MB in
//! 100 × 10 directories; `STRATA_BENCH_FILES` and `STRATA_BENCH_MB` change
//! it). `cargo bench --bench context` prints, per run:
//! - `hash/plain_sha256`: every file read and hashed on one thread, the
//!   floor `find . -type f | xargs sha256sum` also sits on (its wall time is
//!   printed once before the runs);
//! - `hash/cold`: walk + hash every file (no stat cache), all cores;
//! - `warm/walk`: the walk alone (`Context::open`: ignore file, lstat);
//! - `warm/memory_cache`: walk + every file answered by an in-memory cache;
//! - `warm/store_cache`: what a no-change rebuild does: open the store's
//!   stat cache, walk, select `.`, digest it (no file read), commit.
//!
//! The page cache is warm in every run ("cold" means "no stat cache").

use std::hint::black_box;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use sha2::{Digest as _, Sha256};
use strata::context::{Context, HashOptions, MemoryStatCache, NoStatCache};
use strata::store::{Store, StoreStatCache};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A generated context: files of pseudo-random bytes, sizes spread around
/// the mean.
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
    files: Vec<PathBuf>,
    bytes: u64,
}

fn generate(files: usize, total_mb: usize) -> Tree {
    let dir = tempfile::Builder::new().prefix("strata-bench-context").tempdir().expect("temp dir");
    let root = dir.path().join("ctx");
    let mean = (total_mb * 1024 * 1024 / files.max(1)) as u64;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut paths = Vec::with_capacity(files);
    let mut bytes = 0;
    let mut block = vec![0u8; 64 * 1024];
    for i in 0..files {
        let path = root.join(format!("d{:02}/s{}/file{i:05}.bin", i % 100, (i / 100) % 10));
        fs_err::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let size = next() % (2 * mean + 1);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        let mut left = size;
        while left > 0 {
            for chunk in block.chunks_mut(8) {
                chunk.copy_from_slice(&next().to_le_bytes()[..chunk.len()]);
            }
            let n = left.min(block.len() as u64) as usize;
            out.write_all(&block[..n]).expect("write");
            left -= n as u64;
        }
        out.flush().expect("flush");
        bytes += size;
        paths.push(path);
    }
    fs_err::write(root.join(".dockerignore"), "*.tmp\n").expect("write .dockerignore");
    Tree { _dir: dir, root, files: paths, bytes }
}

fn plain_sha256(files: &[PathBuf]) -> u64 {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0;
    for path in files {
        let mut file = std::fs::File::open(path).expect("open");
        let mut hasher = Sha256::new();
        loop {
            let n = file.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        black_box(hasher.finalize());
    }
    total
}

fn open(root: &Path) -> Context {
    Context::open(root, &root.join("Dockerfile")).expect("open context")
}

fn time_sha256sum(root: &Path) {
    let started = Instant::now();
    let status = std::process::Command::new("sh").arg("-c").arg("find . -type f -print0 | xargs -0 sha256sum > /dev/null").current_dir(root).status();
    match status {
        Ok(s) if s.success() => println!("find . -type f | xargs sha256sum: {:.3} s", started.elapsed().as_secs_f64()),
        other => println!("find | xargs sha256sum did not run: {other:?}"),
    }
}

fn main() {
    let files = env_usize("STRATA_BENCH_FILES", 20_000);
    let total_mb = env_usize("STRATA_BENCH_MB", 400);
    let tree = generate(files, total_mb);
    println!("tree: {} files, {:.1} MiB at {}", tree.files.len(), tree.bytes as f64 / 1048576.0, tree.root.display());
    time_sha256sum(&tree.root);
    // Let the files age past the racy window so the caches can hold them.
    std::thread::sleep(HashOptions::default().racy_window + Duration::from_millis(100));

    let mut c = Criterion::default().sample_size(10).configure_from_args();
    let options = HashOptions::default();

    let mut hash = c.benchmark_group("hash");
    hash.throughput(Throughput::Bytes(tree.bytes));
    hash.bench_function("plain_sha256", |b| b.iter(|| plain_sha256(&tree.files)));
    hash.bench_function("cold", |b| b.iter(|| open(&tree.root).hash_all(&NoStatCache, &options).expect("hash")));
    hash.finish();

    let memory = MemoryStatCache::default();
    open(&tree.root).hash_all(&memory, &options).expect("fill memory cache");
    let store_dir = tempfile::tempdir().expect("store dir");
    let store = Store::open(store_dir.path()).expect("store");
    {
        let cache = StoreStatCache::open(&store, &tree.root).expect("stat cache");
        let ctx = open(&tree.root);
        ctx.digest_with(&ctx.select(&["."]).expect("select"), &cache, &options).expect("digest");
        cache.commit().expect("commit");
    }

    let mut warm = c.benchmark_group("warm");
    warm.throughput(Throughput::Elements(tree.files.len() as u64));
    warm.bench_function("walk", |b| b.iter(|| open(&tree.root)));
    warm.bench_function("memory_cache", |b| {
        b.iter(|| {
            let hashed = open(&tree.root).hash_all(&memory, &options).expect("hash");
            assert_eq!(hashed.stats.files_read, 0);
        })
    });
    warm.bench_function("store_cache", |b| {
        b.iter(|| {
            let cache = StoreStatCache::open(&store, &tree.root).expect("stat cache");
            let ctx = open(&tree.root);
            let result = ctx.digest_with(&ctx.select(&["."]).expect("select"), &cache, &options).expect("digest");
            assert_eq!(result.stats.files_read, 0);
            cache.commit().expect("commit");
        })
    });
    warm.finish();
    c.final_summary();
}
