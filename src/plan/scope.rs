//! ARG and ENV scoping, as BuildKit does it:
//! - ARGs before the first FROM are global: FROM lines see them; a stage
//!   sees one only after redeclaring it (`ARG NAME`, which takes the global
//!   value);
//! - inside a stage, `ARG NAME[=default]` takes the `--build-arg` value if
//!   given, else its default (expanded), else the global value;
//! - for expansion ENV wins over ARG; both are visible to RUN.

use std::collections::{BTreeMap, BTreeSet};

use crate::words::VarLookup;

/// The global scope: what FROM lines and stage ARG redeclarations see.
#[derive(Debug, Clone, Default)]
pub struct GlobalArgs {
    /// `NAME=value` pairs in declaration order: platform args, then global ARGs.
    pub values: Vec<(String, String)>,
}

/// The build args given on the command line, and which ones were used.
#[derive(Debug, Clone, Default)]
pub struct BuildArgs {
    values: BTreeMap<String, String>,
    used: std::cell::RefCell<BTreeSet<String>>,
}

impl BuildArgs {
    /// Wraps `--build-arg` values, none used yet.
    pub fn new(values: BTreeMap<String, String>) -> BuildArgs {
        BuildArgs { values, used: Default::default() }
    }

    /// The value given for `name`, marking it used.
    pub fn take(&self, name: &str) -> Option<&str> {
        let value = self.values.get(name)?;
        self.used.borrow_mut().insert(name.to_owned());
        Some(value)
    }

    /// `--build-arg`s no ARG consumed (docker build warns about them).
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.values.keys().filter(|k| !used.contains(*k) && !super::platform::PROXY_ARGS.contains(&k.as_str())).cloned().collect()
    }

    /// Proxy variables given with `--build-arg`: visible to RUN undeclared.
    pub fn proxies(&self) -> Vec<(String, String)> {
        self.values.iter().filter(|(k, _)| super::platform::PROXY_ARGS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// The variables at one point of a stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Declared ARGs with a value, in declaration order.
    pub args: Vec<(String, String)>,
    /// The image's environment (`KEY=value` pairs), base image first.
    pub env: Vec<(String, String)>,
}

impl Scope {
    /// A stage's starting scope: no ARGs, the base image's environment.
    pub fn new(env: &[String]) -> Scope {
        let env = env.iter().map(|e| split_env(e)).collect();
        Scope { args: Vec::new(), env }
    }

    /// Declares ARG `name`; `None` (no default, no build arg): declared but unset.
    pub fn declare_arg(&mut self, name: &str, value: Option<String>) {
        self.args.retain(|(k, _)| k != name);
        if let Some(value) = value {
            self.args.push((name.to_owned(), value));
        }
    }

    /// Sets ENV `key`, replacing its earlier value in place.
    pub fn set_env(&mut self, key: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.env.push((key.to_owned(), value.to_owned())),
        }
    }

    /// What a RUN's process sees: ARGs, overridden by ENV of the same name.
    pub fn run_env(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = self.args.iter().filter(|(k, _)| !self.env.iter().any(|(e, _)| e == k)).cloned().collect();
        vars.extend(self.env.iter().cloned());
        vars
    }
}

impl VarLookup for Scope {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.env.as_slice().lookup(name).or_else(|| self.args.as_slice().lookup(name))
    }
}

/// `KEY=value` (a bare `KEY` is an empty value).
pub fn split_env(entry: &str) -> (String, String) {
    match entry.split_once('=') {
        Some((k, v)) => (k.to_owned(), v.to_owned()),
        None => (entry.to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_wins_over_arg() {
        let mut scope = Scope::new(&["A=env".into()]);
        scope.declare_arg("A", Some("arg".into()));
        scope.declare_arg("B", Some("arg".into()));
        assert_eq!(scope.lookup("A"), Some("env"));
        assert_eq!(scope.lookup("B"), Some("arg"));
        assert_eq!(scope.run_env(), [("B".to_owned(), "arg".to_owned()), ("A".to_owned(), "env".to_owned())]);
    }

    #[test]
    fn unused_build_args_are_reported() {
        let args = BuildArgs::new([("A".into(), "1".into()), ("B".into(), "2".into()), ("HTTP_PROXY".into(), "x".into())].into());
        args.take("A");
        assert_eq!(args.unused(), ["B"]);
    }
}
