//! `type=local`: the image's filesystem written into a directory, streamed
//! through the same tar writer and safe unpacker as layers, so what lands
//! on the host obeys the unpacker's path rules.

use std::path::{Path, PathBuf};

use super::filesystem::{tar_tree, with_root};
use super::{one_image, ExportError, Exported, Exporter, Fields, Job, Kind};
use crate::layer::{unpack, LayerError};

pub(super) const KIND: Kind = Kind { names: &["local"], parse };

#[derive(Debug)]
struct LocalDir(PathBuf);

fn parse(fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    let dest = fields.get("dest").ok_or_else(|| ExportError::NeedsDest { kind: "local".into() })?;
    Ok(Box::new(LocalDir(PathBuf::from(dest))))
}

impl LocalDir {
    fn write(&self, root: &Path) -> Result<(), ExportError> {
        fs_err::create_dir_all(&self.0).map_err(|source| ExportError::Write { path: self.0.clone(), source })?;
        let (reader, writer) = std::io::pipe().map_err(|source| ExportError::Write { path: self.0.clone(), source })?;
        let root = root.to_path_buf();
        let writing = std::thread::spawn(move || tar_tree(&root, writer));
        let unpacked = unpack(reader, &self.0).map(|_| ());
        let written = writing.join().unwrap_or_else(|_| Err(LayerError::Write(std::io::Error::other("export thread panicked"))));
        unpacked.and(written).map_err(ExportError::Layer)
    }
}

impl Exporter for LocalDir {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn export(&self, job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
        let name = one_image(self.kind(), job)?;
        with_root(job.store, name, |root| self.write(root), job.snapshotter)?;
        Ok(vec![Exported { kind: self.kind(), dest: self.0.display().to_string(), digest: None }])
    }
}
