//! EXPOSE: lower-case protocols, and no address or host port (a Dockerfile
//! cannot publish a port, only declare it).

use super::input::located_words;
use super::{Findings, Input, Level, Rule};

pub const EXPOSE_PROTO_CASING: Rule = Rule {
    name: "ExposeProtoCasing",
    description: "Protocol in EXPOSE instruction should be lowercase",
    url: "https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: expose_proto_casing,
};

fn expose_proto_casing(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes().filter(|n| n.keyword == "expose") {
        for port in located_words(input, node) {
            let Some((_, proto)) = port.text.split_once('/') else { continue };
            if proto != proto.to_lowercase() {
                let message = format!("Defined protocol '{}' in EXPOSE instruction should be lowercase", port.text);
                out.push(port.span, message, format!("write `{}`", port.text.to_lowercase()));
            }
        }
    }
}

pub const EXPOSE_INVALID_FORMAT: Rule = Rule {
    name: "ExposeInvalidFormat",
    description: "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
    url: "https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/",
    level: Level::Warning,
    experimental: false,
    buildkit: true,
    check: expose_invalid_format,
};

fn expose_invalid_format(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes().filter(|n| n.keyword == "expose") {
        for port in located_words(input, node) {
            if port.text.contains(':') {
                let message = format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{}'", port.text);
                let container = port.text.rsplit(':').next().unwrap_or(port.text);
                out.push(port.span, message, format!("write `EXPOSE {container}` and publish the port when running the container"));
            }
        }
    }
}
