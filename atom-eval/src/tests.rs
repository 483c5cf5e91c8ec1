//! Semantics tests: each evaluates a small program and checks the printed
//! result (as `nix-instantiate --eval --strict` prints it) or the error.

use crate::{ErrorKind, EvalError, Evaluator, Limits, NoFileSystem};

fn evaluator() -> Evaluator {
    Evaluator::new(Box::new(NoFileSystem), Limits::default())
}

fn run(src: &str) -> Result<String, EvalError> {
    let src = src.to_string();
    crate::run_with_large_stack(move || {
        let mut ev = evaluator();
        let v = ev.eval_source("test", &src, "/base")?;
        let v = ev.force_deep(&v)?;
        ev.print(&v)
    })
    .expect("evaluation thread")
}

fn ok(src: &str) -> String {
    match run(src) {
        Ok(s) => s,
        Err(e) => panic!("{src}: unexpected error {e:?}"),
    }
}

fn fails(src: &str) -> ErrorKind {
    match run(src) {
        Ok(s) => panic!("{src}: expected an error, got {s}"),
        Err(e) => e.kind().clone(),
    }
}

#[test]
fn scoping_let_rec_with_inherit() {
    assert_eq!(ok("let x = 1; y = x + 1; in y"), "2");
    assert_eq!(ok("rec { a = 1; b = a + 1; }"), "{ a = 1; b = 2; }");
    // Static bindings win over `with`, inner `with` over outer.
    assert_eq!(ok("let x = 1; in with { x = 2; }; x"), "1");
    assert_eq!(ok("with { x = 1; }; with { x = 2; }; x"), "2");
    assert_eq!(ok("with { y = 1; }; with { x = 2; }; y"), "1");
    assert_eq!(ok("let x = 1; in let inherit x; in x"), "1");
    assert_eq!(
        ok("let s = { a = 1; b = 2; }; in { inherit (s) a b; }"),
        "{ a = 1; b = 2; }"
    );
    assert_eq!(ok("let a.b = 1; a.c = 2; in a"), "{ b = 1; c = 2; }");
    assert_eq!(
        ok("{ a.b = 1; a = { c = 2; }; }"),
        "{ a = { b = 1; c = 2; }; }"
    );
    assert_eq!(ok("let { x = 1; body = x; }"), "1");
    // Globals are static, so `with` cannot shadow them.
    assert_eq!(ok("with { toString = 1; }; toString 2"), "\"2\"");
}

#[test]
fn bindings_may_refer_forward() {
    assert_eq!(ok("let a = b + 1; b = 2; in a"), "3");
    assert_eq!(ok("rec { a = b * 2; b = c - 1; c = 5; }.a"), "8");
    assert_eq!(ok("({ b ? a + 1, a }: b) { a = 1; }"), "2");
    assert_eq!(
        ok("let x = 1; f = n: [ (n + x) (n < x) (n == x) ]; in f 1"),
        "[ 2 false true ]"
    );
}

#[test]
fn functions_and_formals() {
    assert_eq!(ok("({ a, b ? a + 1, ... }: b) { a = 1; c = 3; }"), "2");
    assert_eq!(ok("(args@{ a, ... }: args.b) { a = 1; b = 2; }"), "2");
    assert_eq!(ok("({ a }@args: args.a) { a = 5; }"), "5");
    assert_eq!(
        ok("builtins.functionArgs ({ a, b ? 1 }: a)"),
        "{ a = false; b = true; }"
    );
    assert_eq!(
        ok("let f = { __functor = self: x: x + self.n; n = 10; }; in f 1"),
        "11"
    );
    assert!(matches!(
        fails("({ a }: a) { a = 1; b = 2; }"),
        ErrorKind::UnexpectedArgument { .. }
    ));
    assert!(matches!(
        fails("({ a, b }: a) { a = 1; }"),
        ErrorKind::MissingArgument { .. }
    ));
}

#[test]
fn laziness_and_thunks() {
    assert_eq!(ok("let x = throw \"never\"; in 1"), "1");
    assert_eq!(ok("builtins.length [ (throw \"a\") (abort \"b\") ]"), "2");
    assert_eq!(ok("({ a, b ? throw \"unused\" }: a) { a = 1; }"), "1");
    assert_eq!(
        ok("(builtins.mapAttrs (n: v: throw n) { a = 1; }) ? a"),
        "true"
    );
    assert_eq!(
        ok("builtins.attrNames { a = throw \"x\"; b = 1; }"),
        "[ \"a\" \"b\" ]"
    );
    // Today's Nix: replacements are forced only when used.
    assert_eq!(
        ok("builtins.replaceStrings [ \"a\" \"b\" ] [ \"x\" (throw \"no\") ] \"aa\""),
        "\"xx\""
    );
    // A thunk is evaluated once: the trace would fire twice otherwise.
    let counted = crate::run_with_large_stack(|| {
        let mut ev = evaluator();
        let v = ev
            .eval_source("t", "let x = builtins.trace \"once\" 1; in x + x", "/")
            .unwrap();
        (ev.print(&v).unwrap(), ev.traces().len())
    })
    .expect("evaluation thread");
    assert_eq!(counted, ("2".to_string(), 1));
}

