//! Differential tests against real Nix: the same expressions evaluated by
//! `nix-instantiate --eval --strict --json` and by this crate must give the
//! same JSON, value for value. Includes laziness checks: expressions whose
//! unforced parts would throw.
//!
//! Skipped, with a printed notice, when `nix-instantiate` is not installed
//! (CI installs it).

mod compare;

use std::process::Command;

use atom_eval::{Evaluator, Limits, NoFileSystem};

/// Hand-written corpus: one expression per entry, each must evaluate.
const CORPUS: &[&str] = &[
    // arithmetic and comparison
    "1 + 2 * 3 - 4",
    "[ (7 / 2) (-7 / 2) (7 / -2) (builtins.div 9 4) ]",
    "[ (1.5 + 2) (3 - 0.25) (2 * 1.5) (1 / 4.0) ]",
    "[ (1 < 2) (2 <= 2) (3 > 4) (4 >= 4) (1 == 1.0) (\"a\" < \"b\") ([ 1 2 ] < [ 1 3 ]) ]",
    "[ (builtins.bitAnd 12 10) (builtins.bitOr 12 10) (builtins.bitXor 12 10) ]",
    "[ (builtins.ceil 1.5) (builtins.floor 1.5) (builtins.ceil (-1.5)) (builtins.floor (-1.5)) ]",
    "[ (!true) (true && false) (true || false) (false -> true) ]",
    // strings
    "\"a${toString 1}b${\"c\"}\"",
    "''\n  indented\n    more\n  back\n''",
    "''a''${b}''\\nc''",
    "[ (toString 1.5) (toString true) (toString false) (toString null) (toString [ 1 [ 2 ] \"x\" ]) ]",
    "builtins.substring 2 3 \"hello world\"",
    "[ (builtins.substring 0 100 \"abc\") (builtins.substring 5 1 \"abc\") (builtins.substring 1 (-1) \"abc\") ]",
    "builtins.stringLength \"hello\"",
    "builtins.concatStringsSep \", \" [ \"a\" \"b\" \"c\" ]",
    "builtins.replaceStrings [ \"o\" \"l\" ] [ \"0\" \"1\" ] \"hello world\"",
    "builtins.replaceStrings [ \"\" ] [ \"-\" ] \"abc\"",
    "builtins.split \"(,)|;\" \"a,b;c\"",
    "builtins.split \"[[:space:]]+\" \" a  b \"",
    "[ (builtins.match \"([a-z]+)-([0-9]+)\" \"foo-123\") (builtins.match \"a\" \"b\") (builtins.match \"(a)|(b)\" \"b\") ]",
    "builtins.match \"[^/]*/(.*)\" \"a/b/c\"",
    // regular expressions: POSIX extended, as Nix runs them
    "builtins.match \"(a|ab)(c|bcd)(d*)\" \"abcd\"",
    "[ (builtins.split \"a|ab\" \"abc\") (builtins.split \"(a|ab)(bc|c)?\" \"xabcx\") (builtins.split \"x*|y\" \"yx\") ]",
    "[ (builtins.split \"(a*)(ab)*\" \"aabab\") (builtins.split \"a*\" \"baaac\") (builtins.split \"b|\" \"ab\") (builtins.split \"(|a)\" \"ab\") ]",
    "[ (builtins.split \"(a|b)*\" \"abab\") (builtins.split \"(a|ab)*\" \"abab\") (builtins.split \"\" \"ab\") (builtins.split \"^a\" \"aaa\") (builtins.split \"$\" \"ab\") ]",
    "[ (builtins.match \"(a*)*\" \"aa\") (builtins.match \"(a|)*\" \"aa\") (builtins.match \"(a?)*(a)\" \"aa\") (builtins.match \"(|a)+\" \"a\") (builtins.match \"((a)|b)*\" \"ab\") ]",
    "[ (builtins.match \"a.b\" \"a\\nb\") (builtins.match \".\" \"é\") (builtins.match \"..\" \"é\") (builtins.match \"[é]\" \"é\") (builtins.split \"é\" \"aébé\") ]",
    "[ (builtins.match \"[[:alpha:]]+\" \"abé\") (builtins.match \"[[.hyphen.][=a=]]+\" \"-aA\") (builtins.match \"[]a]+\" \"]a\") (builtins.match \"[--0]+\" \"-./0\") (builtins.match \"[\\\\]+\" \"\\\\\") ]",
    "[ (builtins.match \"a{2,3}\" \"aaa\") (builtins.match \"a{2,3}\" \"aaaa\") (builtins.match \"x{1}{2}\" \"xx\") (builtins.match \"a+?\" \"a\") (builtins.match \"a{0}\" \"\") (builtins.match \"}]\" \"}]\") ]",
    "[ (builtins.match \"a{4294967295,5}\" \"aaaaaa\") (builtins.match \"a{4294967295,0}\" \"a\") (builtins.split \"a{4294967290,4294967292}\" \"baaab\") (builtins.match \"((a){2}){7690}\" \"a\") ]",
    "[ (builtins.hashString \"md5\" \"x\") (builtins.hashString \"sha1\" \"x\") (builtins.hashString \"sha256\" \"x\") (builtins.hashString \"sha512\" \"x\") ]",
    "[ (builtins.baseNameOf \"/a/b/c.nix\") (builtins.dirOf \"/a/b/c.nix\") (builtins.baseNameOf \"a/\") (builtins.dirOf \"a\") ]",
    "builtins.toJSON { a = [ 1 2.5 \"s\\n\" null true ]; b = { c = \"\\\"\"; }; }",
    "builtins.fromJSON ''{\"a\": [1, -2.5e3, \"x\\u00e9\", {\"b\": null}], \"c\": false}''",
    "builtins.fromJSON ''{\"a\": 1, \"a\": 2, \"b\": [18446744073709551615, -9223372036854775808, 9223372036854775807, 1e3, 0.5], \"c\": {}, \"d\": []}''",
    "builtins.toJSON (builtins.fromJSON ''\"a\\u0001\\u001fé\\\"\\\\\\n\\t\\r/\"'')",
    "[ (builtins.replaceStrings [ \"ab\" \"a\" \"é\" ] [ \"X\" \"Y\" \"e\" ] \"aabéaé\") (builtins.replaceStrings [ \"x\" ] [ \"y\" ] \"abc\") (builtins.replaceStrings [ \"a\" \"\" ] [ \"1\" \"-\" ] \"bab\") ]",
    "[ \"${\"a\"}${\"\"}${\"b\"}\" (\"c\" + \"\") (\"\" + \"d\") (builtins.concatStringsSep \"\" [ \"x\" \"\" \"y\" ]) (builtins.concatStringsSep \", \" [ ]) ]",
    "builtins.fromTOML ''\n  a = 1\n  b = \"x\"\n  [c]\n  d = [1, 2]\n  [[e]]\n  f = 1.5\n''",
    "[ (builtins.compareVersions \"1.2\" \"1.10\") (builtins.compareVersions \"2.0pre\" \"2.0\") (builtins.compareVersions \"1.0\" \"1.0\") ]",
    "builtins.splitVersion \"1.2.3-beta4\"",
    "builtins.parseDrvName \"nix-0.12pre12876\"",
    "builtins.unsafeDiscardStringContext \"x\"",
    // attribute sets
    "rec { a = 1; b = a + 1; c = { d = b; }; }",
    "let s = { a = 1; b = 2; }; in s // { b = 3; c = 4; }",
    "{ a.b.c = 1; a.b.d = 2; a.e = 3; }",
    "let k = \"dyn\"; in { ${k} = 1; \"${k}2\" = 2; }",
    "{ a = 1; } ? a",
    "({ a = { b = 1; }; }) ? a.b",
    "{ a = 1; }.b or 5",
    "builtins.attrNames { z = 1; a = 2; m = 3; }",
    "builtins.attrValues { z = 1; a = 2; m = 3; }",
    "builtins.getAttr \"x\" { x = 5; }",
    "builtins.hasAttr \"y\" { x = 5; }",
    "builtins.listToAttrs [ { name = \"a\"; value = 1; } { name = \"b\"; value = 2; } { name = \"a\"; value = 3; } ]",
    "builtins.mapAttrs (n: v: n + toString v) { a = 1; b = 2; }",
    // `//` folds over big sets (layered internally): lookups, names, equality
    "let s = builtins.foldl' (acc: i: acc // { \"k${toString (builtins.bitAnd (i * 37) 127)}\" = i; }) { } (builtins.genList (i: i) 300); in [ (builtins.attrNames s) (builtins.attrValues s) s.k5 (s ? k200) (builtins.length (builtins.attrNames s)) ]",
    "let big = builtins.listToAttrs (builtins.genList (i: { name = \"a${toString i}\"; value = i; }) 200); f = s: j: s // { \"a${toString (j * 7)}\" = -j; b = j; }; s = builtins.foldl' f big (builtins.genList (j: j) 25); t = builtins.foldl' f (big // { }) (builtins.genList (j: j) 25); in [ (s == t) (s == big) (s // { b = 0; } == t // { b = 0; }) s.a7 s.a168 s.a169 s.b (builtins.attrValues (builtins.removeAttrs s (builtins.genList (i: \"a${toString i}\") 190))) (builtins.intersectAttrs { a3 = 0; b = 0; zz = 0; } s) ]",
    "let big = builtins.listToAttrs (builtins.genList (i: { name = \"n${toString i}\"; value = i; }) 100); s = big // { n5 = \"x\"; } // { m = 1; } // { n5 = \"y\"; n99 = null; }; in [ (builtins.attrNames s == builtins.attrNames (big // { m = 0; })) s.n5 s.n99 s.m (builtins.mapAttrs (n: v: n) (builtins.removeAttrs s (builtins.attrNames big))) (builtins.toJSON (builtins.intersectAttrs { n1 = 0; n5 = 0; m = 0; } s)) ]",
    "builtins.removeAttrs { a = 1; b = 2; c = 3; } [ \"a\" \"c\" \"zz\" ]",
    "builtins.intersectAttrs { a = 0; c = 0; } { a = 1; b = 2; c = 3; }",
    "builtins.catAttrs \"a\" [ { a = 1; } { b = 2; } { a = 3; } ]",
    "builtins.zipAttrsWith (n: vs: vs) [ { a = 1; b = 2; } { a = 3; } ]",
    "builtins.functionArgs ({ a, b ? 2, ... }: a)",
    "let inherit (builtins) length; in length [ 1 2 ]",
    "with builtins; [ (isAttrs { }) (isList [ ]) (isFunction map) (isString \"\") (isInt 1) (isFloat 1.0) (isBool true) (isNull null) ]",
    "map builtins.typeOf [ 1 1.0 \"s\" true null [ ] { } (x: x) map ]",
    // lists
    "builtins.length [ 1 2 3 ]",
    "[ (builtins.head [ 1 2 ]) (builtins.tail [ 1 2 3 ]) (builtins.elemAt [ 1 2 3 ] 2) ]",
    "[ (builtins.elem 2 [ 1 2 ]) (builtins.elem 5 [ 1 2 ]) ]",
    "builtins.filter (x: x > 1) [ 1 2 3 ]",
    "map (x: x * 2) [ 1 2 3 ]",
    "builtins.foldl' (a: b: a + b) 0 [ 1 2 3 4 ]",
    "builtins.genList (i: i * i) 5",
    "builtins.concatLists [ [ 1 ] [ ] [ 2 3 ] ]",
    "builtins.concatMap (x: [ x x ]) [ 1 2 ]",
    "[ (builtins.any (x: x > 2) [ 1 3 ]) (builtins.all (x: x > 2) [ 1 3 ]) ]",
    "builtins.sort (a: b: a > b) [ 3 1 4 1 5 9 2 6 ]",
    "builtins.sort (a: b: a.k < b.k) [ { k = 2; v = 1; } { k = 1; v = 2; } { k = 2; v = 3; } { k = 1; v = 4; } ]",
    "builtins.partition (x: x > 2) [ 1 2 3 4 ]",
    "builtins.groupBy (x: if x > 2 then \"big\" else \"small\") [ 1 2 3 4 ]",
    "builtins.genericClosure { startSet = [ { key = 5; } ]; operator = x: if x.key <= 1 then [ ] else [ { key = x.key - 1; } { key = x.key - 2; } ]; }",
    "[ 1 ] ++ [ 2 3 ] ++ [ ]",
    // functions
    "let f = x: y: x - y; in f 10 3",
    "({ a, b ? a * 2 }: a + b) { a = 3; }",
    "(args@{ a, ... }: args) { a = 1; b = 2; }",
    "let f = { __functor = self: x: x + self.n; n = 1; }; in f 2",
    "let fix = f: let x = f x; in x; in (fix (self: { a = 1; b = self.a + 1; })).b",
    "assert 1 == 1; \"ok\"",
    "builtins.tryEval (throw \"x\")",
    "builtins.tryEval (assert false; 1)",
    "builtins.seq 1 2",
    "builtins.deepSeq [ 1 { a = 2; } ] 3",
    "let x = { a = 1; }; in [ x x ]",
    "builtins.addErrorContext \"ctx\" 5",
    // laziness: what must not be forced is not forced
    "let a = throw \"forced a\"; in 2",
    "builtins.length [ (throw \"x\") (abort \"y\") ]",
    "(x: 1) (throw \"x\")",
    "builtins.attrNames { a = throw \"x\"; b = abort \"y\"; }",
    "({ a ? throw \"x\", b }: b) { b = 1; }",
    "builtins.head [ 1 (throw \"x\") ]",
    "[ (true || throw \"x\") (false && throw \"x\") (if true then 1 else throw \"x\") ]",
    "{ a = 1; b = throw \"x\"; }.a",
    "builtins.elemAt [ (throw \"x\") 2 ] 1",
    "builtins.length (builtins.genList (x: throw \"x\") 5)",
    "builtins.hasAttr \"a\" { a = throw \"x\"; }",
    "builtins.foldl' (a: b: a + 1) 0 [ (throw \"x\") (throw \"y\") ]",
    "builtins.listToAttrs [ { name = \"a\"; value = throw \"x\"; } ] ? a",
    "(builtins.mapAttrs (n: v: throw n) { a = 1; }) ? a",
    "builtins.length (map (x: throw \"x\") [ 1 2 3 ])",
    "builtins.length (builtins.filter (x: true) [ (throw \"x\") ])",
    "let s = rec { a = throw \"x\"; b = 1; }; in s.b",
    "builtins.isList (builtins.tail [ 1 (throw \"x\") ])",
    "builtins.length (builtins.concatMap (x: [ (throw \"x\") ]) [ 1 2 ])",
    "builtins.length (builtins.attrValues { a = throw \"x\"; })",
    "builtins.typeOf (builtins.zipAttrsWith (n: v: throw \"x\") [ { a = 1; } ])",
    "({ a, ... }: a) { a = 1; b = throw \"x\"; }",
    "builtins.tryEval (builtins.seq (throw \"x\") 1)",
];

