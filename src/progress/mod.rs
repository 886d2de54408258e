//! Build progress: the events a build emits and the renderers that show
//! them — a live view on a terminal (indicatif), BuildKit's plain log for
//! CI, one JSON object per line for tools. Events flow out; nothing flows
//! back into the build.

mod plain;
mod platforms;
mod tty;

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

pub use plain::PlainRenderer;
pub use platforms::PlatformSteps;
pub use tty::TtyRenderer;

/// Something that happened in a build. `id` numbers steps in start order,
/// as BuildKit's `#N` does.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step began; `name` is `[stage 2/4] COPY src /app`.
    Started {
        /// The step's number, from 1 in start order.
        id: usize,
        /// The step's title: stage, position and instruction text.
        name: String,
    },
    /// A step was found in the cache.
    Cached {
        /// The step's number.
        id: usize,
    },
    /// Why a step missed the cache (`--explain`).
    Miss {
        /// The step's number.
        id: usize,
        /// One sentence per input that differs from the nearest cached run.
        reasons: Vec<String>,
    },
    /// A line of output of a running step.
    Log {
        /// The step's number.
        id: usize,
        /// The line, without its line ending.
        line: String,
    },
    /// A step finished.
    Done {
        /// The step's number.
        id: usize,
        /// Wall-clock time since it started (JSON: seconds, to the millisecond).
        #[serde(serialize_with = "seconds")]
        duration: Duration,
    },
    /// What a RUN step used (from its cgroup).
    Resources {
        /// The step's number.
        id: usize,
        /// The cgroup's peak memory use in bytes; `None` when the kernel does
        /// not report it.
        peak_memory: Option<u64>,
        /// CPU time (user + system) of all its processes; `None` when not
        /// known (JSON: seconds, to the millisecond).
        #[serde(serialize_with = "optional_seconds")]
        cpu_time: Option<Duration>,
    },
    /// A step failed.
    Error {
        /// The step's number.
        id: usize,
        /// The error, rendered as one line.
        message: String,
    },
    /// A warning about the build as a whole (unused build args, ...).
    Warning {
        /// The warning's text.
        message: String,
    },
}

fn optional_seconds<S: serde::Serializer>(duration: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => seconds(duration, serializer),
        None => serializer.serialize_none(),
    }
}

/// `peak memory 12.3 MiB, cpu 1.52s` (what is known of it).
pub fn describe_resources(peak_memory: Option<u64>, cpu_time: Option<Duration>) -> String {
    let mut parts = Vec::new();
    if let Some(bytes) = peak_memory {
        parts.push(format!("peak memory {:.1} MiB", bytes as f64 / (1u64 << 20) as f64));
    }
    if let Some(cpu) = cpu_time {
        parts.push(format!("cpu {:.2}s", cpu.as_secs_f64()));
    }
    parts.join(", ")
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Where events go. Implementations must be cheap: builds call this from
/// their worker threads.
pub trait Progress: Send + Sync {
    /// Shows (or records) one event; called in the order events happen.
    fn event(&self, event: Event);
    /// Called once when the build ends, to finish the display.
    fn finish(&self, _total: Duration) {}
}

/// One JSON object per line on the given writer, with a timestamp.
pub struct JsonRenderer<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonRenderer<W> {
    /// A renderer writing to `out` (standard output for `--progress=json`).
    pub fn new(out: W) -> Self {
        JsonRenderer { out: Mutex::new(out) }
    }
}

impl<W: Write + Send> Progress for JsonRenderer<W> {
    fn event(&self, event: Event) {
        let mut value = serde_json::to_value(&event).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("time".into(), humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string().into());
        }
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{value}");
        }
    }
}

/// Discards events (`-q`).
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _event: Event) {}
}
