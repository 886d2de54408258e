//! The stage scheduler on graphs far larger than real Dockerfiles: a long
//! chain of stages builds, with a bounded number of threads (a pool of
//! workers, not a thread per stage), and a failing stage stops the build.
//! Times are measured by `benches/chain.sh`, not asserted here.

mod support;

use std::fmt::Write;
use std::time::Duration;

use support::TestRoot;

/// `FROM busybox AS s0`, then `FROM s{i-1} AS s{i}` with an `ENV` each.
fn chain(stages: usize) -> String {
    let mut dockerfile = String::from("FROM busybox:latest AS s0\nENV N=0\n");
    for i in 1..stages {
        let _ = write!(dockerfile, "FROM s{} AS s{i}\nENV N={i}\n", i - 1);
    }
    dockerfile
}

/// Threads of a running process, from `/proc/PID/task`; 0 once it is gone.
fn threads(pid: u32) -> usize {
    fs_err::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

#[test]
fn a_chain_of_2000_stages_builds_with_a_bounded_number_of_threads() {
    let root = TestRoot::new();
    root.busybox();
    let context = root.write_context(&chain(2000), &[]);
    let mut child = root
        .command(&["build", "--progress", "plain", "-t", "chain", context.to_str().expect("UTF-8 temp path")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start strata build");
    let mut most = 0;
    let status = loop {
        most = most.max(threads(child.id()));
        if let Some(status) = child.try_wait().expect("wait for strata") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr piped"), &mut log).expect("read the log");
    assert!(status.success(), "the chain build failed:\n{log}");
    // The default pool (16 workers) plus the main thread and a few helpers;
    // a thread per stage would be 2,000.
    assert!(most <= 32, "the build ran {most} threads at once");
    let env = root.inspect("chain")["Config"]["Env"].to_string();
    assert!(env.contains("N=1999"), "the last stage's ENV: {env}");
}

#[test]
fn a_failing_stage_in_a_long_chain_stops_the_build() {
    let root = TestRoot::new();
    root.busybox();
    let mut dockerfile = chain(300);
    dockerfile.push_str("FROM s299 AS broken\nRUN exit 3\nFROM broken\nENV LAST=1\n");
    let run = root.build(&dockerfile, &[], &["-t", "broken"]).failure();
    assert!(run.message().contains("exit"), "the failure is reported: {}", run.message());
}

#[test]
fn jobs_one_builds_independent_stages_one_at_a_time() {
    let root = TestRoot::new();
    root.busybox();
    let dockerfile = "FROM busybox:latest AS a\nRUN echo a > /a\nFROM busybox:latest AS b\nRUN echo b > /b\n\
                      FROM busybox:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nRUN cat /a /b > /ab\n";
    root.build(dockerfile, &[], &["--jobs", "1", "-t", "ab"]).success();
    let rootfs = root.rootfs("ab");
    assert_eq!(fs_err::read_to_string(rootfs.join("ab")).expect("read /ab"), "a\nb\n");
}
