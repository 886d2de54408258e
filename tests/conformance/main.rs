//! The conformance harness: every case of `../shared/conformance/` (BuildKit's
//! parser and shell-expansion data, heredoc, modifier and `.dockerignore`
//! cases), one trial each.

mod dockerignore;
mod parser;
mod words;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let mut trials = parser::trials();
    trials.extend(words::trials());
    trials.extend(dockerignore::trials());
    libtest_mimic::run(&args, trials).exit();
}
