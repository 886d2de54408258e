//! The image commands: `import`, `images`, `tag`, `rmi`, `inspect`, `history`.

use std::io::{BufReader, Write};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::table::{ago, human_size, table, truncate};
use super::{render, CliError};
use crate::image::{ConfigChange, ContainerConfig, Reference};
use crate::layer::Compression;
use crate::plan::{config_edit, EditContext};
use crate::store::{ImportOptions, Store, StoredImage};
use crate::syntax;
use crate::words::Lexer;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  tar -C rootfs -c . | strata import - busybox:1.36
  strata import --change 'CMD [\"sh\"]' --change 'ENV PATH=/bin' rootfs.tar.gz busybox
  strata import --compression zstd --message 'base system' rootfs.tar.zst base:v1")]
pub struct ImportArgs {
    /// A rootfs tarball: plain, gzip or zstd (detected). `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// The name to give the image (`[registry/]repo[:tag]`, tag defaults to `latest`).
    #[arg(value_name = "NAME[:TAG]")]
    pub name: Option<String>,
    /// A Dockerfile instruction applied to the config: CMD, ENTRYPOINT, ENV,
    /// EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL, HEALTHCHECK, SHELL.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,
    /// A comment for the image's history entry.
    #[arg(short, long)]
    pub message: Option<String>,
    /// How to compress the layer blob.
    #[arg(long, default_value = "gzip", value_parser = parse_compression)]
    pub compression: Compression,
    /// Refuse a tarball whose uncompressed tar stream is larger than SIZE
    /// (e.g. 10GB). Without it, the free space of the store's filesystem is the limit.
    #[arg(long, value_name = "SIZE", value_parser = crate::size::decimal_bytes)]
    pub max_size: Option<u64>,
    /// The platform the rootfs is for (`linux/arm64`; default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<crate::image::Platform>,
}