/// Expressions both evaluators must reject (compared one by one: only
/// whether evaluation fails, not the wording).
const FAILING: &[&str] = &[
    "builtins.match \"\\\\d\" \"1\"",
    "builtins.match \"{\" \"{\"",
    "builtins.match \"a{,3}\" \"a\"",
    "builtins.match \"(?:a)\" \"a\"",
    "builtins.split \"a|*b\" \"b\"",
    "builtins.match \"[z-a]\" \"a\"",
    "builtins.match \"[[:nope:]]\" \"a\"",
    "builtins.match \"a{1000}{1000}\" \"a\"",
    "builtins.match \"((a){2}){7691}\" \"a\"",
    "builtins.match \"(ab){19997,}\" \"a\"",
    "1 + \"a\"",
    "{ a = 1; }.b",
    "(x: x) 1 2",
    "let x = x; in x",
    "assert 1 == 2; 3",
    "throw \"boom\"",
    "builtins.head [ ]",
    "builtins.elemAt [ 1 ] 5",
    "1 / 0",
    "({ a }: a) { b = 1; }",
    "({ a }: a) { }",
    "builtins.length (builtins.sort (a: b: true) [ (throw \"x\") ])",
    "(builtins.partition (x: true) [ (throw \"x\") ]).wrong",
    "\"${1.5}\"",
    "builtins.fromJSON \"{\"",
    "if 1 then 2 else 3",
    "builtins.substring (-1) 1 \"abc\"",
    "[ 1 ] < [ \"a\" ]",
    "builtins.genericClosure { startSet = [ { key = 1; } { key = \"a\"; } ]; operator = x: [ ]; }",
    "let f = { a, ... }@args: args.b; in f { a = 1; }",
];

