//! Why a build failed, typed where it happened; the CLI renders these
//! (parse and plan errors located in the Dockerfile's text).

use std::path::PathBuf;

/// Why [`super::build`] or [`super::plan_only`] failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// The Dockerfile cannot be read.
    #[error("cannot read {}", path.display())]
    ReadDockerfile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The Dockerfile does not parse; `text` is what was parsed.
    #[error("{name}: {error}")]
    Parse { name: String, text: String, error: Box<crate::syntax::ParseError> },
    /// The Dockerfile parses but cannot be planned.
    #[error("{name}: {error}")]
    Plan { name: String, text: String, error: Box<crate::plan::PlanError> },
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
    #[error(transparent)]
    Solve(#[from] crate::solve::SolveError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
}
