//! Emulated RUN: whether the kernel can run another architecture's
//! binaries through a `binfmt_misc` handler (qemu-user). strata only
//! detects and explains; registering a handler is the machine's business.
//! The handler must carry the `F` flag: the kernel then opens the
//! interpreter at registration, so nothing is copied into the container
//! (and nothing into its layers).

use std::path::{Path, PathBuf};

/// Where the kernel exposes `binfmt_misc`.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// Why RUN steps for an architecture cannot run on this machine. Each
/// message carries the command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulationError {
    /// No qemu-user emulator exists for the architecture.
    #[error("RUN for {architecture} needs an emulator, and strata knows none for that architecture")]
    UnknownArchitecture {
        /// The architecture in Go's spelling (`arm64`).
        architecture: String,
    },
    /// `binfmt_misc` is not mounted.
    #[error("RUN for {architecture} needs binfmt_misc, which is not mounted: run `mount -t binfmt_misc binfmt_misc {dir}`, then `{install}`", dir = dir.display())]
    NotMounted {
        /// The architecture in Go's spelling.
        architecture: String,
        /// The directory looked at.
        dir: PathBuf,
        /// The command that installs and registers the emulator.
        install: String,
    },
    /// `binfmt_misc` is mounted but switched off.
    #[error("RUN for {architecture} needs binfmt_misc, which is disabled: run `echo 1 > {}`", dir.join("status").display())]
    Disabled {
        /// The architecture in Go's spelling.
        architecture: String,
        /// The directory looked at.
        dir: PathBuf,
    },
    /// No enabled handler is registered for the architecture.
    #[error("RUN for {architecture} needs an emulator and no binfmt_misc handler for {qemu} is registered: run `{install}`")]
    NoHandler {
        /// The architecture in Go's spelling.
        architecture: String,
        /// The architecture in qemu's spelling (`aarch64`).
        qemu: String,
        /// The command that installs and registers the emulator.
        install: String,
    },
    /// A handler exists without the `F` flag: its interpreter would have to
    /// be inside every container.
    #[error("the binfmt_misc handler {name} has no F (fix-binary) flag, so its interpreter would have to be inside the container: register it with F, as Debian's qemu-user-static does (`{install}`)")]
    NotFixBinary {
        /// The handler's name under the binfmt_misc directory.
        name: String,
        /// The command that installs and registers the emulator.
        install: String,
    },
}

/// A registered handler that runs an architecture's binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulator {
    /// The handler's name (`qemu-aarch64`).
    pub name: String,
    /// The interpreter the kernel runs (opened at registration).
    pub interpreter: String,
}

/// qemu's name for a Go architecture, `None` when qemu has none.
pub fn qemu_architecture(architecture: &str) -> Option<&'static str> {
    Some(match architecture {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "arm" => "arm",
        "386" => "i386",
        "riscv64" => "riscv64",
        "ppc64le" => "ppc64le",
        "ppc64" => "ppc64",
        "s390x" => "s390x",
        "mips64le" => "mips64el",
        "mips64" => "mips64",
        "mipsle" => "mipsel",
        "mips" => "mips",
        "loong64" => "loongarch64",
        _ => return None,
    })
}

/// The handler that runs `architecture` (Go's spelling) binaries on this
/// machine, from [`BINFMT_DIR`].
pub fn emulator(architecture: &str) -> Result<Emulator, EmulationError> {
    emulator_in(Path::new(BINFMT_DIR), architecture)
}

/// [`emulator`] reading another `binfmt_misc` directory.
pub fn emulator_in(dir: &Path, architecture: &str) -> Result<Emulator, EmulationError> {
    let qemu = qemu_architecture(architecture).ok_or_else(|| EmulationError::UnknownArchitecture { architecture: architecture.to_owned() })?;
    let install = format!("apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-{qemu}");
    let status = fs_err::read_to_string(dir.join("status")).map_err(|_| EmulationError::NotMounted {
        architecture: architecture.to_owned(),
        dir: dir.to_owned(),
        install: install.clone(),
    })?;
    if status.trim() != "enabled" {
        return Err(EmulationError::Disabled { architecture: architecture.to_owned(), dir: dir.to_owned() });
    }
    let name = format!("qemu-{qemu}");
    let handler = fs_err::read_to_string(dir.join(&name)).ok().and_then(|text| Handler::parse(&text)).filter(|h| h.enabled);
    let Some(handler) = handler else {
        return Err(EmulationError::NoHandler { architecture: architecture.to_owned(), qemu: qemu.to_owned(), install });
    };
    if !handler.flags.contains('F') {
        return Err(EmulationError::NotFixBinary { name, install });
    }
    Ok(Emulator { name, interpreter: handler.interpreter })
}

/// One handler file: `enabled`, `interpreter PATH`, `flags: PF`, ….
struct Handler {
    enabled: bool,
    interpreter: String,
    flags: String,
}

impl Handler {
    fn parse(text: &str) -> Option<Handler> {
        let mut lines = text.lines();
        let enabled = lines.next()? == "enabled";
        let (mut interpreter, mut flags) = (None, String::new());
        for line in lines {
            if let Some(path) = line.strip_prefix("interpreter ") {
                interpreter = Some(path.to_owned());
            } else if let Some(value) = line.strip_prefix("flags:") {
                value.trim().clone_into(&mut flags);
            }
        }
        Some(Handler { enabled, interpreter: interpreter?, flags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AARCH64: &str = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\nmagic 7f454c46\nmask ffffffff\n";

    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            fs_err::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn a_registered_fix_binary_handler_is_found() {
        let d = dir(&[("status", "enabled\n"), ("qemu-aarch64", AARCH64)]);
        let found = emulator_in(d.path(), "arm64").unwrap();
        assert_eq!(found, Emulator { name: "qemu-aarch64".into(), interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into() });
    }

    #[test]
    fn each_missing_piece_names_the_command_that_fixes_it() {
        let empty = tempfile::tempdir().unwrap();
        let error = emulator_in(empty.path(), "arm64").unwrap_err().to_string();
        assert!(error.contains("mount -t binfmt_misc binfmt_misc"), "{error}");
        let disabled = dir(&[("status", "disabled\n")]);
        assert!(emulator_in(disabled.path(), "arm64").unwrap_err().to_string().contains("echo 1 >"));
        let none = dir(&[("status", "enabled\n")]);
        let error = emulator_in(none.path(), "arm64").unwrap_err().to_string();
        assert!(error.contains("apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64"), "{error}");
        let off = dir(&[("status", "enabled\n"), ("qemu-aarch64", &AARCH64.replacen("enabled", "disabled", 1))]);
        assert!(matches!(emulator_in(off.path(), "arm64"), Err(EmulationError::NoHandler { .. })));
        let no_f = dir(&[("status", "enabled\n"), ("qemu-aarch64", &AARCH64.replace("flags: PF", "flags: P"))]);
        assert!(matches!(emulator_in(no_f.path(), "arm64"), Err(EmulationError::NotFixBinary { .. })));
        assert!(matches!(emulator_in(none.path(), "sparc-ish"), Err(EmulationError::UnknownArchitecture { .. })));
    }

    #[test]
    fn hostile_handler_files_are_no_handler() {
        for text in ["", "enabled\n", "\0\0\0", "enabled\ninterpreter"] {
            let d = dir(&[("status", "enabled\n"), ("qemu-aarch64", text)]);
            assert!(emulator_in(d.path(), "arm64").is_err(), "{text:?}");
        }
    }
}
