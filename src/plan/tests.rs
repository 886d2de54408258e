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

struct Images;

impl BaseImages for Images {
    fn config(&self, image: &str, _platform: &Platform) -> Result<crate::image::ImageConfig, super::BaseImageError> {
        let mut config = crate::image::ImageConfig::empty("");
        match image {
            "busybox" => config.config.env = Some(vec!["PATH=/bin".into(), "FROM_IMAGE=1".into()]),
            "trigger" => config.config.on_build = Some(vec!["ENV TRIGGERED=yes".into(), "WORKDIR /onbuild".into()]),
            _ => return Err(super::BaseImageError::NotFound),
        }
        Ok(config)
    }
}

fn planned(dockerfile: &str, args: &[(&str, &str)]) -> BuildPlan {
    let file = crate::syntax::parse(dockerfile).unwrap();
    let build_args = args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    plan(&file, &PlanOptions { target: None, build_args, platform: Platform::host() }, &Images).unwrap()
}

fn last_run(plan: &BuildPlan) -> RunOp {
    let stage = plan.ordered().last().unwrap();
    stage
        .steps
        .iter()
        .rev()
        .find_map(|s| match &s.op {
            Op::Run(run) => Some(run.clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn arg_scoping_follows_buildkit() {
    let file = "\
ARG GLOBAL=g
ARG OVERRIDDEN=default
FROM busybox
RUN echo no args yet
ARG GLOBAL
ARG OVERRIDDEN
ARG LOCAL=l-$GLOBAL
ENV LOCAL=env-wins
RUN echo $GLOBAL
";
    let plan = planned(file, &[("OVERRIDDEN", "cli"), ("UNUSED", "x")]);
    let stage = plan.ordered().last().unwrap();
    let Op::Run(first) = &stage.steps[0].op else { panic!() };
    assert!(!first.env.iter().any(|(k, _)| k == "GLOBAL"));
    let env = last_run(&plan).env;
    let get = |name: &str| env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(get("GLOBAL"), Some("g"));
    assert_eq!(get("OVERRIDDEN"), Some("cli"));
    assert_eq!(get("LOCAL"), Some("env-wins"));
    assert_eq!(get("PATH"), Some("/bin"));
    assert_eq!(plan.unused_build_args, ["UNUSED"]);
}

#[test]
fn env_expands_against_image_env() {
    let plan = planned("FROM busybox\nENV PATH=/usr/local/bin:$PATH\nRUN true\n", &[]);
    let env = last_run(&plan).env;
    assert!(env.contains(&("PATH".into(), "/usr/local/bin:/bin".into())));
}

#[test]
fn copy_dest_follows_workdir_and_sources_expand() {
    let plan = planned("FROM scratch\nWORKDIR /app\nARG SRC=src\nCOPY $SRC/ lib\nCOPY a .\nADD https://example.com/x /x\n", &[]);
    let stage = plan.ordered().last().unwrap();
    let copies: Vec<&CopyOp> = stage
        .steps
        .iter()
        .filter_map(|s| match &s.op {
            Op::Copy(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(copies[0].dest, "/app/lib");
    assert_eq!(copies[0].sources, [CopySource::Path { path: "src/".into() }]);
    assert_eq!(copies[1].dest, "/app/");
    assert_eq!(copies[2].sources, [CopySource::Url { url: "https://example.com/x".into() }]);
    assert!(matches!(stage.steps[0].op, Op::Workdir { .. }));
}

#[test]
fn run_forms_and_heredocs() {
    let plan = planned("FROM busybox\nSHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\nRUN <<EOF\necho one\nEOF\n", &[]);
    assert_eq!(last_run(&plan).argv, ["/bin/ash", "-eo", "pipefail", "-c", "echo one\n"]);
    let plan = planned("FROM busybox\nRUN cat <<EOF > /x\nhello\nEOF\n", &[]);
    assert_eq!(last_run(&plan).argv, ["/bin/sh", "-c", "cat <<EOF > /x\nhello\nEOF"]);
    let plan = planned("FROM busybox\nRUN [\"echo\", \"$HOME\"]\n", &[]);
    assert_eq!(last_run(&plan).argv, ["echo", "$HOME"]);
}

#[test]
fn onbuild_triggers_run_first() {
    let plan = planned("FROM trigger\nRUN pwd\n", &[]);
    let stage = plan.ordered().last().unwrap();
    assert_eq!(stage.steps.len(), 3);
    assert_eq!(last_run(&plan).workdir, "/onbuild");
    assert!(last_run(&plan).env.contains(&("TRIGGERED".into(), "yes".into())));
    assert!(stage.config.on_build.is_none());
}

#[test]
fn stage_base_inherits_config() {
    let plan = planned("FROM busybox AS base\nENV A=1\nFROM base\nRUN true\n", &[]);
    assert!(last_run(&plan).env.contains(&("A".into(), "1".into())));
}

#[test]
fn mounts_without_target_land_at_the_workdir() {
    let plan = planned("FROM busybox AS bin\nFROM busybox\nWORKDIR /src\nRUN --mount=from=bin --mount=type=cache --mount=type=cache,target=sub/../cache/ --mount=type=tmpfs,target=/t --mount=type=secret,id=s true\n", &[]);
    let mounts = last_run(&plan).mounts;
    let got: Vec<(Option<&str>, Option<&str>)> = mounts.iter().map(|m| (m.target(), m.id())).collect();
    assert_eq!(got, [(Some("/src"), None), (Some("/src"), Some(".")), (Some("/src/cache"), Some("cache")), (Some("/t"), None), (None, Some("s"))]);
}

#[test]
fn a_mount_on_the_root_is_refused() {
    let file = crate::syntax::parse("FROM busybox\nRUN --mount=type=bind true\n").unwrap();
    let options = PlanOptions { target: None, build_args: Default::default(), platform: Platform::host() };
    let err = plan(&file, &options, &Images).unwrap_err();
    assert_eq!(err.to_string(), "invalid mount target \"/\"");
    let file = crate::syntax::parse("FROM busybox\nWORKDIR /a\nRUN --mount=type=cache,target=.. true\n").unwrap();
    assert!(matches!(plan(&file, &options, &Images), Err(PlanError::MountTarget { .. })));
}

#[test]
fn entrypoint_clears_an_inherited_cmd_but_not_the_stages_own() {
    let plan = planned("FROM busybox AS a\nCMD [\"x\"]\nFROM a\nENTRYPOINT [\"y\"]\n", &[]);
    let config = &plan.ordered().last().unwrap().config;
    assert_eq!((config.entrypoint.as_deref(), config.cmd.as_deref()), (Some(&["y".to_owned()][..]), None));
    let plan = planned("FROM busybox\nCMD [\"x\"]\nENTRYPOINT [\"y\"]\n", &[]);
    let config = &plan.ordered().last().unwrap().config;
    assert_eq!(config.cmd.as_deref(), Some(&["x".to_owned()][..]));
    assert_eq!(config.extra.get("ArgsEscaped"), Some(&serde_json::Value::Bool(true)));
}

#[test]
fn history_entries_name_what_each_step_did() {
    let plan = planned("FROM busybox\nARG V=1\nARG W\nONBUILD RUN x\nRUN make\nCOPY a b/\n", &[("W", "2")]);
    let entries: Vec<Option<&str>> = plan.ordered().last().unwrap().steps.iter().map(|s| s.created_by.as_deref()).collect();
    assert_eq!(entries, [Some("ARG V=1"), Some("ARG W"), None, Some("RUN |2 V=1 W=2 /bin/sh -c make # buildkit"), Some("COPY a b/ # buildkit")]);
}

/// The cache key hashes each mount in the flat form it had before mounts
/// were typed per kind; these lines were made by that older planner.
#[test]
fn typed_mounts_serialise_as_the_flat_record_keys_were_made_of() {
    let dockerfile = "FROM scratch AS base\nFROM scratch\nWORKDIR /w\nARG V=9\nRUN --mount=type=bind,source=a,target=b,rw --mount=type=bind,from=base,target=/x echo\nRUN --mount=type=cache,target=c$V,sharing=locked,mode=0700,uid=1,gid=2 --mount=type=cache,id=k,from=base,source=/s,target=/d,ro echo\nRUN --mount=type=tmpfs,target=/t,size=64m --mount=type=tmpfs echo\nRUN --mount=type=secret,id=tok,required,env=TOK,mode=0440,uid=3 --mount=type=secret,target=/run/s/x,ro=false echo\nRUN --mount=type=ssh --mount=type=ssh,id=gh,target=/a.sock,required=true,mode=0600,gid=5 echo\n";
    let plan = planned(dockerfile, &[]);
    let stage = plan.ordered().last().unwrap();
    let got: Vec<String> = stage
        .steps
        .iter()
        .filter_map(|s| match &s.op {
            Op::Run(run) => Some(run),
            _ => None,
        })
        .flat_map(|run| run.mounts.iter().map(|m| String::from_utf8(crate::image::canonical_json(m)).unwrap()))
        .collect();
    let expected = [
        r#"{"env":null,"from":{"kind":"context"},"gid":null,"id":null,"kind":"bind","mode":null,"readonly":false,"required":false,"sharing":"shared","size":null,"source":"a","target":"/w/b","uid":null}"#,
        r#"{"env":null,"from":{"kind":"stage","name":0},"gid":null,"id":null,"kind":"bind","mode":null,"readonly":true,"required":false,"sharing":"shared","size":null,"source":null,"target":"/x","uid":null}"#,
        r#"{"env":null,"from":{"kind":"context"},"gid":"2","id":"c9","kind":"cache","mode":"0700","readonly":false,"required":false,"sharing":"locked","size":null,"source":null,"target":"/w/c9","uid":"1"}"#,
        r#"{"env":null,"from":{"kind":"stage","name":0},"gid":null,"id":"k","kind":"cache","mode":null,"readonly":true,"required":false,"sharing":"shared","size":null,"source":"/s","target":"/d","uid":null}"#,
        r#"{"env":null,"from":{"kind":"context"},"gid":null,"id":null,"kind":"tmpfs","mode":null,"readonly":false,"required":false,"sharing":"shared","size":"64m","source":null,"target":"/t","uid":null}"#,
        r#"{"env":null,"from":{"kind":"context"},"gid":null,"id":null,"kind":"tmpfs","mode":null,"readonly":false,"required":false,"sharing":"shared","size":null,"source":null,"target":"/w","uid":null}"#,
        r#"{"env":"TOK","from":{"kind":"context"},"gid":null,"id":"tok","kind":"secret","mode":"0440","readonly":false,"required":true,"sharing":"shared","size":null,"source":null,"target":null,"uid":"3"}"#,
        r#"{"env":null,"from":{"kind":"context"},"gid":null,"id":null,"kind":"secret","mode":null,"readonly":false,"required":false,"sharing":"shared","size":null,"source":null,"target":"/run/s/x","uid":null}"#,
        r#"{"env":null,"from":{"kind":"context"},"gid":null,"id":null,"kind":"ssh","mode":null,"readonly":false,"required":false,"sharing":"shared","size":null,"source":null,"target":null,"uid":null}"#,
        r#"{"env":null,"from":{"kind":"context"},"gid":"5","id":"gh","kind":"ssh","mode":"0600","readonly":false,"required":true,"sharing":"shared","size":null,"source":null,"target":"/a.sock","uid":null}"#,
    ];
    assert_eq!(got, expected);
}

#[test]
fn a_missing_base_image_is_a_typed_error_naming_the_image() {
    let file = crate::syntax::parse("FROM nope\nRUN true\n").unwrap();
    let options = PlanOptions { target: None, build_args: Default::default(), platform: Platform::host() };
    let err = plan(&file, &options, &Images).unwrap_err();
    assert!(matches!(&err, PlanError::BaseImage { image, cause: BaseImageError::NotFound, .. } if image == "nope"), "{err:?}");
    assert_eq!(err.to_string(), "base image nope: not found");
}

fn for_platform(dockerfile: &str, platform: &str) -> Result<BuildPlan, PlanError> {
    let file = crate::syntax::parse(dockerfile).unwrap();
    let options = PlanOptions { target: None, build_args: Default::default(), platform: platform.parse().unwrap() };
    plan(&file, &options, &Images)
}

const CROSS: &str = "\
FROM --platform=$BUILDPLATFORM scratch AS build
ARG TARGETPLATFORM BUILDARCH
RUN echo $TARGETPLATFORM $BUILDARCH
FROM build AS more
FROM --platform=linux/arm/v7 scratch AS pinned
FROM scratch
COPY --from=build /out /out
RUN echo [$TARGETARCH]
ARG TARGETARCH
RUN echo $TARGETARCH
";

#[test]
fn stages_build_for_their_from_platform_else_the_target() {
    let plan = for_platform(CROSS, "linux/riscv64").unwrap();
    let platforms: Vec<String> = plan.stages.iter().flatten().map(|s| s.platform.to_string()).collect();
    let host = Platform::host().to_string();
    assert_eq!(plan.graph.stages.iter().map(|s| s.platform.to_string()).collect::<Vec<_>>(), [host.as_str(), &host, "linux/arm/v7", "linux/riscv64"]);
    assert_eq!(platforms, [host.as_str(), "linux/riscv64"], "only needed stages are planned");
    let last = plan.ordered().last().unwrap();
    assert_eq!(last.base_config.architecture, "riscv64", "scratch takes the stage's platform");
    let runs: Vec<String> = last
        .steps
        .iter()
        .filter_map(|s| if let Op::Run(run) = &s.op { Some(run.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")) } else { None })
        .collect();
    assert!(!runs[0].contains("TARGETARCH"), "not visible before ARG: {runs:?}");
    assert!(runs[1].contains("TARGETARCH=riscv64"), "{runs:?}");
    let build = plan.ordered().next().unwrap();
    let Op::Run(run) = &build.steps.iter().find(|s| matches!(s.op, Op::Run(_))).unwrap().op else { unreachable!() };
    assert!(run.env.iter().any(|(k, v)| k == "TARGETPLATFORM" && v == "linux/riscv64"), "TARGETPLATFORM is the target in a BUILDPLATFORM stage");
}

#[test]
fn bad_from_platforms_and_foreign_bases_are_located_errors() {
    let bad = for_platform("FROM --platform=linux scratch\n", "linux/arm64").unwrap_err();
    assert!(matches!(bad, PlanError::Platform { .. }) && bad.span().is_some(), "{bad}");
    let foreign = for_platform("FROM busybox\n", "linux/riscv64").unwrap_err().to_string();
    assert!(foreign.contains("strata pull --platform linux/riscv64 busybox"), "{foreign}");
    assert!(for_platform("FROM --platform=$BUILDPLATFORM busybox\n", "linux/riscv64").is_ok(), "a host stage takes its base as stored");
}
