//! The archive commands: `save` (images → docker-archive, oci-archive or an
//! OCI layout directory) and `load` (either archive form → the store).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::table::human_size;
use super::CliError;
use crate::export;
use crate::image::archive::{self, LoadProgress};
use crate::layer::Compression;
use crate::store::Store;

/// The forms `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaveFormat {
    /// `docker save`'s classic tar: `manifest.json`, `<id>.json`, `<layer>/layer.tar`.
    DockerArchive,
    /// An OCI image layout as a tar (with Docker's `manifest.json` beside it).
    OciArchive,
    /// An OCI image layout directory (needs `-o DIR`).
    OciDir,
}

impl SaveFormat {
    /// The output kind (`export::KINDS`) that writes this form.
    fn kind(self) -> &'static str {
        match self {
            SaveFormat::DockerArchive => "docker-archive",
            SaveFormat::OciArchive => "oci-archive",
            SaveFormat::OciDir => "oci-dir",
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata save -o busybox.tar busybox:1.36                  docker-archive, for `docker load`
  strata save busybox:1.36 | gzip > busybox.tar.gz
  strata save --format oci-archive -o busybox.oci.tar busybox:1.36 alpine:3
  strata save --format oci-dir -o ./layout busybox:1.36    then: skopeo inspect oci:./layout:1.36
  strata save --format oci-archive --compression zstd -o app.tar app:1")]
pub struct SaveArgs {
    /// Write to FILE (or, for oci-dir, into DIR: new or empty) instead of standard output.
    #[arg(short, long, value_name = "FILE|DIR")]
    pub output: Option<PathBuf>,
    /// The archive form.
    #[arg(long, value_enum, default_value_t = SaveFormat::DockerArchive)]
    pub format: SaveFormat,
    /// Layer compression in OCI forms (docker-archive layers are always
    /// plain tars). Each layer is compressed once and reused after.
    #[arg(long, default_value = "gzip", value_parser = parse_compression)]
    pub compression: Compression,
    /// Images to save: names (recorded in the archive) or IDs (saved unnamed).
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

pub(super) fn parse_compression(text: &str) -> Result<Compression, String> {
    text.parse()
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  strata load -i busybox.tar
  gunzip -c busybox.tar.gz | strata load
  strata load -q -i busybox.oci.tar")]
pub struct LoadArgs {
    /// The archive (docker-archive or oci-archive; plain, gzip or zstd). Default: standard input.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print only the loaded images, not each layer.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn save(store: &Store, args: &SaveArgs) -> Result<ExitCode, CliError> {
    let dest = match &args.output {
        Some(path) => path.clone().into_os_string(),
        None if args.format == SaveFormat::OciDir => return Err(CliError::Usage("--format oci-dir needs -o DIR".into())),
        None if io::stdout().is_terminal() => {
            return Err(CliError::Usage("refusing to write an image archive to a terminal: use -o FILE or redirect standard output".into()));
        }
        None => "-".into(),
    };
    let fields: export::Fields = [("type".to_owned(), args.format.kind().into()), ("dest".to_owned(), dest)].into();
    let exporter = export::from_fields(&fields)?;
    let access = crate::registry::RegistryAccess::default();
    let job = export::Job {
        store,
        images: &args.images,
        compression: args.compression,
        // Archives only: no layer is mounted, so the snapshotter is never used.
        snapshotter: crate::exec::Snapshotter::Native,
        registry: &access,
        transfers: &crate::registry::NoProgress,
    };
    exporter.export(&job)?;
    Ok(ExitCode::SUCCESS)
}

pub fn load(store: &Store, args: &LoadArgs) -> Result<ExitCode, CliError> {
    let quiet = args.quiet;
    let mut progress = |event: LoadProgress| {
        if quiet {
            return;
        }
        match event {
            LoadProgress::Loaded { diff_id, size } => eprintln!("Loaded layer {} ({})", diff_id.short(), human_size(size)),
            LoadProgress::Exists { diff_id } => eprintln!("Layer {} already exists", diff_id.short()),
        }
    };
    let loaded = match &args.input {
        Some(path) => {
            let file = fs_err::File::open(path).map_err(|e| CliError::Read { path: path.display().to_string(), source: e })?;
            archive::load(file, store, &mut progress)?
        }
        None => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                return Err(CliError::Usage("requested load from standard input, but it is a terminal: use -i FILE or redirect".into()));
            }
            archive::load(stdin.lock(), store, &mut progress)?
        }
    };
    let mut out = String::new();
    for image in loaded {
        if image.tags.is_empty() {
            out.push_str(&format!("Loaded image ID: {}\n", image.id));
        }
        for tag in &image.tags {
            out.push_str(&format!("Loaded image: {}\n", tag.familiar()));
        }
    }
    io::stdout().lock().write_all(out.as_bytes()).map_err(CliError::Write)?;
    Ok(ExitCode::SUCCESS)
}
