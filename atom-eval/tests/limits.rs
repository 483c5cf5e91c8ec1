//! Programs whose cost explodes from a small input: each must end in a
//! clear evaluation error, never a crash, an abort or a hang. Every case
//! runs under a deadline, so that a regression fails instead of hanging.

use std::sync::mpsc;
use std::time::Duration;

use atom_eval::{ErrorKind, Evaluator, Limits, NoFileSystem};

/// Memory limit of these tests: small, so that they stay quick.
const MEMORY: u64 = 256 << 20;

/// One evaluation at a time: the memory limit is checked against the whole
/// process's resident memory, which tests running in parallel would share.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Evaluates `source` strictly under `limits`, failing the test when it
/// takes longer than `deadline`; the error's kind, or the printed value.
fn eval_within(source: &str, limits: Limits, deadline: Duration) -> Result<String, ErrorKind> {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (send, receive) = mpsc::channel();
    let text = source.to_string();
    std::thread::Builder::new()
        .stack_size(atom_eval::STACK_SIZE)
        .spawn(move || {
            let mut ev = Evaluator::new(Box::new(NoFileSystem), limits);
            let out = ev
                .eval_source("limits", &text, "/")
                .and_then(|v| ev.force_deep(&v))
                .and_then(|v| ev.print(&v))
                .map_err(|e| e.kind().clone());
            let _ = send.send(out);
        })
        .unwrap();
    match receive.recv_timeout(deadline) {
        Ok(out) => out,
        Err(_) => panic!("no answer within {deadline:?}: {source}"),
    }
}

/// Evaluates `source` under the default limits: a case that expects
/// another error must not meet the small limit [`MEMORY`] because an
/// earlier case left the process's resident memory high (an allocator may
/// keep what it freed).
fn eval(source: &str) -> Result<String, ErrorKind> {
    eval_within(source, Limits::default(), Duration::from_secs(60))
}

fn assert_out_of_memory(source: &str) {
    let limits = Limits {
        max_memory_bytes: Some(MEMORY),
        ..Limits::default()
    };
    match eval_within(source, limits, Duration::from_secs(60)) {
        Err(ErrorKind::MemoryLimitExceeded { limit }) => assert_eq!(limit, MEMORY),
        other => panic!("{source}: {other:?}"),
    }
}

/// A list nested `n` deep: `[[[...]]]`.
fn deep_list(n: usize) -> String {
    format!("builtins.foldl' (acc: _: [acc]) [] (builtins.genList (x: x) {n})")
}

#[test]
fn a_string_that_doubles_runs_out_of_memory() {
    assert_out_of_memory(
        r#"let s = builtins.foldl' (a: _: a + a) "x" (builtins.genList (x: x) 40); in builtins.stringLength s"#,
    );
    assert_out_of_memory(
        r#"let s = builtins.foldl' (a: _: "${a}${a}") "x" (builtins.genList (x: x) 40); in builtins.stringLength s"#,
    );
}

#[test]
fn a_list_that_doubles_runs_out_of_memory() {
    assert_out_of_memory(
        "builtins.length (builtins.foldl' (a: _: a ++ a) [1] (builtins.genList (x: x) 40))",
    );
    assert_out_of_memory(
        "let l = builtins.genList (x: x) 10000; in builtins.length (builtins.concatLists (builtins.genList (x: l) 100000))",
    );
    assert_out_of_memory(
        "let l = builtins.genList (x: x) 10000; in builtins.length (builtins.concatMap (x: l) l)",
    );
    assert_out_of_memory("builtins.length (builtins.genList (x: x) 100000000)");
}

#[test]
fn repeating_strings_runs_out_of_memory() {
    // Each separator is the previous result: the length multiplies.
    assert_out_of_memory(
        r#"let l = builtins.genList (x: "0123456789") 100; f = s: builtins.concatStringsSep s l; in builtins.stringLength (f (f (f (f "x"))))"#,
    );
    assert_out_of_memory(
        r#"let f = s: builtins.replaceStrings ["x"] [s] s; x = builtins.concatStringsSep "" (builtins.genList (_: "x") 100); in builtins.stringLength (f (f (f (f (f x)))))"#,
    );
    assert_out_of_memory(
        r#"let s = builtins.concatStringsSep "" (builtins.genList (x: "ab") 1000000); l = builtins.genList (x: s) 1000; in builtins.stringLength (toString l)"#,
    );
}

