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
    let (mut outputs, interrupted) = solve_all_until_interrupted(&[(solver, plan)], runtime, tags)?;
    Ok((outputs.pop().unwrap_or(Err(SolveError::TargetNotBuilt)), interrupted))
}

/// Runs several solves at once (one per platform), each on its own
/// thread; a signal, or one solve failing, cancels them all.
pub(super) fn solve_all_until_interrupted(
    solves: &[(&Solver<'_>, &BuildPlan)],
    runtime: &Runtime,
    tags: &[Reference],
) -> Result<(Vec<Result<BuildOutput, SolveError>>, bool), BuildError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(BuildError::Signals)?;
    let handle = signals.handle();
    let interrupted = AtomicBool::new(false);
    let outputs = std::thread::scope(|scope| {
        scope.spawn(|| {
            if signals.forever().next().is_some() {
                interrupted.store(true, Ordering::SeqCst);
                solves.iter().for_each(|(solver, _)| solver.cancel());
                runtime.stop();
            }
        });
        let running: Vec<_> = solves
            .iter()
            .map(|(solver, plan)| {
                scope.spawn(move || {
                    let output = solver.build(plan, tags);
                    if output.is_err() {
                        solves.iter().for_each(|(other, _)| other.cancel());
                    }
                    output
                })
            })
            .collect();
        let outputs = running.into_iter().map(|thread| thread.join().unwrap_or(Err(SolveError::Cancelled))).collect();
        handle.close();
        outputs
    });
    Ok((outputs, interrupted.load(Ordering::SeqCst)))
}
