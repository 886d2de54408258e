//! `strata cache` and `strata system df` end to end: a cache filled by
//! several builds on the busybox base, then `du` against the bytes on
//! disk, `inspect` against known keys, `explain` after controlled changes,
//! `prune` filters and `--keep-storage`, rebuilding after a prune, `verify`
//! on a flipped byte and a missing snapshot, the GC after a build, and a
//! prune in one process while another builds.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::build::{cached_steps, steps};
use support::TestRoot;

/// Two stages: the intermediate stage's layers are held by no image.
const MULTI: &str = "\
FROM busybox:latest AS build
RUN echo one > /one.txt
COPY a.txt /a.txt
RUN cat /a.txt /one.txt > /joined.txt

FROM busybox:latest
COPY --from=build /joined.txt /joined.txt
RUN true
";

/// A second, unrelated Dockerfile (another context file, other steps).
const OTHER: &str = "\
FROM busybox:latest
COPY b.txt /b.txt
RUN echo other > /other.txt
";

fn root() -> TestRoot {
    let root = TestRoot::new();
    root.busybox();
    root
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

fn du(root: &TestRoot) -> Value {
    json(&root.ok(&["cache", "du", "--format", "json"]))
}

fn explain(root: &TestRoot, args: &[&str]) -> Vec<Value> {
    let dir = root.context_dir();
    let mut all = vec!["cache", "explain", "--format", "json"];
    all.extend_from_slice(args);
    all.push(dir.to_str().unwrap());
    json(&root.ok(&all)).as_array().expect("an array of steps").clone()
}

/// HIT/MISS per step, as `H`/`M`, in plan order.
fn verdicts(steps: &[Value]) -> String {
    steps.iter().map(|s| if s["hit"].as_bool().unwrap() { 'H' } else { 'M' }).collect()
}

fn reasons(step: &Value) -> Vec<String> {
    step["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect()
}

/// Bytes of the regular files under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in fs_err::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            total += tree_bytes(&entry.path());
        } else if kind.is_file() {
            total += entry.metadata().unwrap().len();
        }
    }
    total
}

/// The diff_id hex digits of an image's layers.
fn image_layers(root: &TestRoot, image: &str) -> BTreeSet<String> {
    let doc = root.inspect(image);
    doc["RootFS"]["diff_ids"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()[7..].to_owned()).collect()
}

/// Builds MULTI (tagged `multi:1`) and OTHER (tagged `other:1`).
fn fill(root: &TestRoot) {
    root.build(MULTI, &[("a.txt", "alpha\n")], &["-t", "multi:1"]).success();
    fs_err::write(root.context_dir().join("Dockerfile.other"), OTHER).unwrap();
    let other = root.context_dir().join("Dockerfile.other");
    root.build("", &[("b.txt", "beta\n")], &["-f", other.to_str().unwrap(), "-t", "other:1"]).success();
}

fn entries_of(du: &Value) -> Vec<Value> {
    du["entries"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------- du

#[test]
fn du_totals_match_the_bytes_on_disk() {
    let root = root();
    let base = image_layers(&root, "busybox:latest");
    fill(&root);
    let report = du(&root);
    let mut expected = fs_err::metadata(root.root.join("statcache.redb")).unwrap().len();
    for snapshot in support::names(&root.snapshots_dir()).difference(&base) {
        // A build layer's blob, when kept, is its uncompressed tar: blob
        // digest = diff_id. Most are kept as their snapshot alone.
        expected += tree_bytes(&root.snapshots_dir().join(snapshot));
        expected += fs_err::metadata(root.blobs_dir().join(snapshot)).map_or(0, |m| m.len());
    }
    let totals = &report["totals"];
    assert_eq!(totals["total"].as_u64().unwrap(), expected, "du total vs disk:\n{report:#}");
    assert_eq!(totals["in_use"].as_u64().unwrap() + totals["reclaimable"].as_u64().unwrap(), expected);

    let entries = entries_of(&report);
    let kinds: BTreeSet<&str> = entries.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["empty", "layer", "stat-cache"]), "{report:#}");
    let records = entries.iter().filter(|e| e["key"].is_string()).count();
    assert_eq!(records, 7, "one record per filesystem step of both Dockerfiles:\n{report:#}");
    let intermediate = entries.iter().find(|e| e["description"] == "RUN echo one > /one.txt").unwrap();
    assert_eq!(intermediate["held_by"], serde_json::json!([]), "no image holds the build stage's layers");
    assert_eq!(intermediate["stage"], "build");
    assert_eq!(intermediate["children"], 1, "the COPY after it");
    let final_copy = entries.iter().find(|e| e["description"] == "COPY --from=build /joined.txt /joined.txt").unwrap();
    assert_eq!(final_copy["held_by"], serde_json::json!(["image"]));

    let table = root.ok(&["cache", "du"]);
    let header: Vec<&str> = table.lines().next().unwrap().split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(header, ["ID", "TYPE", "SIZE", "LAST USED", "USES", "HELD BY", "DESCRIPTION"]);
    assert!(table.contains("Reclaimable:") && table.contains("Total:"), "{table}");
    assert!(root.ok(&["cache", "du", "--verbose"]).lines().next().unwrap().contains("SHARED"));
}

