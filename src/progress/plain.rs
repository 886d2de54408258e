//! BuildKit's plain progress format, for CI logs:
//!
//! ```text
//! #3 [build 2/4] COPY src /app
//! #3 DONE 0.3s
//! #4 [build 3/4] RUN make
//! #4 0.512 compiling...
//! #4 CACHED
//! ```

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Event, Progress};

/// Renders events as BuildKit's plain progress (`--progress=plain`), one
/// line per event, log lines prefixed with seconds since the step started.
pub struct PlainRenderer<W: Write + Send> {
    out: Mutex<W>,
    started: Mutex<Vec<(usize, Instant)>>,
}

impl<W: Write + Send> PlainRenderer<W> {
    /// A renderer writing to `out`.
    pub fn new(out: W) -> Self {
        PlainRenderer { out: Mutex::new(out), started: Mutex::new(Vec::new()) }
    }

    fn since_start(&self, id: usize) -> Duration {
        let started = self.started.lock().map(|s| s.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)).ok().flatten();
        started.map_or(Duration::ZERO, |t| t.elapsed())
    }
}

impl<W: Write + Send> Progress for PlainRenderer<W> {
    fn event(&self, event: Event) {
        let line = match &event {
            Event::Started { id, name } => {
                if let Ok(mut started) = self.started.lock() {
                    started.push((*id, Instant::now()));
                }
                format!("#{id} {name}")
            }
            Event::Cached { id } => format!("#{id} CACHED"),
            Event::Miss { id, reasons } => format!("#{id} MISS: {}", reasons.join("; ")),
            Event::Log { id, line } => format!("#{id} {:.3} {line}", self.since_start(*id).as_secs_f64()),
            Event::Done { id, duration } => format!("#{id} DONE {:.1}s", duration.as_secs_f64()),
            Event::Resources { id, peak_memory, cpu_time } => {
                format!("#{id} {}", super::describe_resources(*peak_memory, *cpu_time))
            }
            Event::Error { id, message } => format!("#{id} ERROR: {message}"),
            Event::Warning { message } => format!("WARNING: {message}"),
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
        }
    }

    fn finish(&self, total: Duration) {
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "DONE {:.1}s", total.as_secs_f64());
        }
    }
}
