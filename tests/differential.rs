//! strata against Docker's BuildKit and Buildah, on the same inputs.
//!
//! `main` starts the shared services once — a private dockerd (see
//! [`support::docker`]), a docker-registry on 127.0.0.1 and one strata
//! store, all holding the same busybox base — runs the trials one at a time
//! and stops the services after the last (also when a trial fails):
//!
//! - `corpus::*`: every directory under `testdata/differential/` is built
//!   by `docker build` (BuildKit) and by `strata build`; the root
//!   filesystems and configs must be equal, or the difference listed with
//!   its reason in the case's `differences` file ([`compare`]);
//! - `bases::*`: strata builds on bases made by docker import, docker
//!   commit, the classic builder, BuildKit and Buildah, pulled from the
//!   registry (`testdata/differential-bases/`);
//! - `reverse::*`: dockerd and Buildah read what strata saves and pushes.
//!
//! `STRATA_BLESS=1 cargo test --test differential` rewrites the
//! `differences` and `expected` files; review the diff. Needs root,
//! docker.io, buildah, skopeo, umoci and docker-registry
//! (`bash tests/deps.sh`); fails, never skips, without them.

mod support;

#[path = "differential/bases.rs"]
mod bases;
#[path = "differential/compare.rs"]
mod compare;
#[path = "differential/corpus.rs"]
mod corpus;
#[path = "differential/image.rs"]
mod image;
#[path = "differential/reverse.rs"]
mod reverse;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libtest_mimic::{Arguments, Trial};

use support::docker::Dockerd;
use support::registry::Registry;
use support::TestRoot;

/// The base every corpus case builds on, in dockerd and in strata's store.
pub const BASE: &str = "busybox:latest";

/// What every trial shares. Field order is drop order: the registry and
/// dockerd stop before the scratch directories go.
pub struct Services {
    /// The registry both builders pull the base from.
    pub registry: Registry,
    /// The private dockerd (BuildKit) the suite compares against.
    pub dockerd: Dockerd,
    /// strata's store, with the same base imported.
    pub strata: TestRoot,
}

impl Services {
    fn start() -> Services {
        assert!(nix::unistd::geteuid().is_root(), "the differential tests run as root (dockerd, overlay mounts, owners)");
        let dockerd = Dockerd::start();
        let registry = Registry::start();
        let strata = TestRoot::new();
        let services = Services { registry, dockerd, strata };
        services.import_base();
        services
    }

    /// `docker import` of the busybox rootfs as [`BASE`], loaded into strata
    /// through `docker save`, so both start from the same image ID.
    fn import_base(&self) {
        let tarball = self.scratch("base.tar");
        image::busybox_tarball(&self.scratch("base-rootfs"), &tarball);
        let path = tarball.to_str().expect("UTF-8 path");
        self.dockerd.ok(&["import", "-c", support::build::BASE_PATH, "-m", "busybox base", path, BASE]);
        let saved = self.scratch("base-saved.tar");
        self.dockerd.ok(&["save", "-o", saved.to_str().expect("UTF-8 path"), BASE]);
        self.strata.ok(&["load", "-q", "-i", saved.to_str().expect("UTF-8 path")]);
        let docker_id = self.dockerd.ok(&["image", "inspect", "-f", "{{.Id}}", BASE]);
        assert_eq!(self.strata.inspect(BASE)["Id"].as_str(), Some(docker_id.trim()), "strata loads docker's base with the same ID");
    }

    /// A path in strata's scratch space.
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.strata.scratch(name)
    }
}

fn main() {
    let mut args = Arguments::from_args();
    // One build at a time: dockerd and strata share two cores and one store.
    args.test_threads = Some(1);
    if args.list {
        libtest_mimic::run(&args, trials(None)).exit();
    }
    let services = Arc::new(Services::start());
    let conclusion = libtest_mimic::run(&args, trials(Some(&services)));
    drop(services);
    conclusion.exit();
}

/// Every trial; without services (for `--list`) they are never run.
fn trials(services: Option<&Arc<Services>>) -> Vec<Trial> {
    let shared = Shared(services.cloned());
    let mut all = Vec::new();
    all.extend(corpus::trials(&shared));
    all.extend(bases::trials(&shared));
    all.extend(reverse::trials(&shared));
    all
}

/// The services as a trial holds them: absent only when listing.
#[derive(Clone)]
pub struct Shared(Option<Arc<Services>>);

impl Shared {
    /// The services of a trial that runs (listing never runs one).
    pub fn get(&self) -> &Services {
        self.0.as_deref().expect("services are started before any trial runs")
    }
}

/// The sorted subdirectories of `testdata/<name>`.
pub fn case_dirs(name: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name);
    let mut dirs: Vec<PathBuf> = fs_err::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Whether this run rewrites expected files.
pub fn blessing() -> bool {
    std::env::var_os("STRATA_BLESS").is_some_and(|v| v == "1")
}
