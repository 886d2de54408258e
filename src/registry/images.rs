//! Base images from registries: the [`crate::solve::ImageFetcher`] that
//! `build` (FROM, `COPY --from=IMAGE`) and `run` use to pull an image the
//! store lacks (or, with `--pull`, may have an older copy of), and the
//! registry settings every command shares.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::{ClientOptions, DockerConfig, NoProgress, PlatformChoice, PullOptions, RegistryError, TransferProgress};
use crate::image::{Platform, Reference};
use crate::store::Store;

/// How strata reaches registries: which ones speak plain HTTP; credentials
/// come from Docker's config, read when a client is made.
#[derive(Debug, Clone, Default)]
pub struct RegistryAccess {
    /// `host[:port]` names talked to over plain HTTP (loopback always is).
    pub insecure: Vec<String>,
}

impl RegistryAccess {
    /// Client options for `registry`, with the credentials Docker's config holds for it.
    pub fn client_options(&self, registry: &str) -> Result<ClientOptions, RegistryError> {
        let config = DockerConfig::load(&DockerConfig::default_path())?;
        let credentials = config.get(registry)?;
        Ok(ClientOptions { insecure: self.insecure.clone(), credentials })
    }
}

/// Base images pulled when missing from the store (or always, with
/// `always`), each name at most once per fetcher.
pub struct RegistryImages<'a> {
    store: &'a Store,
    access: RegistryAccess,
    always: bool,
    quiet: bool,
    progress: Box<dyn TransferProgress + 'a>,
    done: Mutex<BTreeSet<String>>,
}

impl<'a> RegistryImages<'a> {
    /// A fetcher into `store`; unless `quiet`, each pull is announced on stderr.
    pub fn new(store: &'a Store, access: impl Into<RegistryAccess>, always: bool, quiet: bool) -> RegistryImages<'a> {
        RegistryImages { store, access: access.into(), always, quiet, progress: Box::new(NoProgress), done: Mutex::default() }
    }

    /// Where the pulls' transfer events go (by default nowhere).
    pub fn with_progress(mut self, progress: impl TransferProgress + 'a) -> RegistryImages<'a> {
        self.progress = Box::new(progress);
        self
    }

    /// Pulls `reference` for `platform` unless the store has a current copy.
    fn fetch_for(&self, name: &str, reference: &Reference, platform: &Platform) -> Result<(), RegistryError> {
        let present = self.store.has_platform(name, platform);
        if present && (!self.always || reference.digest.is_some()) {
            return Ok(());
        }
        let choice = PlatformChoice { os: platform.os.clone(), architecture: platform.architecture.clone(), variant: platform.variant.clone() };
        let options = PullOptions {
            client: self.access.client_options(&reference.registry)?,
            platform: choice.clone(),
            platform_asked: Some(choice),
            ..PullOptions::default()
        };
        if !self.quiet {
            eprintln!("pulling {} for {platform}", reference.familiar());
        }
        super::pull(self.store, reference, &options, self.progress.as_ref())?;
        Ok(())
    }

    /// Pulls `reference` unless the store has a current copy.
    fn fetch(&self, name: &str, reference: &Reference) -> Result<(), RegistryError> {
        let present = self.store.resolve(name).is_ok();
        // A digest pins the content: present is current, even with --pull.
        if present && (!self.always || reference.digest.is_some()) {
            return Ok(());
        }
        let options = PullOptions { client: self.access.client_options(&reference.registry)?, ..PullOptions::default() };
        if !self.quiet {
            eprintln!("pulling {}", reference.familiar());
        }
        super::pull(self.store, reference, &options, self.progress.as_ref())?;
        Ok(())
    }
}

impl crate::solve::ImageFetcher for RegistryImages<'_> {
    fn ensure(&self, name: &str) -> Result<(), crate::solve::FetchError> {
        // Not a reference (a stage name, an ID): nothing a registry could give.
        let Ok(reference) = name.parse::<Reference>() else { return Ok(()) };
        let key = reference.to_string();
        if self.done.lock().map(|done| done.contains(&key)).unwrap_or(false) {
            return Ok(());
        }
        self.fetch(name, &reference).map_err(|e| crate::solve::FetchError::Registry(Box::new(e)))?;
        if let Ok(mut done) = self.done.lock() {
            done.insert(key);
        }
        Ok(())
    }

    /// A stage for another platform than this machine's needs the name's
    /// image for that platform: taken from the store when it holds one,
    /// else pulled from the registry's index. When the registry cannot
    /// give it but the store holds the name for another platform, planning
    /// reports that mismatch (naming `strata pull --platform`), which says
    /// more than an unreachable registry.
    fn ensure_for(&self, name: &str, platform: &Platform) -> Result<(), crate::solve::FetchError> {
        if platform.is_host() {
            return self.ensure(name);
        }
        let Ok(reference) = name.parse::<Reference>() else { return Ok(()) };
        let key = format!("{reference}\n{platform}");
        if self.done.lock().map(|done| done.contains(&key)).unwrap_or(false) {
            return Ok(());
        }
        if let Err(error) = self.fetch_for(name, &reference, platform) {
            if self.store.resolve(name).is_err() {
                return Err(crate::solve::FetchError::Registry(Box::new(error)));
            }
        }
        // Tried once per build, whatever came of it: every stage of the
        // platform asks, and a registry that failed would fail again.
        if let Ok(mut done) = self.done.lock() {
            done.insert(key);
        }
        Ok(())
    }
}
