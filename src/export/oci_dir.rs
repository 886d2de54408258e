//! `type=oci-dir` (`save --format oci-dir`): an OCI image layout directory
//! (new or empty), for skopeo's `oci:DIR:TAG` and umoci.

use std::path::PathBuf;

use super::archive::save_images;
use super::{ExportError, Exported, Exporter, Fields, Job, Kind};
use crate::image::archive;

pub(super) const KIND: Kind = Kind { names: &["oci-dir"], parse };

#[derive(Debug)]
struct OciDir(PathBuf);

fn parse(fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    let dest = fields.get("dest").filter(|d| *d != "-").ok_or_else(|| ExportError::NeedsDest { kind: "oci-dir".into() })?;
    Ok(Box::new(OciDir(PathBuf::from(dest))))
}

impl Exporter for OciDir {
    fn kind(&self) -> &'static str {
        "oci-dir"
    }

    fn export(&self, job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
        let images = save_images(job, Some(job.compression))?;
        archive::save_dir(&images, job.store, &self.0)?;
        Ok(vec![Exported { kind: self.kind(), dest: self.0.display().to_string(), digest: None }])
    }
}
