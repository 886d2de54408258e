use super::*;

fn graph(dockerfile: &str, target: Option<&str>, args: &[(&str, &str)]) -> Result<(GlobalArgs, StageGraph), PlanError> {
    let file = crate::syntax::parse(dockerfile).unwrap();
    let build_args: BTreeMap<String, String> = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let options = PlanOptions { target: target.map(str::to_owned), build_args: build_args.clone(), platform: Platform::host() };
    plan_stages(&file, &options, &BuildArgs::new(build_args))
}

const MULTI: &str = "\
ARG BASE=busybox
FROM $BASE AS a
FROM scratch AS b
COPY --from=a /x /x
FROM b AS c
FROM busybox AS unused
FROM c
COPY --from=0 /y /y
COPY --from=alpine:3 /z /z
";

#[test]
fn target_prunes_and_orders() {
    let (_, g) = graph(MULTI, None, &[]).unwrap();
    assert_eq!(g.order, [0, 1, 2, 4]);
    assert_eq!(g.stages[0].base, Base::Image("busybox".into()));
    assert_eq!(g.stages[1].base, Base::Scratch);
    assert_eq!(g.stages[2].base, Base::Stage(1));
    assert_eq!(g.stages[4].image_sources, ["alpine:3"]);
    let (_, g) = graph(MULTI, Some("B"), &[]).unwrap();
    assert_eq!(g.order, [0, 1]);
}

#[test]
fn build_args_override_global_defaults() {
    let (globals, g) = graph(MULTI, Some("a"), &[("BASE", "debian")]).unwrap();
    assert_eq!(g.stages[0].base, Base::Image("debian".into()));
    assert!(globals.values.iter().any(|(k, v)| k == "TARGETARCH" && !v.is_empty()));
}

#[test]
fn unknown_target_and_cycles_are_errors() {
    assert!(matches!(graph(MULTI, Some("nope"), &[]), Err(PlanError::UnknownTarget { .. })));
    let cyclic = "FROM scratch AS a\nCOPY --from=b / /\nFROM scratch AS b\nCOPY --from=a / /\n";
    assert!(matches!(graph(cyclic, None, &[]), Err(PlanError::Cycle { .. })));
    let later = "FROM scratch AS a\nCOPY --from=1 / /\nFROM scratch\n";
    assert!(matches!(graph(later, Some("a"), &[]), Err(PlanError::StageIndex { .. })));
}

#[test]
fn copy_from_sees_stage_args() {
    let file = "FROM scratch AS src\nFROM scratch\nARG WHICH=src\nCOPY --from=$WHICH / /\n";
    let (_, g) = graph(file, None, &[]).unwrap();
    assert_eq!(g.order, [0, 1]);
}
