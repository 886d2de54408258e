//! Progress of a multi-platform build: each platform's solver numbers its
//! steps from 1, so its events go through a [`PlatformSteps`] that gives
//! them build-wide numbers and names the platform in every step's title,
//! as BuildKit does (`#5 [linux/arm64 build 2/4] RUN …`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::{Event, Progress};

/// One platform's view of a build-wide progress sink.
pub struct PlatformSteps<'a> {
    inner: &'a dyn Progress,
    next: &'a AtomicUsize,
    /// The platform each stage builds for, by the label its steps carry
    /// (`build`, `stage-2`): a `$BUILDPLATFORM` stage shows the build's
    /// platform, as in BuildKit.
    stages: HashMap<String, String>,
    /// The target platform, for a stage the map does not name.
    target: String,
    ids: Mutex<HashMap<usize, usize>>,
    /// Build-wide warnings (unused build args) are the same for every
    /// platform: only one view passes them on.
    warnings: bool,
}

impl<'a> PlatformSteps<'a> {
    /// Events of the build for `target` go to `inner`, numbered from `next`
    /// (shared by every platform's view); `stages` maps stage labels to their platform.
    pub fn new(inner: &'a dyn Progress, next: &'a AtomicUsize, target: String, stages: HashMap<String, String>) -> PlatformSteps<'a> {
        PlatformSteps { inner, next, stages, target, ids: Mutex::new(HashMap::new()), warnings: true }
    }

    /// Leaves out build-wide warnings (another platform's view shows them).
    pub fn without_warnings(mut self) -> PlatformSteps<'a> {
        self.warnings = false;
        self
    }

    /// `[build 2/4] RUN …` → `[linux/arm64 build 2/4] RUN …`.
    fn title(&self, name: &str) -> String {
        let Some(rest) = name.strip_prefix('[') else { return format!("[{}] {name}", self.target) };
        let label = rest.split(' ').next().unwrap_or_default();
        let platform = self.stages.get(label).unwrap_or(&self.target);
        format!("[{platform} {rest}")
    }

    fn global(&self, id: usize) -> usize {
        let ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        // An event for a step never started (cannot happen) keeps its number.
        ids.get(&id).copied().unwrap_or(id)
    }
}

impl Progress for PlatformSteps<'_> {
    fn event(&self, event: Event) {
        let event = match event {
            Event::Started { id, name } => {
                let global = self.next.fetch_add(1, Ordering::Relaxed);
                self.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(id, global);
                Event::Started { id: global, name: self.title(&name) }
            }
            Event::Cached { id } => Event::Cached { id: self.global(id) },
            Event::Miss { id, reasons } => Event::Miss { id: self.global(id), reasons },
            Event::Log { id, line } => Event::Log { id: self.global(id), line },
            Event::Done { id, duration } => Event::Done { id: self.global(id), duration },
            Event::Resources { id, peak_memory, cpu_time } => Event::Resources { id: self.global(id), peak_memory, cpu_time },
            Event::Error { id, message } => Event::Error { id: self.global(id), message },
            Event::Warning { .. } if !self.warnings => return,
            Event::Warning { message } => Event::Warning { message },
        };
        self.inner.event(event);
    }

    /// The build as a whole finishes once, not once per platform.
    fn finish(&self, _total: Duration) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Recorded(Mutex<Vec<Event>>);

    impl Progress for Recorded {
        fn event(&self, event: Event) {
            self.0.lock().unwrap().push(event);
        }
    }

    #[test]
    fn steps_get_build_wide_numbers_and_their_stage_platform() {
        let sink = Recorded(Mutex::new(Vec::new()));
        let next = AtomicUsize::new(1);
        let stages: HashMap<String, String> = [("build".to_owned(), "linux/amd64".to_owned())].into();
        let amd = PlatformSteps::new(&sink, &next, "linux/amd64".into(), stages.clone());
        let arm = PlatformSteps::new(&sink, &next, "linux/arm64".into(), stages).without_warnings();
        amd.event(Event::Started { id: 1, name: "[build 1/1] RUN make".into() });
        arm.event(Event::Started { id: 1, name: "[build 1/1] RUN make".into() });
        arm.event(Event::Started { id: 2, name: "[stage-1 1/2] COPY --from=build /out /out".into() });
        arm.event(Event::Cached { id: 1 });
        arm.event(Event::Warning { message: "unused".into() });
        amd.event(Event::Warning { message: "unused".into() });
        let shown: Vec<String> = sink.0.lock().unwrap().iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        assert_eq!(
            shown,
            [
                r#"{"event":"started","id":1,"name":"[linux/amd64 build 1/1] RUN make"}"#,
                r#"{"event":"started","id":2,"name":"[linux/amd64 build 1/1] RUN make"}"#,
                r#"{"event":"started","id":3,"name":"[linux/arm64 stage-1 1/2] COPY --from=build /out /out"}"#,
                r#"{"event":"cached","id":2}"#,
                r#"{"event":"warning","message":"unused"}"#,
            ]
        );
    }
}
