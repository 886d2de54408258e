//! strata's own rules for reproducible, lean images: ADD of a URL without
//! a checksum, apt-get without cleanup or with recommended packages (the
//! rules hadolint users hit most), and base images without a digest.

use super::input::{flag, located_words};
use super::{Findings, Input, Level, Rule};
use crate::syntax::{Args, Node};

pub const ADD_URL_WITHOUT_CHECKSUM: Rule = Rule {
    name: "AddUrlWithoutChecksum",
    description: "ADD of a URL should pin its content with --checksum",
    url: "https://docs.docker.com/reference/dockerfile/#add---checksum",
    level: Level::Warning,
    experimental: false,
    buildkit: false,
    check: add_url_without_checksum,
};

fn add_url_without_checksum(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes().filter(|n| n.keyword == "add" && flag(n, "checksum").is_none()) {
        let words = located_words(input, node);
        for source in words.iter().take(words.len().saturating_sub(1)) {
            let text = source.text.trim_matches('"');
            if (text.starts_with("http://") || text.starts_with("https://")) && !text.ends_with(".git") {
                let message = format!("ADD of {text} without --checksum: the download is neither verified nor reproducible");
                out.push(source.span, message, "add `--checksum=sha256:<digest of the file>`");
            }
        }
    }
}

/// The shell text of a RUN: its command and its heredoc bodies.
fn run_script(node: &Node) -> Option<String> {
    if node.keyword != "run" {
        return None;
    }
    let mut script = match &node.args {
        Args::Shell(s) => s.clone(),
        Args::Json(words) => words.join(" "),
        _ => String::new(),
    };
    for heredoc in &node.heredocs {
        script.push('\n');
        script.push_str(&heredoc.content);
    }
    Some(script)
}

fn installs_with_apt(script: &str) -> bool {
    script.contains("apt-get install") || script.contains("apt install") || script.contains("apt-get -y install") || script.contains("apt-get -yq install")
}

/// A cache mount on the apt lists or archives keeps them out of the layer.
fn caches_apt(node: &Node) -> bool {
    node.flags.iter().any(|f| f.text.starts_with("--mount=") && f.text.contains("type=cache") && f.text.contains("/var/lib/apt"))
}

pub const APT_WITHOUT_CLEANUP: Rule = Rule {
    name: "AptWithoutCleanup",
    description: "apt-get install should remove /var/lib/apt/lists in the same RUN",
    url: "https://docs.docker.com/build/building/best-practices/#apt-get",
    level: Level::Warning,
    experimental: false,
    buildkit: false,
    check: apt_without_cleanup,
};

fn apt_without_cleanup(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes() {
        let Some(script) = run_script(node) else { continue };
        if installs_with_apt(&script) && !script.contains("/var/lib/apt/lists") && !caches_apt(node) {
            let message = "apt-get install without removing /var/lib/apt/lists: the package lists stay in the layer".to_owned();
            out.push(node.keyword_span, message, "end the RUN with `&& rm -rf /var/lib/apt/lists/*`, or cache-mount /var/lib/apt");
        }
    }
}

pub const NO_INSTALL_RECOMMENDS: Rule = Rule {
    name: "NoInstallRecommends",
    description: "apt-get install should use --no-install-recommends",
    url: "https://docs.docker.com/build/building/best-practices/#apt-get",
    level: Level::Warning,
    experimental: false,
    buildkit: false,
    check: no_install_recommends,
};

fn no_install_recommends(input: &Input<'_>, out: &mut Findings<'_>) {
    for node in input.nodes() {
        let Some(script) = run_script(node) else { continue };
        if installs_with_apt(&script) && !script.contains("--no-install-recommends") && !script.contains("Install-Recommends") {
            let message = "apt-get install without --no-install-recommends: recommended packages are installed too".to_owned();
            out.push(node.keyword_span, message, "write `apt-get install --no-install-recommends …`");
        }
    }
}

pub const UNPINNED_BASE_IMAGE: Rule = Rule {
    name: "UnpinnedBaseImage",
    description: "Base images should be pinned by digest for reproducible builds",
    url: "https://docs.docker.com/build/building/best-practices/#pin-base-image-versions",
    level: Level::Note,
    experimental: false,
    buildkit: false,
    check: unpinned_base_image,
};

fn unpinned_base_image(input: &Input<'_>, out: &mut Findings<'_>) {
    for stage in &input.stages {
        let Some(image) = located_words(input, stage.from).first().copied() else { continue };
        let lower = image.text.to_lowercase();
        let is_stage = input.stage_named(&lower).is_some();
        if is_stage || lower == "scratch" || image.text.contains('$') || image.text.contains('@') {
            continue;
        }
        let message = format!("Base image {} is not pinned by digest: a rebuild may get a different image", image.text);
        out.push(image.span, message, format!("write `{}@sha256:<digest>` (`strata pull` then `strata inspect` shows it)", image.text));
    }
}