#[test]
fn overrides_that_add_and_replace() {
    assert_eq!(
        ok("rec { b = 1; c = b; __overrides = { a = 2; b = 3; z = 4; }; }"),
        "{ __overrides = { a = 2; b = 3; z = 4; }; a = 2; b = 3; c = 3; z = 4; }"
    );
    assert!(matches!(
        fails("builtins.genList (x: x) 1000000000000"),
        ErrorKind::Other { .. }
    ));
}

#[test]
fn infinite_recursion_is_detected() {
    assert_eq!(fails("let x = x + 1; in x"), ErrorKind::InfiniteRecursion);
    assert_eq!(
        fails("rec { a = b; b = a; }.a"),
        ErrorKind::InfiniteRecursion
    );
}

#[test]
fn try_eval_catches_throw_and_assert_only() {
    assert_eq!(
        ok("builtins.tryEval (throw \"x\")"),
        "{ success = false; value = false; }"
    );
    assert_eq!(
        ok("builtins.tryEval (assert false; 1)"),
        "{ success = false; value = false; }"
    );
    assert_eq!(ok("builtins.tryEval 1"), "{ success = true; value = 1; }");
    assert!(matches!(
        fails("builtins.tryEval (abort \"x\")"),
        ErrorKind::Aborted { .. }
    ));
    assert_eq!(
        fails("let x = x; in builtins.tryEval x"),
        ErrorKind::InfiniteRecursion
    );
}

#[test]
fn arithmetic_and_comparison() {
    assert_eq!(ok("[ (1 + 2 * 3) (7 / 2) (-7 / 2) (1.5 + 1) (2 - 0.5) (1 < 2) (\"a\" < \"b\") ([ 1 2 ] < [ 1 3 ]) ]"),
        "[ 7 3 -3 2.5 1.5 true true true ]");
    assert_eq!(
        fails("9223372036854775807 + 1"),
        ErrorKind::IntegerOverflow {
            operation: "addition"
        }
    );
    assert_eq!(fails("1 / 0"), ErrorKind::DivisionByZero);
    assert_eq!(
        fails("let min = -9223372036854775807 - 1; in min / -1"),
        ErrorKind::IntegerOverflow {
            operation: "division"
        }
    );
    assert_eq!(
        fails("1 + \"a\""),
        ErrorKind::TypeMismatch {
            expected: "an integer",
            found: "a string"
        }
    );
    assert_eq!(
        ok("[ (1 == 1.0) ({ a = 1; } == { a = 1; }) ((x: x) == (x: x)) ]"),
        "[ true true false ]"
    );
    assert_eq!(ok("let f = x: x; in [ f ] == [ f ]"), "true");
}

#[test]
fn strings_and_paths() {
    assert_eq!(ok("\"a${toString 1}b\""), "\"a1b\"");
    assert_eq!(ok("''\n  a\n    b\n''"), "\"a\\n  b\\n\"");
    assert_eq!(ok("./x/../y"), "/base/y");
    assert_eq!(ok("let f = \"z\"; in ./a/${f}"), "/base/a/z");
    assert_eq!(ok("./a + \"/b\""), "/base/a/b");
    assert_eq!(
        ok("toString [ 1 null true false 1.5 ]"),
        "\"1  1  1.500000\""
    );
    assert_eq!(ok("\"\\${x}\""), "\"\\${x}\"");
    assert!(matches!(fails("\"${./a}\""), ErrorKind::Unsupported { .. }));
}

#[test]
fn printer_matches_nix() {
    assert_eq!(
        ok("let x = { a = 1; }; in [ x x [ ] [ ] { } { } ]"),
        "[ { a = 1; } «repeated» [ ] [ ] { } { } ]"
    );
    assert_eq!(
        ok("{ \"a b\" = 1; \"with\" = 2; \"\" = 3; }"),
        "{ \"\" = 3; \"a b\" = 1; with = 2; }"
    );
    assert_eq!(
        ok("[ map (builtins.add 1) (x: x) 0.1 1.0e6 ]"),
        "[ <PRIMOP> <PRIMOP-APP> <LAMBDA> 0.1 1e+06 ]"
    );
    let lazy = crate::run_with_large_stack(|| {
        let mut ev = evaluator();
        let v = ev.eval_source("t", "{ a = 1 + 1; b = 2; }", "/").unwrap();
        ev.print(&v).unwrap()
    })
    .expect("evaluation thread");
    assert_eq!(lazy, "{ a = <CODE>; b = 2; }");
}

