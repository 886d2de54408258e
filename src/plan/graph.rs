//! The planned build as Graphviz dot or JSON (`strata build --print-graph`):
//! stages, their steps in order, and the edges between stages. Pure.

use std::fmt::Write;

use serde_json::json;

use super::{Base, BuildPlan, Op, SourceRoot};

fn stage_label(plan: &BuildPlan, index: usize) -> String {
    match &plan.graph.stages[index].name {
        Some(name) => format!("{index}: {name}"),
        None => format!("{index}"),
    }
}

/// One cluster per needed stage with its steps in order; edges between
/// stages for FROM, `COPY --from` and `RUN --mount=from=`.
pub fn dot(plan: &BuildPlan) -> String {
    let mut out = String::from("digraph build {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for stage in plan.ordered() {
        let _ = writeln!(out, "  subgraph cluster_{} {{\n    label={:?};", stage.index, stage_label(plan, stage.index));
        let base = match &stage.base {
            Base::Scratch => "FROM scratch".to_owned(),
            Base::Image(image) => format!("FROM {image}"),
            Base::Stage(dep) => format!("FROM stage {}", stage_label(plan, *dep)),
        };
        let _ = writeln!(out, "    s{}_0 [label={:?}];", stage.index, base);
        for (i, step) in stage.steps.iter().enumerate() {
            let _ = writeln!(out, "    s{}_{} [label={:?}];", stage.index, i + 1, step.text);
            let _ = writeln!(out, "    s{0}_{1} -> s{0}_{2};", stage.index, i, i + 1);
        }
        out.push_str("  }\n");
    }
    for edge in plan.graph.dag.raw_edges() {
        let (from, to) = (plan.graph.dag[edge.source()], plan.graph.dag[edge.target()]);
        if plan.stages[from].is_none() || plan.stages[to].is_none() {
            continue;
        }
        let last = plan.stages[from].as_ref().map_or(0, |s| s.steps.len());
        let _ = writeln!(out, "  s{from}_{last} -> s{to}_0 [style=dashed, label={:?}];", format!("{:?}", edge.weight));
    }
    out.push_str("}\n");
    out
}

/// Stages with their base, steps and dependencies, for tools.
pub fn json(plan: &BuildPlan) -> serde_json::Value {
    let stages: Vec<_> = plan
        .ordered()
        .map(|stage| {
            let base = match &stage.base {
                Base::Scratch => json!({"scratch": true}),
                Base::Image(image) => json!({"image": image}),
                Base::Stage(dep) => json!({"stage": dep}),
            };
            let steps: Vec<_> = stage
                .steps
                .iter()
                .map(|step| {
                    let from = match &step.op {
                        Op::Copy(copy) => match &copy.from {
                            SourceRoot::Stage(i) => json!({"stage": i}),
                            SourceRoot::Image(image) => json!({"image": image}),
                            SourceRoot::Context => json!("context"),
                        },
                        _ => serde_json::Value::Null,
                    };
                    json!({"line": step.lines.start, "text": step.text, "op": step.op, "from": from})
                })
                .collect();
            json!({"index": stage.index, "name": stage.name, "base": base, "steps": steps})
        })
        .collect();
    let edges: Vec<_> =
        plan.graph.dag.raw_edges().iter().map(|e| json!({"from": plan.graph.dag[e.source()], "to": plan.graph.dag[e.target()], "kind": e.weight})).collect();
    json!({"target": plan.graph.target, "order": plan.graph.order, "stages": stages, "edges": edges})
}