#[test]
fn writing_a_shared_value_out_runs_out_of_memory() {
    // Each level holds the previous one twice: the text doubles per level.
    let shared = "builtins.foldl' (a: _: [ a a ]) [ 1 ] (builtins.genList (x: x) 40)";
    assert_out_of_memory(&format!(
        "builtins.stringLength (builtins.toJSON ({shared}))"
    ));
    assert_out_of_memory(&format!(
        "builtins.stringLength (builtins.toXML ({shared}))"
    ));
    assert_out_of_memory(&format!("builtins.stringLength (toString ({shared}))"));
}

#[test]
fn to_xml_of_a_cyclic_value_is_an_error() {
    assert_eq!(
        eval("let x = { a = x; }; in builtins.toXML x"),
        Err(ErrorKind::CyclicValue { format: "XML" })
    );
    assert_eq!(
        eval("let x = { a = [ x ]; }; in builtins.toJSON x"),
        Err(ErrorKind::CyclicValue { format: "JSON" })
    );
    // Shared, not cyclic: written twice.
    assert_eq!(
        eval(r#"let x = { a = 1; }; in builtins.toJSON [ x x ]"#),
        Ok(r#""[{\"a\":1},{\"a\":1}]""#.into())
    );
}

#[test]
fn to_xml_of_a_deep_value_is_an_error() {
    // Its lines are indented: the text grows with the square of the depth.
    match eval(&format!("builtins.toXML ({})", deep_list(150_000))) {
        Err(ErrorKind::MemoryLimitExceeded { .. } | ErrorKind::NestingTooDeep { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn exponential_regex_backtracking_is_bounded() {
    let source = format!(r#"builtins.match "(a*)*b" "{}""#, "a".repeat(34));
    let limits = Limits {
        max_steps: Some(1_000_000),
        ..Limits::default()
    };
    assert_eq!(
        eval_within(&source, limits, Duration::from_secs(60)),
        Err(ErrorKind::StepBudgetExhausted { budget: 1_000_000 })
    );
    let split = format!(r#"builtins.split "(a*)*b" "{}""#, "a".repeat(34));
    match eval_within(&split, Limits::default(), Duration::from_secs(120)) {
        Err(ErrorKind::RegexTooExpensive { pattern, steps }) => {
            assert_eq!(pattern, "(a*)*b");
            assert!(steps >= 100_000_000, "{steps}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn to_string_of_a_deep_list_is_an_error() {
    // Under the default memory limit: the native stack of a deep walk
    // counts too.
    let source = format!("toString ({})", deep_list(300_000));
    assert_eq!(
        eval_within(&source, Limits::default(), Duration::from_secs(60)),
        Err(ErrorKind::NestingTooDeep { limit: 200_000 })
    );
}

#[test]
fn walking_deep_values_is_an_error() {
    let deep = deep_list(300_000);
    for source in [
        deep.clone(),
        format!("builtins.toJSON ({deep})"),
        format!("builtins.deepSeq ({deep}) 1"),
        format!("({deep}) == ({deep})"),
        format!("({deep}) < ({deep})"),
    ] {
        match eval_within(&source, Limits::default(), Duration::from_secs(60)) {
            Err(ErrorKind::NestingTooDeep { .. }) => {}
            other => panic!("{source}: {other:?}"),
        }
    }
}

#[test]
fn deep_json_and_toml_input_is_an_error() {
    let brackets = |open: &str, n: usize| format!("\"{}\"", open.repeat(n));
    let json = format!("builtins.fromJSON {}", brackets("[", 100_000));
    assert!(matches!(eval(&json), Err(ErrorKind::InvalidJson { .. })));
    let toml = format!("builtins.fromTOML (\"a = \" + {})", brackets("[", 100_000));
    assert!(matches!(eval(&toml), Err(ErrorKind::InvalidToml { .. })));
    let toml = format!(
        "builtins.fromTOML (\"a = \" + {})",
        brackets("{b=", 100_000)
    );
    assert!(matches!(eval(&toml), Err(ErrorKind::InvalidToml { .. })));
}

#[test]
fn the_memory_limit_can_be_lifted() {
    let limits = Limits {
        max_memory_bytes: None,
        ..Limits::default()
    };
    let source = r#"let s = builtins.foldl' (a: _: a + a) "x" (builtins.genList (x: x) 22); in builtins.stringLength s"#;
    assert_eq!(
        eval_within(source, limits, Duration::from_secs(60)),
        Ok("4194304".into())
    );
    // And a small one refuses what an unlimited one allows.
    let limits = Limits {
        max_memory_bytes: Some(1 << 20),
        ..Limits::default()
    };
    assert!(matches!(
        eval_within(source, limits, Duration::from_secs(60)),
        Err(ErrorKind::MemoryLimitExceeded { .. })
    ));
}
