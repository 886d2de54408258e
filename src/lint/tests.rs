use super::*;

fn rules_hit(source: &str) -> Vec<&'static str> {
    lint(source, &LintOptions::default()).expect("lints").findings.iter().map(|f| f.rule).collect()
}

#[test]
fn every_rule_is_registered_once() {
    let mut names: Vec<_> = RULES.iter().map(|r| r.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RULES.len());
}

#[test]
fn directive_skips_and_errors() {
    let source = "# check=skip=JSONArgsRecommended;error=true\nFROM scratch AS Build\nCMD run\n";
    let report = lint(source, &LintOptions::default()).expect("lints");
    assert_eq!(report.findings.iter().map(|f| f.rule).collect::<Vec<_>>(), ["StageNameCasing"]);
    assert!(report.failed());
}

#[test]
fn build_arg_replaces_the_directive() {
    let source = "# check=skip=all\nFROM scratch\nCMD run\n";
    assert!(rules_hit(source).is_empty());
    let mut options = LintOptions::default();
    options.build_args.insert(CHECK_BUILD_ARG.into(), "skip=StageNameCasing".into());
    assert_eq!(lint(source, &options).expect("lints").findings[0].rule, "JSONArgsRecommended");
    options.build_args.insert(CHECK_BUILD_ARG.into(), "nonsense".into());
    assert!(matches!(lint(source, &options), Err(LintError::Config(_))));
}

#[test]
fn variables_with_defaults_are_not_undefined() {
    assert!(rules_hit("FROM scratch\nWORKDIR /${DIR:-app}\n").is_empty());
    assert_eq!(rules_hit("FROM scratch\nWORKDIR /$DIR\n"), ["UndefinedVar"]);
    assert!(rules_hit("FROM scratch\nARG DIR\nWORKDIR /$DIR\n").is_empty());
}
