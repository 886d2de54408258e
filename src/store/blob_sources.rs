//! Where blobs are known to be: the repositories (`registry/repository`)
//! a blob was pulled from or pushed to, so a push to another repository of
//! the same registry can mount a blob instead of uploading it.

use redb::{TableDefinition, TableHandle};

use super::meta::{decode, encode};
use super::{Store, StoreError};
use crate::digest::Digest;

/// Blob digest → the `registry/repository` names it is known in (JSON list).
const SOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("blob_sources_v1");

impl Store {
    /// Remembers that `blobs` are in the repository `name` (`registry/repo`).
    pub fn add_blob_source(&self, blobs: &[Digest], name: &str) -> Result<(), StoreError> {
        let known: Vec<(Digest, Vec<String>)> = blobs.iter().map(|d| Ok((*d, self.blob_sources(d)?))).collect::<Result<_, StoreError>>()?;
        self.meta.write(|txn| {
            let mut table = txn.open_table(SOURCES)?;
            for (digest, mut names) in known {
                if names.iter().any(|n| n == name) {
                    continue;
                }
                names.push(name.to_owned());
                table.insert(digest.to_string().as_str(), encode(&names).as_slice())?;
            }
            Ok(())
        })
    }

    /// The repositories (`registry/repo`) `blob` is known to be in.
    pub fn blob_sources(&self, blob: &Digest) -> Result<Vec<String>, StoreError> {
        Ok(self.read_json(SOURCES, &blob.to_string())?.unwrap_or_default())
    }

    fn read_json<T: for<'de> serde::Deserialize<'de>>(&self, table: TableDefinition<&str, &[u8]>, key: &str) -> Result<Option<T>, StoreError> {
        self.meta.read(|txn| {
            let name = table.name().to_owned();
            let table = match txn.open_table(table) {
                Ok(table) => table,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            match table.get(key)? {
                Some(value) => Ok(Some(decode(&name, key, value.value())?)),
                None => Ok(None),
            }
        })
    }
}
