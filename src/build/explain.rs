//! `strata cache explain`: the first half of a build — context, plan, cache
//! keys — run dry, through the same steps [`super::build`] takes, so each
//! verdict is exactly what a build would do. Nothing runs, nothing is pulled.

use super::context::OpenedContext;
use super::{dockerfile_id, load_plan, BuildError, Request};
use crate::context::Context;
use crate::exec::Runtime;
use crate::progress::Quiet;
use crate::solve::{BuildContext, SolveOptions, Solver, StoreBaseImages, Verdict};
use crate::store::{Store, StoreStatCache};

/// Per step of `request`'s build: would it come from the cache, and if not, why.
pub fn explain(store: &Store, mut request: Request) -> Result<Vec<Verdict>, BuildError> {
    let opened = OpenedContext::open(store, &mut request.context)?;
    let dockerfile = opened.dockerfile(request.dockerfile.as_deref());
    let plan = load_plan(&StoreBaseImages::new(store, None), &dockerfile, &request.plan)?;
    let context = Context::open(&opened.dir, &dockerfile)?;
    let context = BuildContext::new(context, StoreStatCache::open(store, &opened.dir)?);
    let options = SolveOptions { explain: true, dry_run: true, dockerfile_id: dockerfile_id(&dockerfile), ..request.solve };
    let runtime = Runtime::default();
    let solver = Solver::new(store, &context, &runtime, &Quiet, options);
    let verdicts = solver.dry_run(&plan);
    context.finish()?;
    Ok(verdicts?)
}
