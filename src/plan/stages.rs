//! The stage graph: which stage builds on which (FROM, `COPY --from`,
//! `RUN --mount=from=`), the target, and the order the needed stages run in.
//! Stages the target does not reach are left out before anything resolves.

use std::collections::HashMap;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};

use super::scope::{BuildArgs, GlobalArgs, Scope};
use super::PlanError;
use crate::image::Platform;
use crate::syntax::instruction::Instruction;
use crate::syntax::{Dockerfile, Span};
use crate::words::Lexer;

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty root filesystem.
    Scratch,
    /// An image reference (expanded), resolved later.
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
}

/// Why one stage needs another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyKind {
    /// The stage is the other's FROM base.
    From,
    /// The stage copies from the other (`COPY --from`).
    CopyFrom,
    /// The stage mounts the other (`RUN --mount=from=`).
    MountFrom,
}

/// A stage with its base and dependencies resolved.
#[derive(Debug, Clone)]
pub struct StageNode {
    /// Position in the Dockerfile, from 0.
    pub index: usize,
    /// `AS name`, lower-cased; `None`: unnamed.
    pub name: Option<String>,
    /// What FROM names, resolved to a stage when it names one.
    pub base: Base,
    /// The platform the stage builds for: its `FROM --platform=`, else the
    /// platform of the stage it builds on, else the build's target.
    pub platform: Platform,
    /// Images named by `COPY --from` or `RUN --mount=from=` (not stages).
    pub image_sources: Vec<String>,
    /// The FROM line.
    pub span: Span,
}

/// The stages, their dependency DAG and the stages to build, in order.
#[derive(Debug, Clone)]
pub struct StageGraph {
    /// Every stage of the Dockerfile, indexed by position.
    pub stages: Vec<StageNode>,
    /// An edge `a → b` means stage `b` needs stage `a`.
    pub dag: DiGraph<usize, DependencyKind>,
    /// Index of the stage to build.
    pub target: usize,
    /// The stages the target needs (itself included), dependencies first.
    pub order: Vec<usize>,
}

/// Where a `--from` value points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromRef {
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference (expanded).
    Image(String),
}

impl StageGraph {
    /// Resolves every stage's base and dependencies (expanding FROM with the
    /// global scope) and orders those `target` needs; `None`: the last stage.
    pub fn new(file: &Dockerfile, globals: &GlobalArgs, build_args: &BuildArgs, target: Option<&str>, platform: &Platform) -> Result<StageGraph, PlanError> {
        let lexer = Lexer::new(file.directives.escape);
        let names: Vec<Option<String>> = file.stages.iter().map(|s| s.from.value.name.clone()).collect();
        // The first stage of each name, so a long chain of `FROM previous`
        // resolves each base in constant time.
        let mut first_named: HashMap<&str, usize> = HashMap::new();
        for (index, name) in names.iter().enumerate() {
            if let Some(name) = name {
                first_named.entry(name.as_str()).or_insert(index);
            }
        }
        let mut dag = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..file.stages.len()).map(|i| dag.add_node(i)).collect();
        let mut stages = Vec::new();
        for (index, stage) in file.stages.iter().enumerate() {
            let from = &stage.from;
            let image = lexer.expand_word(&from.value.image, &globals.values).map_err(|e| PlanError::expand(from.span, e))?;
            // FROM names a stage only by name (a number is an image tag-less name).
            let by_name = first_named.get(image.to_ascii_lowercase().as_str()).copied();
            let base = match by_name {
                _ if image.eq_ignore_ascii_case("scratch") => Base::Scratch,
                Some(dep) => Base::Stage(dep),
                None => Base::Image(image),
            };
            if let Base::Stage(dep) = base {
                dag.add_edge(nodes[dep], nodes[index], DependencyKind::From);
            }
            let inherited = match base {
                Base::Stage(dep) => stages.get(dep).map_or(platform, |s: &StageNode| &s.platform),
                _ => platform,
            };
            let stage_platform = stage_platform(&lexer, from.value.platform.as_deref(), globals, inherited).map_err(|e| e.at(from.span))?;
            let mut image_sources = Vec::new();
            let mut scope = Scope::default();
            for located in &stage.instructions {
                let froms = from_flags(&located.value);
                if let Instruction::Arg { args } = &located.value {
                    for arg in args {
                        let value = super::steps::arg_value(&lexer, arg, &scope, globals, build_args).map_err(|e| PlanError::expand(located.span, e))?;
                        scope.declare_arg(&arg.name, value);
                    }
                }
                for (flag, kind) in froms {
                    let mut vars = globals.values.clone();
                    vars.extend(scope.args.iter().cloned());
                    let value = lexer.expand_word(flag, &vars).map_err(|e| PlanError::expand(located.span, e))?;
                    match resolve(&value, &names, index) {
                        Some(FromRef::Stage(dep)) => {
                            dag.add_edge(nodes[dep], nodes[index], kind);
                        }
                        Some(FromRef::Image(image)) => image_sources.push(image),
                        None => return Err(PlanError::StageIndex { value, span: located.span }),
                    }
                }
            }
            stages.push(StageNode { index, name: names[index].clone(), base, platform: stage_platform, image_sources, span: from.span });
        }
        let target = match target {
            None => stages.len() - 1,
            Some(name) => names
                .iter()
                .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .ok_or_else(|| PlanError::UnknownTarget { name: name.to_owned(), known: names.iter().flatten().cloned().collect() })?,
        };
        let order = needed_in_order(&dag, nodes[target], &stages)?;
        Ok(StageGraph { stages, dag, target, order })
    }
}

