//! The image history's `created_by` text, written as BuildKit's Dockerfile
//! frontend writes it, so `docker history`, dive and registry UIs show what
//! users know from `docker build`: expanded values, Go's `%q`/`%v`
//! renderings for CMD, EXPOSE, HEALTHCHECK and friends, the `|N ARG=value`
//! prefix of RUN, and ` # buildkit` after the steps that run in a container
//! or copy files. ONBUILD and `--label` write no entry, as in BuildKit.
//!
//! See: moby/buildkit `frontend/dockerfile/dockerfile2llb/convert.go`
//! (`dispatch*`, `runCommandString`, `commitToHistory`), as in Docker 20.10.

use crate::image::{port_keys, ConfigChange, HealthConfig};
use crate::syntax::{go_duration, go_quote};

use super::op::CopySource;

/// The `comment` of every history entry a build writes.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// The suffix BuildKit puts after steps that make a filesystem state.
const BUILDKIT_SUFFIX: &str = " # buildkit";

/// A config edit's entry; `None` for ONBUILD (BuildKit records none).
pub fn config_entry(change: &ConfigChange) -> Option<String> {
    Some(match change {
        ConfigChange::Cmd(args) => format!("CMD {}", go_quoted_list(args)),
        ConfigChange::Entrypoint { args, .. } => format!("ENTRYPOINT {}", go_quoted_list(args)),
        ConfigChange::Env(vars) => pairs("ENV", vars),
        ConfigChange::Label(labels) => pairs("LABEL", labels),
        ConfigChange::Expose(specs) => {
            let mut ports: Vec<String> = specs.iter().flat_map(|s| port_keys(s)).collect();
            ports.sort();
            ports.dedup();
            let entries: Vec<String> = ports.iter().map(|p| format!("{p}:{{}}")).collect();
            format!("EXPOSE map[{}]", entries.join(" "))
        }
        ConfigChange::Volume(paths) => format!("VOLUME [{}]", paths.join(" ")),
        ConfigChange::User(user) => format!("USER {user}"),
        ConfigChange::Workdir(dir) => workdir_entry(dir),
        ConfigChange::StopSignal(signal) => format!("STOPSIGNAL {signal}"),
        ConfigChange::Healthcheck(health) => format!("HEALTHCHECK {}", go_health(health)),
        ConfigChange::Shell(shell) => format!("SHELL [{}]", shell.join(" ")),
        ConfigChange::OnBuild(_) => return None,
    })
}

/// `WORKDIR /abs`: the resolved path, without the suffix (BuildKit commits
/// it without a state even when it makes the directory).
pub fn workdir_entry(dir: &str) -> String {
    format!("WORKDIR {dir}")
}

/// `MAINTAINER name`.
pub fn maintainer_entry(name: &str) -> String {
    format!("MAINTAINER {name}")
}

/// `ARG NAME[=default] ...`: names with their defaults (expanded), never
/// the `--build-arg` value.
pub fn arg_entry(args: &[(String, Option<String>)]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|(name, default)| match default {
            Some(value) => format!("{name}={value}"),
            None => name.clone(),
        })
        .collect();
    format!("ARG {}", words.join(" "))
}

/// `RUN [|N K=V ...] argv... # buildkit`: every ARG the stage declared so
/// far (in order, with the value the command sees, empty when it has none),
/// then the command as executed (shell form through the shell).
pub fn run_entry(argv: &[String], stage_args: &[(String, String)]) -> String {
    let mut words: Vec<String> = Vec::new();
    if !stage_args.is_empty() {
        words.push(format!("|{}", stage_args.len()));
        words.extend(stage_args.iter().map(|(k, v)| format!("{k}={v}")));
    }
    words.extend(argv.iter().cloned());
    format!("RUN {}{BUILDKIT_SUFFIX}", words.join(" "))
}

