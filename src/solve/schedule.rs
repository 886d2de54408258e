//! Running stages concurrently: each needed stage waits for the stages it
//! depends on, then runs when one of `jobs` slots is free; the first
//! failure stops stages that have not started and makes running ones stop
//! at their next step. Identical steps running at the same time (same
//! cache key) are computed once: the second waits and takes the cache hit.
//!
//! Stage work is blocking (mounts, process waits, file copies), so stages
//! run on scoped OS threads that borrow the solver.

use std::collections::HashSet;
use std::sync::{Condvar, Mutex, MutexGuard};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use super::state::StageState;
use super::{SolveError, Solver};
use crate::cache::CacheKey;
use crate::plan::BuildPlan;

/// What the stage threads share.
struct Board {
    results: Vec<Option<StageState>>,
    running: usize,
    failure: Option<SolveError>,
    cached: usize,
    total: usize,
}

/// The end states of the needed stages and cache-hit / step counts.
pub(super) struct Finished {
    pub results: Vec<Option<StageState>>,
    pub cached: usize,
    pub total: usize,
}

impl Solver<'_> {
    pub(super) fn run_stages(&self, plan: &BuildPlan) -> Result<Finished, SolveError> {
        // By default every stage whose inputs are ready runs, as in
        // BuildKit: the kernel shares the cores better than slots would
        // (three 2 s stages on two cores end in 3 s, not 4).
        let jobs = match self.options.jobs {
            0 => usize::MAX,
            n => n,
        };
        let board = Mutex::new(Board { results: vec![None; plan.stages.len()], running: 0, failure: None, cached: 0, total: 0 });
        let changed = Condvar::new();
        std::thread::scope(|scope| {
            for stage in plan.ordered() {
                let deps: Vec<usize> = plan.graph.dag.neighbors_directed(NodeIndex::new(stage.index), Direction::Incoming).map(|n| plan.graph.dag[n]).collect();
                let (board, changed) = (&board, &changed);
                scope.spawn(move || {
                    let Some(inputs) = wait_for_turn(board, changed, &deps, jobs) else { return };
                    let outcome = self.stage(stage, &inputs);
                    let mut shared = lock(board);
                    shared.running -= 1;
                    match outcome {
                        Ok((state, hits, steps)) => {
                            shared.results[stage.index] = Some(state);
                            shared.cached += hits;
                            shared.total += steps;
                        }
                        Err(error) => {
                            self.cancel();
                            shared.failure.get_or_insert(error);
                        }
                    }
                    changed.notify_all();
                });
            }
        });
        let board = board.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        match board.failure {
            Some(error) => Err(error),
            None => Ok(Finished { results: board.results, cached: board.cached, total: board.total }),
        }
    }
}

/// Blocks until every dependency is built and a slot is free; returns a
/// copy of the results so far, or `None` when the build failed meanwhile.
fn wait_for_turn(board: &Mutex<Board>, changed: &Condvar, deps: &[usize], jobs: usize) -> Option<Vec<Option<StageState>>> {
    let mut shared = lock(board);
    loop {
        if shared.failure.is_some() {
            return None;
        }
        if shared.running < jobs && deps.iter().all(|d| shared.results[*d].is_some()) {
            shared.running += 1;
            return Some(shared.results.clone());
        }
        shared = changed.wait(shared).unwrap_or_else(|poisoned| poisoned.into_inner());
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Cache keys being computed right now (shared by the solvers of a
/// multi-platform build, see `Solver::with_shared_in_flight`).
#[derive(Default)]
pub struct InFlight {
    keys: Mutex<HashSet<CacheKey>>,
    done: Condvar,
}

impl InFlight {
    /// Claims `key`; when another stage holds it, waits for it to finish
    /// and returns false (the caller looks in the cache again).
    pub(super) fn claim(&self, key: CacheKey) -> bool {
        let mut keys = lock(&self.keys);
        if keys.insert(key) {
            return true;
        }
        while keys.contains(&key) {
            keys = self.done.wait(keys).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        false
    }

    pub(super) fn release(&self, key: &CacheKey) {
        lock(&self.keys).remove(key);
        self.done.notify_all();
    }
}
