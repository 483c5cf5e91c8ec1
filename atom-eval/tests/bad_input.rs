//! Every kind of bad input the evaluator must reject cleanly: a typed
//! error with a location, never a panic or a crash.

use atom_eval::{ErrorKind, EvalError, Evaluator, Limits, RootedFileSystem};

/// A rooted evaluator over a temporary tree holding `files`.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(files: &[(&str, &[u8])]) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        for (name, content) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        Tree { dir }
    }

    fn root(&self) -> String {
        self.dir
            .path()
            .join("root")
            .canonicalize()
            .unwrap()
            .display()
            .to_string()
    }

    /// Evaluates `root/main.nix` strictly; on error returns it with the
    /// 1-based line and column of its span.
    fn eval(&self) -> Result<String, (EvalError, Option<(usize, usize)>)> {
        let root = self.root();
        atom_eval::run_with_large_stack(move || {
            let fs = RootedFileSystem::new(std::path::Path::new(&root)).unwrap();
            let mut ev = Evaluator::new(Box::new(fs), Limits::default());
            let r = ev
                .eval_file(&format!("{root}/main.nix"))
                .and_then(|v| ev.force_deep(&v))
                .and_then(|v| ev.print(&v));
            r.map_err(|e| {
                let pos = e.span().and_then(|s| {
                    ev.source(s.file)
                        .map(|(_, text)| line_col(text, s.start as usize))
                });
                (e, pos)
            })
        })
        .expect("evaluation thread")
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

fn main_nix(src: &str) -> Tree {
    Tree::new(&[("root/main.nix", src.as_bytes())])
}

fn error_of(src: &str) -> (EvalError, Option<(usize, usize)>) {
    match main_nix(src).eval() {
        Ok(v) => panic!("expected an error from {src:?}, got {v}"),
        Err(e) => e,
    }
}

#[test]
fn syntax_error_has_line_column_and_expectation() {
    let (e, pos) = error_of("let\n  x = 1\nin x");
    let ErrorKind::Syntax { message } = e.kind() else {
        panic!("{e:?}")
    };
    assert!(message.contains("expected"), "{message}");
    assert_eq!(pos.map(|p| p.0), Some(3), "{e:?}");
}

#[test]
fn undefined_variable() {
    let (e, pos) = error_of("let a = 1;\nin a + b");
    assert_eq!(e.kind(), &ErrorKind::UndefinedVariable { name: "b".into() });
    assert_eq!(pos, Some((2, 8)));
}

#[test]
fn type_error_names_both_types() {
    let (e, pos) = error_of("1 + \"two\"");
    assert_eq!(e.to_string(), "expected an integer but found a string");
    assert_eq!(pos, Some((1, 1)));
}

#[test]
fn calling_a_non_function() {
    let (e, _) = error_of("let x = 1; in x 2");
    assert_eq!(
        e.to_string(),
        "attempt to call something which is not a function but an integer"
    );
}

#[test]
fn missing_attribute_suggests_close_names() {
    let (e, pos) = error_of("let s = { foo = 1; bar = 2; }; in\n  s.fooo");
    assert_eq!(
        e.kind(),
        &ErrorKind::MissingAttribute {
            name: "fooo".into(),
            suggestions: vec!["foo".into()]
        }
    );
    assert_eq!(
        e.to_string(),
        "attribute 'fooo' missing; did you mean 'foo'?"
    );
    assert_eq!(pos, Some((2, 3)));
}

#[test]
fn infinite_recursion() {
    let (e, _) = error_of("let a = { x = a.x; }; in a.x");
    assert_eq!(e.kind(), &ErrorKind::InfiniteRecursion);
}

#[test]
fn recursion_past_the_limit_is_an_error_not_a_crash() {
    let (e, _) = error_of("let f = n: 1 + f (n + 1); in f 0");
    assert_eq!(e.kind(), &ErrorKind::CallDepthExceeded { limit: 10_000 });
    assert!(!e.trace().is_empty());
}

#[test]
fn integer_overflow() {
    let (e, _) = error_of("9223372036854775807 * 2");
    assert_eq!(
        e.kind(),
        &ErrorKind::IntegerOverflow {
            operation: "multiplication"
        }
    );
    let (e, _) = error_of("-9223372036854775807 - 2");
    assert_eq!(
        e.kind(),
        &ErrorKind::IntegerOverflow {
            operation: "subtraction"
        }
    );
}

#[test]
fn division_by_zero() {
    assert_eq!(error_of("1 / 0").0.kind(), &ErrorKind::DivisionByZero);
    assert_eq!(
        error_of("builtins.div 1.0 0").0.kind(),
        &ErrorKind::DivisionByZero
    );
}

#[test]
fn import_outside_the_root_is_refused() {
    let tree = Tree::new(&[
        ("root/main.nix", b"import ../secret.nix"),
        ("secret.nix", b"42"),
    ]);
    let (e, _) = tree.eval().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::OutsideRoot { .. }), "{e:?}");
    let tree = Tree::new(&[("root/main.nix", b"builtins.readFile /etc/hostname")]);
    let (e, _) = tree.eval().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::OutsideRoot { .. }), "{e:?}");
}

#[test]
fn import_and_reads_inside_the_root_work() {
    let tree = Tree::new(&[
        (
            "root/main.nix",
            b"{ a = import ./lib; b = builtins.readFile ./data.txt; c = builtins.readDir ./lib; }",
        ),
        ("root/lib/default.nix", b"1 + 1"),
        ("root/data.txt", b"hi"),
    ]);
    assert_eq!(
        tree.eval().unwrap(),
        "{ a = 2; b = \"hi\"; c = { \"default.nix\" = \"regular\"; }; }"
    );
}

#[test]
fn reading_a_missing_file() {
    let (e, _) = error_of("builtins.readFile ./nope.txt");
    assert!(matches!(e.kind(), ErrorKind::NotFound { .. }), "{e:?}");
    let (e, _) = error_of("import ./nope.nix");
    assert!(matches!(e.kind(), ErrorKind::NotFound { .. }), "{e:?}");
}

#[test]
fn invalid_json_and_toml() {
    let (e, _) = error_of("builtins.fromJSON \"{ not json\"");
    assert!(matches!(e.kind(), ErrorKind::InvalidJson { .. }), "{e:?}");
    let (e, _) = error_of("builtins.fromTOML \"a = = 1\"");
    assert!(matches!(e.kind(), ErrorKind::InvalidToml { .. }), "{e:?}");
}

#[test]
fn a_file_that_is_not_utf8() {
    let tree = Tree::new(&[
        ("root/main.nix", b"import ./bad.nix"),
        ("root/bad.nix", b"\"\xff\xfe\""),
    ]);
    let (e, _) = tree.eval().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotUtf8 { .. }), "{e:?}");
    let tree = Tree::new(&[
        ("root/main.nix", b"builtins.readFile ./bad.bin"),
        ("root/bad.bin", b"\xff"),
    ]);
    let (e, _) = tree.eval().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotUtf8 { .. }), "{e:?}");
}

#[test]
fn errors_carry_a_trace_of_what_was_evaluated() {
    let (e, _) = error_of("let f = x: x.missing; in f { a = 1; }");
    assert!(
        e.trace()
            .iter()
            .any(|f| f.message.contains("calling a function")),
        "{:?}",
        e.trace()
    );
}
