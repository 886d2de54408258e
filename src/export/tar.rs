//! `type=tar`: the image's filesystem as one tarball (no layers, no config).

use std::path::PathBuf;

use super::filesystem::{tar_tree, with_root};
use super::{one_image, ExportError, Exported, Exporter, Fields, Job, Kind};

pub(super) const KIND: Kind = Kind { names: &["tar"], parse };

#[derive(Debug)]
struct Tarball(PathBuf);

fn parse(fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    let dest = fields.get("dest").ok_or_else(|| ExportError::NeedsDest { kind: "tar".into() })?;
    Ok(Box::new(Tarball(PathBuf::from(dest))))
}

impl Exporter for Tarball {
    fn kind(&self) -> &'static str {
        "tar"
    }

    fn export(&self, job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
        let name = one_image(self.kind(), job)?;
        let write = |root: &std::path::Path| {
            let file = fs_err::File::create(&self.0).map_err(|source| ExportError::Write { path: self.0.clone(), source })?;
            tar_tree(root, std::io::BufWriter::new(file.into_parts().0)).map_err(ExportError::Layer)
        };
        with_root(job.store, name, write, job.snapshotter)?;
        Ok(vec![Exported { kind: self.kind(), dest: self.0.display().to_string(), digest: None }])
    }
}