fn nix_fails(expr: &str) -> bool {
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "-E", expr])
        .output()
        .expect("nix-instantiate runs");
    !out.status.success()
}

#[test]
fn failures_match_nix() {
    require_nix();
    let exprs: Vec<String> = FAILING.iter().map(|s| s.to_string()).collect();
    let ours = our_eval(&exprs);
    for (e, o) in exprs.iter().zip(&ours) {
        assert!(nix_fails(e), "the corpus is wrong: Nix evaluates {e}");
        assert!(o.is_err(), "Nix rejects {e}, we gave {o:?}");
    }
}

/// Fails the test, saying what to install, when the reference is missing:
/// a differential test that compares with nothing must not pass.
fn require_nix() {
    let found = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "nix-instantiate (Nix 2.8) is needed: the differential tests compare with it (apt-get install nix-bin, or ./test.sh)"
    );
}

/// Evaluates `[ e1 e2 ... ]` with Nix, returning its JSON elements.
fn nix_eval(exprs: &[String]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("corpus.nix");
    std::fs::write(&file, list_source(exprs)).unwrap();
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(&file)
        .output()
        .expect("nix-instantiate runs");
    assert!(
        out.status.success(),
        "nix-instantiate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("nix prints JSON") {
        serde_json::Value::Array(items) => items,
        other => panic!("expected a list from Nix, got {other}"),
    }
}

