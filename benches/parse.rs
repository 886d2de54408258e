//! Parser throughput on a generated 10,000-line Dockerfile.
//!
//! `cargo bench --bench parse` prints MiB/s for:
//! - `baseline/lines+split_whitespace`: counting lines and whitespace words,
//!   a floor for any line-oriented scan of the same text;
//! - `syntax/parse_ast`: text to the raw tree;
//! - `syntax/parse`: text to the typed model (raw tree plus checks);
//! - `syntax/lint`: the build checks (`strata lint` without rendering).
//!
//! With `STRATA_BENCH_DOCKERFILE=FILE` it writes the generated Dockerfile
//! there first (`benches/lint.sh` times the binaries on it).

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, Criterion, Throughput};

/// Lines in the generated Dockerfile.
const TARGET_LINES: usize = 10_000;

/// One stage using every instruction kind and form; `i` varies names and values
/// so no two blocks are byte-identical.
fn push_stage(out: &mut String, i: usize) {
    let arch = ["amd64", "arm64", "riscv64"][i % 3];
    let _ = write!(
        out,
        r#"# ---- stage {i} ----
FROM --platform=linux/{arch} docker.io/library/debian:bookworm-{i} AS build{i}
MAINTAINER Jane Doe <jane{i}@example.com>
LABEL org.opencontainers.image.title="strata bench {i}" \
      org.opencontainers.image.version=1.{i}.0 version="{i}"
LABEL legacy value with spaces {i}
ENV PATH=/opt/tool{i}/bin:$PATH LANG=C.UTF-8 QUOTED="a b c"
ENV LEGACY_FORM value {i} with spaces
ARG VERSION=1.{i}.0
ARG TARGETARCH
ARG NOVALUE{i} OTHER{i}=x
WORKDIR /src/project{i}
USER 1000:1000
EXPOSE 80 443/tcp {port}/udp
STOPSIGNAL SIGTERM
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# a comment between instructions, with some words in it {i}
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates curl git \
    # a comment inside a continuation
      build-essential pkg-config && \
    rm -rf /var/lib/apt/lists/*
RUN ["/bin/sh", "-c", "echo exec form {i}"]
RUN --mount=type=cache,target=/root/.cache,sharing=locked,id=cache{i} \
    --mount=type=bind,source=.,target=/src,readonly \
    --mount=type=secret,id=token{i},required=true \
    --network=none \
    make -j2 build VERSION=${{VERSION}}
RUN <<EOF
set -eux
echo "heredoc body line for stage {i}"
for f in a b c; do echo $f; done
EOF
RUN <<-EOT bash -ex
	echo chomped {i}
	echo second line
	EOT
COPY --from=build{prev} --chown=1000:1000 --chmod=0755 --link /out/bin{i} /usr/local/bin/
COPY --parents --exclude=*.tmp src/ docs/ /app/
COPY ["file with space {i}.txt", "/app/dest/"]
COPY <<EOF /etc/config{i}.conf
key=value{i}
EOF
ADD --chown=app:app --chmod=644 https://example.com/archive{i}.tar.gz /opt/
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d --keep-git-dir=true https://example.com/r{i}.git /src/repo
VOLUME /data{i} /logs
VOLUME ["/cache{i}"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD curl -f http://localhost:{port}/ || exit 1
HEALTHCHECK NONE
ONBUILD RUN echo triggered {i}
ONBUILD COPY . /app/src{i}
ENTRYPOINT ["/usr/local/bin/entry{i}", "--flag"]
CMD ["--help"]
CMD echo shell form cmd {i}

"#,
        port = 8000 + i % 1000,
        prev = i.saturating_sub(1),
    );
}

/// A Dockerfile of at least `TARGET_LINES` lines, with directives at the top.
fn generate() -> String {
    let mut out = String::from("# syntax=docker/dockerfile:1\n# check=skip=JSONArgsRecommended;error=false\n");
    out.push_str("ARG BASE_VERSION=12\n");
    let mut i = 0;
    while out.lines().count() < TARGET_LINES {
        push_stage(&mut out, i);
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let text = generate();
    if let Some(path) = std::env::var_os("STRATA_BENCH_DOCKERFILE") {
        fs_err::write(&path, &text).expect("write the generated Dockerfile");
    }
    let lines = text.lines().count();
    // The input must parse, or the benchmark would only time an early error.
    let ast = strata::syntax::parse_ast(&text).expect("generated Dockerfile parses (raw tree)");
    let typed = strata::syntax::parse(&text).expect("generated Dockerfile parses (typed)");
    eprintln!("input: {lines} lines, {} bytes, {} instructions, {} stages", text.len(), ast.nodes.len(), typed.stages.len());

    let mut group = c.benchmark_group("syntax");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.measurement_time(Duration::from_secs(5));
    group.warm_up_time(Duration::from_secs(1));
    group.bench_function("baseline/lines+split_whitespace", |b| {
        b.iter(|| {
            let text = black_box(text.as_str());
            let mut lines = 0usize;
            let mut words = 0usize;
            for line in text.lines() {
                lines += 1;
                words += line.split_whitespace().count();
            }
            black_box((lines, words))
        })
    });
    group.bench_function("baseline/count_newlines", |b| b.iter(|| black_box(black_box(text.as_bytes()).iter().filter(|&&b| b == b'\n').count())));
    group.bench_function("parse_ast", |b| b.iter(|| strata::syntax::parse_ast(black_box(&text)).unwrap()));
    group.bench_function("parse", |b| b.iter(|| strata::syntax::parse(black_box(&text)).unwrap()));
    let options = strata::lint::LintOptions::default();
    group.bench_function("lint", |b| b.iter(|| strata::lint::lint(black_box(&text), &options).unwrap()));
    group.finish();
}

// criterion_group! makes a public function it gives no doc.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::bench);
}
use group::benches;
criterion_main!(benches);
