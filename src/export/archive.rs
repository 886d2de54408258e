//! What the archive outputs share: an image in the store as the archive
//! writers' [`SaveImage`], and a file written beside its destination and
//! renamed into place.

use std::io::{self, Write};
use std::path::Path;

use super::{Dest, ExportError, Exported, Job};
use crate::image::archive::{self, ArchiveFormat, SaveImage, SaveLayer};
use crate::image::Reference;
use crate::layer::Compression;
use crate::store::{Store, StoreError};

/// An image to save: a name that is one of the image's tags is recorded;
/// an ID saves the image unnamed, as `docker save` does. With a
/// compression, layers go in that form (compressed once, then reused).
pub fn save_image(store: &Store, name: &str, compression: Option<Compression>) -> Result<SaveImage, StoreError> {
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
            let layers = image.manifest.layers()?;
            (image.manifest.clone(), layers.into_iter().map(|(digest, size, _)| (digest, size)).collect::<Vec<_>>())
        }
    };
    let diff_ids = &image.config.rootfs.diff_ids;
    if blobs.len() != diff_ids.len() {
        let reason = format!("{} diff_ids for {} layers", diff_ids.len(), blobs.len());
        return Err(StoreError::BadConfig { digest: image.config_digest, reason });
    }
    let records = store.layers(diff_ids)?;
    let layers = blobs
        .into_iter()
        .zip(diff_ids)
        .zip(records)
        .map(|(((digest, size), diff_id), record)| SaveLayer {
            digest,
            size,
            diff_id: *diff_id,
            uncompressed_size: record.map(|l| l.uncompressed_size).filter(|known| *known > 0),
        })
        .collect();
    Ok(SaveImage { manifest, config_digest: image.config_digest, config: image.config, layers, names })
}

/// The images `job` names, as archives hold them: a name that holds a
/// multi-platform index stands for every platform's image, each recorded
/// under the name (the OCI `index.json` lists one manifest per platform).
pub(super) fn save_images(job: &Job<'_>, compression: Option<Compression>) -> Result<Vec<SaveImage>, StoreError> {
    let mut images = Vec::with_capacity(job.images.len());
    for name in job.images {
        let Some(index) = job.store.index(name)? else {
            images.push(save_image(job.store, name, compression)?);
            continue;
        };
        let reference = name.parse::<Reference>()?;
        for entry in &index.entries {
            let mut image = save_image(job.store, &entry.manifest.to_string(), compression)?;
            image.names = vec![reference.clone()];
            images.push(image);
        }
    }
    Ok(images)
}

/// Writes what `write` produces beside `path` and renames it into place,
/// so `path` never holds half a file.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<(), ExportError>) -> Result<(), ExportError> {
    let failed = |source| ExportError::Write { path: path.to_path_buf(), source };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let written = (|| {
        let file = fs_err::File::create(&partial).map_err(failed)?;
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
        file.sync_all().map_err(failed)?;
        fs_err::rename(&partial, path).map_err(failed)
    })();
    if written.is_err() {
        let _ = fs_err::remove_file(&partial);
    }
    written
}

/// Writes `job.images` as one archive of `format` to `dest`.
pub(super) fn export_archive(kind: &'static str, format: ArchiveFormat, dest: &Dest, job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
    // docker-archive decompresses whatever is stored: no compressing first.
    let compression = (format == ArchiveFormat::Oci).then_some(job.compression);
    let mut images = save_images(job, compression)?;
    if format == ArchiveFormat::Docker {
        // `docker load` tags each listed image in turn, so the name ends on
        // the last: this machine's platform goes last (the sort is stable).
        images.sort_by_key(|image| crate::store::config_platform(&image.config).is_host());
    }
    match dest {
        Dest::File(path) => write_atomically(path, |out| Ok(archive::save_archive(&images, format, job.store, out)?))?,
        Dest::Stdout => archive::save_archive(&images, format, job.store, io::BufWriter::with_capacity(1 << 20, io::stdout().lock()))?,
    }
    Ok(vec![Exported { kind, dest: dest.describe(), digest: None }])
}
