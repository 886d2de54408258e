//! SIGINT or SIGTERM (Ctrl-C) during the solve stops the build cleanly:
//! containers are killed, running steps unwind (unmounting, removing their
//! scratch space) and nothing is committed.

use super::BuildError;
use crate::exec::Runtime;
use crate::image::Reference;
use crate::plan::BuildPlan;
use crate::solve::{BuildOutput, SolveError, Solver};

/// Runs the solve; returns its result and whether a signal interrupted it.
pub(super) fn solve_until_interrupted(
    solver: &Solver<'_>,
    runtime: &Runtime,
    plan: &BuildPlan,
    tags: &[Reference],
) -> Result<(Result<BuildOutput, SolveError>, bool), BuildError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(BuildError::Signals)?;
    let handle = signals.handle();
    let interrupted = AtomicBool::new(false);
    let output = std::thread::scope(|scope| {
        scope.spawn(|| {
            if signals.forever().next().is_some() {
                interrupted.store(true, Ordering::SeqCst);
                solver.cancel();
                runtime.stop();
            }
        });
        let output = solver.build(plan, tags);
        handle.close();
        output
    });
    Ok((output, interrupted.load(Ordering::SeqCst)))
}