#[test]
fn use_counts_and_last_use_follow_rebuilds() {
    let root = root();
    root.build(MULTI, &[("a.txt", "alpha\n")], &[]).success();
    let rebuilt = root.build(MULTI, &[], &["-t", "again:1"]).success();
    assert_eq!(cached_steps(&rebuilt.stderr), 5, "{}", rebuilt.stderr);
    let report = du(&root);
    for entry in entries_of(&report).iter().filter(|e| e["key"].is_string()) {
        assert_eq!(entry["uses"], 2, "built once, hit once: {entry:#}");
    }
}

// ---------------------------------------------------------------- inspect

#[test]
fn inspect_shows_the_inputs_of_a_key() {
    let root = root();
    root.build(MULTI, &[("a.txt", "alpha\n")], &["-t", "multi:1"]).success();
    let plan = explain(&root, &[]);
    assert_eq!(verdicts(&plan), "HHHHH");
    let (run, copy) = (&plan[0], &plan[1]);
    let key = copy["key"].as_str().unwrap();
    let doc = json(&root.ok(&["cache", "inspect", "--format", "json", &key[7..19]]));
    assert_eq!(doc["entry"]["key"], key);
    let inputs: Vec<(String, String)> =
        doc["inputs"].as_array().unwrap().iter().map(|i| (i["name"].as_str().unwrap().to_owned(), i["value"].as_str().unwrap().to_owned())).collect();
    let find = |name: &str| inputs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    assert_eq!(find("parent").as_deref(), run["key"].as_str(), "the parent is the RUN before it");
    assert_eq!(find("instruction").as_deref(), Some("COPY a.txt /a.txt"));
    let content = support::sha256_file(&root.context_dir().join("a.txt"));
    let file = find("file:a.txt").expect("the copied file is an input");
    assert!(file.starts_with(&format!("sha256:{content} ")), "{file}");
    let layer = doc["entry"]["layer"].as_str().unwrap();
    assert!(root.snapshots_dir().join(&layer[7..]).is_dir());
    let builds = doc["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 1);
    assert_eq!(builds[0]["tags"], serde_json::json!(["docker.io/library/multi:1"]));
    assert!(builds[0]["dockerfile"].as_str().unwrap().ends_with("/Dockerfile"));

    let text = root.ok(&["cache", "inspect", key]);
    assert!(text.contains("file:a.txt") && text.contains("Builds"), "{text}");
    root.run(&["cache", "inspect", "ffffffffffff"]).failure().says("no cache entry ffffffffffff");
}

// ------------------------------------------------------- one selection

/// The files a COPY's key records as inputs (`file:<path>`) are exactly
/// the files its layer holds: wildcards, `--exclude`, `--parents` and the
/// `.dockerignore` are resolved once, for both.
#[test]
fn copy_key_inputs_are_exactly_the_files_in_its_layer() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest
COPY --parents --exclude=**/*.tmp --exclude=gen src/./** pkg/*/go.mod /out/
COPY --exclude=*.tmp assets/*.txt conf* /etc/app/
";
    // Each file holds its own context path, so the layer says where it came from.
    let paths = [
        "src/main.c",
        "src/util/helper.c",
        "src/util/scratch.tmp",
        "src/gen/made.c",
        "src/secret.key",
        "pkg/a/go.mod",
        "pkg/a/main.go",
        "pkg/b/go.mod",
        "assets/a.txt",
        "assets/b.txt",
        "assets/c.md",
        "assets/ignored.txt",
        "conf/x.ini",
        "conf/y.tmp",
        "conf/deep/z.ini",
    ];
    let contents: Vec<String> = paths.iter().map(|p| format!("{p}\n")).collect();
    let mut files: Vec<(&str, &str)> = paths.iter().copied().zip(contents.iter().map(String::as_str)).collect();
    files.push((".dockerignore", "src/secret.key\nassets/ignored.txt\n"));
    root.build(dockerfile, &files, &["-t", "selected:1"]).success();
    let layers = root.layers("selected:1");
    let plan = explain(&root, &[]);
    assert_eq!(verdicts(&plan), "HH");
    let expected: [&[&str]; 2] =
        [&["pkg/a/go.mod", "pkg/b/go.mod", "src/main.c", "src/util/helper.c"], &["assets/a.txt", "assets/b.txt", "conf/deep/z.ini", "conf/x.ini"]];
    for (index, step) in plan.iter().enumerate() {
        let key = step["key"].as_str().unwrap();
        let doc = json(&root.ok(&["cache", "inspect", "--format", "json", &key[7..19]]));
        let mut inputs: Vec<String> =
            doc["inputs"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str().unwrap().strip_prefix("file:").map(str::to_owned)).collect();
        inputs.sort();
        // Regular files in the step's layer, by the context path they hold.
        let mut copied: Vec<String> = layers[index + 1]
            .lines()
            .filter(|line| line.starts_with("file "))
            .map(|line| line.split('"').nth(1).expect("short content is quoted").trim_end_matches("\\n").to_owned())
            .collect();
        copied.sort();
        assert_eq!(inputs, copied, "step {}: key inputs and layer differ\nlayer:\n{}", index + 1, layers[index + 1]);
        assert_eq!(inputs, expected[index], "step {}", index + 1);
    }
}

// ---------------------------------------------------------------- explain

#[test]
fn explain_names_the_reason_of_each_miss_and_runs_nothing() {
    let root = root();
    let dockerfile = "FROM busybox:latest\nARG VERSION=1\nCOPY a.txt /a.txt\nRUN echo $VERSION > /v\n";
    root.build(dockerfile, &[("a.txt", "alpha\n")], &[]).success();
    assert_eq!(verdicts(&explain(&root, &[])), "HH");

    root.write_context("", &[("a.txt", "changed\n")]);
    let before = root.state();
    let plan = explain(&root, &[]);
    assert_eq!(verdicts(&plan), "MM");
    assert_eq!(reasons(&plan[0]), ["a.txt content changed"]);
    assert_eq!(reasons(&plan[1]), ["parent step changed"]);
    assert_eq!(root.state(), before, "a dry run writes no blob or snapshot");

    root.write_context("", &[("a.txt", "alpha\n")]);
    let plan = explain(&root, &["--build-arg", "VERSION=2"]);
    assert_eq!(verdicts(&plan), "HM");
    assert_eq!(reasons(&plan[1]), ["build-arg/env VERSION changed: 1 -> 2"]);

    let table = root.ok(&["cache", "explain", root.context_dir().to_str().unwrap()]);
    assert!(table.contains("HIT") && table.contains("2 of 2 steps would come from the cache"), "{table}");
}

// ---------------------------------------------------------------- prune

#[test]
fn prune_filters_keep_storage_and_lru_order() {
    let root = root();
    fill(&root);
    root.ok(&["rmi", "multi:1", "other:1"]);
    let all_records = |du: &Value| entries_of(du).into_iter().filter(|e| e["key"].is_string()).count();
    assert_eq!(all_records(&du(&root)), 7, "rmi leaves the cache alone");

    // A rebuild of MULTI makes OTHER's records the least recently used.
    std::thread::sleep(Duration::from_millis(1100));
    root.build(MULTI, &[], &["-t", "multi:2"]).success();
    root.ok(&["rmi", "multi:2"]);

    let dry = json(&root.ok(&["cache", "prune", "--dry-run", "--format", "json", "--filter", "type=empty"]));
    let removed: Vec<&str> = dry["removed"].as_array().unwrap().iter().map(|e| e["description"].as_str().unwrap()).collect();
    assert_eq!(removed, ["RUN true"]);
    assert_eq!(all_records(&du(&root)), 7, "a dry run removes nothing");

    let recent = json(&root.ok(&["cache", "prune", "-f", "--format", "json", "--filter", "until=1h"]));
    assert!(recent["removed"].as_array().unwrap().is_empty(), "nothing is an hour old: {recent:#}");

    // Keep room for MULTI's layers only: OTHER's (older) go first.
    let report = du(&root);
    // Each layer once: `RUN cat … > /joined.txt` and `COPY --from=build
    // /joined.txt` make the same layer.
    let multi_layers: std::collections::BTreeMap<String, u64> = entries_of(&report)
        .iter()
        .filter(|e| e["layer"].is_string() && !OTHER.contains(e["description"].as_str().unwrap()))
        .map(|e| (e["layer"].as_str().unwrap().to_owned(), e["size"].as_u64().unwrap()))
        .collect();
    let multi_bytes: u64 = multi_layers.values().sum();
    let stat_cache = entries_of(&report).iter().find(|e| e["type"] == "stat-cache").unwrap()["size"].as_u64().unwrap();
    let keep = (multi_bytes + stat_cache).to_string();
    let pruned = json(&root.ok(&["cache", "prune", "-f", "--format", "json", "--keep-storage", &keep]));
    let gone: BTreeSet<&str> = pruned["removed"].as_array().unwrap().iter().map(|e| e["description"].as_str().unwrap()).collect();
    assert_eq!(gone, BTreeSet::from(["COPY b.txt /b.txt", "RUN echo other > /other.txt"]), "{pruned:#}");
    let after = du(&root);
    assert!(after["totals"]["total"].as_u64().unwrap() <= multi_bytes + stat_cache, "{after:#}");
    assert_eq!(pruned["freed"].as_u64().unwrap(), report["totals"]["total"].as_u64().unwrap() - after["totals"]["total"].as_u64().unwrap());

    root.run(&["cache", "prune"]).failure().says("pass -f");
    root.run(&["cache", "prune", "-f", "--filter", "kind=layer"]).failure().says("known keys");
}

#[test]
fn a_pruned_cache_rebuilds_correctly() {
    let root = root();
    root.build(MULTI, &[("a.txt", "alpha\n")], &["-t", "multi:1"]).success();
    let pruned = json(&root.ok(&["cache", "prune", "--all", "-f", "--format", "json"]));
    assert!(pruned["freed"].as_u64().unwrap() > 0, "the build stage's layers go: {pruned:#}");
    assert!(pruned["kept_in_use"].as_u64().unwrap() > 0, "the image's layers stay");
    let rebuilt = root.build(MULTI, &[], &["-t", "multi:2"]).success();
    assert!(cached_steps(&rebuilt.stderr) < steps(&rebuilt.stderr), "pruned steps run again:\n{}", rebuilt.stderr);
    let rootfs = root.rootfs("multi:2");
    assert_eq!(fs_err::read_to_string(rootfs.join("joined.txt")).unwrap(), "alpha\none\n");
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));
}

// ---------------------------------------------------------------- verify

#[test]
fn verify_finds_a_flipped_byte_and_a_missing_snapshot_and_repair_lets_builds_recompute() {
    let root = root();
    // With SOURCE_DATE_EPOCH, a build keeps each layer's tar as a blob.
    let dir = root.write_context(MULTI, &[("a.txt", "alpha\n")]);
    let output = root.command(&["build", "--progress", "plain", "-t", "multi:1", dir.to_str().unwrap()]).env("SOURCE_DATE_EPOCH", "0").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));
    let report = du(&root);
    let layer_of = |description: &str| {
        let entry = entries_of(&report).into_iter().find(|e| e["description"] == description).unwrap();
        entry["layer"].as_str().unwrap()[7..].to_owned()
    };
    let (flipped, missing) = (layer_of("RUN echo one > /one.txt"), layer_of("COPY a.txt /a.txt"));
    // The final image's layer (the same as `RUN cat`'s) loses a file:
    // incomplete; repair unpacks it again from its blob.
    let image_layer = layer_of("COPY --from=build /joined.txt /joined.txt");
    fs_err::remove_file(root.snapshots_dir().join(&image_layer).join("joined.txt")).unwrap();

    let blob = root.blobs_dir().join(&flipped);
    let mut bytes = fs_err::read(&blob).unwrap();
    bytes[600] ^= 0x01;
    fs_err::write(&blob, bytes).unwrap();
    fs_err::remove_dir_all(root.snapshots_dir().join(&missing)).unwrap();

    let run = root.run(&["cache", "verify", "--format", "json"]);
    assert_eq!(run.code, Some(3), "problems found: exit 3\n{}", run.stdout);
    let found = json(&run.stdout);
    let problems: BTreeSet<(String, String)> = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["problem"].as_str().unwrap().to_owned(), f.get("blob").or(f.get("layer")).unwrap().as_str().unwrap()[7..].to_owned()))
        .collect();
    let expected = [("corrupt-blob", &flipped), ("missing-snapshot", &missing), ("incomplete-snapshot", &image_layer)];
    assert_eq!(problems, expected.iter().map(|(p, d)| (p.to_string(), d.to_string())).collect::<BTreeSet<_>>());

    let repaired = root.run(&["cache", "verify", "--repair"]);
    assert_eq!(repaired.code, Some(0), "{}", repaired.stdout);
    assert!(repaired.stdout.contains("REPAIRED"), "{}", repaired.stdout);
    let quarantine = support::names(&root.root.join("quarantine"));
    assert_eq!(quarantine.len(), 1);
    let set_aside = root.root.join("quarantine").join(quarantine.first().unwrap());
    assert!(set_aside.join("blobs").join(&flipped).is_file());
    assert!(set_aside.join("records.jsonl").is_file());
    assert!(repaired.stdout.contains("unpacked again"), "{}", repaired.stdout);
    assert!(root.snapshots_dir().join(&image_layer).join("joined.txt").is_file());
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0), "sound after repair");

    let rebuilt = root.build(MULTI, &[], &["-t", "multi:2"]).success();
    // The two dropped steps run again; the keys after them are unchanged
    // (keys chain on keys), so those steps still come from the cache.
    assert_eq!((cached_steps(&rebuilt.stderr), steps(&rebuilt.stderr)), (3, 5), "{}", rebuilt.stderr);
    let rootfs = root.rootfs("multi:2");
    assert_eq!(fs_err::read_to_string(rootfs.join("joined.txt")).unwrap(), "alpha\none\n");
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));
}

// ---------------------------------------------------------------- gc

#[test]
fn gc_after_a_build_follows_strata_toml_and_flags() {
    let root = root();
    root.build(MULTI, &[("a.txt", "alpha\n")], &["-t", "multi:1", "--no-gc"]).success();
    let before = entries_of(&du(&root)).iter().filter(|e| e["key"].is_string()).count();
    assert_eq!(before, 5);

    // What an interrupted build can leave: a blob and a snapshot nothing refers to.
    let orphan = root.blobs_dir().join(support::sha256_bytes(b"orphan"));
    fs_err::write(&orphan, b"orphan").unwrap();
    let orphan_snapshot = root.snapshots_dir().join(support::sha256_bytes(b"orphan snapshot"));
    fs_err::create_dir(&orphan_snapshot).unwrap();

    // keep-storage 1 byte: everything no image holds goes, LRU (once the
    // last collection is old enough).
    fs_err::write(root.root.join("strata.toml"), "[gc]\nkeep-storage = \"1B\"\n").unwrap();
    age_last_gc(&root);
    let run = root.build(MULTI, &[], &["-t", "multi:1"]).success();
    assert!(run.stderr.contains("gc: removed 3 cache entries and 2 unreferenced"), "{}", run.stderr);
    assert!(!orphan.exists() && !orphan_snapshot.exists(), "alone, the GC sweeps what nothing refers to");
    let left: Vec<Value> = entries_of(&du(&root)).into_iter().filter(|e| e["key"].is_string()).collect();
    assert!(left.iter().all(|e| e["held_by"] == serde_json::json!(["image"])), "only what the image holds stays: {left:#?}");
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));

    // The build stage runs again (its records went), and its records stay under 20GB.
    fs_err::write(root.root.join("strata.toml"), "[gc]\nkeep-storage = \"20GB\"\n").unwrap();
    let run = root.build(MULTI, &[], &[]).success();
    assert!(!run.stderr.contains("gc: removed"), "20GB keeps everything:\n{}", run.stderr);
    let run = root.build(MULTI, &[], &["--gc-keep-storage", "1B"]).success();
    assert!(
        run.stderr.contains("gc: removed 3 cache entries"),
        "the flag overrides the file: the build stage's 2 layers and the empty step go:\n{}",
        run.stderr
    );

    fs_err::write(root.root.join("strata.toml"), "[gc]\nkeep-storage = \"lots\"\n").unwrap();
    let run = root.build(MULTI, &[], &[]).success();
    assert!(run.stderr.contains("warning: garbage collection"), "a bad policy warns, the build stands:\n{}", run.stderr);
}

// ---------------------------------------------------------------- concurrency

#[test]
fn prune_during_a_build_in_another_process_loses_nothing_it_needs() {
    let root = root();
    let first = "FROM busybox:latest\nRUN echo one > /one.txt\nRUN echo first\n";
    root.build(first, &[], &["-t", "first:1"]).success();
    root.ok(&["rmi", "first:1"]);
    // Same first step (a cache hit), then a slow step that reads its file.
    let slow = "FROM busybox:latest\nRUN echo one > /one.txt\nRUN sleep 3 && cat /one.txt > /copy.txt\n";
    let dir = root.write_context(slow, &[]);
    let child = root
        .command(&["build", "--progress", "plain", "--no-gc", "-t", "slow:1", dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let leases = root.root.join("leases");
    let started = Instant::now();
    while support::names(&leases).iter().all(|l| fs_err::read_to_string(leases.join(l)).unwrap_or_default().is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(20), "the build never leased a layer");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pruned = json(&root.ok(&["cache", "prune", "--all", "-f", "--format", "json"]));
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the build survived the prune:\n{log}");
    let removed: Vec<&str> = pruned["removed"].as_array().unwrap().iter().map(|e| e["description"].as_str().unwrap()).collect();
    assert!(!removed.contains(&"RUN echo one > /one.txt"), "the leased layer stayed: {pruned:#}");
    assert!(pruned["kept_in_use"].as_u64().unwrap() >= 1, "{pruned:#}");
    let rootfs = root.rootfs("slow:1");
    assert_eq!(fs_err::read_to_string(rootfs.join("copy.txt")).unwrap(), "one\n");
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));
    assert!(!root.ok(&["cache", "du"]).contains("build "), "the ended build holds nothing");
    assert!(support::names(&leases).is_empty(), "its dead lease was cleaned on that read");
}

// ---------------------------------------------------------------- system df

#[test]
fn system_df_sums_images_cache_and_mounts() {
    let root = root();
    let dockerfile = "FROM busybox:latest\nRUN --mount=type=cache,target=/cache echo x > /cache/x && echo done > /done\n";
    root.build(dockerfile, &[], &["-t", "df:1"]).success();
    let rows = json(&root.ok(&["system", "df", "--format", "json"]));
    let row = |kind: &str| rows.as_array().unwrap().iter().find(|r| r["type"] == kind).unwrap().clone();
    assert_eq!(row("Images")["total"], 2);
    assert_eq!(row("Images")["active"], 2);
    assert_eq!(row("Containers")["total"], 0);
    assert_eq!(row("Build Cache")["total"], 2, "the RUN and the stat cache: {rows:#}");
    assert_eq!(row("Cache Mounts")["total"], 1);
    assert_eq!(row("Cache Mounts")["size"], 2, "one file, `x\\n`");
    let table = root.ok(&["system", "df"]);
    assert!(table.starts_with("TYPE") && table.contains("Cache Mounts"), "{table}");
    let pruned = json(&root.ok(&["cache", "prune", "-f", "--filter", "type=cache-mount", "--format", "json"]));
    assert_eq!(pruned["freed"], 2);
    assert!(support::names(&root.root.join("cache-mounts")).iter().all(|n| n.contains('.')), "only lock files stay");
}

#[test]
fn gc_after_one_build_spares_what_a_concurrent_build_holds() {
    let root = root();
    fs_err::write(root.root.join("strata.toml"), "[gc]\nkeep-storage = \"1B\"\n").unwrap();
    let slow = "FROM busybox:latest\nRUN echo shared > /s.txt\nRUN sleep 3 && cat /s.txt > /a.txt\n";
    // Its image does not hold the shared layer: only the slow build's lease does.
    let fast = "FROM busybox:latest AS build\nRUN echo shared > /s.txt\nFROM busybox:latest\nCOPY --from=build /s.txt /b.txt\n";
    // The shared step's record, held by no image.
    root.build(fast, &[], &["--no-gc", "-t", "fast:0"]).success();
    root.ok(&["rmi", "fast:0"]);
    let slow_dir = root.scratch("slow");
    fs_err::create_dir_all(&slow_dir).unwrap();
    fs_err::write(slow_dir.join("Dockerfile"), slow).unwrap();
    let child = root
        .command(&["build", "--progress", "plain", "--no-gc", "-t", "slow:1", slow_dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let leases = root.root.join("leases");
    let started = Instant::now();
    while support::names(&leases).iter().all(|l| fs_err::read_to_string(leases.join(l)).unwrap_or_default().is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(20), "the slow build never leased a layer");
        std::thread::sleep(Duration::from_millis(20));
    }
    // This build's GC (keep 1 byte) runs while the slow one sleeps.
    root.build(fast, &[], &["-t", "fast:1"]).success();
    let shared = entries_of(&du(&root)).into_iter().find(|e| e["description"] == "RUN echo shared > /s.txt");
    let shared = shared.expect("the GC left the leased record");
    assert_eq!(shared["held_by"], serde_json::json!(["build"]), "{shared:#}");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the slow build survived the other's GC:\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(fs_err::read_to_string(root.rootfs("slow:1").join("a.txt")).unwrap(), "shared\n");
    assert_eq!(fs_err::read_to_string(root.rootfs("fast:1").join("b.txt")).unwrap(), "shared\n");
    assert_eq!(root.run(&["cache", "verify"]).code, Some(0));
}

#[test]
fn verify_finds_a_changed_file_in_a_layer_kept_as_its_snapshot() {
    let root = root();
    root.build(MULTI, &[("a.txt", "alpha\n")], &["-t", "multi:1"]).success();
    let report = du(&root);
    let entry = entries_of(&report).into_iter().find(|e| e["description"] == "RUN echo one > /one.txt").unwrap();
    let layer = entry["layer"].as_str().unwrap()[7..].to_owned();
    assert!(!root.blobs_dir().join(&layer).exists(), "the layer is kept as its snapshot alone");
    fs_err::write(root.snapshots_dir().join(&layer).join("one.txt"), "onf\n").unwrap();

    let run = root.run(&["cache", "verify", "--format", "json"]);
    assert_eq!(run.code, Some(3), "{}", run.stdout);
    let found = json(&run.stdout);
    let findings = found["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{found:#}");
    assert_eq!((findings[0]["problem"].as_str(), findings[0]["layer"].as_str()), (Some("incomplete-snapshot"), Some(format!("sha256:{layer}").as_str())));
    assert_eq!(root.run(&["cache", "verify", "--repair"]).code, Some(0));
    let rebuilt = root.build(MULTI, &[], &["-t", "multi:2"]).success();
    assert!(cached_steps(&rebuilt.stderr) < 5, "the dropped step runs again:\n{}", rebuilt.stderr);
    assert_eq!(fs_err::read_to_string(root.rootfs("multi:2").join("joined.txt")).unwrap(), "alpha\none\n");
}

#[test]
fn a_fully_cached_build_collects_garbage_at_most_hourly() {
    let root = root();
    root.build(MULTI, &[("a.txt", "alpha\n")], &["-t", "multi:1"]).success();
    fs_err::write(root.root.join("strata.toml"), "[gc]\nkeep-storage = \"1B\"\n").unwrap();
    let warm = root.build(MULTI, &[], &["-t", "multi:1"]).success();
    assert!(!warm.stderr.contains("gc: removed"), "a GC ran although the build added nothing and the last GC is recent:\n{}", warm.stderr);
    age_last_gc(&root);
    let later = root.build(MULTI, &[], &["-t", "multi:1"]).success();
    assert!(later.stderr.contains("gc: removed"), "an hour on, the GC runs:\n{}", later.stderr);
}

/// Makes the last garbage collection two hours old.
fn age_last_gc(root: &TestRoot) {
    let marker = root.root.join("locks/gc-last");
    fs_err::write(&marker, b"").unwrap();
    let aged = std::process::Command::new("touch").args(["-d", "2 hours ago"]).arg(&marker).status().unwrap();
    assert!(aged.success());
}
