//! `strata manifest create|inspect|push`: multi-platform images made by
//! hand from single-platform ones, as `docker manifest` does.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::registry::{Direction, RegistryArgs, TransferView};
use super::CliError;
use crate::image::Reference;
use crate::registry::{self, PushOptions};
use crate::store::{Store, StoreError};

/// `strata manifest …`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// What to do with a manifest list.
    #[command(subcommand)]
    pub command: ManifestCommand,
}

/// The `manifest` subcommands.
#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Make (or replace) a list over single-platform images, one per platform.
    Create {
        /// The list's name (`registry/repository:tag`).
        #[arg(value_name = "NAME")]
        name: String,
        /// The images (names or IDs); each config's platform goes in the index.
        #[arg(value_name = "IMAGE", required = true)]
        images: Vec<String>,
    },
    /// Print a list as the OCI image index it stands for.
    Inspect {
        /// The list's name.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Push every image of a list, then the index over them.
    Push {
        /// The list's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// Where to push (default: the list's name).
        #[arg(value_name = "DESTINATION")]
        destination: Option<String>,
        /// Print only the index's digest.
        #[arg(short, long)]
        quiet: bool,
        /// Registry connection flags.
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

fn reference(name: &str) -> Result<Reference, CliError> {
    name.parse::<Reference>().map_err(|e| CliError::Store(StoreError::from(e)))
}

/// Runs a `manifest` subcommand.
pub fn manifest(store: &Store, args: &ManifestArgs) -> Result<ExitCode, CliError> {
    match &args.command {
        ManifestCommand::Create { name, images } => {
            let list = store.create_manifest_list(&reference(name)?, images)?;
            println!("{}", crate::digest::Digest::of(&list.stored_index()));
        }
        ManifestCommand::Inspect { name } => {
            let list = store.manifest_list(&reference(name)?)?;
            let index: serde_json::Value = serde_json::from_slice(&list.stored_index()).unwrap_or_default();
            println!("{}", serde_json::to_string_pretty(&index).unwrap_or_default());
        }
        ManifestCommand::Push { name, destination, quiet, registry: flags } => {
            let list = store.manifest_list(&reference(name)?)?;
            let target = reference(destination.as_deref().unwrap_or(name))?;
            let options = PushOptions { client: flags.client(&target.registry)?, ..PushOptions::default() };
            let view = TransferView::new(Direction::Up, *quiet);
            let pushed = registry::push_index(store, &list, &target, &options, &view).map_err(CliError::from)?;
            view.finish();
            if *quiet {
                println!("{}", pushed.digest);
            } else {
                println!(
                    "{}: index digest: {} ({} images, {} blobs uploaded, {} present, {} mounted)",
                    target.familiar(),
                    pushed.digest,
                    list.entries.len(),
                    pushed.uploaded,
                    pushed.existing,
                    pushed.mounted
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
