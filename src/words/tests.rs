//! Unit tests for behaviour the conformance data does not pin down: the
//! lookup impls, tracking, the backtick escape, error offsets and messages,
//! and robustness on arbitrary input.

use super::*;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![("A", "a b"), ("EMPTY", ""), ("FILE", "archive.tar.gz"), ("NL", "x\ny")]
}

fn word(input: &str) -> Result<String, ExpandError> {
    Lexer::default().expand_word(input, &env())
}

#[test]
fn lookup_impls_agree() {
    let mut hash = HashMap::new();
    hash.insert("K".to_owned(), "v".to_owned());
    let mut tree = BTreeMap::new();
    tree.insert("K", "v");
    let pairs = [("K", "old"), ("K", "v")];
    let owned = vec![("K".to_owned(), "v".to_owned())];
    let slice: &[(&str, &str)] = &pairs;
    let lexer = Lexer::default();
    for env in [&hash as &dyn VarLookup, &tree, &pairs, &owned, &slice] {
        assert_eq!(lexer.expand_word("$K-${X:-d}", env).unwrap(), "v-d");
    }
}

#[test]
fn tracking_records_every_lookup() {
    let lexer = Lexer::default();
    let (value, names) = lexer.expand_word_tracked("$A ${NOPE:-$FILE} '$SKIP' $1", &env()).unwrap();
    assert_eq!(value, "a b archive.tar.gz $SKIP ");
    let names: Vec<_> = names.into_iter().collect();
    assert_eq!(names, ["1", "A", "FILE", "NOPE"]);
    let all = lexer.expand("${A:+x}$B", &env()).unwrap();
    assert_eq!(all.matched.into_iter().collect::<Vec<_>>(), ["A"]);
    assert_eq!(all.unmatched.into_iter().collect::<Vec<_>>(), ["B"]);
}

#[test]
fn backtick_escape() {
    let lexer = Lexer::new('`');
    let env = env();
    assert_eq!(lexer.expand_word(r"C:\dir\$A", &env).unwrap(), r"C:\dir\a b");
    assert_eq!(lexer.expand_word("`$A", &env).unwrap(), "$A");
    assert_eq!(lexer.expand_word("\"`\"`$\"", &env).unwrap(), "\"$");
    assert_eq!(lexer.expand_words("a` b c", &env).unwrap(), ["a b", "c"]);
    // In patterns the escape char is kept and `\` keeps its pattern meaning.
    assert_eq!(lexer.expand_word(r"${FILE%.\*}", &env).unwrap(), "archive.tar.gz");
}

#[test]
fn error_messages_and_offsets() {
    let cases: &[(&str, &str, usize)] = &[
        ("ab'cd", "unexpected end of statement while looking for matching single-quote", 2),
        ("a\"b", "unexpected end of statement while looking for matching double-quote", 1),
        ("x${A", "syntax error: missing '}'", 1),
        ("x${A:-${B}", "syntax error: missing '}'", 1),
        ("${A:-\"x}", "syntax error: missing '}'", 0),
        ("${FILE/a}", "syntax error: missing '/' in ${}", 0),
        ("é${}", "syntax error: bad substitution", 2),
        ("${A=x}", "unsupported modifier (=) in substitution", 3),
        ("${A:=x}", "unsupported modifier (:=) in substitution", 3),
        ("${A:#x}", "unsupported modifier (:#) in substitution", 3),
        ("${A.}", "unsupported modifier (.) in substitution", 3),
        ("${X?}", "X: is not allowed to be unset", 0),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty", 0),
        ("${X?need $A}", "X: need a b", 0),
        ("${FILE#\\x}", "invalid pattern (\\x) in substitution: invalid escape '\\x'", 0),
        ("${A:-${X?}}", "X: is not allowed to be unset", 5),
    ];
    for &(input, message, offset) in cases {
        let err = word(input).unwrap_err();
        assert_eq!(err.to_string(), message, "input {input:?}");
        assert_eq!(err.offset(), offset, "input {input:?}");
    }
}

#[test]
fn go_regex_details() {
    // `*` and `?` do not match a newline (Go's `.`).
    assert_eq!(word("${NL##*}").unwrap(), "\ny");
    assert_eq!(word("${NL%%*}").unwrap(), "x\n");
    assert_eq!(word("${NL//?/_}").unwrap(), "_\n_");
    // `$0` in a `//` replacement is the match (Go's ReplaceAllString).
    assert_eq!(word("${FILE//a/'<$0>'}").unwrap(), "<a>rchive.t<a>r.gz");
    assert_eq!(word("${FILE/a/'<$0>'}").unwrap(), "<$0>rchive.tar.gz");
    // `##`/`%%` are recognised after expansion.
    assert_eq!(Lexer::default().expand_word("${FILE#$P}", &[("FILE", "a.b.c"), ("P", "#*.")]).unwrap(), "c");
}

#[test]
fn names_follow_go_unicode_classes() {
    let env = [("नम", "N"), ("x", "X")];
    let lexer = Lexer::default();
    // U+093F is a combining mark: not part of the name.
    assert_eq!(lexer.expand_word("$नम\u{93F}", &env).unwrap(), "N\u{93F}");
    assert_eq!(lexer.expand_word("$x²", &env).unwrap(), "X²");
    assert_eq!(lexer.expand_word("$١٢x", &env).unwrap(), "x");
}

#[test]
fn leading_bom_is_skipped() {
    assert_eq!(word("\u{FEFF}$A").unwrap(), "a b");
    assert_eq!(word("x\u{FEFF}").unwrap(), "x\u{FEFF}");
}

#[test]
fn heredoc_markers_stay_one_word() {
    let lexer = Lexer::default();
    assert_eq!(lexer.expand_words("cat <<  EOF > f", &env()).unwrap(), ["cat", "<<  EOF", ">", "f"]);
    assert_eq!(lexer.expand_word("a <<\tb", &env()).unwrap(), "a <<\tb");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 100_000;
    let input = "${A:-".repeat(depth) + &"}".repeat(depth);
    assert!(matches!(word(&input), Err(ExpandError::TooDeep { .. })));
    let ok = "${X:-".repeat(50) + "v" + &"}".repeat(50);
    assert_eq!(word(&ok).unwrap(), "v");
    assert!(ExpandError::TooDeep { offset: 0 }.to_string().contains(&lexer::MAX_DEPTH.to_string()));
}

#[test]
fn never_panics_on_any_prefix_or_suffix() {
    let samples = [
        "he${XXX:-${PWD:-yyy}}xx 'q' \"a\\\"b\" \\ $1 ${FILE##*.} ${FILE/a/b} ${A//\\//:} <<EOF",
        "안녕${KOREAN:+한국어}\u{FEFF}\u{0}\u{85}${F%\\}} `x` ${#} ${A:?m} ${A%%\\**}",
    ];
    let lexers = [Lexer::new('\\'), Lexer::new('`')];
    for sample in samples {
        let bounds: Vec<usize> = sample.char_indices().map(|(i, _)| i).chain([sample.len()]).collect();
        for &start in &bounds {
            for &end in bounds.iter().filter(|&&e| e >= start) {
                let piece = &sample[start..end];
                for lexer in &lexers {
                    if let Err(err) = lexer.expand(piece, &env()) {
                        assert!(err.offset() <= piece.len() && piece.is_char_boundary(err.offset()));
                    }
                }
            }
        }
    }
}
