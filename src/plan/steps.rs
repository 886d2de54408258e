//! Stage contents: ARG values as a stage sees them.

use super::scope::{BuildArgs, GlobalArgs, Scope};
use crate::syntax::instruction::ArgDecl;
use crate::words::{ExpandError, Lexer};

/// The value `ARG name[=default]` gives inside a stage: the `--build-arg`,
/// else the default expanded in the current scope, else the global value.
pub fn arg_value(
    lexer: &Lexer,
    arg: &ArgDecl,
    scope: &Scope,
    globals: &GlobalArgs,
    build_args: &BuildArgs,
) -> Result<Option<String>, ExpandError> {
    if let Some(value) = build_args.take(&arg.name) {
        return Ok(Some(value.to_owned()));
    }
    if let Some(default) = &arg.default {
        return lexer.expand_word(default, scope).map(Some);
    }
    Ok(globals.values.iter().rev().find(|(k, _)| *k == arg.name).map(|(_, v)| v.clone()))
}

/// The global scope: predefined platform ARGs, then each ARG before the
/// first FROM (build-arg, else default expanded against what came before).
pub fn global_args(
    lexer: &Lexer,
    declared: &[ArgDecl],
    predefined: Vec<(String, String)>,
    build_args: &BuildArgs,
) -> Result<GlobalArgs, ExpandError> {
    let mut values = predefined;
    for arg in declared {
        let value = match build_args.take(&arg.name) {
            Some(value) => Some(value.to_owned()),
            None => match &arg.default {
                Some(default) => Some(lexer.expand_word(default, &values)?),
                None => None,
            },
        };
        values.retain(|(k, _)| *k != arg.name);
        if let Some(value) = value {
            values.push((arg.name.clone(), value));
        }
    }
    Ok(GlobalArgs { values })
}
