//! The `strata` binary: a thin shell over the library's CLI layer.

use std::process::ExitCode;

fn main() -> ExitCode {
    strata::cli::run()
}
