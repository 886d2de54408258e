//! One trial per directory of `testdata/differential/`: its Dockerfile and
//! context are built by dockerd's BuildKit and by strata, and the two
//! images compared ([`compare`]).
//!
//! Besides the context, a case directory may hold `differences` (the
//! listed differences), `flags` (extra build flags, one per line, given to
//! both builders) and `setup.sh` (run with `sh` in the copied context
//! before the builds, for what git cannot hold: set-id bits, hard links,
//! xattrs, owners). None of the three is part of the context. In `flags`,
//! `{context}` stands for the copied context's path.

use std::path::Path;
use std::process::Command;

use libtest_mimic::{Failed, Trial};

use crate::compare;
use crate::image::{docker_image, strata_image};
use crate::support::docker::checked;
use crate::{blessing, case_dirs, Services, Shared};

/// Files of a case directory that are not context.
const NOT_CONTEXT: &[&str] = &["differences", "flags", "setup.sh"];

pub fn trials(shared: &Shared) -> Vec<Trial> {
    case_dirs("differential")
        .into_iter()
        .map(|dir| {
            let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let shared = shared.clone();
            Trial::test(format!("corpus::{name}"), move || run_case(shared.get(), &dir, &name))
        })
        .collect()
}

fn run_case(services: &Services, dir: &Path, name: &str) -> Result<(), Failed> {
    let context = prepare_context(services, dir, name);
    let flags = read_flags(dir, &context);
    let tag = format!("diff-{name}:latest").to_lowercase();
    docker_build(services, &context, &flags, &tag)?;
    let actual = match strata_build(services, &context, &flags, &tag) {
        Ok(()) => {
            let docker = docker_image(services, &tag, &format!("{name}-docker"));
            let strata = strata_image(services, &tag, &format!("{name}-strata"));
            compare::difference(&compare::describe(&docker.rootfs, &docker.config), &compare::describe(&strata.rootfs, &strata.config))
        }
        Err(log) => {
            eprintln!("{name}: strata build failed where docker build succeeded:\n{log}");
            vec!["strata: build fails".to_owned()]
        }
    };
    let path = dir.join("differences");
    let text = fs_err::read_to_string(&path).unwrap_or_default();
    let groups = compare::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if blessing() {
        let blessed = compare::bless(&groups, &actual);
        if blessed.is_empty() {
            let _ = fs_err::remove_file(&path);
        } else {
            fs_err::write(&path, blessed).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        return Ok(());
    }
    compare::check(&groups, &actual)
        .map_err(|problems| format!("{name}: docker build and strata build differ ({} — STRATA_BLESS=1 rewrites it):\n{problems}", path.display()).into())
}

/// A copy of the case directory without the harness's files, after `setup.sh`.
fn prepare_context(services: &Services, dir: &Path, name: &str) -> std::path::PathBuf {
    let context = services.scratch(&format!("context-{name}"));
    let _ = fs_err::remove_dir_all(&context);
    let output = Command::new("cp").arg("-a").arg(dir).arg(&context).output().expect("run cp");
    checked("copy the case directory", output);
    for file in NOT_CONTEXT {
        if *file != "setup.sh" {
            let _ = fs_err::remove_file(context.join(file));
        }
    }
    if context.join("setup.sh").exists() {
        let output = Command::new("sh").arg("-eu").arg("setup.sh").current_dir(&context).output().expect("run sh");
        checked(&format!("{name}/setup.sh"), output);
        fs_err::remove_file(context.join("setup.sh")).expect("remove setup.sh from the context");
    }
    context
}

/// The lines of the case's `flags` file, `{context}` replaced by the copied context's path.
fn read_flags(dir: &Path, context: &Path) -> Vec<String> {
    let text = fs_err::read_to_string(dir.join("flags")).unwrap_or_default();
    let context = context.to_str().expect("UTF-8 path");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.replace("{context}", context)).collect()
}

fn docker_build(services: &Services, context: &Path, flags: &[String], tag: &str) -> Result<(), Failed> {
    let mut command = services.dockerd.docker(&["build", "--network=host", "--progress=plain", "-t", tag]);
    command.args(flags).arg(context);
    let output = command.output().expect("run docker build");
    if output.status.success() {
        return Ok(());
    }
    Err(format!("docker build failed:\n{}", String::from_utf8_lossy(&output.stderr)).into())
}

/// Runs `strata build`; the error is its log.
fn strata_build(services: &Services, context: &Path, flags: &[String], tag: &str) -> Result<(), String> {
    let mut args = vec!["build", "--progress", "plain", "-t", tag];
    args.extend(flags.iter().map(String::as_str));
    let context = context.to_str().expect("UTF-8 path");
    args.push(context);
    let run = services.strata.run(&args);
    if run.code == Some(0) {
        return Ok(());
    }
    Err(run.stderr)
}