#[test]
fn builtins_behave_like_nix() {
    assert_eq!(ok("builtins.match \"a(b)?(c)\" \"ac\""), "[ null \"c\" ]");
    assert_eq!(ok("builtins.match \"a\" \"ab\""), "null");
    assert_eq!(
        ok("builtins.split \"(a)|b\" \"xaybz\""),
        "[ \"x\" [ \"a\" ] \"y\" [ null ] \"z\" ]"
    );
    assert_eq!(
        ok("builtins.sort builtins.lessThan [ 3 1 2 1 ]"),
        "[ 1 1 2 3 ]"
    );
    assert_eq!(
        ok("builtins.listToAttrs [ { name = \"a\"; value = 1; } { name = \"a\"; value = 2; } ]"),
        "{ a = 1; }"
    );
    assert_eq!(
        ok("builtins.groupBy (x: if x > 1 then \"big\" else \"small\") [ 1 2 3 ]"),
        "{ big = [ 2 3 ]; small = [ 1 ]; }"
    );
    assert_eq!(
        ok("builtins.fromJSON ''{\"a\": [1, 2.5, null, true, \"s\"]}''"),
        "{ a = [ 1 2.5 null true \"s\" ]; }"
    );
    assert_eq!(
        ok("builtins.toJSON { b = [ 1 \"x\" ]; a = null; }"),
        "\"{\\\"a\\\":null,\\\"b\\\":[1,\\\"x\\\"]}\""
    );
    assert_eq!(
        ok("builtins.fromTOML \"a = 1\\n[b]\\nc = \\\"d\\\"\""),
        "{ a = 1; b = { c = \"d\"; }; }"
    );
    assert_eq!(ok("builtins.genericClosure { startSet = [ { key = 1; } ]; operator = x: if x.key < 3 then [ { key = x.key + 1; } ] else [ ]; }"),
        "[ { key = 1; } { key = 2; } { key = 3; } ]");
    assert_eq!(
        ok("builtins.parseDrvName \"hello-2.1\""),
        "{ name = \"hello\"; version = \"2.1\"; }"
    );
    assert_eq!(
        ok("builtins.splitVersion \"1.2pre3\""),
        "[ \"1\" \"2\" \"pre\" \"3\" ]"
    );
    assert_eq!(
        ok("builtins.zipAttrsWith (n: v: v) [ { a = 1; } { a = 2; b = 3; } ]"),
        "{ a = [ 1 2 ]; b = [ 3 ]; }"
    );
    assert_eq!(ok("builtins.substring 1 2 \"hello\""), "\"el\"");
    assert_eq!(
        ok("builtins.hashString \"sha1\" \"abc\""),
        "\"a9993e364706816aba3e25717850c26c9cd0d89d\""
    );
    assert!(matches!(
        fails("builtins.fetchurl \"https://example.org\""),
        ErrorKind::Unsupported { .. }
    ));
    assert!(matches!(
        fails("builtins.derivation {}"),
        ErrorKind::Other { message } if message == "attribute 'name' missing"
    ));
}

#[test]
fn to_xml_matches_nix() {
    assert_eq!(
        ok("builtins.toXML { a = [ 1 \"<\" ]; e = { }; f = { x, ... }@y: x; }"),
        ok("\"<?xml version='1.0' encoding='utf-8'?>\\n<expr>\\n  <attrs>\\n    <attr name=\\\"a\\\">\\n      <list>\\n        <int value=\\\"1\\\" />\\n        <string value=\\\"&lt;\\\" />\\n      </list>\\n    </attr>\\n    <attr name=\\\"e\\\">\\n      <attrs>\\n      </attrs>\\n    </attr>\\n    <attr name=\\\"f\\\">\\n      <function>\\n        <attrspat ellipsis=\\\"1\\\" name=\\\"y\\\">\\n          <attr name=\\\"x\\\" />\\n        </attrspat>\\n      </function>\\n    </attr>\\n  </attrs>\\n</expr>\\n\"")
    );
}

