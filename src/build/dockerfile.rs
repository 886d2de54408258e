//! The Dockerfile end of the pipeline: read, parse and plan it (errors keep
//! the text so the edge can point into it), and the `--label`s that apply
//! to the final image after the Dockerfile's own.

use std::path::Path;

use super::BuildError;
use crate::image::ConfigChange;
use crate::plan::{self, BuildPlan, PlanOptions};
use crate::solve::StoreBaseImages;
use crate::syntax;

/// Reads, parses and plans the Dockerfile at `path`.
pub fn load_plan(base_images: &StoreBaseImages<'_>, path: &Path, options: &PlanOptions) -> Result<BuildPlan, BuildError> {
    let name = path.display().to_string();
    let bytes = fs_err::read(path).map_err(|source| BuildError::ReadDockerfile { path: path.to_path_buf(), source })?;
    // As BuildKit: bytes that are not UTF-8 read as U+FFFD.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let file = match syntax::parse(&text) {
        Ok(file) => file,
        Err(error) => return Err(BuildError::Parse { name, text, error: Box::new(error) }),
    };
    plan::plan(&file, options, base_images).map_err(|error| BuildError::Plan { name, text, error: Box::new(error) })
}

/// What identifies a Dockerfile across builds (for `--explain`).
pub fn dockerfile_id(path: &Path) -> String {
    path.canonicalize().unwrap_or(path.to_path_buf()).display().to_string()
}

/// Adds `labels` to the target stage's config as one last step.
pub(super) fn add_labels(plan: &mut BuildPlan, labels: &[(String, String)]) {
    if labels.is_empty() {
        return;
    }
    let target = plan.graph.target;
    if let Some(stage) = plan.stages[target].as_mut() {
        let change = ConfigChange::Label(labels.to_vec());
        change.apply(&mut stage.config);
        stage.steps.push(plan::Step {
            op: plan::Op::Config { change },
            lines: stage.steps.last().map(|s| s.lines).unwrap_or_default(),
            span: Default::default(),
            text: "LABEL (--label)".into(),
            created_by: None,
        });
    }
}
