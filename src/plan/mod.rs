//! From the typed Dockerfile model to what the builder executes: the stage
//! graph (with `--target` pruning), ARG/ENV scoping, and the config edits
//! that CMD, ENV, LABEL and friends make (also used by `strata import
//! --change`). Nothing here does I/O: base images come in through a trait.

mod config_edit;
mod entitlements;
pub mod graph;
mod history;
mod op;
mod platform;
mod scope;
mod stages;
mod steps;

use std::collections::BTreeMap;

pub use crate::image::{Platform, PlatformError};
pub use config_edit::{config_edit, ConfigEditError, EditContext};
pub use entitlements::{Entitlement, EntitlementError, Entitlements};
pub use history::HISTORY_COMMENT;
pub use op::{
    AddOptions, BindMount, CacheMount, CopyOp, CopySource, MountKind, MountOp, MountOwner, Network, Op, RunOp, SecretMount, Sharing, SourceRoot, SshMount,
    Step, TmpfsMount,
};
pub use platform::PROXY_ARGS;
pub use scope::{split_env, BuildArgs, GlobalArgs, Scope};
pub use stages::{resolve, Base, DependencyKind, FromRef, StageGraph, StageNode};
pub use steps::{plan_stage, BaseImageError, BaseImages, PlatformMismatch, StagePlan};

use crate::syntax::{Dockerfile, Span};
use crate::words::{ExpandError, Lexer};

/// What `strata build` asks for.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The stage to build (`--target`), as written; `None`: the last stage.
    pub target: Option<String>,
    /// `--build-arg` values by name.
    pub build_args: BTreeMap<String, String>,
    /// The platform to build for (`--platform`); stages without their own
    /// `FROM --platform=` build for it.
    pub platform: Platform,
}

/// Why a Dockerfile cannot be planned; each error points at an instruction.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `--target` names no stage.
    #[error("target stage {name:?} could not be found{}", known_list(known))]
    UnknownTarget {
        /// The `--target` value.
        name: String,
        /// The stage names the Dockerfile has, for the message.
        known: Vec<String>,
    },
    /// Stages depend on each other in a loop (FROM, `COPY --from`, `--mount from=`).
    #[error("circular dependency detected on stage {stage:?}")]
    Cycle {
        /// The stage where the loop was found.
        stage: String,
        /// Its FROM line.
        span: Span,
    },
    /// A numeric `--from` is not an earlier stage's index.
    #[error("--from={value} refers to the current or a later stage by index")]
    StageIndex {
        /// The `--from` value as written.
        value: String,
        /// The instruction holding it.
        span: Span,
    },
    /// Variable expansion failed (`${X:?message}`, bad syntax).
    #[error("{error}")]
    Expand {
        /// What the expander reported.
        error: ExpandError,
        /// The instruction being expanded.
        span: Span,
    },
    /// The base image could not be resolved or its config read.
    #[error("base image {image}: {cause}")]
    BaseImage {
        /// The image reference, expanded.
        image: String,
        /// Why the image store or registry failed.
        cause: BaseImageError,
        /// The FROM line.
        span: Span,
    },
    /// An ONBUILD trigger of the base image does not parse or is not allowed.
    #[error("ONBUILD trigger {trigger:?} of the base image: {reason}")]
    Trigger {
        /// The trigger as stored in the image config.
        trigger: String,
        /// Why it was refused.
        reason: String,
        /// The FROM line.
        span: Span,
    },
    /// A `FROM --platform=` value that names no platform.
    #[error("{error}")]
    Platform {
        /// Why the value is no platform.
        error: PlatformError,
        /// The FROM line.
        span: Span,
    },
    /// An instruction or option strata does not support, or an internal ordering fault.
    #[error("{reason}")]
    Unsupported {
        /// What is unsupported, for the message.
        reason: String,
        /// The instruction concerned.
        span: Span,
    },
    /// BuildKit's refusal of a mount over the whole root filesystem.
    #[error("invalid mount target {target:?}")]
    MountTarget {
        /// The target, resolved against WORKDIR.
        target: String,
        /// The RUN instruction.
        span: Span,
    },
}