#[test]
fn deep_recursion_within_the_limit_works_and_beyond_is_an_error() {
    // 10,000 nested calls (f 9999 .. f 0) are within the default limit.
    assert_eq!(
        ok("let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 9999"),
        "9999"
    );
    assert_eq!(
        fails("let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 10000"),
        ErrorKind::CallDepthExceeded { limit: 10_000 }
    );
    // A long chain of thunks is bounded too: an error, never a crash.
    let chain = "let l = builtins.genList (x: x) 300000; s = builtins.foldl' (acc: x: { v = acc.v + x; }) { v = 0; } l; in s.v";
    assert_eq!(fails(chain), ErrorKind::NestingTooDeep { limit: 200_000 });
    let shallower = "let l = builtins.genList (x: x) 50000; s = builtins.foldl' (acc: x: { v = acc.v + x; }) { v = 0; } l; in s.v";
    assert_eq!(ok(shallower), "1249975000");
}

#[test]
fn step_budget_stops_evaluation() {
    let r = crate::run_with_large_stack(|| {
        let limits = Limits {
            max_steps: Some(1000),
            ..Limits::default()
        };
        let mut ev = Evaluator::new(Box::new(NoFileSystem), limits);
        ev.eval_source("t", "let f = n: f (n + 1); in f 0", "/")
            .map(|_| ())
    })
    .expect("evaluation thread");
    assert_eq!(
        r.unwrap_err().kind(),
        &ErrorKind::StepBudgetExhausted { budget: 1000 }
    );
}

#[test]
fn host_controls_globals_and_builtins() {
    crate::run_with_large_stack(|| {
        let mut ev = evaluator();
        assert!(ev.remove_builtin("import"));
        let e = ev.check_source("t", "import ./x.nix", "/").unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::UndefinedVariable {
                name: "import".into()
            }
        );
        let e = ev.eval_source("t", "builtins.import", "/").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::MissingAttribute { .. }));
        ev.set_global("answer", crate::Value::Int(42));
        let v = ev.eval_source("t", "answer", "/").unwrap();
        assert_eq!(ev.print(&v).unwrap(), "42");

        let mut bare = Evaluator::bare(Box::new(NoFileSystem), Limits::default());
        assert!(bare.check_source("t", "map", "/").is_err());
        bare.set_global("map", bare.builtin("map").unwrap());
        let v = bare.eval_source("t", "map (x: x) [ 1 ]", "/").unwrap();
        let v = bare.force_deep(&v).unwrap();
        assert_eq!(bare.print(&v).unwrap(), "[ 1 ]");
    })
    .expect("evaluation thread");
}

#[test]
fn bind_time_errors() {
    let check = |src: &str| {
        let src = src.to_string();
        crate::run_with_large_stack(move || {
            evaluator()
                .check_source("t", &src, "/")
                .map_err(|e| e.kind().clone())
        })
        .expect("evaluation thread")
    };
    assert_eq!(
        check("x: y"),
        Err(ErrorKind::UndefinedVariable { name: "y".into() })
    );
    assert_eq!(
        check("{ a = 1; a = 2; }"),
        Err(ErrorKind::DuplicateAttribute { name: "a".into() })
    );
    assert_eq!(
        check("{ a.b = 1; a = 2; }"),
        Err(ErrorKind::DuplicateAttribute { name: "a".into() })
    );
    assert!(matches!(
        check("{ a, a }: a"),
        Err(ErrorKind::Syntax { .. } | ErrorKind::DuplicateFormal { .. })
    ));
    assert_eq!(
        check("let ${\"a\" + \"b\"} = 1; in 2"),
        Err(ErrorKind::DynamicAttributeInLet)
    );
    // A name a `with` might provide is resolved at run time.
    assert_eq!(check("with {}; y"), Ok(()));
    assert!(matches!(check("1 +"), Err(ErrorKind::Syntax { .. })));
    // Deep nesting is refused quickly instead of parsing for minutes.
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    assert!(matches!(check(&deep), Err(ErrorKind::Syntax { .. })));
    let ok_depth = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    assert_eq!(check(&ok_depth), Ok(()));
    assert_eq!(check(&format!("\"{}\"", "(".repeat(20_000))), Ok(()));
}

#[test]
fn value_representations_stay_small() {
    use crate::value::{Env, Thunk, ThunkState};
    assert_eq!(std::mem::size_of::<crate::Value>(), 16);
    assert!(
        std::mem::size_of::<ThunkState>() <= 40,
        "{}",
        std::mem::size_of::<ThunkState>()
    );
    assert!(std::mem::size_of::<Thunk>() <= 40);
    assert!(
        std::mem::size_of::<Env>() <= 48,
        "{}",
        std::mem::size_of::<Env>()
    );
}

