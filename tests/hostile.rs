//! Hostile and damaged layer tarballs: every input under
//! `testdata/layer/hostile/` (made by `make.py` there) is one case, with
//! its expected outcome beside it: `<case>.err` (unpacking fails with this
//! message) or `<case>.tree` (unpacking succeeds with this tree listing).
//!
//! Two tests per case:
//! - `unpack::<case>`: `layer::unpack` into `dest/` inside a sandbox that
//!   also holds a sentinel file; afterwards the sandbox holds exactly those
//!   two, the sentinel is intact, `/etc/passwd` is untouched and nothing
//!   appeared in the directory the cases aim absolute paths at;
//! - `import::<case>`: `strata import` of the input into a store that
//!   already holds an image; a failure exits 1 with the message, leaves
//!   `tmp/` empty and blobs and snapshots as they were, and the store still
//!   lists its image.
//!
//! `STRATA_BLESS=1 cargo test --test hostile` rewrites the expected files.

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use strata::layer;
use support::{listing, TestRoot};

/// Where cases aim absolute paths (see make.py); must stay empty.
const ESCAPE: &str = "/tmp/strata-hostile-escape";
const SENTINEL: &[u8] = b"must survive\n";

#[derive(Debug, Clone)]
struct Case {
    name: String,
    input: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Error(String),
    Tree(String),
}

fn main() {
    let args = Arguments::from_args();
    // An existing directory, so a write through a planted symlink would land
    // in it rather than fail for lack of a parent.
    std::fs::create_dir_all(ESCAPE).expect("create the escape canary directory");
    let mut trials = Vec::new();
    for case in cases() {
        let (a, b) = (case.clone(), case.clone());
        trials.push(Trial::test(format!("unpack::{}", case.name), move || unpack_case(&a)));
        trials.push(Trial::test(format!("import::{}", case.name), move || import_case(&b)));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // Only succeeds when empty; another run may still be using it.
    let _ = std::fs::remove_dir(ESCAPE);
    conclusion.exit();
}

fn hostile_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/layer/hostile")
}

/// Every input file (not the script or expected outcomes), sorted.
fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = support::names(&hostile_dir())
        .into_iter()
        .filter(|name| !name.ends_with(".err") && !name.ends_with(".tree") && !name.ends_with(".py"))
        .map(|file| Case { name: file.split('.').next().unwrap_or_default().to_owned(), input: hostile_dir().join(&file) })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(cases.len() >= 20, "hostile inputs are missing: run python3 testdata/layer/hostile/make.py");
    cases
}

impl Case {
    fn expected_path(&self, extension: &str) -> PathBuf {
        hostile_dir().join(format!("{}.{extension}", self.name))
    }

    fn expected(&self) -> Result<Outcome, Failed> {
        let (err, tree) = (self.expected_path("err"), self.expected_path("tree"));
        match (std::fs::read_to_string(&err), std::fs::read_to_string(&tree)) {
            (Ok(message), Err(_)) => Ok(Outcome::Error(message.trim_end().to_owned())),
            (Err(_), Ok(listing)) => Ok(Outcome::Tree(listing)),
            (Ok(_), Ok(_)) => Err(format!("{} has both a .err and a .tree", self.name).into()),
            (Err(_), Err(_)) => Err(format!("{}: no {} or {} (run with STRATA_BLESS=1 to create one)", self.name, err.display(), tree.display()).into()),
        }
    }

    fn bless(&self, outcome: &Outcome) -> Result<(), Failed> {
        let (write, remove, text) = match outcome {
            Outcome::Error(message) => ("err", "tree", format!("{message}\n")),
            Outcome::Tree(listing) => ("tree", "err", listing.clone()),
        };
        std::fs::write(self.expected_path(write), text)?;
        let _ = std::fs::remove_file(self.expected_path(remove));
        Ok(())
    }
}

fn blessing() -> bool {
    std::env::var_os("STRATA_BLESS").is_some_and(|v| v == "1")
}

fn unpack_case(case: &Case) -> Result<(), Failed> {
    let sandbox = tempfile::tempdir()?;
    let dest = sandbox.path().join("dest");
    std::fs::create_dir(&dest)?;
    std::fs::write(sandbox.path().join("sentinel"), SENTINEL)?;
    let passwd = passwd_state();

    let input = std::fs::File::open(&case.input)?;
    let outcome = match layer::unpack(input, &dest) {
        Err(error) => Outcome::Error(error.to_string()),
        Ok(_) => Outcome::Tree(listing::tree(&dest)?),
    };

    let left: BTreeSet<String> = support::names(sandbox.path());
    let expected_names: BTreeSet<String> = ["dest", "sentinel"].map(String::from).into();
    if left != expected_names {
        return Err(format!("the sandbox around dest/ changed: it holds {left:?}").into());
    }
    if std::fs::read(sandbox.path().join("sentinel"))? != SENTINEL {
        return Err("the sentinel beside dest/ was changed".into());
    }
    let escaped = support::names(Path::new(ESCAPE));
    if !escaped.is_empty() {
        return Err(format!("files appeared in {ESCAPE}: {escaped:?}").into());
    }
    if passwd_state() != passwd {
        return Err("/etc/passwd changed (content, link count or inode)".into());
    }

    if blessing() {
        return case.bless(&outcome);
    }
    let expected = case.expected()?;
    if outcome == expected {
        return Ok(());
    }
    Err(format!("expected {expected:?}\nactual   {outcome:?}").into())
}

fn import_case(case: &Case) -> Result<(), Failed> {
    let expected = case.expected()?;
    let root = TestRoot::new();
    let base = root.scratch("base.tar.gz");
    support::tiny_tarball(&root.scratch(""), &base, "base\n");
    root.import(&base, "base:1", &[]);
    let before = root.state();
    let input = case.input.to_str().ok_or("non-UTF-8 test data path")?;
    let run = root.run(&["import", input, "hostile:1"]);
    match expected {
        Outcome::Error(message) => {
            run.failure().says(&message);
            let tmp = root.tmp_entries();
            if !tmp.is_empty() {
                return Err(format!("the failed import left {tmp:?} in tmp/").into());
            }
            let images = root.ok(&["images"]);
            if !images.contains("base") || images.contains("hostile") {
                return Err(format!("after the failed import, `images` shows:\n{images}").into());
            }
            let after = root.state();
            if after != before {
                return Err(format!("the failed import changed the store:\nbefore {before:?}\nafter  {after:?}").into());
            }
        }
        Outcome::Tree(listing_text) => {
            run.success();
            let image = root.inspect("hostile:1");
            let diff_id = image["RootFS"]["diff_ids"][0].as_str().ok_or("inspect shows no diff_id")?;
            let snapshot = root.snapshots_dir().join(diff_id.trim_start_matches("sha256:"));
            let tree = listing::tree(&snapshot)?;
            if tree != listing_text {
                return Err(format!("the imported snapshot differs from {}.tree:\n{tree}", case.name).into());
            }
            if !root.tmp_entries().is_empty() {
                return Err("the import left files in tmp/".into());
            }
        }
    }
    Ok(())
}

/// Content, link count and inode of /etc/passwd.
fn passwd_state() -> (Vec<u8>, u64, u64) {
    let meta = std::fs::metadata("/etc/passwd").expect("stat /etc/passwd");
    (std::fs::read("/etc/passwd").expect("read /etc/passwd"), meta.nlink(), meta.ino())
}