impl PlanError {
    fn expand(span: Span, error: ExpandError) -> PlanError {
        PlanError::Expand { error, span }
    }

    /// Where in the Dockerfile the error is, when it is somewhere.
    pub fn span(&self) -> Option<Span> {
        match self {
            PlanError::UnknownTarget { .. } => None,
            PlanError::Cycle { span, .. }
            | PlanError::StageIndex { span, .. }
            | PlanError::Expand { span, .. }
            | PlanError::BaseImage { span, .. }
            | PlanError::Trigger { span, .. }
            | PlanError::Unsupported { span, .. }
            | PlanError::Platform { span, .. }
            | PlanError::MountTarget { span, .. } => Some(*span),
        }
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (stages: {})", known.join(", "))
    }
}

/// The global ARG scope and the stage graph for a build.
pub fn plan_stages(file: &Dockerfile, options: &PlanOptions, build_args: &BuildArgs) -> Result<(GlobalArgs, StageGraph), PlanError> {
    let lexer = Lexer::new(file.directives.escape);
    let predefined = Platform::predefined_args(&options.platform, &Platform::host());
    let declared: Vec<_> = file
        .global_args
        .iter()
        .flat_map(|located| match &located.value {
            crate::syntax::Instruction::Arg { args } => args.iter().map(|a| (a.clone(), located.span)).collect(),
            _ => Vec::new(),
        })
        .collect();
    let mut globals = GlobalArgs { values: predefined };
    for (arg, span) in &declared {
        globals = steps::global_args(&lexer, std::slice::from_ref(arg), globals.values, build_args).map_err(|e| PlanError::expand(*span, e))?;
    }
    let graph = StageGraph::new(file, &globals, build_args, options.target.as_deref(), &options.platform)?;
    Ok((globals, graph))
}

/// A whole build, planned: the stages the target needs, in order.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// The stages of the Dockerfile, their dependencies and build order.
    pub graph: StageGraph,
    /// Indexed like the Dockerfile's stages; `None` for stages not needed.
    pub stages: Vec<Option<StagePlan>>,
    /// `--build-arg`s no ARG used (docker build warns).
    pub unused_build_args: Vec<String>,
}

impl BuildPlan {
    /// The needed stages, dependencies first.
    pub fn ordered(&self) -> impl Iterator<Item = &StagePlan> {
        self.graph.order.iter().filter_map(|&i| self.stages[i].as_ref())
    }

    /// Replaces every image a stage reads (its base, `COPY --from`, mount
    /// sources) by what `pin` names for the stage's platform (a manifest
    /// digest): one name can hold several platforms, and the solver then
    /// reads the right one without knowing platforms.
    pub fn pin_images(&mut self, pin: &dyn Fn(&str, &Platform) -> Option<String>) {
        for stage in self.stages.iter_mut().flatten() {
            let platform = stage.platform.clone();
            let repin = |name: &mut String| {
                if let Some(pinned) = pin(name, &platform) {
                    *name = pinned;
                }
            };
            if let Base::Image(name) = &mut stage.base {
                repin(name);
            }
            for step in &mut stage.steps {
                for root in step.source_roots_mut() {
                    if let SourceRoot::Image(name) = root {
                        repin(name);
                    }
                }
            }
        }
    }
}

/// Plans a build: the stage graph, then each needed stage in order.
pub fn plan(file: &Dockerfile, options: &PlanOptions, images: &dyn BaseImages) -> Result<BuildPlan, PlanError> {
    let build_args = BuildArgs::new(options.build_args.clone());
    let (globals, graph) = plan_stages(file, options, &build_args)?;
    let names: Vec<Option<String>> = graph.stages.iter().map(|s| s.name.clone()).collect();
    let mut stages: Vec<Option<StagePlan>> = vec![None; graph.stages.len()];
    for &index in &graph.order {
        let planned = plan_stage(file, &graph.stages[index], &names, &globals, &build_args, &stages, images)?;
        stages[index] = Some(planned);
    }
    let unused_build_args = build_args.unused();
    Ok(BuildPlan { graph, stages, unused_build_args })
}

#[cfg(test)]
mod tests;
