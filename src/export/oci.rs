//! `type=oci` (`save --format oci-archive`): an OCI image layout as a tar,
//! with Docker's `manifest.json` beside it so `docker load` takes it too.

use super::archive::export_archive;
use super::{Dest, ExportError, Exported, Exporter, Fields, Job, Kind};
use crate::image::archive::ArchiveFormat;

pub(super) const KIND: Kind = Kind { names: &["oci", "oci-archive"], parse };

#[derive(Debug)]
struct OciArchive(Dest);

fn parse(fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    Ok(Box::new(OciArchive(Dest::from_fields("oci", fields)?)))
}

impl Exporter for OciArchive {
    fn kind(&self) -> &'static str {
        "oci"
    }

    fn export(&self, job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
        export_archive(self.kind(), ArchiveFormat::Oci, &self.0, job)
    }
}