/// The same with this crate, one expression at a time so a failure names it.
fn our_eval(exprs: &[String]) -> Vec<Result<serde_json::Value, String>> {
    let exprs = exprs.to_vec();
    atom_eval::run_with_large_stack(move || {
        let mut ev = Evaluator::new(Box::new(NoFileSystem), Limits::default());
        exprs
            .iter()
            .map(|e| {
                let json = ev
                    .eval_source("corpus", e, "/")
                    .and_then(|v| ev.force_deep(&v))
                    .and_then(|v| ev.to_json(&v))
                    .map_err(|err| format!("{err}"))?;
                serde_json::from_str(&json).map_err(|err| format!("bad JSON {json}: {err}"))
            })
            .collect()
    })
    .expect("evaluation thread")
}

fn list_source(exprs: &[String]) -> String {
    let mut s = String::from("[\n");
    for e in exprs {
        s.push_str("  (");
        s.push_str(e);
        s.push_str("\n  )\n");
    }
    s.push(']');
    s
}

fn compare(exprs: &[String]) {
    let theirs = nix_eval(exprs);
    let ours = our_eval(exprs);
    compare::assert_same_as_nix(exprs, &theirs, &ours);
}

#[test]
fn corpus_matches_nix() {
    require_nix();
    let exprs: Vec<String> = CORPUS.iter().map(|s| s.to_string()).collect();
    compare(&exprs);
}