#[test]
fn names_refuse_strings_that_refer_to_the_store() {
    let text = "builtins.toFile \"t\" \"x\"";
    let path = ok(text).trim_matches('"').to_string();
    assert_eq!(
        fails(&format!("{{ ${{{text}}} = 1; }}")),
        ErrorKind::ContextNotAllowed {
            text: path.clone(),
            reference: path.clone(),
        }
    );
    // The element named is the first in Nix's encoding: an output's
    // `!out!…` before a plain path.
    let drv = "derivation { name = \"d\"; system = \"x\"; builder = \"/bin/sh\"; }";
    match fails(&format!(
        "let d = {drv}; in builtins.getAttr \"${{{text}}}${{d}}\" {{ }}"
    )) {
        ErrorKind::ContextNotAllowed { reference, .. } => {
            assert!(reference.starts_with("!out!/nix/store/"), "{reference}")
        }
        other => panic!("{other:?}"),
    }
    // Without context the same names are fine.
    assert_eq!(
        ok(&format!(
            "builtins.attrNames {{ ${{builtins.unsafeDiscardStringContext ({text})}} = 1; }}"
        )),
        format!("[ \"{path}\" ]")
    );
}

#[test]
fn confined_file_builtins_show_as_the_builtins() {
    let shown = crate::run_with_large_stack(|| {
        let mut ev = evaluator();
        let confined = ev.confined_file_builtins("/m");
        let files = ev.make_attrs(confined);
        let v = ev
            .eval_source_scoped(
                "test",
                "[ files.readFile files.readDir (files.hashFile \"sha256\") builtins.readFile ]",
                "/m",
                &[("files", files.clone())],
            )
            .unwrap();
        let v = ev.force_deep(&v).unwrap();
        let printed = ev.print(&v).unwrap();
        let error = ev
            .eval_source_scoped("test", "files.readFile + 1", "/m", &[("files", files)])
            .unwrap_err();
        (printed, error.to_string())
    })
    .unwrap();
    assert_eq!(shown.0, "[ <PRIMOP> <PRIMOP> <PRIMOP-APP> <PRIMOP> ]");
    assert!(shown.1.contains("a built-in function"), "{}", shown.1);
}

#[test]
fn calls_in_tail_position_keep_the_depth_limit_and_the_traces() {
    // The body of a call in tail position is evaluated in its caller's
    // native frame; the call depth counts it all the same.
    let tail = "let f = n: if n == 0 then 0 else f (n - 1); in";
    assert_eq!(ok(&format!("{tail} f 9999")), "0");
    assert_eq!(
        fails(&format!("{tail} f 10000")),
        ErrorKind::CallDepthExceeded { limit: 10_000 }
    );
    // An error is traced through the calls it passed, innermost first.
    let src = r#"let f = n: if n == 0 then throw "bottom" else f (n - 1); in f 3"#;
    let e = run(src).expect_err("throws");
    let called_at: Vec<&str> = e
        .trace()
        .iter()
        .filter(|t| t.message == "while calling a function")
        .map(|t| {
            let span = t.span.expect("a call site");
            &src[span.start as usize..span.end as usize]
        })
        .collect();
    assert_eq!(called_at, ["f (n - 1)", "f 3"]);
    // A caught error gives back the depth of the calls it unwound.
    let deep = "g = n: if n == 0 then 0 else 1 + g (n - 1);";
    let thrower = r#"t = n: if n == 0 then throw "x" else t (n - 1);"#;
    assert_eq!(
        ok(&format!(
            "let {deep} {thrower} in builtins.seq (builtins.tryEval (t 5000)) (g 9999)"
        )),
        "9999"
    );
}

/// `toPath` as Nix 2.8 has it: a canonical absolute path as a string.
#[test]
fn to_path_gives_a_canonical_string() {
    assert_eq!(
        ok(
            r#"let r = builtins.toPath "/a/b/../c//d/"; in [ (builtins.typeOf r) r (builtins.toPath /x/y) ]"#
        ),
        r#"[ "string" "/a/c/d" "/x/y" ]"#
    );
    assert!(
        matches!(fails(r#"builtins.toPath "a/b""#), ErrorKind::Other { message } if message.contains("doesn't represent an absolute path"))
    );
}

/// `nixVersion` names the Nix whose language eka follows, as that Nix does.
#[test]
fn nix_version_is_the_reference() {
    assert_eq!(ok("builtins.nixVersion"), "\"2.8.0\"");
    assert_eq!(
        ok(r#"builtins.compareVersions builtins.nixVersion "2.3""#),
        "1"
    );
}