/// `COPY|ADD src... dest # buildkit`: sources and destination expanded but
/// as written (not resolved against WORKDIR); flags are not shown.
pub fn copy_entry(add: bool, sources: &[CopySource], dest: &str) -> String {
    let mut text = String::from(if add { "ADD" } else { "COPY" });
    for source in sources {
        text.push(' ');
        match source {
            CopySource::Path { path } => text.push_str(path),
            CopySource::Url { url } => text.push_str(url),
            CopySource::Inline { name, .. } => {
                text.push_str("<<");
                text.push_str(name);
            }
        }
    }
    text.push(' ');
    text.push_str(dest);
    text.push_str(BUILDKIT_SUFFIX);
    text
}

fn pairs(keyword: &str, pairs: &[(String, String)]) -> String {
    let mut text = keyword.to_owned();
    for (key, value) in pairs {
        text.push_str(&format!(" {key}={value}"));
    }
    text
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `strconv.QuoteRune` of an integer, which is how `%q` prints an int:
/// the character escaped as `strconv.Quote` escapes it, between single
/// quotes (where `'` needs the backslash and `"` does not).
fn go_quote_rune(value: u32) -> String {
    let c = char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER);
    let quoted = go_quote(&c.to_string());
    let inner = match quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')).unwrap_or(&quoted) {
        "\\\"" => "\"",
        "'" => "\\'",
        other => other,
    };
    format!("'{inner}'")
}

/// `%q` of BuildKit's `*HealthConfig`: `&{[test...] "interval" "timeout"
/// "start-period" 'retries'}` (durations through Go's `Duration.String`;
/// a start interval, which Docker 20.10's frontend does not know, is shown
/// after the start period when set, as newer frontends do).
fn go_health(health: &HealthConfig) -> String {
    let mut fields = vec![go_quoted_list(&health.test)];
    let mut durations = vec![health.interval, health.timeout, health.start_period];
    if health.start_interval.is_some() {
        durations.push(health.start_interval);
    }
    fields.extend(durations.into_iter().map(|d| go_quote(&go_duration(d.unwrap_or(0)))));
    fields.push(go_quote_rune(health.retries.unwrap_or(0)));
    format!("&{{{}}}", fields.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_strconv() {
        assert_eq!(go_quote("a \"b\"\\\n\tç"), r#""a \"b\"\\\n\tç""#);
        assert_eq!(go_quote_rune(0), r"'\x00'");
        assert_eq!(go_quote_rune(3), r"'\x03'");
        assert_eq!(go_quote_rune(9), r"'\t'");
        assert_eq!(go_quote_rune(65), "'A'");
    }

    #[test]
    fn entries_read_as_buildkit_writes_them() {
        let health = HealthConfig {
            test: vec!["CMD-SHELL".into(), "curl -f http://localhost/ || exit 1".into()],
            interval: Some(300_000_000_000),
            timeout: Some(3_000_000_000),
            retries: Some(3),
            ..HealthConfig::default()
        };
        assert_eq!(
            config_entry(&ConfigChange::Healthcheck(health)).unwrap(),
            r#"HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "5m0s" "3s" "0s" '\x03'}"#
        );
        assert_eq!(
            config_entry(&ConfigChange::Expose(vec!["80".into(), "53/udp".into(), "8000-8001".into()])).unwrap(),
            "EXPOSE map[53/udp:{} 80/tcp:{} 8000/tcp:{} 8001/tcp:{}]"
        );
        assert_eq!(
            config_entry(&ConfigChange::Cmd(vec!["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()])).unwrap(),
            r#"CMD ["/bin/sh" "-c" "echo \"hi\""]"#
        );
        assert_eq!(config_entry(&ConfigChange::Shell(vec!["/bin/bash".into(), "-c".into()])).unwrap(), "SHELL [/bin/bash -c]");
        assert_eq!(config_entry(&ConfigChange::OnBuild("RUN x".into())), None);
        assert_eq!(
            run_entry(&["/bin/sh".into(), "-c".into(), "make".into()], &[("V".into(), "1".into()), ("E".into(), String::new())]),
            "RUN |2 V=1 E= /bin/sh -c make # buildkit"
        );
        assert_eq!(arg_entry(&[("A".into(), Some("1".into())), ("B".into(), None)]), "ARG A=1 B");
    }
}