/// A small deterministic generator (xorshift) of well-typed expressions
/// that cannot overflow or divide by zero.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn int(&mut self, depth: u32) -> String {
        if depth == 0 {
            return self.next(20).to_string();
        }
        let d = depth - 1;
        match self.next(11) {
            0 => format!("({} + {})", self.int(d), self.int(d)),
            1 => format!("({} - {})", self.int(d), self.int(d)),
            2 => format!("({} * {})", self.next(10), self.int(d)),
            3 => format!(
                "(let q = {}; in builtins.div {} (if q == 0 then 1 else q))",
                self.int(d),
                self.int(d)
            ),
            4 => format!(
                "(if {} then {} else {})",
                self.boolean(d),
                self.int(d),
                self.int(d)
            ),
            5 => format!("(let x = {}; in x + x)", self.int(d)),
            6 => format!(
                "({{ a = {}; b = {}; }}.{})",
                self.int(d),
                self.int(d),
                if self.next(2) == 0 { "a" } else { "b" }
            ),
            7 => format!("(builtins.foldl' (acc: v: acc + v) 0 {})", self.list(d)),
            8 => format!("(builtins.length {})", self.list(d)),
            9 => format!("(builtins.stringLength {})", self.string(d)),
            _ => format!("((x: x - 1) {})", self.int(d)),
        }
    }

    fn boolean(&mut self, depth: u32) -> String {
        let d = depth.saturating_sub(1);
        match self.next(5) {
            0 => format!("({} < {})", self.int(d), self.int(d)),
            1 => format!("({} == {})", self.value(d), self.value(d)),
            2 => format!("(builtins.elem {} {})", self.int(d), self.list(d)),
            3 => format!("({} ? a)", self.attrs(d)),
            _ => {
                if self.next(2) == 0 {
                    "true".into()
                } else {
                    "false".into()
                }
            }
        }
    }

    fn list(&mut self, depth: u32) -> String {
        let d = depth.saturating_sub(1);
        match self.next(5) {
            0 => {
                let n = self.next(4);
                let items: Vec<String> = (0..n).map(|_| self.int(d)).collect();
                format!("[ {} ]", items.join(" "))
            }
            1 => format!("(map (x: x * 2) {})", self.list(d)),
            2 => format!("(builtins.filter (x: x > 5) {})", self.list(d)),
            3 => format!("(builtins.sort builtins.lessThan {})", self.list(d)),
            _ => format!(
                "(builtins.genList (i: i + {}) {})",
                self.int(d),
                self.next(5)
            ),
        }
    }

    fn string(&mut self, depth: u32) -> String {
        let d = depth.saturating_sub(1);
        match self.next(4) {
            0 => format!("(toString {})", self.int(d)),
            1 => format!("\"v${{toString {}}}\"", self.int(d)),
            2 => format!(
                "(builtins.concatStringsSep \",\" (map toString {}))",
                self.list(d)
            ),
            _ => format!(
                "(builtins.replaceStrings [ \"1\" ] [ \"one\" ] (toString {}))",
                self.int(d)
            ),
        }
    }

    fn attrs(&mut self, depth: u32) -> String {
        let d = depth.saturating_sub(1);
        match self.next(4) {
            0 => format!("{{ a = {}; }}", self.int(d)),
            1 => format!("({} // {{ b = {}; }})", self.attrs(d), self.int(d)),
            2 => format!(
                "(builtins.mapAttrs (n: v: v + 1) {{ a = {}; c = {}; }})",
                self.int(d),
                self.int(d)
            ),
            _ => format!(
                "(builtins.removeAttrs {} [ \"a\" ])",
                if d == 0 {
                    "{ a = 1; b = 2; }".to_string()
                } else {
                    self.attrs(d)
                }
            ),
        }
    }

    fn value(&mut self, depth: u32) -> String {
        match self.next(5) {
            0 => self.int(depth),
            1 => self.list(depth),
            2 => self.string(depth),
            3 => self.attrs(depth),
            _ => self.boolean(depth),
        }
    }
}

