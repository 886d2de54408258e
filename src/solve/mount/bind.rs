//! `RUN --mount=type=bind`: a path of the context, or of a stage's or
//! image's filesystem, shown at the target.

use std::path::PathBuf;

use super::MountSet;
use crate::copy::resolve_in_root;
use crate::exec::Bind;
use crate::plan::BindMount;
use crate::solve::{SolveError, Solver};

pub(super) fn realise(solver: &Solver<'_>, mount: &BindMount, set: &mut MountSet<'_>) -> Result<(), SolveError> {
    let source = source(solver, mount, set)?;
    set.binds.push(Bind { source, target: mount.target.clone(), read_only: mount.readonly });
    Ok(())
}

/// The host directory the mount shows: stages and images are mounted
/// read-only under the scratch dir, the source resolved inside its root.
/// `rw` mounts get a throwaway overlay, so writes never reach the source
/// (as in BuildKit).
fn source(solver: &Solver<'_>, mount: &BindMount, set: &mut MountSet<'_>) -> Result<PathBuf, SolveError> {
    let n = set.guards.mounts.len();
    let root = match solver.source_state(&mount.from, set.results)? {
        None => solver.context.root().to_path_buf(),
        Some(state) => {
            let layers = solver.layer_paths(&state)?;
            let dir = set.scratch.join(format!("bind-{n}"));
            let mounted = solver.options.snapshotter.mount(&layers, &dir, true).map_err(|e| SolveError::io("mount the bind source in", &dir, e))?;
            let root = mounted.root().to_path_buf();
            set.guards.mounts.push(mounted);
            root
        }
    };
    let rel = resolve_in_root(&root, mount.source.as_deref().unwrap_or("/"))?;
    let source = root.join(rel);
    if mount.readonly || !source.is_dir() {
        return Ok(source);
    }
    let dir = set.scratch.join(format!("bind-rw-{n}"));
    let layers = [source];
    let mounted = solver.options.snapshotter.mount(&layers, &dir, false).map_err(|e| SolveError::io("mount a writable bind in", &dir, e))?;
    let writable = mounted.root().to_path_buf();
    set.guards.mounts.push(mounted);
    Ok(writable)
}
