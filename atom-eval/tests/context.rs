//! String context against Nix 2.8: the context builtins (`getContext`,
//! `hasContext`, `appendContext`, `unsafeDiscardStringContext`,
//! `unsafeDiscardOutputDependency`) and how context flows through every
//! string builtin, compared with `nix-instantiate --eval --strict --json`
//! (in a store of its own) on a hand-written corpus and on seeded random
//! string expressions. Each value is compared with every string in it
//! shown as its text and its `getContext`, so both the printed value and
//! the context must agree. Where Nix refuses a string with context (names,
//! version strings, regular expressions, JSON and TOML texts, …), both
//! must refuse with Nix's message.

#[path = "../../atom-store/tests/common/mod.rs"]
mod common;
mod compare;

use std::process::Command;

use atom_eval::{Evaluator, Limits, NoFileSystem};
use common::NixStore;

/// Strings with every kind of context, bound before each expression:
/// `d` has two outputs, `e` depends on `d.dev`, `t` is a text and `u` a
/// text referring to `t`, `p` a placeholder (no context), `dd` the `.drv`
/// file of `d` as a plain path, `c` an empty string with context. `reveal` shows each string of a value
/// with its context (a derivation by its `outPath`, as its set nests
/// itself without end).
const PRELUDE: &str = r#"
  d = derivation { name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; };
  e = derivation { name = "e"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${d.dev}" ]; };
  t = builtins.toFile "t" "text";
  u = builtins.toFile "u" "refers to ${t}";
  p = builtins.placeholder "out";
  dd = builtins.unsafeDiscardOutputDependency d.drvPath;
  c = builtins.substring 0 0 "${d}";
  plain = builtins.unsafeDiscardStringContext;
  reveal = v:
    if builtins.isString v then { s = v; c = builtins.getContext v; }
    else if builtins.isList v then map reveal v
    else if builtins.isAttrs v then
      (if v.type or null == "derivation" then { derivation = reveal v.outPath; }
       else builtins.mapAttrs (n: reveal) v)
    else v;
"#;

/// Hand-written corpus: each expression must evaluate (to something JSON
/// can show).
const CORPUS: &[&str] = &[
    // what each kind of string carries
    r#"[ "${d}" d.outPath d.out.outPath d.dev.outPath "${d.dev}" d.drvPath dd t u p e.outPath ]"#,
    r#"[ (builtins.getContext "${d}") (builtins.getContext d.drvPath) (builtins.getContext e.drvPath) ]"#,
    r#"[ (builtins.hasContext "") (builtins.hasContext "${d}") (builtins.hasContext t) (builtins.hasContext p) (builtins.hasContext (builtins.substring 0 0 t)) ]"#,
    r#"builtins.getContext "${d}${d.dev}${d.drvPath}${dd}${t}""#,
    r#"builtins.attrNames (builtins.getContext "${e}${u}")"#,
    r#"map builtins.hasContext (builtins.attrNames (builtins.getContext "${e}${u}"))"#,
    // discarding
    r#"[ (builtins.unsafeDiscardStringContext "${d}${t}") (builtins.unsafeDiscardStringContext "x") ]"#,
    r#"[ (builtins.unsafeDiscardOutputDependency d.drvPath) (builtins.unsafeDiscardOutputDependency "${d}") (builtins.unsafeDiscardOutputDependency t) (builtins.unsafeDiscardOutputDependency "${d.drvPath}${d.dev}${u}") ]"#,
    r#"builtins.unsafeDiscardOutputDependency (builtins.unsafeDiscardOutputDependency d.drvPath)"#,
    // appending
    r#"builtins.appendContext "x" { ${plain d.drvPath} = { outputs = [ "out" "dev" ]; path = true; allOutputs = true; }; }"#,
    r#"builtins.appendContext "${t}" { ${plain d.drvPath} = { outputs = [ "dev" ]; }; }"#,
    r#"builtins.appendContext "${d}" { ${plain d.drvPath} = { outputs = [ "out" ]; }; }"#,
    r#"builtins.appendContext "" { ${plain t} = { path = true; }; ${plain u} = { path = false; }; }"#,
    r#"builtins.appendContext "" { ${plain d.drvPath} = { allOutputs = false; outputs = [ ]; path = false; }; }"#,
    r#"builtins.appendContext "" { ${plain d.drvPath} = { }; }"#,
    r#"builtins.appendContext "y" (builtins.getContext "${e}${d.drvPath}${u}")"#,
    r#"builtins.appendContext (builtins.appendContext "" { ${plain t} = { path = true; }; }) { ${plain u} = { path = true; }; }"#,
    // interpolation and concatenation
    r#"[ "${d}-${t}" ("a" + d) (d.dev + "b") (t + u) ("" + "${d}") ("${builtins.substring 0 0 t}" + "z") ]"#,
    r#"[ "${toString d}" "${d.drvPath}" "${"${d.dev}"}" ''${t} and ${u}'' ]"#,
    // toString, baseNameOf, dirOf
    r#"[ (toString d) (toString [ d t 1 null true [ ] "x" ]) (toString t) (toString { outPath = t; }) (toString { __toString = s: "${u}"; }) ]"#,
    r#"[ (baseNameOf "${d}") (dirOf "${d}") (baseNameOf t) (dirOf u) (baseNameOf "${t}/x") (dirOf "${t}/x/y") ]"#,
    // substring, including empty pieces
    r#"[ (builtins.substring 0 0 "${d}") (builtins.substring 11 5 t) (builtins.substring 100 1 "${d}") (builtins.substring 0 100 d.drvPath) ]"#,
    // concatStringsSep: the separator's context, even with nothing to separate
    r#"[ (builtins.concatStringsSep "${t}" [ ]) (builtins.concatStringsSep "${t}" [ "a" ]) (builtins.concatStringsSep "-" [ d t "x" ]) (builtins.concatStringsSep "" [ ]) ]"#,
    r#"builtins.concatStringsSep d.drvPath [ d.dev u ]"#,
    // replaceStrings: the input's context, and the context of each
    // replacement only where it is used; the patterns' context never
    r#"[ (builtins.replaceStrings [ "a" ] [ "${t}" ] "xyz") (builtins.replaceStrings [ "x" ] [ "${t}" ] "xyz") (builtins.replaceStrings [ "x" "y" ] [ "${t}" d.drvPath ] "yyy") ]"#,
    r#"[ (builtins.replaceStrings [ "" ] [ "${t}" ] "") (builtins.replaceStrings [ "" ] [ "${t}" ] "ab") (builtins.replaceStrings [ "a" "" ] [ "${u}" "${t}" ] "a") ]"#,
    r#"[ (builtins.replaceStrings [ "${t}" ] [ "x" ] "${t}") (builtins.replaceStrings [ (plain t) ] [ "T" ] "${t}/${d}") (builtins.replaceStrings [ "${d}" ] [ "x" ] "no") ]"#,
    r#"builtins.replaceStrings [ "text" "store" ] [ "${d.dev}" "${e}" ] "a text in the store""#,
    r#"builtins.replaceStrings [ "-" ] [ "" ] "${t}""#,
    r#"builtins.replaceStrings [ "" "-" ] [ "${t}" "${u}" ] "-""#,
    // JSON and XML keep the context of every string in them
    r#"[ (builtins.toJSON { a = "${d}"; b = [ t ]; c = { x = d.drvPath; }; }) (builtins.toJSON d) (builtins.toJSON [ 1 "x" ]) ]"#,
    r#"[ (builtins.toXML { a = "${d}"; b = [ t ]; }) (builtins.toXML 1) ]"#,
    r#"builtins.toXML d"#,
    r#"builtins.toXML [ d.dev e { x = d; } { type = "derivation"; outPath = t; } { type = "derivation"; drvPath = ""; } ]"#,
    // what drops context: matching, splitting, hashing, lengths, comparing
    r#"[ (builtins.match "(.*)-(.*)" "${d}") (builtins.split "-" "${t}") (builtins.hashString "sha256" "${d}") (builtins.stringLength "${d}") ]"#,
    r#"[ (builtins.split "=" "${t}") (builtins.split "=" (builtins.substring 0 0 u)) (builtins.split "(=)|(-)" "${d}") ]"#,
    r#"[ ("${t}" == plain t) (builtins.elem t [ (plain t) ]) (builtins.lessThan "${d}" (plain "${d}")) ({ a = t; } == { a = plain t; }) ]"#,
    r#"builtins.fromJSON (builtins.toJSON (plain "${d}"))"#,
    // strings kept inside values
    r#"{ a = [ "${d}" { b = t; } ]; c = builtins.attrValues { x = u; }; d = builtins.catAttrs "o" [ { o = d.dev; } ]; }"#,
    r#"builtins.mapAttrs (n: v: "${n}${v}") { x = t; y = d.drvPath; }"#,
    r#"builtins.listToAttrs [ { name = "k"; value = t; } ]"#,
    r#"[ d.drvAttrs.builder (builtins.head d.all).outPath (builtins.elemAt d.all 1).outPath d.dev.drvPath d.out.outputName ]"#,
    r#"builtins.derivationStrict { name = "s"; system = "x86_64-linux"; builder = "${t}"; outputs = [ "a" "b" ]; }"#,
    r#"[ (builtins.storePath t) (builtins.storePath "${u}") ]"#,
    // strings that went through a derivation's attributes
    r#"(derivation { name = "f"; system = "x86_64-linux"; builder = "/bin/sh"; s = "${d.dev} ${dd} ${u}"; l = [ e t ]; }).drvAttrs"#,
    r#"let f = derivation { name = "f"; system = "x86_64-linux"; builder = "/bin/sh"; s = "${d.dev} ${dd} ${u}"; }; in [ f.drvPath "${f}" ]"#,
    // names that carry no context
    r#"builtins.attrNames { ${plain "${d}"} = 1; }"#,
    r#"{ a = t; }.${plain "a${builtins.substring 0 0 t}"}"#,
    r#"builtins.getAttr (plain "a${builtins.substring 0 0 t}") { a = t; }"#,
];

/// One expression as a whole file: the prelude, then the revealed value.
fn source(expr: &str) -> String {
    format!("let\n{PRELUDE}\nin reveal (\n{expr}\n)\n")
}

/// All expressions in one file for Nix: a list of revealed values.
fn list_source(exprs: &[String]) -> String {
    let items: Vec<String> = exprs
        .iter()
        .map(|e| format!("  (reveal (\n{e}\n  ))\n"))
        .collect();
    format!("let\n{PRELUDE}\nin [\n{}]\n", items.concat())
}

fn nix_eval_all(store: &NixStore, exprs: &[String]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("context.nix");
    std::fs::write(&file, list_source(exprs)).unwrap();
    match store.eval_json(&file) {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(other) => panic!("expected a list from Nix, got {other}"),
        Err(stderr) => panic!("nix-instantiate failed: {stderr}"),
    }
}

/// Each expression evaluated by this crate, strictly, as JSON.
fn our_eval(exprs: &[String]) -> Vec<Result<serde_json::Value, String>> {
    let sources: Vec<String> = exprs.iter().map(|e| source(e)).collect();
    atom_eval::run_with_large_stack(move || {
        sources
            .iter()
            .map(|text| {
                let mut ev = Evaluator::new(Box::new(NoFileSystem), Limits::default());
                let json = ev
                    .eval_source("context", text, "/")
                    .and_then(|v| ev.force_deep(&v))
                    .and_then(|v| ev.to_json(&v))
                    .map_err(|err| format!("{err}"))?;
                serde_json::from_str(&json).map_err(|err| format!("bad JSON {json}: {err}"))
            })
            .collect()
    })
    .expect("evaluation thread")
}

fn compare(exprs: &[String]) {
    let store = NixStore::new();
    let theirs = nix_eval_all(&store, exprs);
    let ours = our_eval(exprs);
    compare::assert_same_as_nix(exprs, &theirs, &ours);
}

#[test]
fn context_corpus_matches_nix() {
    let exprs: Vec<String> = CORPUS.iter().map(|s| s.to_string()).collect();
    compare(&exprs);
}

/// A small deterministic generator (xorshift) of string expressions
/// mixing every kind of context through the string builtins.
struct Gen(u64);

impl Gen {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len() as u64) as usize]
    }

    /// A string with some context (or none).
    fn leaf(&mut self) -> String {
        self.pick(&[
            "\"${d}\"",
            "d.drvPath",
            "d.dev.outPath",
            "e.outPath",
            "e.drvPath",
            "dd",
            "t",
            "u",
            "p",
            "\"\"",
            "\"a-b/c\"",
            "\"out\"",
            "(builtins.substring 0 0 u)",
        ])
        .to_string()
    }

    /// A literal likely to occur in the strings above.
    fn pattern(&mut self) -> String {
        self.pick(&[
            "\"\"",
            "\"-\"",
            "\"/\"",
            "\"nix\"",
            "\"a\"",
            "\"store\"",
            "\"x\"",
        ])
        .to_string()
    }

    fn string(&mut self, depth: u32) -> String {
        if depth == 0 {
            return self.leaf();
        }
        let d = depth - 1;
        match self.next(19) {
            0 => format!("\"${{{}}}-${{{}}}\"", self.string(d), self.string(d)),
            1 => format!("({} + {})", self.string(d), self.string(d)),
            2 => format!(
                "(builtins.concatStringsSep {} [ {} {} ])",
                self.string(d),
                self.string(d),
                self.string(d)
            ),
            3 => format!(
                "(builtins.substring {} {} {})",
                self.next(60),
                self.next(40),
                self.string(d)
            ),
            4 => {
                let n = 1 + self.next(2);
                let froms: Vec<String> = (0..n).map(|_| self.pattern()).collect();
                let tos: Vec<String> = (0..n).map(|_| self.string(d)).collect();
                format!(
                    "(builtins.replaceStrings [ {} ] [ {} ] {})",
                    froms.join(" "),
                    tos.join(" "),
                    self.string(d)
                )
            }
            5 => format!("(toString [ {} {} ])", self.string(d), self.string(d)),
            6 => format!(
                "(builtins.toJSON {{ x = {}; y = [ {} ]; }})",
                self.string(d),
                self.string(d)
            ),
            7 => format!("(baseNameOf {})", self.string(d)),
            8 => format!("(dirOf {})", self.string(d)),
            9 => format!("(builtins.unsafeDiscardStringContext {})", self.string(d)),
            10 => format!("(builtins.unsafeDiscardOutputDependency {})", self.string(d)),
            11 => format!(
                "(builtins.appendContext {} (builtins.getContext {}))",
                self.string(d),
                self.string(d)
            ),
            12 => format!(
                "(if builtins.hasContext {} then {} else {})",
                self.string(d),
                self.string(d),
                self.string(d)
            ),
            13 => format!(
                "(builtins.elemAt (builtins.split \"/\" {}) 0)",
                self.string(d)
            ),
            14 => format!(
                "(builtins.concatStringsSep \",\" (builtins.attrNames (builtins.getContext {})))",
                self.string(d)
            ),
            15 => format!(
                "(builtins.foldl' (x: y: x + y) {} [ {} {} ])",
                self.string(d),
                self.string(d),
                self.string(d)
            ),
            16 => format!("({{ k = {}; }}.k)", self.string(d)),
            17 => format!(
                "(derivation {{ name = \"g\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; x = {}; }}).outPath",
                self.string(d)
            ),
            _ => format!("(builtins.toXML {})", self.string(d)),
        }
    }
}

