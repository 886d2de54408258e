//! Working containers, Buildah's commit workflow: `strata from` makes one,
//! `strata run NAME` runs commands in it, `strata commit` turns its changes
//! into an image, `strata containers` lists them and `strata rm` removes them.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::image::{config_changes, ListFormat};
use super::table::{ago, table, truncate};
use super::CliError;
use crate::image::Reference;
use crate::store::{working_container_stem, CommitOptions, NewContainer, RunDefaults, Store};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata from busybox                        prints busybox-working-container
  strata from --name dev debian:12
  strata run dev -- apt-get install -y make   then: strata commit dev tools:1")]
pub struct FromArgs {
    /// The container's name (default: `<image>-working-container`, numbered
    /// when taken).
    #[arg(long)]
    pub name: Option<String>,
    /// The image to start from.
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata commit dev tools:1
  strata commit -m 'add make' -a 'Ann <ann@example.com>' dev tools:1
  strata commit --change 'CMD [\"make\"]' --change 'WORKDIR /src' dev tools:1")]
pub struct CommitArgs {
    /// A comment for the new layer's history entry.
    #[arg(short, long)]
    pub message: Option<String>,
    /// The image's author.
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV,
    /// EXPOSE, LABEL, USER, VOLUME, WORKDIR, ...); repeatable.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// The container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The new image's name (untagged when omitted).
    #[arg(value_name = "NAME[:TAG]")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata containers
  strata containers --format json")]
pub struct ContainersArgs {
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata rm dev
  strata rm failed-step failed-step-2")]
pub struct RmArgs {
    /// Containers, by name or ID prefix.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn from(store: &Store, args: &FromArgs) -> Result<ExitCode, CliError> {
    let image = store.resolve(&args.image)?;
    let stem = working_container_stem(&args.image);
    let new = NewContainer {
        name: args.name.as_deref(),
        stem: &stem,
        source: &args.image,
        defaults: RunDefaults::of_image(&image.config),
        base: image.config,
        upper: None,
    };
    println!("{}", store.create_container(new)?.name);
    Ok(ExitCode::SUCCESS)
}

pub fn commit(store: &Store, args: &CommitArgs) -> Result<ExitCode, CliError> {
    let tag = args.name.as_deref().map(str::parse::<Reference>).transpose().map_err(crate::store::StoreError::from)?;
    let held = store.hold_container(&args.container)?;
    let changes = match config_changes(&args.changes, &held.record.base.config) {
        Ok(changes) => changes,
        Err(rendered) => {
            eprintln!("{rendered}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let options = CommitOptions { tag, message: args.message.clone(), author: args.author.clone(), changes };
    let image = store.commit_container(&held, &options)?;
    println!("{}", image.id());
    Ok(ExitCode::SUCCESS)
}

pub fn containers(store: &Store, args: &ContainersArgs) -> Result<ExitCode, CliError> {
    let records = store.containers()?;
    match args.format {
        ListFormat::Table => {
            let rows: Vec<Vec<String>> =
                records.iter().map(|c| vec![c.short_id().to_owned(), c.name.clone(), truncate(&c.source, 48), ago(&c.created)]).collect();
            print!("{}", table(&["CONTAINER ID", "NAME", "FROM", "CREATED"], &rows));
        }
        ListFormat::Json => {
            for c in &records {
                println!("{}", json!({ "ID": c.id, "Name": c.name, "From": c.source, "CreatedAt": c.created }));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rm(store: &Store, args: &RmArgs) -> Result<ExitCode, CliError> {
    let mut code = ExitCode::SUCCESS;
    for name in &args.containers {
        match store.remove_container(name) {
            Ok(record) => println!("{}", record.name),
            Err(error) => {
                eprintln!("{:?}", miette::Report::new(CliError::from(error)));
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}