#[test]
fn generated_expressions_match_nix() {
    require_nix();
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let exprs: Vec<String> = (0..400).map(|i| g.value(1 + (i % 4) as u32)).collect();
    compare(&exprs);
}

/// Printed without `--strict`, where what is still a thunk shows as
/// `<CODE>`: each expression printed by `nix-instantiate --eval` and by this
/// crate, byte for byte.
const LAZY_PRINTING: &[&str] = &[
    "{ a = 1 + 1; }",
    "let x = 1; in { a = x + 1; b = x; c = [ (x * 2) x ]; d = x < 2; e = x == 1; }",
    "(x: { a = x + 1; b = x; }) 2",
    "let f = x: { a = x - 1; }; in f 3",
    "{ f = x: x; g = builtins.add; h = map; }",
    "[ (x: x) [ 1 ] { } \"s\" null true 1.5 ]",
    "let x = 3; in (y: { inherit y; }) (x + 1)",
    "let x = 3; in (y: builtins.seq y { inherit y; }) (x + 1)",
    "let f = x: x; in [ f ]",
    "let x = 3; f = y: if y < 2 then y else { v = y; }; in f (x + 1)",
    "let x = 3; g = y: let z = y; in { inherit z; }; in g (x + 1)",
    "let s = { f = x: x; }; in builtins.seq s.f s",
    "let x = 2; l = [ (x + 1) ]; in builtins.seq (builtins.head l) l",
    "let x = 2; in map (y: y) [ (x + 1) ]",
    "rec { x = 1; a = x + 1; f = y: y; }",
    "let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in { r = fib 10; s = fib; }",
    "let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in builtins.seq (fib 5) { inherit fib; }",
];

