//! Instructions that only edit the image config, turned into
//! [`ConfigChange`]s with their words expanded the way BuildKit does: every
//! word of one instruction sees the environment from before it; CMD,
//! ENTRYPOINT, HEALTHCHECK, SHELL and ONBUILD are stored unexpanded.

use std::path::{Component, Path, PathBuf};

use crate::image::{ConfigChange, ContainerConfig, HealthConfig};
use crate::syntax::instruction::{Command, Healthcheck};
use crate::syntax::Instruction;
use crate::words::{ExpandError, Lexer, VarLookup};

/// The shell Docker uses for shell forms when the image sets none.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Why an instruction could not become a config edit.
#[derive(Debug, thiserror::Error)]
pub enum ConfigEditError {
    /// The instruction is not one that edits the config (an internal misuse).
    #[error("{keyword} does not edit the image config")]
    NotAConfigEdit {
        /// The instruction's keyword.
        keyword: &'static str,
    },
    /// Expanding a value failed.
    #[error(transparent)]
    Expand(#[from] ExpandError),
}

/// What expansion sees: the escape character and the variables in scope.
pub struct EditContext<'a> {
    /// Expands with the Dockerfile's escape character.
    pub lexer: Lexer,
    /// The ARG and ENV values in scope.
    pub vars: &'a dyn VarLookup,
    /// The config as it is before this instruction (shell, working dir).
    pub config: &'a ContainerConfig,
    /// Whether a CMD came earlier in the stage (or `--change` list): then
    /// ENTRYPOINT keeps it, else it clears the inherited one.
    pub cmd_set: bool,
}

/// The config edit `instruction` makes.
pub fn config_edit(instruction: &Instruction, cx: &EditContext<'_>) -> Result<ConfigChange, ConfigEditError> {
    let word = |text: &str| cx.lexer.expand_word(text, cx.vars);
    let pairs = |pairs: &[crate::syntax::instruction::Pair]| -> Result<Vec<(String, String)>, ExpandError> {
        pairs.iter().map(|p| Ok((word(&p.key)?, word(&p.value)?))).collect()
    };
    Ok(match instruction {
        Instruction::Cmd { command } => ConfigChange::Cmd(argv(command, cx.config)),
        Instruction::Entrypoint { command } => ConfigChange::Entrypoint { args: argv(command, cx.config), reset_cmd: !cx.cmd_set },
        Instruction::Env { vars } => ConfigChange::Env(pairs(vars)?),
        Instruction::Label { labels } => ConfigChange::Label(pairs(labels)?),
        Instruction::Expose { ports } => {
            let mut expanded = Vec::new();
            for port in ports {
                expanded.extend(cx.lexer.expand_words(port, cx.vars)?);
            }
            ConfigChange::Expose(expanded)
        }
        Instruction::Volume { paths } => ConfigChange::Volume(paths.iter().map(|p| word(p)).collect::<Result<_, _>>()?),
        Instruction::User { user } => ConfigChange::User(word(user)?),
        Instruction::Workdir { path } => {
            let base = cx.config.workdir();
            ConfigChange::Workdir(join_workdir(base, &word(path)?))
        }
        Instruction::Stopsignal { signal } => ConfigChange::StopSignal(word(signal)?),
        Instruction::Shell { shell } => ConfigChange::Shell(shell.clone()),
        Instruction::Onbuild { expression, .. } => ConfigChange::OnBuild(expression.clone()),
        Instruction::Healthcheck(check) => ConfigChange::Healthcheck(health_config(check)),
        other => return Err(ConfigEditError::NotAConfigEdit { keyword: keyword(other) }),
    })
}

/// Exec form as written; shell form through the image's shell.
fn argv(command: &Command, config: &ContainerConfig) -> Vec<String> {
    match command {
        Command::Exec { args } => args.clone(),
        Command::Shell { script } => {
            let mut argv = shell(config);
            argv.push(script.clone());
            argv
        }
    }
}

fn shell(config: &ContainerConfig) -> Vec<String> {
    config.shell.clone().unwrap_or_else(|| DEFAULT_SHELL.map(String::from).to_vec())
}

fn health_config(check: &Healthcheck) -> HealthConfig {
    match check {
        Healthcheck::None => HealthConfig { test: vec!["NONE".into()], ..HealthConfig::default() },
        Healthcheck::Cmd { command, interval, timeout, start_period, start_interval, retries } => {
            let test = match command {
                Command::Exec { args } => std::iter::once("CMD".to_owned()).chain(args.iter().cloned()).collect(),
                Command::Shell { script } => vec!["CMD-SHELL".to_owned(), script.clone()],
            };
            HealthConfig { test, interval: *interval, timeout: *timeout, start_period: *start_period, start_interval: *start_interval, retries: *retries }
        }
    }
}

/// WORKDIR: a relative path continues from the current one; the result is
/// cleaned (`.` and `..` resolved lexically), as Docker does.
pub(super) fn join_workdir(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') { PathBuf::from(path) } else { Path::new(base).join(path) };
    let mut clean = PathBuf::from("/");
    for part in joined.components() {
        match part {
            Component::Normal(name) => clean.push(name),
            Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    clean.to_string_lossy().into_owned()
}

fn keyword(instruction: &Instruction) -> &'static str {
    match instruction {
        Instruction::Run(_) => "RUN",
        Instruction::Add(_) => "ADD",
        Instruction::Copy(_) => "COPY",
        Instruction::Arg { .. } => "ARG",
        Instruction::Maintainer { .. } => "MAINTAINER",
        _ => "this instruction",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(line: &str, config: &ContainerConfig, vars: &[(&str, &str)]) -> ConfigChange {
        let file = crate::syntax::parse(&format!("FROM scratch\n{line}\n")).unwrap();
        let instruction = &file.stages[0].instructions[0].value;
        let cx = EditContext { lexer: Lexer::new('\\'), vars: &vars, config, cmd_set: false };
        config_edit(instruction, &cx).unwrap()
    }

    #[test]
    fn shell_form_uses_image_shell() {
        let config = ContainerConfig { shell: Some(vec!["/bin/bash".into(), "-c".into()]), ..Default::default() };
        assert_eq!(edit("CMD echo hi", &config, &[]), ConfigChange::Cmd(vec!["/bin/bash".into(), "-c".into(), "echo hi".into()]));
        assert_eq!(edit("CMD echo hi", &ContainerConfig::default(), &[]), ConfigChange::Cmd(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()]));
    }

    #[test]
    fn env_words_see_previous_environment() {
        let change = edit("ENV A=2 B=$A C=\"x y\"", &ContainerConfig::default(), &[("A", "1")]);
        assert_eq!(change, ConfigChange::Env(vec![("A".into(), "2".into()), ("B".into(), "1".into()), ("C".into(), "x y".into())]));
    }

    #[test]
    fn workdir_joins_and_cleans() {
        let config = ContainerConfig { working_dir: Some("/app".into()), ..Default::default() };
        assert_eq!(edit("WORKDIR src/../lib", &config, &[]), ConfigChange::Workdir("/app/lib".into()));
        assert_eq!(edit("WORKDIR /$D", &config, &[("D", "x")]), ConfigChange::Workdir("/x".into()));
    }
}
