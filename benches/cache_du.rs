//! `strata cache du` on a large cache. Fills a store with
//! `STRATA_BENCH_RECORDS` (default 10,000) cache records, each with its own
//! small layer (blob + one-file snapshot), chained as a build's steps are
//! (100 chains of 100 steps), every record used by two builds, plus one
//! tagged image holding the first chain's layers. Then times the inventory
//! behind `du` in process: once cold (snapshot sizes not yet measured) and
//! then warm.
//!
//! `STRATA_BENCH_ROOT=DIR` fills DIR (when empty) and keeps it, for timing
//! the binary: `benches/cache.sh` does that with hyperfine.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use strata::cache::{BuildUse, Cache, CacheKey, CacheRecord, Input, Inventory, KeyBuilder};
use strata::digest::Digest;
use strata::image::{History, ImageConfig, Reference};
use strata::store::{LayerRecord, Store};

const CHAIN: usize = 100;

fn main() {
    let records: usize = std::env::var("STRATA_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let temp = tempfile::Builder::new().prefix("strata-bench-cache").tempdir().expect("temp dir");
    let root = std::env::var_os("STRATA_BENCH_ROOT").map_or_else(|| temp.path().join("root"), Into::into);
    let store = Store::open(&root).expect("open the store");
    if Cache::new(&store).records().expect("read records").is_empty() {
        let started = Instant::now();
        fill(&store, records);
        eprintln!("filled {} with {records} records in {:.1}s", root.display(), started.elapsed().as_secs_f64());
    }
    let cold = time(|| Inventory::collect(&store).expect("inventory"));
    let mut warm: Vec<Duration> = (0..20).map(|_| time(|| Inventory::collect(&store).expect("inventory"))).collect();
    warm.sort();
    let inventory = Inventory::collect(&store).expect("inventory");
    println!(
        "cache du inventory, {} entries ({} total): cold {:.1} ms, warm median {:.1} ms (min {:.1} ms)",
        inventory.entries.len(),
        inventory.totals.total,
        ms(cold),
        ms(warm[warm.len() / 2]),
        ms(warm[0])
    );
}

fn time<T>(f: impl FnOnce() -> T) -> Duration {
    let started = Instant::now();
    std::hint::black_box(f());
    started.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `count` records in chains of [`CHAIN`], one layer each.
fn fill(store: &Store, count: usize) {
    let (mut layers, mut rows, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    let mut parent = KeyBuilder::new().str("base", "bench").finish();
    for index in 0..count {
        if index % CHAIN == 0 {
            parent = KeyBuilder::new().str("base", "bench").finish();
        }
        let text = format!("RUN echo {index} > /file-{index}");
        let key = KeyBuilder::new().digest("parent", &parent.0).str("op", &text).finish();
        let (diff_id, record) = layer(store, index);
        layers.push((diff_id, record));
        rows.push((format!("bench#{}#{}", index / CHAIN, index % CHAIN), record_for(key, parent, &text, diff_id, index)));
        keys.push((format!("bench#{}#{}", index / CHAIN, index % CHAIN), key));
        parent = key;
    }
    store.put_layers(&layers).expect("layers");
    let cache = Cache::new(store);
    cache.put_many(&rows).expect("records");
    for build in ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"] {
        let used = BuildUse { time: build.into(), dockerfile: "/bench/Dockerfile".into(), tags: vec!["bench:latest".into()] };
        cache.touch_all(&keys, &used).expect("usage");
    }
    let mut config = ImageConfig::empty("2026-01-01T00:00:00Z");
    for (diff_id, _) in &layers[..CHAIN.min(layers.len())] {
        config.push_layer(*diff_id, History::default());
    }
    let tag: Reference = "bench:latest".parse().expect("tag");
    store.commit_image(&config, &layers[..CHAIN.min(layers.len())], Some(&tag)).expect("image");
}

fn record_for(key: CacheKey, parent: CacheKey, text: &str, diff_id: Digest, index: usize) -> CacheRecord {
    CacheRecord {
        key,
        layer: Some(diff_id),
        inputs: vec![Input::new("parent", parent.to_string()), Input::new("instruction", text), Input::new("op", Digest::of(text.as_bytes()).to_string())],
        step: text.to_owned(),
        created: "2026-01-01T00:00:00Z".into(),
        stage: format!("stage-{}", index / CHAIN),
    }
}

/// A one-file layer: its tar blob (uncompressed: blob digest = diff_id)
/// and its snapshot.
fn layer(store: &Store, index: usize) -> (Digest, LayerRecord) {
    let content = format!("{index}\n");
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, format!("file-{index}"), content.as_bytes()).expect("tar");
    let bytes = tar.into_inner().expect("tar");
    let diff_id = store.blobs.put(&bytes).expect("blob");
    let dir = store.temp_dir("bench").expect("temp");
    write(&dir.join(format!("file-{index}")), &content);
    store.snapshots.adopt(&dir, &diff_id).expect("snapshot");
    let record = LayerRecord {
        blob: diff_id,
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        size: bytes.len() as u64,
        uncompressed_size: bytes.len() as u64,
    };
    (diff_id, record)
}

fn write(path: &Path, content: &str) {
    std::fs::File::create(path).and_then(|mut f| f.write_all(content.as_bytes())).expect("write");
}
