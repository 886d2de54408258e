//! Working containers: a writable layer over an image that outlives one
//! command (`strata from`, `strata run NAME`, `strata commit`), or the state
//! of a failed build step kept for debugging (`strata build --keep-failed`).
//!
//! Each container is a directory `containers/<id>/` holding the overlay
//! `upper/` and `work/` directories, and a record in the `containers_v1`
//! table (name → JSON). The record carries the whole base config, so the
//! container keeps working — and its base layers stay out of garbage
//! collection — after its image is removed.

use std::path::{Path, PathBuf};

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::meta::{decode, encode};
use super::{snapshots, Lock, Store, StoreError, StoredImage, UpperAfterCommit};
use crate::digest::Digest;
use crate::image::{now_rfc3339, ConfigChange, History, ImageConfig, Reference};

/// Container name → [`ContainerRecord`] (JSON).
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers_v1");

/// A working container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits; names the directory.
    pub id: String,
    /// The unique name users refer to it by (`busybox-working-container`).
    pub name: String,
    /// What it was made from: an image name, or the build step that failed.
    pub source: String,
    /// When it was made (RFC 3339); containers are listed oldest first.
    pub created: String,
    /// The config of the image under the writable layer.
    pub base: ImageConfig,
    /// How commands run in it by default.
    pub defaults: RunDefaults,
}

impl ContainerRecord {
    /// The first 12 digits of the ID (all of it, should a damaged record
    /// hold a shorter one).
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

/// Environment, user and working directory of commands run in a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunDefaults {
    /// `KEY=value` entries, as in an image config's `Env`.
    pub env: Vec<String>,
    /// `user[:group]`; `None` runs as root.
    pub user: Option<String>,
    /// The working directory (`/` when the image sets none).
    pub workdir: String,
}

impl RunDefaults {
    /// The defaults an image's config gives.
    pub fn of_image(config: &ImageConfig) -> RunDefaults {
        let c = &config.config;
        RunDefaults { env: c.env.clone().unwrap_or_default(), user: c.user.clone().filter(|u| !u.is_empty()), workdir: c.workdir().to_owned() }
    }
}

/// What makes a new container.
pub struct NewContainer<'a> {
    /// `None`: the first free one of `stem`, `stem-2`, ...
    pub name: Option<&'a str>,
    /// The name to number when `name` is `None` (characters outside
    /// letters, digits, `_.-` are dropped; empty becomes `container`).
    pub stem: &'a str,
    /// What it is made from, for [`ContainerRecord::source`].
    pub source: &'a str,
    /// The config of the image under the writable layer.
    pub base: ImageConfig,
    /// How commands run in it by default.
    pub defaults: RunDefaults,
    /// An existing upper directory to take over (a failed step's); `None`:
    /// a fresh, empty one.
    pub upper: Option<&'a Path>,
}

/// A container held for one command; others wait for nothing and fail.
pub struct HeldContainer {
    /// The container's record, read after the hold was taken.
    pub record: ContainerRecord,
    /// Its directory, `containers/<id>/`.
    pub dir: PathBuf,
    _lock: Lock,
}

impl Store {
    /// Creates a container; fails when the name is taken.
    pub fn create_container(&self, new: NewContainer<'_>) -> Result<ContainerRecord, StoreError> {
        let name = match new.name {
            Some(name) => validate_name(name)?.to_owned(),
            None => self.free_name(new.stem)?,
        };
        let id = Digest::of(format!("{name}\0{}\0{:?}", std::process::id(), std::time::SystemTime::now()).as_bytes()).hex();
        let staging = self.temp_dir("container")?;
        let record = ContainerRecord { id, name, source: new.source.into(), created: now_rfc3339(), base: new.base, defaults: new.defaults };
        let made = self.populate(&staging, new.upper).and_then(|()| self.place_container(&staging, &record));
        snapshots::remove_tree(&staging)?;
        made.map(|()| record)
    }

    fn populate(&self, staging: &Path, upper: Option<&Path>) -> Result<(), StoreError> {
        let (target, work) = (staging.join("upper"), staging.join("work"));
        match upper {
            Some(upper) => fs_err::rename(upper, &target).map_err(|e| StoreError::io("keep", upper, e))?,
            None => fs_err::create_dir(&target).map_err(|e| StoreError::io("create", &target, e))?,
        }
        fs_err::create_dir(&work).map_err(|e| StoreError::io("create", &work, e))
    }

    /// Moves the staged directory into place and records the container, in
    /// that order: a record never names a missing directory.
    fn place_container(&self, staging: &Path, record: &ContainerRecord) -> Result<(), StoreError> {
        let dir = self.container_dir(&record.id);
        let parent = self.root.join("containers");
        fs_err::create_dir_all(&parent).map_err(|e| StoreError::io("create", &parent, e))?;
        fs_err::rename(staging, &dir).map_err(|e| StoreError::io("create", &dir, e))?;
        let inserted = self.meta.write(|txn| {
            let mut table = txn.open_table(CONTAINERS)?;
            if table.get(record.name.as_str())?.is_some() {
                return Err(StoreError::ContainerExists(record.name.clone()));
            }
            table.insert(record.name.as_str(), encode(record).as_slice())?;
            Ok(())
        });
        if inserted.is_err() {
            // Back into tmp/, which the caller empties.
            let _ = fs_err::rename(&dir, staging);
        }
        inserted
    }

