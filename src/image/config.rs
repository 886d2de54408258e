//! The image configuration document, in Docker's schema: a superset of the
//! OCI image config that also carries Docker's `Healthcheck`, `OnBuild` and
//! `Shell`. strata keeps its own type because oci-spec's `Config` has no
//! fields for those three (they would be dropped on load) and stores labels
//! in a `HashMap` (unstable digests). Unknown fields of foreign images are
//! kept in `extra` so loading and saving never loses data.
//!
//! See: OCI image spec `config.md`; Docker image spec v1.2.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::digest::Digest;

/// BuildKit's default `PATH` (`system.DefaultPathEnv`): what a `FROM scratch`
/// stage gets, and what is added to a base image's environment without one.
/// (`exec` keeps the same value for containers; it may not depend on `image`.)
pub const DEFAULT_PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Reads `null` as the type's default: Docker's Go types write nil slices
/// and structs as `null` (`"history": null`, `"Test": null`), which Docker
/// reads as empty.
fn null_as_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An empty JSON object, the value type of `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The whole config document (its digest is the image ID).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// When the image was made, an RFC 3339 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The `MAINTAINER` given, if any (the instruction is deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The GOARCH name of the platform: `amd64`, `arm64`...
    pub architecture: String,
    /// The GOOS name of the platform: `linux`.
    pub os: String,
    /// The CPU variant (`v7` for `arm/v7`, `v8` for `arm64/v8`); absent when none applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The `config` object: how containers from the image run.
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
    /// The layers' uncompressed digests.
    pub rootfs: RootFs,
    /// One entry per instruction that made the image, oldest first.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Fields strata does not model, kept as read so a config round-trips unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The execution defaults of a container started from the image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// `USER`: `user[:group]`, names or numbers; absent means root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `EXPOSE`: keys `port/proto` (see [`port_keys`](super::change::port_keys)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// `ENV`: `KEY=value` entries, in the order first set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// `ENTRYPOINT` as an argv (shell form already wrapped in the shell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `CMD` as an argv (shell form already wrapped in the shell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `VOLUME`: keys are the container paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    /// `WORKDIR`, absolute; absent or empty means `/` (see [`ContainerConfig::workdir`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `LABEL`s; later values replace earlier ones for the same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// `STOPSIGNAL` as written (`SIGTERM`, `9`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `HEALTHCHECK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// `ONBUILD` triggers, each an instruction as written, run by builds that use this image as a base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// `SHELL`: the argv prefix shell-form instructions run with; absent means `["/bin/sh", "-c"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Fields strata does not model (`ArgsEscaped`, `Domainname`...), kept as read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ContainerConfig {
    /// The working directory a step starts in: `/` when the image names
    /// none, including the empty string Docker's classic builder,
    /// `docker import` and `docker commit` write.
    pub fn workdir(&self) -> &str {
        self.working_dir.as_deref().filter(|w| !w.is_empty()).unwrap_or("/")
    }
}

/// Docker's `Healthcheck` field; durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", script]`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub test: Vec<String>,
    /// `--interval` in nanoseconds; absent or 0: Docker's default (30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// `--timeout` in nanoseconds; absent or 0: Docker's default (30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// `--start-period` in nanoseconds; absent or 0: Docker's default (0s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u64>,
    /// `--start-interval` in nanoseconds; absent or 0: Docker's default (5s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<u64>,
    /// `--retries`; absent or 0: Docker's default (3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

/// `rootfs`: the uncompressed digests of the layers, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// The JSON `type`; always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The uncompressed (tar) digest of each layer, bottom first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs { kind: "layers".into(), diff_ids: Vec::new() }
    }
}

/// One history entry; `empty_layer` entries have no layer in `rootfs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction as Docker shows it (`RUN /bin/sh -c ...`, `COPY file:... in /`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// The `MAINTAINER` at the time, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// A free note: `buildkit.dockerfile.v0` for build steps, the `--message` of an import or commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The step made no layer (metadata-only instructions such as ENV).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

impl ImageConfig {
    /// A config for an image with no layers, for this machine's platform.
    pub fn empty(created: &str) -> ImageConfig {
        ImageConfig { created: Some(created.to_owned()), architecture: host_architecture().to_owned(), os: "linux".into(), ..ImageConfig::default() }
    }

    /// The config a `FROM scratch` stage starts from, as BuildKit makes it:
    /// this machine's platform, working directory `/` and the default `PATH`.
    pub fn scratch(created: &str) -> ImageConfig {
        let mut config = ImageConfig::empty(created);
        config.config.working_dir = Some("/".into());
        config.config.env = Some(vec![DEFAULT_PATH_ENV.into()]);
        config
    }

    /// A base image's config as a build stage starts from it: BuildKit makes
    /// sure `PATH` is set (an image without one, e.g. from `docker import`,
    /// gets the default appended, `Env: null` included).
    pub fn as_stage_base(mut self) -> ImageConfig {
        let env = self.config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == "PATH") {
            env.push(DEFAULT_PATH_ENV.into());
        }
        self
    }

    /// Gives history entries without a time one, as BuildKit's exporter
    /// does: entries before the first new layer take that layer's time,
    /// later ones the time of the layer before them; `fallback` when no
    /// entry has a time at all.
    ///
    /// See: moby/buildkit `exporter/containerimage/writer.go`,
    /// `normalizeLayersAndHistory`.
    pub fn fill_history_times(&mut self, fallback: &str) {
        let mut first_new: Option<String> = None;
        let mut seen_untimed = false;
        for entry in &self.history {
            match &entry.created {
                Some(time) => {
                    first_new = Some(time.clone());
                    if seen_untimed {
                        break;
                    }
                }
                None => seen_untimed = true,
            }
        }
        let mut current = first_new.unwrap_or_else(|| fallback.to_owned());
        let mut seen_untimed = false;
        for entry in &mut self.history {
            match &entry.created {
                Some(time) if seen_untimed => current = time.clone(),
                Some(_) => {}
                None => {
                    seen_untimed = true;
                    entry.created = Some(current.clone());
                }
            }
        }
    }

    /// The config's canonical bytes (sorted keys, no spaces): what is hashed.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        super::canonical_json(self)
    }

    /// Appends a layer with its history entry.
    pub fn push_layer(&mut self, diff_id: Digest, history: History) {
        self.rootfs.diff_ids.push(diff_id);
        self.history.push(History { empty_layer: false, ..history });
    }

    /// Appends a history entry for a step that changed only the config.
    pub fn push_empty_layer(&mut self, history: History) {
        self.history.push(History { empty_layer: true, ..history });
    }
}

/// The OCI architecture name of this machine (`amd64`, `arm64`, ...).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// Now, as RFC 3339 UTC with seconds (what `created` fields hold), or the
/// `SOURCE_DATE_EPOCH` time when that is set, for reproducible images.
pub fn now_rfc3339() -> String {
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap_or_else(std::time::SystemTime::now);
    humantime::format_rfc3339_seconds(time).to_string()
}
