//! `ConfigChange`: one edit of an image config, as a Dockerfile instruction
//! (or `strata import --change`) makes it, with values already expanded.

use std::collections::BTreeMap;

use super::config::{ContainerConfig, Empty, HealthConfig};

/// An edit of the container config. Values are final (expanded).
/// Adjacently tagged: an internal tag cannot hold the list variants, and
/// `build --print-graph --format json` prints every step's op.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "change", content = "value", rename_all = "snake_case")]
pub enum ConfigChange {
    /// `CMD` as an argv (shell form already wrapped).
    Cmd(Vec<String>),
    /// `reset_cmd`: the command goes too, as ENTRYPOINT does unless a CMD
    /// came earlier in the same Dockerfile stage (or `--change` list).
    Entrypoint {
        /// The argv (shell form already wrapped).
        args: Vec<String>,
        /// Also drop the inherited CMD.
        reset_cmd: bool,
    },
    /// `ENV` pairs, in order; a key already set keeps its place and takes the new value.
    Env(Vec<(String, String)>),
    /// `LABEL` pairs, in order; later values win.
    Label(Vec<(String, String)>),
    /// `EXPOSE` words as written (`80`, `53/udp`, `8000-8002`).
    Expose(Vec<String>),
    /// `VOLUME` container paths.
    Volume(Vec<String>),
    /// `USER`: `user[:group]`.
    User(String),
    /// `WORKDIR`, already resolved to an absolute path.
    Workdir(String),
    /// `STOPSIGNAL` as written.
    StopSignal(String),
    /// `HEALTHCHECK` (`NONE` included).
    Healthcheck(HealthConfig),
    /// One `ONBUILD` trigger, the instruction as written; appended.
    OnBuild(String),
    /// `SHELL` argv.
    Shell(Vec<String>),
}

impl ConfigChange {
    /// Applies the edit as a Dockerfile build does: like [`apply`], and a
    /// CMD also sets `ArgsEscaped: true`, as BuildKit's frontend writes it.
    ///
    /// [`apply`]: ConfigChange::apply
    pub fn apply_in_build(&self, config: &mut ContainerConfig) {
        self.apply(config);
        if let ConfigChange::Cmd(_) = self {
            config.extra.insert("ArgsEscaped".into(), serde_json::Value::Bool(true));
        }
    }

    /// Applies the edit the way Docker's builder does.
    pub fn apply(&self, config: &mut ContainerConfig) {
        match self {
            ConfigChange::Cmd(cmd) => config.cmd = Some(cmd.clone()),
            ConfigChange::Entrypoint { args, reset_cmd } => {
                config.entrypoint = Some(args.clone());
                if *reset_cmd {
                    config.cmd = None;
                }
            }
            ConfigChange::Env(vars) => {
                let env = config.env.get_or_insert_with(Vec::new);
                for (key, value) in vars {
                    let entry = format!("{key}={value}");
                    match env.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
                        Some(existing) => *existing = entry,
                        None => env.push(entry),
                    }
                }
            }
            ConfigChange::Label(labels) => {
                let map = config.labels.get_or_insert_with(BTreeMap::new);
                map.extend(labels.iter().cloned());
            }
            ConfigChange::Expose(ports) => {
                let map = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for key in ports.iter().flat_map(|p| port_keys(p)) {
                    map.insert(key, Empty {});
                }
            }
            ConfigChange::Volume(paths) => {
                let map = config.volumes.get_or_insert_with(BTreeMap::new);
                map.extend(paths.iter().map(|p| (p.clone(), Empty {})));
            }
            ConfigChange::User(user) => config.user = Some(user.clone()),
            ConfigChange::Workdir(dir) => config.working_dir = Some(dir.clone()),
            ConfigChange::StopSignal(signal) => config.stop_signal = Some(signal.clone()),
            ConfigChange::Healthcheck(health) => config.healthcheck = Some(health.clone()),
            ConfigChange::OnBuild(trigger) => config.on_build.get_or_insert_with(Vec::new).push(trigger.clone()),
            ConfigChange::Shell(shell) => config.shell = Some(shell.clone()),
        }
    }
}

/// The `ExposedPorts` keys of one EXPOSE word, as Docker's `nat` package
/// makes them: `port/proto` (`tcp` by default), a range `8000-8002` as one
/// key per port. A word that is not a port or range is kept as written.
pub fn port_keys(spec: &str) -> Vec<String> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = if proto.is_empty() { "tcp" } else { proto };
    let range = match ports.split_once('-') {
        Some((start, end)) => start.parse::<u16>().ok().zip(end.parse::<u16>().ok()),
        None => ports.parse::<u16>().ok().map(|p| (p, p)),
    };
    match range {
        Some((start, end)) if start <= end => (start..=end).map(|port| format!("{port}/{proto}")).collect(),
        _ => vec![format!("{ports}/{proto}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_replaces_existing_key() {
        let mut config = ContainerConfig { env: Some(vec!["PATH=/bin".into(), "A=1".into()]), ..Default::default() };
        ConfigChange::Env(vec![("A".into(), "2".into()), ("B".into(), "x y".into())]).apply(&mut config);
        assert_eq!(config.env.unwrap(), ["PATH=/bin", "A=2", "B=x y"]);
    }

    #[test]
    fn expose_defaults_to_tcp() {
        let mut config = ContainerConfig::default();
        ConfigChange::Expose(vec!["80".into(), "53/udp".into()]).apply(&mut config);
        let ports: Vec<_> = config.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp"]);
        assert_eq!(port_keys("8000-8002/udp"), ["8000/udp", "8001/udp", "8002/udp"]);
    }

    #[test]
    fn every_change_serializes() {
        let changes = [
            ConfigChange::Env(vec![("A".into(), "1".into())]),
            ConfigChange::Cmd(vec!["x".into()]),
            ConfigChange::Expose(vec!["80".into()]),
            ConfigChange::Entrypoint { args: vec!["y".into()], reset_cmd: true },
            ConfigChange::User("app".into()),
        ];
        for change in changes {
            assert!(serde_json::to_value(&change).is_ok(), "{change:?}");
        }
    }
}
