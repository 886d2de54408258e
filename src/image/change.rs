//! `ConfigChange`: one edit of an image config, as a Dockerfile instruction
//! (or `strata import --change`) makes it, with values already expanded.

use std::collections::BTreeMap;

use super::config::{ContainerConfig, Empty, HealthConfig};

/// An edit of the container config. Values are final (expanded).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum ConfigChange {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    StopSignal(String),
    Healthcheck(HealthConfig),
    OnBuild(String),
    Shell(Vec<String>),
}

impl ConfigChange {
    /// Applies the edit the way Docker's builder does.
    pub fn apply(&self, config: &mut ContainerConfig) {
        match self {
            ConfigChange::Cmd(cmd) => config.cmd = Some(cmd.clone()),
            ConfigChange::Entrypoint(entrypoint) => config.entrypoint = Some(entrypoint.clone()),
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
                for port in ports {
                    let key = if port.contains('/') { port.clone() } else { format!("{port}/tcp") };
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
    }
}