#[test]
fn lazy_printing_matches_nix() {
    require_nix();
    let exprs: Vec<String> = LAZY_PRINTING.iter().map(|s| s.to_string()).collect();
    let ours = {
        let exprs = exprs.clone();
        atom_eval::run_with_large_stack(move || {
            let mut ev = Evaluator::new(Box::new(NoFileSystem), Limits::default());
            exprs
                .iter()
                .map(|e| {
                    ev.eval_source("corpus", e, "/")
                        .and_then(|v| ev.print(&v))
                        .map_err(|err| format!("{err}"))
                })
                .collect::<Vec<_>>()
        })
        .expect("evaluation thread")
    };
    for (e, o) in exprs.iter().zip(ours) {
        let out = Command::new("nix-instantiate")
            .args(["--eval", "-E", e])
            .output()
            .expect("nix-instantiate runs");
        let theirs = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        assert_eq!(o.as_deref(), Ok(theirs.as_str()), "{e}");
    }
}

/// Random POSIX extended regular expressions (shallow enough that
/// libstdc++'s backtracking, which Nix uses, stays fast) and inputs, for
/// `match` and `split`.
fn regex(g: &mut Gen, depth: u32) -> String {
    let branches = 1 + g.next(3) / 2 + g.next(2) * g.next(2);
    let mut alternatives = Vec::new();
    for _ in 0..branches {
        let mut branch = String::new();
        if g.next(20) == 0 {
            branch.push('^');
        }
        for _ in 0..g.next(4) {
            let atom = match g.next(10) {
                0..=3 => ["a", "b", "a", "\\\\.", "-", "}"][g.next(6) as usize].to_string(),
                4 => ".".into(),
                5 | 6 => [
                    "[ab]",
                    "[^a]",
                    "[a-c]",
                    "[[:alpha:]]",
                    "[]a]",
                    "[--a]",
                    "[[=A=]]",
                ][g.next(7) as usize]
                    .to_string(),
                _ if depth > 0 => format!("({})", regex(g, depth - 1)),
                _ => "a".into(),
            };
            let quantifier = ["", "", "", "*", "+", "?", "{2}", "{0,1}", "{1,}", "{1,2}"];
            branch.push_str(&atom);
            branch.push_str(quantifier[g.next(quantifier.len() as u64) as usize]);
        }
        if g.next(20) == 0 {
            branch.push_str("\\$");
        }
        alternatives.push(branch);
    }
    alternatives.join("|")
}

#[test]
fn generated_regexes_match_nix() {
    require_nix();
    let mut g = Gen(0x2545_F491_4F6C_DD1D);
    let exprs: Vec<String> = (0..300)
        .map(|_| {
            let re = regex(&mut g, 2);
            let input: String = (0..g.next(8))
                .map(|_| ["a", "b", "c", "A", "-", ".", "}"][g.next(7) as usize])
                .collect();
            format!(
                "[ (builtins.match \"{re}\" \"{input}\") (builtins.split \"{re}\" \"{input}\") ]"
            )
        })
        .collect();
    compare(&exprs);
}
