//! `type=registry,name=REG/REPO:TAG[,...]` (and `build --push`, which
//! pushes to every `-t` name): the image uploaded to registries.

use super::{one_image, ExportError, Exported, Exporter, Fields, Job, Kind};
use crate::image::Reference;
use crate::registry::{self, PushOptions};
use crate::store::{ManifestList, StoreError};

pub(super) const KIND: Kind = Kind { names: &["registry"], parse };

/// Pushes one image under each of its target names.
#[derive(Debug)]
pub struct Push {
    targets: Vec<Reference>,
}

impl Push {
    /// A push to each of `targets` (`build --push` passes the `-t` names).
    pub fn new(targets: Vec<Reference>) -> Push {
        Push { targets }
    }
}

fn parse(fields: &Fields) -> Result<Box<dyn Exporter>, ExportError> {
    let names = fields.get("name").ok_or_else(|| ExportError::NeedsDest { kind: "registry".into() })?;
    // BuildKit separates several names with commas, which split the fields: one name here.
    let target = names.to_string_lossy().parse::<Reference>().map_err(StoreError::from)?;
    Ok(Box::new(Push::new(vec![target])))
}

impl Exporter for Push {
    fn kind(&self) -> &'static str {
        "registry"
    }

    fn export(&self, job: &Job<'_>) -> Result<Vec<Exported>, ExportError> {
        if let Some(list) = several_platforms(job)? {
            return self.push_index(job, &list);
        }
        let image = job.store.resolve(one_image(self.kind(), job)?)?;
        let mut exported = Vec::with_capacity(self.targets.len());
        for target in &self.targets {
            let options = PushOptions { client: job.registry.client_options(&target.registry)?, ..PushOptions::default() };
            let pushed = registry::push(job.store, &image, target, &options, job.transfers)?;
            exported.push(Exported { kind: self.kind(), dest: target.to_string(), digest: Some(pushed.digest) });
        }
        Ok(exported)
    }
}

impl Push {
    /// Every platform's manifest, then the index under each target name.
    fn push_index(&self, job: &Job<'_>, list: &ManifestList) -> Result<Vec<Exported>, ExportError> {
        let mut exported = Vec::with_capacity(self.targets.len());
        for target in &self.targets {
            let options = PushOptions { client: job.registry.client_options(&target.registry)?, ..PushOptions::default() };
            let pushed = registry::push_index(job.store, list, target, &options, job.transfers)?;
            exported.push(Exported { kind: self.kind(), dest: target.to_string(), digest: Some(pushed.digest) });
        }
        Ok(exported)
    }
}

/// The index to push when the job is a multi-platform image: a name
/// holding an index, or one image per platform (a build without tags).
fn several_platforms(job: &Job<'_>) -> Result<Option<ManifestList>, ExportError> {
    match job.images {
        [one] => Ok(job.store.index(one)?),
        [] => Ok(None),
        many => Ok(Some(job.store.list_of(many)?)),
    }
}
