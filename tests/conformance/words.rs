//! Conformance trials for `strata::words`: BuildKit's `envVarTest` and
//! `wordsTest` tables and strata's `shell-modifier-cases.md`, one trial per
//! row/case. How the files are read is specified in
//! `testdata/conformance/buildkit/FORMAT.md` section 4 and in the header of
//! `shell-modifier-cases.md`.

use libtest_mimic::{Failed, Trial};
use strata::words::{ExpandError, Lexer};

const ENV_VAR_TEST: &str = "buildkit/shell/envVarTest";
const WORDS_TEST: &str = "buildkit/shell/wordsTest";
const MODIFIER_CASES: &str = "shell-modifier-cases.md";

/// All word-expansion trials.
pub fn trials() -> Vec<Trial> {
    let mut trials = Vec::new();
    trials.extend(env_var_trials());
    trials.extend(words_trials());
    trials.extend(modifier_trials());
    trials
}

/// What a row expects.
#[derive(Clone, Debug)]
enum Expect {
    /// `expand_word` gives this string.
    Word(String),
    /// `expand_words` gives these words.
    Words(Vec<String>),
    /// `expand_word` fails.
    WordError,
    /// `expand_words` fails.
    WordsError,
}

type Env = Vec<(String, String)>;

/// A trial that reports a problem with the data file itself.
fn broken(name: String, problem: String) -> Trial {
    Trial::test(name, move || Err(Failed::from(problem)))
}

fn read(rel: &str, label: &str) -> Result<String, Trial> {
    let path = crate::data(rel);
    fs_err::read_to_string(&path).map_err(|e| broken(format!("{label}:read"), format!("cannot read {}: {e}", path.display())))
}

fn describe<T: std::fmt::Debug>(result: &Result<T, ExpandError>) -> String {
    match result {
        Ok(value) => format!("{value:?}"),
        Err(e) => format!("error: {e} (at byte {})", e.offset()),
    }
}

fn check(input: &str, env: &Env, expect: &Expect) -> Result<(), Failed> {
    let lexer = Lexer::new('\\');
    let (passed, expected, got) = match expect {
        Expect::Word(want) => {
            let got = lexer.expand_word(input, env);
            (got.as_ref() == Ok(want), format!("{want:?}"), describe(&got))
        }
        Expect::WordError => {
            let got = lexer.expand_word(input, env);
            (got.is_err(), "an error".to_owned(), describe(&got))
        }
        Expect::Words(want) => {
            let got = lexer.expand_words(input, env);
            (got.as_ref() == Ok(want), format!("{want:?}"), describe(&got))
        }
        Expect::WordsError => {
            let got = lexer.expand_words(input, env);
            (got.is_err(), "an error".to_owned(), describe(&got))
        }
    };
    if passed {
        return Ok(());
    }
    Err(format!("\n   input: {input:?}\n     env: {env:?}\nexpected: {expected}\n     got: {got}").into())
}

fn trial(name: String, input: String, env: Env, expect: Expect, ignored: bool) -> Trial {
    Trial::test(name, move || check(&input, &env, &expect)).with_ignored_flag(ignored)
}

/// `envVarTest`: `PLATFORM | input | expected`, fixed environment.
fn env_var_trials() -> Vec<Trial> {
    let text = match read(ENV_VAR_TEST, "envVarTest") {
        Ok(text) => text,
        Err(t) => return vec![t],
    };
    let env: Env = [("PWD", "/home"), ("SHELL", "bash"), ("KOREAN", "한국어"), ("NULL", "")].iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    let mut trials = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let name = format!("envVarTest:L{}", index + 1);
        if raw.starts_with('#') {
            continue;
        }
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [platform, input, expected] = fields[..] else {
            trials.push(broken(name, format!("expected 3 fields: {raw:?}")));
            continue;
        };
        let ignored = match platform {
            "A" | "U" => false,
            "W" => true,
            other => {
                trials.push(broken(name, format!("unknown platform {other:?}")));
                continue;
            }
        };
        let expect = if expected == "error" { Expect::WordError } else { Expect::Word(expected.to_owned()) };
        trials.push(trial(name, input.to_owned(), env.clone(), expect, ignored));
    }
    trials
}

/// `wordsTest`: `ENV name=value` lines accumulate; `input | w1,w2,...` rows.
fn words_trials() -> Vec<Trial> {
    let text = match read(WORDS_TEST, "wordsTest") {
        Ok(text) => text,
        Err(t) => return vec![t],
    };
    let mut env: Env = Vec::new();
    let mut trials = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let name = format!("wordsTest:L{}", index + 1);
        if line.starts_with('#') {
            continue;
        }
        if let Some(def) = line.strip_prefix("ENV ") {
            let def = def.trim_start_matches(' ');
            let (key, value) = def.split_once('=').unwrap_or((def, ""));
            env.retain(|(k, _)| k != key);
            env.push((key.to_owned(), value.to_owned()));
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        let [input, expected] = parts[..] else {
            trials.push(broken(name, format!("expected exactly one '|': {line:?}")));
            continue;
        };
        let words: Vec<String> = expected.trim_start_matches(' ').split(',').map(str::to_owned).collect();
        let expect = if words == ["error"] { Expect::WordsError } else { Expect::Words(words) };
        trials.push(trial(name, input.trim().to_owned(), env.clone(), expect, false));
    }
    trials
}

/// `shell-modifier-cases.md`: the JSON lines inside its ```jsonl block.
fn modifier_trials() -> Vec<Trial> {
    let text = match read(MODIFIER_CASES, "modifier") {
        Ok(text) => text,
        Err(t) => return vec![t],
    };
    let block = text.split_once("```jsonl").and_then(|(_, rest)| rest.split_once("```")).map(|(block, _)| block);
    let Some(block) = block else {
        return vec![broken("modifier:parse".to_owned(), "no ```jsonl block".to_owned())];
    };
    let mut trials = Vec::new();
    for (index, line) in block.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        match parse_case(line) {
            Ok((id, input, env, expect)) => trials.push(trial(format!("modifier:{id}"), input, env, expect, false)),
            Err(problem) => trials.push(broken(format!("modifier:line{}", index + 1), problem)),
        }
    }
    trials
}

fn parse_case(line: &str) -> Result<(u64, String, Env, Expect), String> {
    let case: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("bad JSON {line:?}: {e}"))?;
    let id = case["id"].as_u64().ok_or("missing id")?;
    let input = case["input"].as_str().ok_or("missing input")?.to_owned();
    let env = case["env"]
        .as_array()
        .ok_or("missing env")?
        .iter()
        .map(|e| {
            let e = e.as_str().unwrap_or_default();
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let expect = match (&case["expect"], case["mode"].as_str()) {
        (serde_json::Value::String(s), Some("word")) if s == "error" => Expect::WordError,
        (serde_json::Value::String(s), Some("words")) if s == "error" => Expect::WordsError,
        (serde_json::Value::String(s), Some("word")) => Expect::Word(s.clone()),
        (serde_json::Value::Array(list), Some("words")) => {
            Expect::Words(list.iter().map(|w| w.as_str().map(str::to_owned).ok_or("non-string word")).collect::<Result<_, _>>()?)
        }
        (other, mode) => return Err(format!("case {id}: expect {other} does not fit mode {mode:?}")),
    };
    Ok((id, input, env, expect))
}
