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

/// Go's `strconv.Quote`: printable characters as they are, the rest escaped.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            c => push_escaped(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune` of an integer, which is how `%q` prints an int.
fn go_quote_rune(value: u32) -> String {
    let c = char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER);
    let mut out = String::from("'");
    match c {
        '\'' => out.push_str("\\'"),
        c => push_escaped(&mut out, c),
    }
    out.push('\'');
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() || (c.is_whitespace() && c != ' ') => {
            let code = c as u32;
            if code < 0x10000 {
                out.push_str(&format!("\\u{code:04x}"));
            } else {
                out.push_str(&format!("\\U{code:08x}"));
            }
        }
        c => out.push(c),
    }
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

/// Go's `time.Duration.String` for a non-negative count of nanoseconds:
/// `0s`, `1.5µs`, `500ms`, `1m30s`, `1h0m0s`.
fn go_duration(nanos: u64) -> String {
    const SECOND: u64 = 1_000_000_000;
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < SECOND {
        let (unit, scale) = match nanos {
            n if n < 1_000 => ("ns", 1),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", decimal(nanos, scale));
    }
    let (secs, hours) = (nanos / SECOND, nanos / SECOND / 3600);
    let minutes = secs / 60 % 60;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&decimal(nanos % (60 * SECOND), SECOND));
    out.push('s');
    out
}

/// `value / scale` with the fraction's trailing zeros dropped.
fn decimal(value: u64, scale: u64) -> String {
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        let cases = [(0, "0s"), (1, "1ns"), (1_500, "1.5µs"), (500_000_000, "500ms"), (1_500_000_000, "1.5s"), (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"), (300_000_000_000, "5m0s")];
        for (nanos, text) in cases {
            assert_eq!(go_duration(nanos), text, "{nanos}");
        }
    }

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
        let health = HealthConfig { test: vec!["CMD-SHELL".into(), "curl -f http://localhost/ || exit 1".into()], interval: Some(300_000_000_000), timeout: Some(3_000_000_000), retries: Some(3), ..HealthConfig::default() };
        assert_eq!(config_entry(&ConfigChange::Healthcheck(health)).unwrap(), r#"HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "5m0s" "3s" "0s" '\x03'}"#);
        assert_eq!(config_entry(&ConfigChange::Expose(vec!["80".into(), "53/udp".into(), "8000-8001".into()])).unwrap(), "EXPOSE map[53/udp:{} 80/tcp:{} 8000/tcp:{} 8001/tcp:{}]");
        assert_eq!(config_entry(&ConfigChange::Cmd(vec!["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()])).unwrap(), r#"CMD ["/bin/sh" "-c" "echo \"hi\""]"#);
        assert_eq!(config_entry(&ConfigChange::Shell(vec!["/bin/bash".into(), "-c".into()])).unwrap(), "SHELL [/bin/bash -c]");
        assert_eq!(config_entry(&ConfigChange::OnBuild("RUN x".into())), None);
        assert_eq!(run_entry(&["/bin/sh".into(), "-c".into(), "make".into()], &[("V".into(), "1".into()), ("E".into(), String::new())]), "RUN |2 V=1 E= /bin/sh -c make # buildkit");
        assert_eq!(arg_entry(&[("A".into(), Some("1".into())), ("B".into(), None)]), "ARG A=1 B");
    }
}
