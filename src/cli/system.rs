//! `strata system df`: what the store's disk holds, by kind.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::image::ListFormat;
use super::table::{human_size, table};
use super::{render, CliError};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct SystemArgs {
    #[command(subcommand)]
    pub command: SystemCommand,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Disk usage of images, containers, build cache and cache mounts.
    Df(DfArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata system df
  strata system df --format json | jq '.[] | select(.type == \"Build Cache\") | .reclaimable'
  strata cache du                          the build cache entry by entry")]
pub struct DfArgs {
    /// `table`, or `json` (an array of rows, sizes in bytes).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

pub fn run(store: &Store, args: &SystemArgs) -> Result<ExitCode, CliError> {
    let SystemCommand::Df(args) = &args.command;
    let rows = crate::cache::system_usage(store)?;
    let text = match args.format {
        ListFormat::Json => render::json(&rows),
        ListFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let percent = (r.reclaimable * 100).checked_div(r.size).unwrap_or(0);
                    vec![r.kind.into(), r.total.to_string(), r.active.to_string(), human_size(r.size), format!("{} ({percent}%)", human_size(r.reclaimable))]
                })
                .collect();
            table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], &cells)
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes()).map_err(CliError::Write)?;
    Ok(ExitCode::SUCCESS)
}