fn parse_compression(text: &str) -> Result<Compression, String> {
    text.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata images
  strata images --format json | jq -r .ID")]
pub struct ImagesArgs {
    /// `table`, or `json` (one object per line, as `docker images --format json`).
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Show full image IDs.
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata tag busybox:latest registry.local:5000/tools/busybox:1.36
  strata tag 3f2a9c1b7e4d busybox:stable")]
pub struct TagArgs {
    /// The image: name, ID or ID prefix.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// The new name.
    #[arg(value_name = "TARGET")]
    pub target: String,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata rmi busybox:1.36
  strata rmi --force 3f2a9c1b7e4d")]
pub struct RmiArgs {
    /// Images to remove: names untag, IDs remove the image.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Remove the image even when several tags point at it.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata inspect busybox
  strata inspect busybox | jq '.[0].Config.Cmd'")]
pub struct InspectArgs {
    /// Images to inspect (name, ID or ID prefix).
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
    /// Of a name holding several platforms, inspect this one (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<crate::image::Platform>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata history busybox
  strata history --no-trunc --format json busybox")]
pub struct HistoryArgs {
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Do not shorten IDs and commands.
    #[arg(long)]
    pub no_trunc: bool,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

pub fn import(store: &Store, args: &ImportArgs) -> Result<ExitCode, CliError> {
    let tag = args.name.as_deref().map(str::parse::<Reference>).transpose().map_err(crate::store::StoreError::from)?;
    let changes = match config_changes(&args.changes, &ContainerConfig::default()) {
        Ok(changes) => changes,
        Err(rendered) => {
            eprintln!("{rendered}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let message = args.message.clone().or_else(|| Some(format!("Imported from {}", args.file)));
    let source = if args.file == "-" { "standard input".to_owned() } else { args.file.clone() };
    let options = ImportOptions { compression: args.compression, changes, message, tag, source, max_size: args.max_size, platform: args.platform.clone() };
    let image = if args.file == "-" {
        store.import(std::io::stdin().lock(), &options)?
    } else {
        let file = fs_err::File::open(&args.file).map_err(|e| CliError::Read { path: args.file.clone(), source: e })?;
        store.import(BufReader::new(file), &options)?
    };
    println!("{}", image.id());
    Ok(ExitCode::SUCCESS)
}

/// Parses each `--change` as one Dockerfile instruction; a bad one comes
/// back rendered with its location. Variables in them expand against the
/// ENV of `base`, the config they apply to.
pub(super) fn config_changes(changes: &[String], base: &ContainerConfig) -> Result<Vec<ConfigChange>, String> {
    let mut config = base.clone();
    let mut result = Vec::new();
    for text in changes {
        let fail = |e: syntax::ParseError| render::parse_error("--change", text, e);
        let ast = syntax::parse_ast(text).map_err(fail)?;
        let [node] = ast.nodes.as_slice() else {
            return Err(format!("error: --change {text:?}: expected exactly one instruction"));
        };
        let instruction = syntax::instruction::instruction(node).map_err(fail)?;
        let env: Vec<(String, String)> = config.env.iter().flatten().filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect();
        let cmd_set = result.iter().any(|c| matches!(c, ConfigChange::Cmd(_)));
        let cx = EditContext { lexer: Lexer::new('\\'), vars: &env, config: &config, cmd_set };
        let change = config_edit(&instruction, &cx).map_err(|e| format!("error: --change {text:?}: {e}"))?;
        change.apply(&mut config);
        result.push(change);
    }
    Ok(result)
}

pub fn images(store: &Store, args: &ImagesArgs) -> Result<ExitCode, CliError> {
    let mut rows = Vec::new();
    let mut out = String::new();
    let entries = store.list_images()?;
    // Only a store holding a multi-platform image gets the column.
    let platforms = entries.iter().any(|e| e.platform.is_some());
    for entry in entries {
        let platform = entry.platform.as_ref().map(ToString::to_string);
        let id = if args.no_trunc { entry.record.config.to_string() } else { entry.record.config.short() };
        let names: Vec<(String, String)> = if entry.tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            entry.tags.iter().map(|t| (t.familiar_name(), t.tag.clone().unwrap_or_else(|| "<none>".into()))).collect()
        };
        for (repository, tag) in names {
            match args.format {
                ListFormat::Table => {
                    let mut row = vec![repository, tag, id.clone(), ago(&entry.record.created), human_size(entry.record.size)];
                    if platforms {
                        row.push(platform.clone().unwrap_or_default());
                    }
                    rows.push(row);
                }
                ListFormat::Json => {
                    let mut line = json!({
                        "Repository": repository,
                        "Tag": tag,
                        "ID": id,
                        "Digest": entry.manifest.to_string(),
                        "CreatedAt": entry.record.created,
                        "CreatedSince": ago(&entry.record.created),
                        "Size": human_size(entry.record.size),
                        "VirtualSize": entry.record.size,
                    });
                    if let Some(platform) = &platform {
                        line["Platform"] = json!(platform);
                    }
                    out.push_str(&line.to_string());
                    out.push('\n');
                }
            }
        }
    }
    if args.format == ListFormat::Table {
        let mut headers = vec!["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"];
        if platforms {
            headers.push("PLATFORM");
        }
        out = table(&headers, &rows);
    }
    print(&out)
}

pub fn tag(store: &Store, args: &TagArgs) -> Result<ExitCode, CliError> {
    let target: Reference = args.target.parse().map_err(crate::store::StoreError::from)?;
    if target.digest.is_some() {
        return Err(CliError::Usage(format!("cannot tag with a digest reference: {}", args.target)));
    }
    store.tag(&args.source, &target)?;
    Ok(ExitCode::SUCCESS)
}

pub fn rmi(store: Store, args: &RmiArgs) -> Result<ExitCode, CliError> {
    let mut code = ExitCode::SUCCESS;
    for name in &args.images {
        match store.remove(name, args.force) {
            Ok(removal) => {
                for tag in &removal.untagged {
                    println!("Untagged: {}", tag.familiar());
                }
                if let Some(id) = removal.deleted {
                    println!("Deleted: {id}");
                }
            }
            Err(error) => {
                eprintln!("Error response from store: {error}");
                code = ExitCode::FAILURE;
            }
        }
    }
    crate::cache::collect_garbage(store)?;
    Ok(code)
}

pub fn inspect(store: &Store, args: &InspectArgs) -> Result<ExitCode, CliError> {
    let mut documents = Vec::new();
    for name in &args.images {
        let image = match &args.platform {
            None => store.resolve(name)?,
            Some(platform) if store.has_platform(name, platform) => store.resolve_for(name, platform)?,
            Some(platform) => return Err(crate::store::StoreError::NoSuchImage(format!("{name} for {platform}")).into()),
        };
        documents.push(inspect_document(store, &image)?);
    }
    print(&render::json(&documents))
}

/// Docker's inspect fields, plus the manifest and each layer's blob.
fn inspect_document(store: &Store, image: &StoredImage) -> Result<serde_json::Value, CliError> {
    let blobs = image.manifest.layers().map_err(crate::store::StoreError::from)?;
    let records = store.layers(&image.config.rootfs.diff_ids)?;
    let mut layers = Vec::new();
    for (((digest, size, media_type), diff_id), record) in blobs.iter().zip(&image.config.rootfs.diff_ids).zip(records) {
        // Unknown (null) until a pulled layer is first unpacked.
        let uncompressed = record.map(|l| l.uncompressed_size).filter(|known| *known > 0);
        layers.push(json!({
            "Digest": digest.to_string(),
            "DiffID": diff_id.to_string(),
            "MediaType": media_type.to_string(),
            "Size": size,
            "UncompressedSize": uncompressed,
        }));
    }
    let config = &image.config;
    Ok(json!({
        "Id": image.id().to_string(),
        "RepoTags": image.tags.iter().map(Reference::familiar).collect::<Vec<_>>(),
        "Created": config.created,
        "Author": config.author,
        "Architecture": config.architecture,
        "Os": config.os,
        "Config": config.config,
        "RootFS": config.rootfs,
        "Size": image.record.size,
        "Manifest": {
            "Digest": image.manifest.digest.to_string(),
            "MediaType": image.manifest.manifest.media_type().as_ref().map_or("application/vnd.oci.image.manifest.v1+json".to_owned(), |m| m.to_string()),
            "Size": image.manifest.bytes.len(),
        },
        "Layers": layers,
        "History": config.history,
    }))
}

pub fn history(store: &Store, args: &HistoryArgs) -> Result<ExitCode, CliError> {
    let image = store.resolve(&args.image)?;
    let records = store.layers(&image.config.rootfs.diff_ids)?;
    let mut sizes = records.into_iter().map(|r| r.map_or(0, |l| l.uncompressed_size));
    let mut rows = Vec::new();
    for (index, entry) in image.config.history.iter().enumerate() {
        let size = if entry.empty_layer { 0 } else { sizes.next().unwrap_or(0) };
        let is_top = index + 1 == image.config.history.len();
        rows.push((entry, size, is_top));
    }
    rows.reverse();
    let id = if args.no_trunc { image.id().to_string() } else { image.id().short() };
    let mut out = String::new();
    let mut table_rows = Vec::new();
    for (entry, size, is_top) in rows {
        let shown_id = if is_top { id.clone() } else { "<missing>".into() };
        let created_by = entry.created_by.clone().unwrap_or_default();
        let created = entry.created.clone().unwrap_or_default();
        let comment = entry.comment.clone().unwrap_or_default();
        match args.format {
            ListFormat::Table => {
                let created_by = if args.no_trunc { created_by } else { truncate(&created_by, 45) };
                table_rows.push(vec![shown_id, ago(&created), created_by, human_size(size), comment]);
            }
            ListFormat::Json => {
                let line = json!({
                    "ID": shown_id, "CreatedAt": created, "CreatedSince": ago(&created),
                    "CreatedBy": created_by, "Size": human_size(size), "Bytes": size, "Comment": comment,
                });
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
    }
    if args.format == ListFormat::Table {
        out = table(&["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], &table_rows);
    }
    print(&out)
}

fn print(text: &str) -> Result<ExitCode, CliError> {
    std::io::stdout().lock().write_all(text.as_bytes()).map_err(CliError::Write)?;
    Ok(ExitCode::SUCCESS)
}