#[test]
fn generated_context_expressions_match_nix() {
    let seed: u64 = std::env::var("ATOM_EVAL_CONTEXT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x51C0_47E7);
    let count: u64 = std::env::var("ATOM_EVAL_CONTEXT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut g = Gen(seed);
    let exprs: Vec<String> = (0..count)
        .map(|i| {
            let depth = 1 + (i % 4) as u32;
            format!("[ {} {} ]", g.string(depth), g.string(depth))
        })
        .collect();
    compare(&exprs);
}

/// Strings Nix refuses because they refer to the store: each must fail in
/// both, with Nix's message.
const REFUSED: &[&str] = &[
    // `toFile` may refer to plain paths only, not to derivations' outputs
    r#"builtins.toFile "f" "${d}""#,
    r#"builtins.toFile "f" d.drvPath"#,
    r#"builtins.toFile "f" "${t} ${e.dev or e}""#,
    // attribute names: literal sets, selection, `?`, and the builtins
    r#"{ ${t} = 1; }"#,
    r#"{ "a${c}" = 1; }"#,
    r#"{ a.${c} = 1; }"#,
    r#"{ a = 1; }.${t} or 2"#,
    r#"{ a = 1; }."a${c}""#,
    r#"{ a = 1; } ? ${t}"#,
    r#"builtins.getAttr t { }"#,
    r#"builtins.getAttr "a${c}" { a = 1; }"#,
    r#"builtins.getAttr "${t}${d}${d.drvPath}" { }"#,
    r#"builtins.hasAttr "${u}${dd}" { }"#,
    r#"builtins.removeAttrs { a = 1; } [ "a${c}" ]"#,
    r#"builtins.listToAttrs [ { name = t; value = 1; } ]"#,
    r#"builtins.catAttrs t [ { } ]"#,
    r#"builtins.groupBy (x: "k${c}") [ 1 ]"#,
    // a path extended by a string that refers to the store
    r#"./. + "${t}""#,
    r#"./. + "/a${c}""#,
    r#"./a/${t}"#,
    r#"./a/${c}b"#,
    // names of store objects and outputs
    r#"builtins.placeholder "out${c}""#,
    r#"builtins.toFile t "x""#,
    r#"builtins.path { path = ./.; name = "n${c}"; }"#,
    r#"builtins.appendContext "" { ${plain d.drvPath} = { outputs = [ "out${c}" ]; }; }"#,
    r#"derivation { name = "d${c}"; system = "x86_64-linux"; builder = "/bin/sh"; }"#,
    r#"(derivation { name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out${c}" ]; }).drvPath"#,
    r#"(derivation { __structuredAttrs = true; name = "d"; system = "x86_64-linux${c}"; builder = "/bin/sh"; }).drvPath"#,
    r#"(derivation { __structuredAttrs = true; name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; outputs = [ "out${c}" ]; }).drvPath"#,
    r#"(derivation { __structuredAttrs = true; name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; outputHashMode = "flat${c}"; outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; }).drvPath"#,
    r#"(derivation { __structuredAttrs = true; name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; outputHashAlgo = "sha256${c}"; outputHash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; }).drvPath"#,
    r#"(derivation { __structuredAttrs = true; name = "d"; system = "x86_64-linux"; builder = "/bin/sh"; outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=${c}"; }).drvPath"#,
    // texts to parse, versions, patterns, algorithm names
    r#"builtins.fromJSON "1${c}""#,
    r#"builtins.fromTOML "a = 1${c}""#,
    r#"builtins.match "a${c}" "a""#,
    r#"builtins.split "a${c}" "a""#,
    r#"builtins.parseDrvName "a-1${c}""#,
    r#"builtins.compareVersions "1${c}" "2""#,
    r#"builtins.compareVersions "1" "2${c}""#,
    r#"builtins.splitVersion "1${c}""#,
    r#"builtins.hashString "sha256${c}" "x""#,
];

/// Nix's message for `expr` (the first line after `error: `).
fn nix_error(expr: &str) -> Option<String> {
    let text = source(expr);
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "-E", &text])
        .output()
        .expect("nix-instantiate runs");
    if out.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("error: "));
    Some(line.unwrap_or(&stderr).to_string())
}

#[test]
fn refusals_match_nix() {
    common::require_nix();
    let exprs: Vec<String> = REFUSED.iter().map(|s| s.to_string()).collect();
    let ours = our_eval(&exprs);
    let mut mismatches = Vec::new();
    for (e, o) in exprs.iter().zip(&ours) {
        let theirs = nix_error(e).unwrap_or_else(|| panic!("the list is wrong: Nix evaluates {e}"));
        match o {
            Err(message) if *message == theirs => {}
            other => mismatches.push(format!("{e}\n    nix:  {theirs}\n    ours: {other:?}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