    /// `stem`, numbered when taken (Buildah's habit).
    fn free_name(&self, stem: &str) -> Result<String, StoreError> {
        let stem: String = stem.chars().filter(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c)).collect();
        let stem = if stem.is_empty() { "container".to_owned() } else { stem };
        let taken: Vec<String> = self.containers()?.into_iter().map(|c| c.name).collect();
        let name = (1..).map(|n| if n == 1 { stem.clone() } else { format!("{stem}-{n}") }).find(|candidate| !taken.contains(candidate));
        Ok(name.unwrap_or(stem))
    }

    /// The base layers of every working container, read in `txn`.
    pub(super) fn container_layers_in(&self, txn: &redb::WriteTransaction) -> Result<std::collections::BTreeSet<Digest>, StoreError> {
        let mut layers = std::collections::BTreeSet::new();
        for row in txn.open_table(CONTAINERS)?.iter()? {
            let (key, value) = row?;
            let record: ContainerRecord = decode("containers_v1", key.value(), value.value())?;
            layers.extend(record.base.rootfs.diff_ids);
        }
        Ok(layers)
    }

    /// Every container, oldest first.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>, StoreError> {
        let mut records = self.meta.read(|txn| {
            let table = match txn.open_table(CONTAINERS) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut records = Vec::new();
            for row in table.iter()? {
                let (key, value) = row?;
                let record: ContainerRecord = decode("containers_v1", key.value(), value.value())?;
                // The ID names a directory under containers/: never a path.
                if Digest::from_hex(&record.id).is_err() {
                    let reason = format!("container ID {:?} is not 64 hex digits", record.id);
                    return Err(StoreError::BadRecord { table: "containers_v1".into(), key: key.value().into(), reason });
                }
                records.push(record);
            }
            Ok(records)
        })?;
        records.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
        Ok(records)
    }

    /// A container by name, or by a unique prefix (4+ digits) of its ID.
    pub fn container(&self, name: &str) -> Result<ContainerRecord, StoreError> {
        let all = self.containers()?;
        if let Some(found) = all.iter().find(|c| c.name == name) {
            return Ok(found.clone());
        }
        let matches: Vec<_> = all.iter().filter(|c| name.len() >= 4 && c.id.starts_with(name)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StoreError::NoSuchContainer(name.into())),
            many => Err(StoreError::Ambiguous { name: name.into(), count: many.len() }),
        }
    }

    /// Takes `name` for one command (run, commit, rm); fails at once when
    /// another command holds it, rather than stacking two mounts on one
    /// upper directory.
    pub fn hold_container(&self, name: &str) -> Result<HeldContainer, StoreError> {
        let record = self.container(name)?;
        let lock_path = self.root.join("locks").join(format!("container-{}", record.id));
        let lock = Lock::try_exclusive(&lock_path)?.ok_or_else(|| StoreError::ContainerBusy(record.name.clone()))?;
        // It may have been removed while we waited for nothing.
        let record = self.container(&record.name)?;
        Ok(HeldContainer { dir: self.container_dir(&record.id), record, _lock: lock })
    }

    /// Removes a container and its changes.
    pub fn remove_container(&self, name: &str) -> Result<ContainerRecord, StoreError> {
        let held = self.hold_container(name)?;
        self.meta.write(|txn| {
            txn.open_table(CONTAINERS)?.remove(held.record.name.as_str())?;
            Ok(())
        })?;
        let doomed = self.temp_dir("doomed")?;
        let moved = doomed.join("container");
        fs_err::rename(&held.dir, &moved).map_err(|e| StoreError::io("remove", &held.dir, e))?;
        snapshots::remove_tree(&doomed)?;
        let _ = fs_err::remove_file(self.root.join("locks").join(format!("container-{}", held.record.id)));
        Ok(held.record)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }
}

impl HeldContainer {
    /// The overlay upper directory: every change made in the container.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
}

/// What `strata commit` adds to the container's changes.
#[derive(Debug, Default)]
pub struct CommitOptions {
    /// The tag to point at the new image; `None` leaves it untagged.
    pub tag: Option<Reference>,
    /// `--message`: the new history entry's comment.
    pub message: Option<String>,
    /// `--author`: the config's and the history entry's author; `None`
    /// keeps the base image's author.
    pub author: Option<String>,
    /// `--change` edits (`CMD`, `ENV`, ...) applied to the config, in order.
    pub changes: Vec<ConfigChange>,
}

impl Store {
    /// Makes an image of a container: its base image plus one layer with
    /// every change made in it so far (as `docker commit` does; the
    /// container itself goes on unchanged).
    pub fn commit_container(&self, held: &HeldContainer, options: &CommitOptions) -> Result<StoredImage, StoreError> {
        let mut layers = self.image_layers(&held.record.base.rootfs.diff_ids)?;
        let mut config = held.record.base.clone();
        let created = now_rfc3339();
        config.created = Some(created.clone());
        if options.author.is_some() {
            config.author = options.author.clone();
        }
        for change in &options.changes {
            change.apply(&mut config.config);
        }
        let history = History {
            created: Some(created),
            created_by: Some(format!("strata commit {}", held.record.name)),
            author: options.author.clone(),
            comment: options.message.clone(),
            empty_layer: false,
        };
        match self.commit_layer(&held.upper(), UpperAfterCommit::Keep)? {
            Some(layer) => {
                config.push_layer(layer.0, history);
                layers.push(layer);
            }
            None => config.push_empty_layer(history),
        }
        self.commit_image(&config, &layers, options.tag.as_ref())
    }
}

/// The name stem of a container made from `image`:
/// `<image>-working-container`, as Buildah names them.
pub fn working_container_stem(image: &str) -> String {
    let base = image.rsplit('/').next().unwrap_or(image);
    format!("{}-working-container", base.split([':', '@']).next().unwrap_or(base))
}

fn validate_name(name: &str) -> Result<&str, StoreError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) && name.len() <= 128 {
        Ok(name)
    } else {
        Err(StoreError::BadContainerName(name.into()))
    }
}
