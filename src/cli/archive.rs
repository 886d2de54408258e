//! The archive commands: `save` (images → docker-archive, oci-archive or an
//! OCI layout directory) and `load` (either archive form → the store).

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::table::human_size;
use super::CliError;
use crate::image::archive::{self, ArchiveFormat, LoadProgress, SaveImage, SaveLayer};
use crate::image::Reference;
use crate::layer::Compression;
use crate::store::{Store, StoreError};

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
    // docker-archive decompresses whatever is stored: no compressing first.
    let compression = (args.format != SaveFormat::DockerArchive).then_some(args.compression);
    let mut images = Vec::with_capacity(args.images.len());
    for name in &args.images {
        images.push(save_image(store, name, compression)?);
    }
    let format = match args.format {
        SaveFormat::OciDir => {
            let Some(dir) = &args.output else {
                return Err(CliError::Usage("--format oci-dir needs -o DIR".into()));
            };
            archive::save_dir(&images, store, dir)?;
            return Ok(ExitCode::SUCCESS);
        }
        SaveFormat::DockerArchive => ArchiveFormat::Docker,
        SaveFormat::OciArchive => ArchiveFormat::Oci,
    };
    match &args.output {
        Some(path) => save_file(&images, format, store, path)?,
        None => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                return Err(CliError::Usage("refusing to write an image archive to a terminal: use -o FILE or redirect standard output".into()));
            }
            archive::save_archive(&images, format, store, io::BufWriter::with_capacity(1 << 20, stdout.lock()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Saves one image (by ID: unnamed) to an archive file: `build --output`.
pub fn save_one(store: &Store, name: &str, format: SaveFormat, compression: Compression, path: &Path) -> Result<(), CliError> {
    let (format, compression) = match format {
        SaveFormat::OciArchive => (ArchiveFormat::Oci, Some(compression)),
        _ => (ArchiveFormat::Docker, None),
    };
    let images = [save_image(store, name, compression)?];
    save_file(&images, format, store, path)
}

/// Writes the archive beside `path` and renames it into place, so `path`
/// never holds half an archive.
fn save_file(images: &[SaveImage], format: ArchiveFormat, store: &Store, path: &Path) -> Result<(), CliError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let file = fs_err::File::create(&partial).map_err(CliError::Write)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    let written = archive::save_archive(images, format, store, &mut out)
        .map_err(CliError::from)
        .and_then(|()| out.into_inner().map_err(|e| CliError::Write(e.into_error())))
        .and_then(|file| file.sync_all().map_err(CliError::Write))
        .and_then(|()| fs_err::rename(&partial, path).map_err(CliError::Write));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// An image to save: a name that is one of the image's tags is recorded;
/// an ID saves the image unnamed, as `docker save` does. With a
/// compression, layers go in that form (compressed once, then reused).
fn save_image(store: &Store, name: &str, compression: Option<Compression>) -> Result<SaveImage, CliError> {
    let image = store.resolve(name)?;
    let names = match name.parse::<Reference>() {
        Ok(reference) if image.tags.contains(&reference) => vec![reference],
        _ => Vec::new(),
    };
    let (manifest, blobs) = match compression {
        Some(compression) => {
            let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
            let out = store.distributable(&image, compression, jobs)?;
            (out.manifest, out.layers.iter().map(|(blob, _)| (blob.digest, blob.size)).collect())
        }
        None => {
            let layers = image.manifest.layers().map_err(StoreError::from)?;
            (image.manifest.clone(), layers.into_iter().map(|(digest, size, _)| (digest, size)).collect::<Vec<_>>())
        }
    };
    let diff_ids = &image.config.rootfs.diff_ids;
    if blobs.len() != diff_ids.len() {
        let reason = format!("{} diff_ids for {} layers", diff_ids.len(), blobs.len());
        return Err(StoreError::BadConfig { digest: image.config_digest, reason }.into());
    }
    let records = store.layers(diff_ids)?;
    let layers = blobs
        .into_iter()
        .zip(diff_ids)
        .zip(records)
        .map(|(((digest, size), diff_id), record)| SaveLayer { digest, size, diff_id: *diff_id, uncompressed_size: record.map(|l| l.uncompressed_size) })
        .collect();
    Ok(SaveImage { manifest, config_digest: image.config_digest, config: image.config, layers, names })
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
