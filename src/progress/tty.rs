//! The live view on a terminal: one line per step with a spinner while it
//! runs, then `CACHED` or its duration; the running steps' last log lines
//! below; a total at the end (indicatif).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, Progress};

/// Renders events as a live view on standard error (`--progress=tty`, or
/// `auto` when standard error is a terminal).
pub struct TtyRenderer {
    bars: MultiProgress,
    steps: Mutex<HashMap<usize, ProgressBar>>,
}

impl Default for TtyRenderer {
    fn default() -> Self {
        TtyRenderer::new()
    }
}

impl TtyRenderer {
    /// A renderer drawing on standard error.
    pub fn new() -> TtyRenderer {
        TtyRenderer { bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()), steps: Mutex::default() }
    }

    fn bar(&self, id: usize) -> Option<ProgressBar> {
        self.steps.lock().ok()?.get(&id).cloned()
    }
}

fn running_style() -> ProgressStyle {
    ProgressStyle::with_template(" {spinner:.cyan} {prefix:>4} {msg} {elapsed:.dim}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn finished_style() -> ProgressStyle {
    ProgressStyle::with_template(" {prefix:>6} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Progress for TtyRenderer {
    fn event(&self, event: Event) {
        match event {
            Event::Started { id, name } => {
                let bar = self.bars.add(ProgressBar::new_spinner());
                bar.set_style(running_style());
                bar.set_prefix(format!("#{id}"));
                bar.set_message(name);
                bar.enable_steady_tick(Duration::from_millis(100));
                if let Ok(mut steps) = self.steps.lock() {
                    steps.insert(id, bar);
                }
            }
            Event::Cached { id } => {
                if let Some(bar) = self.bar(id) {
                    bar.set_style(finished_style());
                    bar.set_prefix("CACHED");
                    bar.finish();
                }
            }
            Event::Done { id, duration } => {
                if let Some(bar) = self.bar(id) {
                    bar.set_style(finished_style());
                    bar.set_prefix(format!("{:.1}s", duration.as_secs_f64()));
                    bar.finish();
                }
            }
            Event::Error { id, message } => {
                if let Some(bar) = self.bar(id) {
                    bar.set_style(finished_style());
                    bar.set_prefix("ERROR");
                    bar.finish();
                }
                let _ = self.bars.println(format!("ERROR: {message}"));
            }
            Event::Log { line, .. } => {
                let _ = self.bars.println(format!("       {line}"));
            }
            Event::Resources { id, peak_memory, cpu_time } => {
                if let Some(bar) = self.bar(id) {
                    bar.set_message(format!("{} ({})", bar.message(), super::describe_resources(peak_memory, cpu_time)));
                }
            }
            Event::Miss { id, reasons } => {
                let _ = self.bars.println(format!("  #{id} MISS: {}", reasons.join("; ")));
            }
            Event::Warning { message } => {
                let _ = self.bars.println(format!("WARNING: {message}"));
            }
        }
    }

    fn finish(&self, total: Duration) {
        let _ = self.bars.println(format!(" FINISHED in {:.1}s", total.as_secs_f64()));
    }
}
