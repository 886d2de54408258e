//! `type=image`, the default: the image stays in the store, where the build
//! already put it. Nothing to write.

use super::{ExportError, Exported, Exporter, Fields, Job, Kind};

pub(super) const KIND: Kind = Kind { names: &["image"], parse };

#[derive(Debug)]
struct StoreImage;

fn parse(_fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    Ok(Box::new(StoreImage))
}

impl Exporter for StoreImage {
    fn kind(&self) -> &'static str {
        "image"
    }

    fn export(&self, _job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
        Ok(Vec::new())
    }
}
