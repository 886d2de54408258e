//! Running stages concurrently: a fixed pool of worker threads takes
//! stages from a ready queue. A stage waits on a count of its unfinished
//! dependencies and joins the queue when the last one finishes; it then
//! gets only its dependencies' end states (shared, not copied), and a
//! state is dropped once every stage reading it has started. Bookkeeping
//! is linear in stages and edges, and the thread count is bounded however
//! long the chain. The first failure stops stages that have not started
//! and makes running ones stop at their next step. Identical steps running
//! at the same time (same cache key) are computed once: the second waits
//! and takes the cache hit.
//!
//! Stage work is blocking (mounts, process waits, file copies), so stages
//! run on scoped OS threads that borrow the solver.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use super::state::{StageInputs, StageState};
use super::{SolveError, Solver};
use crate::cache::CacheKey;
use crate::plan::{BuildPlan, StagePlan};

/// Stages run at once when `--jobs` is not given. More than the cores, as
/// in BuildKit every ready stage runs: the kernel shares the cores better
/// than slots would (three 2 s stages on two cores end in 3 s, not 4).
/// Ready stages beyond it wait for a worker.
pub const DEFAULT_JOBS: usize = 16;

/// The stage graph of the needed stages, as the queue walks it.
struct Graph<'p> {
    stages: Vec<Option<&'p StagePlan>>,
    /// Each needed stage's dependencies, without repeats.
    deps: Vec<Vec<usize>>,
    /// Each needed stage's needed dependents.
    dependents: Vec<Vec<usize>>,
    target: usize,
}

impl<'p> Graph<'p> {
    fn new(plan: &'p BuildPlan) -> Graph<'p> {
        let count = plan.stages.len();
        let mut graph = Graph { stages: vec![None; count], deps: vec![Vec::new(); count], dependents: vec![Vec::new(); count], target: plan.graph.target };
        for stage in plan.ordered() {
            graph.stages[stage.index] = Some(stage);
        }
        for stage in plan.ordered() {
            // Only needed stages are waited for; a stage reading another
            // one anyway fails with `StageNotBuilt` rather than hanging.
            let mut deps: Vec<usize> = plan
                .graph
                .dag
                .neighbors_directed(NodeIndex::new(stage.index), Direction::Incoming)
                .map(|n| plan.graph.dag[n])
                .filter(|&dep| graph.stages.get(dep).is_some_and(Option::is_some))
                .collect();
            deps.sort_unstable();
            deps.dedup();
            for &dep in &deps {
                graph.dependents[dep].push(stage.index);
            }
            graph.deps[stage.index] = deps;
        }
        graph
    }
}

/// What the workers share.
struct Board {
    ready: VecDeque<usize>,
    /// Per stage: dependencies not finished yet.
    waiting: Vec<usize>,
    /// Per stage: dependents that have not taken its state yet.
    readers: Vec<usize>,
    results: Vec<Option<Arc<StageState>>>,
    /// Needed stages not finished yet.
    unfinished: usize,
    /// Stages taken by a worker and not finished.
    running: usize,
    failure: Option<SolveError>,
    cached: usize,
    total: usize,
}

impl Board {
    fn new(graph: &Graph<'_>) -> Board {
        let count = graph.stages.len();
        let needed = graph.stages.iter().flatten().count();
        let mut board = Board {
            ready: VecDeque::new(),
            waiting: graph.deps.iter().map(Vec::len).collect(),
            readers: graph.dependents.iter().map(Vec::len).collect(),
            results: vec![None; count],
            unfinished: needed,
            running: 0,
            failure: None,
            cached: 0,
            total: 0,
        };
        board.ready.extend(graph.stages.iter().flatten().filter(|s| graph.deps[s.index].is_empty()).map(|s| s.index));
        board
    }

    /// The next ready stage with its inputs, or why there is none.
    fn take<'p>(&mut self, graph: &Graph<'p>) -> Next<'p> {
        if self.failure.is_some() || self.unfinished == 0 {
            return Next::Over;
        }
        let Some(index) = self.ready.pop_front() else {
            if self.running == 0 {
                // Nothing runs and nothing is ready: a dependency cycle
                // the planner let through. Fail rather than wait forever.
                self.failure = Some(SolveError::TargetNotBuilt);
                return Next::Over;
            }
            return Next::Wait;
        };
        let Some(stage) = graph.stages[index] else {
            self.failure = Some(SolveError::StageNotBuilt(index));
            return Next::Over;
        };
        self.running += 1;
        let mut inputs = Vec::with_capacity(graph.deps[index].len());
        for &dep in &graph.deps[index] {
            let Some(state) = self.results[dep].clone() else { continue };
            self.readers[dep] -= 1;
            if self.readers[dep] == 0 && dep != graph.target {
                self.results[dep] = None;
            }
            inputs.push((dep, state));
        }
        Next::Stage(stage, StageInputs::new(inputs))
    }

    /// Records a finished stage and queues the dependents it was the last
    /// dependency of; true when others may have work now.
    fn finish(&mut self, graph: &Graph<'_>, index: usize, state: StageState) -> bool {
        self.unfinished -= 1;
        self.running -= 1;
        if self.readers[index] > 0 || index == graph.target {
            self.results[index] = Some(Arc::new(state));
        }
        let before = self.ready.len();
        for &dependent in &graph.dependents[index] {
            self.waiting[dependent] -= 1;
            if self.waiting[dependent] == 0 {
                self.ready.push_back(dependent);
            }
        }
        self.ready.len() > before || self.unfinished == 0
    }
}

/// What a worker does next.
enum Next<'p> {
    Stage(&'p StagePlan, StageInputs),
    Wait,
    Over,
}

/// The target stage's end state and cache-hit / step counts.
pub(super) struct Finished {
    pub target: Option<StageState>,
    pub cached: usize,
    pub total: usize,
}

impl Solver<'_> {
    pub(super) fn run_stages(&self, plan: &BuildPlan) -> Result<Finished, SolveError> {
        let jobs = match self.options.jobs {
            0 => DEFAULT_JOBS,
            n => n,
        };
        let graph = Graph::new(plan);
        let board = Mutex::new(Board::new(&graph));
        let changed = Condvar::new();
        let workers = jobs.min(graph.stages.iter().flatten().count()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| self.work(&graph, &board, &changed));
            }
        });
        let mut board = board.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(error) = board.failure {
            return Err(error);
        }
        let target = board.results[graph.target].take().map(Arc::unwrap_or_clone);
        Ok(Finished { target, cached: board.cached, total: board.total })
    }

    /// One worker: takes ready stages until the build is over or failed.
    fn work(&self, graph: &Graph<'_>, board: &Mutex<Board>, changed: &Condvar) {
        loop {
            let (stage, inputs) = {
                let mut shared = lock(board);
                loop {
                    match shared.take(graph) {
                        Next::Stage(stage, inputs) => break (stage, inputs),
                        Next::Over => {
                            changed.notify_all();
                            return;
                        }
                        Next::Wait => shared = changed.wait(shared).unwrap_or_else(|poisoned| poisoned.into_inner()),
                    }
                }
            };
            let outcome = self.stage(stage, inputs);
            let mut shared = lock(board);
            match outcome {
                Ok((state, hits, steps)) => {
                    shared.cached += hits;
                    shared.total += steps;
                    if shared.finish(graph, stage.index, state) {
                        changed.notify_all();
                    }
                }
                Err(error) => {
                    self.cancel();
                    shared.failure.get_or_insert(error);
                    changed.notify_all();
                }
            }
        }
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
