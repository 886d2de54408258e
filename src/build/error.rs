//! Why a build failed, typed where it happened; the CLI renders these
//! (parse and plan errors located in the Dockerfile's text).

use std::path::PathBuf;

/// Why [`super::build`] or [`super::plan_only`] failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// The Dockerfile cannot be read.
    #[error("cannot read {}", path.display())]
    ReadDockerfile {
        /// The path as given (`-f`), or `<context>/Dockerfile`.
        path: PathBuf,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The Dockerfile does not parse; `text` is what was parsed.
    #[error("{name}: {error}")]
    Parse {
        /// The Dockerfile's path, for the message.
        name: String,
        /// The Dockerfile's text, to show the error in place.
        text: String,
        /// What the parser refused.
        error: Box<crate::syntax::ParseError>,
    },
    /// The Dockerfile parses but cannot be planned.
    #[error("{name}: {error}")]
    Plan {
        /// The Dockerfile's path, for the message.
        name: String,
        /// The Dockerfile's text, to show the error in place.
        text: String,
        /// What planning refused.
        error: Box<crate::plan::PlanError>,
    },
    /// The context cannot be opened (its `.dockerignore`, a walk error).
    #[error("{0}")]
    Context(#[from] crate::context::ContextError),
    /// A base image is neither in the store nor pullable.
    #[error("image {image}: {cause}")]
    BaseImage {
        /// The image as the Dockerfile names it.
        image: String,
        /// Why the fetch failed (in the message, so not a `source` too).
        cause: crate::solve::FetchError,
    },
    /// The build checks could not run (a bad `# check=` directive or
    /// `BUILDKIT_DOCKERFILE_CHECK` value).
    #[error(transparent)]
    Lint(#[from] crate::lint::LintError),
    /// `# check=error=true` and a check fired: nothing was built.
    #[error("{} build check warning(s) with error=true in {}", .0.report.warnings().count(), .0.name)]
    ChecksFailed(Box<super::Checked>),
    /// The signal handlers that stop a build cleanly cannot be installed.
    #[error("cannot watch for Ctrl-C")]
    Signals(#[source] std::io::Error),
    /// SIGINT or SIGTERM stopped the build; nothing was committed.
    #[error("build interrupted")]
    Interrupted,
    /// A step of the build failed.
    #[error(transparent)]
    Solve(#[from] crate::solve::SolveError),
    /// The local store failed outside any step (e.g. unpacking a context archive).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A registry or cache location failed (`--cache-from`, `--cache-to`, credentials).
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// Exporting the built image (tag, `--output`, push) failed.
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
}
