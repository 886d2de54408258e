//! Build checks with real builds: the checks that read the store's build
//! history (CacheBustingOrder, WastedLayerBytes), the warnings every build
//! prints, `strata build --check` and `# check=error=true`. Needs root and
//! overlayfs, like tests/build.rs.

mod support;

use support::TestRoot;

fn root() -> TestRoot {
    let root = TestRoot::new();
    root.busybox();
    root
}

/// The findings of `strata lint --format json` for the test root's context.
fn findings(root: &TestRoot) -> Vec<serde_json::Value> {
    let context = root.context_dir();
    let out = root.ok(&["lint", "--format", "json", context.to_str().expect("UTF-8 temp path")]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("lint prints JSON");
    report["findings"].as_array().cloned().unwrap_or_default()
}

fn of_rule<'a>(findings: &'a [serde_json::Value], rule: &str) -> Vec<&'a serde_json::Value> {
    findings.iter().filter(|f| f["rule"] == rule).collect()
}

#[test]
fn cache_busting_order_counts_the_misses_a_broad_copy_caused() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest
WORKDIR /app
COPY . /app
RUN echo pip install -r requirements.txt > /app/installed
";
    root.build(dockerfile, &[("requirements.txt", "flask\n"), ("app.py", "v1\n")], &[]).success();
    assert!(of_rule(&findings(&root), "CacheBustingOrder").is_empty(), "one build is no history");
    root.build(dockerfile, &[("app.py", "v2\n")], &[]).success();
    root.build(dockerfile, &[("app.py", "v3\n")], &[]).success();
    // A build where nothing changed: every step hits, nothing is counted.
    root.build(dockerfile, &[], &[]).success();
    let found = findings(&root);
    let busting = of_rule(&found, "CacheBustingOrder");
    assert_eq!(busting.len(), 1, "{found:#?}");
    assert_eq!(busting[0]["message"], "the RUN at line 4 missed the cache in 2 of the last 4 builds because COPY . at line 3 changed");
    assert_eq!(busting[0]["line"], 3);
}

#[test]
fn cache_busting_order_stays_quiet_when_the_install_comes_first() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest
WORKDIR /app
COPY requirements.txt /app/
RUN echo pip install -r requirements.txt > /app/installed
COPY . /app
";
    root.build(dockerfile, &[("requirements.txt", "flask\n"), ("app.py", "v1\n")], &[]).success();
    root.build(dockerfile, &[("app.py", "v2\n")], &[]).success();
    root.build(dockerfile, &[("app.py", "v3\n")], &[]).success();
    assert!(of_rule(&findings(&root), "CacheBustingOrder").is_empty());
}

#[test]
fn wasted_layer_bytes_names_the_deleted_and_overwritten_files_with_sizes() {
    let root = root();
    let dockerfile = "\
FROM busybox:latest
RUN head -c 300000 /dev/zero > /big.bin && echo small > /keep.txt
RUN rm /big.bin
RUN echo overwritten > /keep.txt
";
    root.build(dockerfile, &[], &[]).success();
    let found = findings(&root);
    let wasted = of_rule(&found, "WastedLayerBytes");
    let messages: Vec<&str> = wasted.iter().map(|f| f["message"].as_str().unwrap_or("")).collect();
    assert_eq!(
        messages,
        [
            "1 file written at line 2 (300.0 kB) is deleted or overwritten at line 3, but still in the image (largest: /big.bin, 300.0 kB)",
            "1 file written at line 2 (6 B) is deleted or overwritten at line 4, but still in the image (largest: /keep.txt, 6 B)",
        ],
        "{found:#?}"
    );
    assert!(wasted.iter().all(|f| f["line"] == 2));
}

#[test]
fn wasted_layer_bytes_ignores_a_dockerfile_changed_since_the_build() {
    let root = root();
    root.build("FROM busybox:latest\nRUN head -c 1000 /dev/zero > /big.bin\nRUN rm /big.bin\n", &[], &[]).success();
    root.write_context("FROM busybox:latest\nRUN head -c 1000 /dev/zero > /big.bin && rm /big.bin\nRUN true\n", &[]);
    assert!(of_rule(&findings(&root), "WastedLayerBytes").is_empty());
}

#[test]
fn builds_print_warnings_and_check_builds_nothing() {
    let root = root();
    let run = root.build("FROM busybox:latest\nCMD echo hi\n", &[], &["-t", "warned:1"]).success();
    assert!(run.stderr.contains("1 warning found:\n - JSONArgsRecommended: JSON arguments recommended for CMD"), "{}", run.stderr);
    let run = root.build("FROM busybox:latest AS Base\nRUN echo never-run\n", &[], &["--check", "-t", "checked:1"]).success();
    assert!(run.stderr.contains("StageNameCasing: Stage name 'Base' should be lowercase"), "{}", run.stderr);
    assert!(!run.stderr.contains("] RUN echo never-run") && !run.stderr.contains("writing image"), "--check runs no step: {}", run.stderr);
    assert_eq!(root.run(&["inspect", "checked:1"]).code, Some(1), "--check stores no image");
}

#[test]
fn check_error_true_fails_the_build_before_any_step() {
    let root = root();
    let dockerfile = "# check=error=true\nFROM busybox:latest\nRUN echo ran > /ran\nCMD echo hi\n";
    let run = root.build(dockerfile, &[], &["-t", "strict:1"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("1 error found:\n - JSONArgsRecommended"), "{}", run.stderr);
    assert_eq!(root.run(&["inspect", "strict:1"]).code, Some(1));
    let arg = "BUILDKIT_DOCKERFILE_CHECK=skip=JSONArgsRecommended;error=true";
    root.build(dockerfile, &[], &["--build-arg", arg, "-t", "strict:1"]).success();
}