/// Why a `FROM --platform=` value is unusable, before it has a location.
enum PlatformFlagError {
    Expand(crate::words::ExpandError),
    Parse(crate::image::PlatformError),
}

impl PlatformFlagError {
    fn at(self, span: Span) -> PlanError {
        match self {
            PlatformFlagError::Expand(error) => PlanError::expand(span, error),
            PlatformFlagError::Parse(error) => PlanError::Platform { error, span },
        }
    }
}

/// `FROM --platform=` expanded in the global scope (`$BUILDPLATFORM`);
/// absent or empty, the stage keeps `default`.
fn stage_platform(lexer: &Lexer, flag: Option<&str>, globals: &GlobalArgs, default: &Platform) -> Result<Platform, PlatformFlagError> {
    let Some(flag) = flag else { return Ok(default.clone()) };
    let value = lexer.expand_word(flag, &globals.values).map_err(PlatformFlagError::Expand)?;
    if value.is_empty() {
        return Ok(default.clone());
    }
    value.parse().map_err(PlatformFlagError::Parse)
}

/// A stage by name (case-insensitive) or by index (only an earlier one);
/// anything else names an image. `None`: a number that is no earlier stage.
pub fn resolve(value: &str, names: &[Option<String>], current: usize) -> Option<FromRef> {
    let lower = value.to_ascii_lowercase();
    if let Some(stage) = names.iter().position(|n| n.as_deref() == Some(lower.as_str())) {
        return Some(FromRef::Stage(stage));
    }
    if let Ok(index) = value.parse::<usize>() {
        return (index < current).then_some(FromRef::Stage(index));
    }
    Some(FromRef::Image(value.to_owned()))
}

/// The `--from` values of an instruction, with what they are for.
fn from_flags(instruction: &Instruction) -> Vec<(&str, DependencyKind)> {
    match instruction {
        Instruction::Copy(copy) => copy.from.as_deref().map(|f| (f, DependencyKind::CopyFrom)).into_iter().collect(),
        Instruction::Run(run) => run.mounts.iter().filter_map(|m| m.from.as_deref()).map(|f| (f, DependencyKind::MountFrom)).collect(),
        _ => Vec::new(),
    }
}

/// The stages reachable backwards from `target`, dependencies first; a
/// cycle among them is an error naming one of its stages.
fn needed_in_order(dag: &DiGraph<usize, DependencyKind>, target: NodeIndex, stages: &[StageNode]) -> Result<Vec<usize>, PlanError> {
    let reversed = Reversed(dag);
    let mut needed = vec![false; dag.node_count()];
    let mut dfs = Dfs::new(reversed, target);
    while let Some(node) = dfs.next(reversed) {
        needed[dag[node]] = true;
    }
    let sub = dag.filter_map(|_, &stage| needed[stage].then_some(stage), |_, &kind| Some(kind));
    match toposort(&sub, None) {
        Ok(order) => Ok(order.into_iter().map(|n| sub[n]).collect()),
        Err(cycle) => {
            let stage = &stages[sub[cycle.node_id()]];
            Err(PlanError::Cycle { stage: stage.name.clone().unwrap_or_else(|| stage.index.to_string()), span: stage.span })
        }
    }
}
