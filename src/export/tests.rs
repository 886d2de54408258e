use super::*;

#[test]
fn each_kind_parses_under_each_of_its_names() {
    for kind in KINDS {
        for name in kind.names {
            let spec = format!("type={name},dest=/tmp/out,name=127.0.0.1:5000/app:1");
            let exporter = parse(&spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(exporter.kind(), kind.names[0], "{spec}");
        }
    }
}

#[test]
fn type_defaults_to_the_store_image() {
    assert_eq!(parse("").unwrap().kind(), "image");
    assert_eq!(parse("dest=x").unwrap().kind(), "image");
}

#[test]
fn a_file_output_without_dest_is_refused_before_any_build() {
    for kind in ["oci", "docker", "tar", "local", "oci-dir"] {
        let error = parse(&format!("type={kind}")).unwrap_err();
        assert_eq!(error.to_string(), format!("--output type={kind} needs dest=..."));
    }
    assert!(matches!(parse("type=registry").unwrap_err(), ExportError::NeedsDest { .. }));
}

#[test]
fn an_unknown_kind_names_the_known_ones() {
    let error = parse("type=cloud,dest=x").unwrap_err().to_string();
    assert_eq!(error, "unsupported --output type \"cloud\" (expected image, docker, oci, oci-dir, tar, local or registry)");
}

#[test]
fn hostile_specs_are_errors_not_panics() {
    for spec in [",,,", "type=", "=", "type=oci,dest=", "type=registry,name=UPPER/case", "type=registry,name=", "type=\u{0}"] {
        let _ = parse(spec);
    }
    assert!(parse("type=registry,name=UPPER/case").is_err());
}

#[test]
fn dest_dash_is_standard_output_for_archives() {
    let fields: Fields = [("dest".to_owned(), "-".into())].into();
    assert_eq!(Dest::from_fields("oci", &fields).unwrap(), Dest::Stdout);
    for kind in ["oci", "docker", "tar"] {
        assert!(parse(&format!("type={kind},dest=-")).is_ok(), "{kind} writes to standard output");
    }
    assert!(parse("type=oci-dir,dest=-").is_err(), "a layout directory cannot go to standard output");
}
