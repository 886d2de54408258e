//! `type=docker` (`save --format docker-archive`): `docker save`'s classic
//! tar, `manifest.json`, `<id>.json`, `<layer>/layer.tar`, for `docker load`.

use super::archive::export_archive;
use super::{Dest, ExportError, Exported, Exporter, Fields, Job, Kind};
use crate::image::archive::ArchiveFormat;

pub(super) const KIND: Kind = Kind { names: &["docker", "docker-archive"], parse };

#[derive(Debug)]
struct DockerArchive(Dest);

fn parse(fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    Ok(Box::new(DockerArchive(Dest::from_fields("docker", fields)?)))
}

impl Exporter for DockerArchive {
    fn kind(&self) -> &'static str {
        "docker"
    }

    fn export(&self, job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
        export_archive(self.kind(), ArchiveFormat::Docker, &self.0, job)
    }
}
