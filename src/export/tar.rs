//! `type=tar`: the image's filesystem as one tarball (no layers, no
//! config), to a file or (`dest=-`) standard output.

use super::filesystem::{tar_tree, with_root};
use super::{one_image, Dest, ExportError, Exported, Exporter, Fields, Job, Kind};

pub(super) const KIND: Kind = Kind { names: &["tar"], parse };

#[derive(Debug)]
struct Tarball(Dest);

fn parse(fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    Ok(Box::new(Tarball(Dest::from_fields("tar", fields)?)))
}

impl Tarball {
    fn write(&self, root: &std::path::Path) -> Result<(), ExportError> {
        match &self.0 {
            Dest::File(path) => {
                let file = fs_err::File::create(path).map_err(|source| ExportError::Write { path: path.clone(), source })?;
                tar_tree(root, std::io::BufWriter::new(file.into_parts().0)).map_err(ExportError::Layer)
            }
            Dest::Stdout => tar_tree(root, std::io::BufWriter::new(std::io::stdout())).map_err(ExportError::Layer),
        }
    }
}

impl Exporter for Tarball {
    fn kind(&self) -> &'static str {
        "tar"
    }

    fn export(&self, job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
        let name = one_image(self.kind(), job)?;
        with_root(job.store, name, |root| self.write(root), job.snapshotter)?;
        Ok(vec![Exported { kind: self.kind(), dest: self.0.describe(), digest: None }])
    }
}
