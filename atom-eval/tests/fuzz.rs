//! Fuzzing on stable Rust: generated and mutated inputs for the parser and
//! evaluator, `fromJSON`/`fromTOML`, and the parse-cache pack reader. Every
//! input must end in a value or an evaluation error: never a panic, a crash
//! or a hang.
//!
//! Each target runs for [`DEFAULT_SECONDS`] in the test suite;
//! `ATOM_EVAL_FUZZ_SECONDS=N` runs each for `N` seconds, and
//! `ATOM_EVAL_FUZZ_SEED=N` starts from another seed (the default seed
//! changes with the time, so that runs explore different inputs; a failure
//! prints the seed and the input). Before it is run, each input is written
//! to `target/fuzz/<target>.current`, so that one that crashes the process
//! is not lost. Inputs that once failed are kept in `tests/fuzz-corpus/`
//! (one file each, per target) and always run first; they are also the
//! seeds that mutation starts from, with the files of
//! `../shared/nix-lang-tests` when that folder is present, or of the folder
//! `ATOM_EVAL_FUZZ_SEEDS` names (never copied here).
//!
//! The Nix generator is structure-aware: it writes well-formed expressions
//! over every builtin and operator, with small integers and strings, so
//! that most inputs get past the parser and exercise evaluation; mutation
//! of those and of the seeds (byte flips, splices, repeats) covers the
//! parser's error paths.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use atom_eval::{CompiledFiles, Evaluator, Limits, NoFileSystem, Value};

const DEFAULT_SECONDS: u64 = 3;

/// One input may take this long before it counts as a hang (the limits
/// below stop any evaluation well before).
const HANG: Duration = Duration::from_secs(60);

/// Small limits: a fuzzed program that loops or explodes stops early.
fn limits() -> Limits {
    Limits {
        max_call_depth: 2_000,
        max_steps: Some(2_000_000),
        max_memory_bytes: Some(64 << 20),
    }
}

// ------------------------------------------------------------------ driver

/// SplitMix64: a small, seedable generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn seconds() -> u64 {
    std::env::var("ATOM_EVAL_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECONDS)
}

fn first_seed() -> u64 {
    std::env::var("ATOM_EVAL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        })
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target)
}

/// The kept inputs of `target`, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Nix files of Nix's own language tests, as seeds, when present (or of
/// the folder `ATOM_EVAL_FUZZ_SEEDS` names).
fn nix_seeds() -> Vec<Vec<u8>> {
    let dir = std::env::var_os("ATOM_EVAL_FUZZ_SEEDS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/nix-lang-tests/lang"),
        PathBuf::from,
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<Vec<u8>> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".nix"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    files.sort();
    files
}

/// Runs `check` on a worker thread (with the evaluator's large stack) for
/// every input `next` makes, until the time is up; the kept corpus first.
/// Fails on the first input that panics or hangs, naming it.
fn fuzz(target: &'static str, mut next: impl FnMut(&mut Rng) -> Vec<u8>, check: fn(&[u8])) {
    let current = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz");
    std::fs::create_dir_all(&current).unwrap();
    let current = current.join(format!("{target}.current"));
    let (send_input, inputs) = mpsc::channel::<Vec<u8>>();
    let (send_done, done) = mpsc::channel::<std::thread::Result<()>>();
    std::thread::Builder::new()
        .stack_size(atom_eval::STACK_SIZE)
        .spawn(move || {
            for input in inputs {
                let r = std::panic::catch_unwind(|| check(&input));
                if send_done.send(r).is_err() {
                    return;
                }
            }
        })
        .unwrap();
    let run = |label: &str, input: Vec<u8>| {
        std::fs::write(&current, &input).unwrap();
        send_input.send(input.clone()).unwrap();
        let shown = String::from_utf8_lossy(&input[..input.len().min(2_000)]).into_owned();
        match done.recv_timeout(HANG) {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("{target}: {label} panicked on {shown:?}"),
            Err(_) => panic!("{target}: {label} hangs (over {HANG:?}) on {shown:?}"),
        }
    };
    for (name, input) in corpus(target) {
        run(&format!("corpus file {name}"), input);
    }
    let seed = first_seed();
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds());
    let mut count = 0u64;
    while Instant::now() < deadline {
        run(&format!("input {count} of seed {seed}"), next(&mut rng));
        count += 1;
    }
    eprintln!(
        "fuzz {target}: {count} inputs in {}s (seed {seed})",
        seconds()
    );
}

// -------------------------------------------------------------- mutation

/// A mutated copy of `input`: a few byte flips, insertions, deletions,
/// splices from `donor`, or repeats of a slice.
fn mutate(rng: &mut Rng, input: &[u8], donor: &[u8]) -> Vec<u8> {
    const INTERESTING: &[&[u8]] = &[
        b"${",
        b"}",
        b"\"",
        b"''",
        b"(",
        b")",
        b"[",
        b"]",
        b"{",
        b"}",
        b"rec",
        b"let",
        b"in",
        b"with",
        b"or",
        b"?",
        b".",
        b"/",
        b"./",
        b"~/",
        b"<",
        b">",
        b"#",
        b"/*",
        b"*/",
        b"\\",
        b"\n",
        b"\r",
        b"\0",
        b"\xff",
        b"9223372036854775807",
        b"-",
        b"...",
        b"@",
        b":",
        b";",
        b"=",
        b"inherit",
        b"__curPos",
        b"1e308",
        b"0.",
        b"''$",
        b"$$",
        b"\xc3",
    ];
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let piece = rng.pick(INTERESTING);
                out.splice(at..at, piece.iter().copied());
            }
            2 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            3 if !donor.is_empty() => {
                let from = rng.below(donor.len());
                let to = (from + 1 + rng.below(64)).min(donor.len());
                out.splice(at..at, donor[from..to].iter().copied());
            }
            4 if !out.is_empty() => {
                let from = rng.below(out.len());
                let to = (from + 1 + rng.below(32)).min(out.len());
                let piece = out[from..to].repeat(1 + rng.below(8));
                out.splice(at..at, piece);
            }
            _ => out.insert(at.min(out.len()), rng.next() as u8),
        }
    }
    out.truncate(1 << 16);
    out
}

// ------------------------------------------------------- Nix generator

/// Writes random well-formed Nix expressions.
struct NixGen<'a> {
    rng: &'a mut Rng,
    builtins: &'a [&'static str],
    out: String,
}

impl NixGen<'_> {
    const NAMES: &'static [&'static str] = &["a", "b", "x", "self", "f", "or", "__functor"];
    const OPS: &'static [&'static str] = &[
        "+", "-", "*", "/", "++", "//", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "->",
    ];

    fn expr(&mut self, depth: usize) {
        if depth == 0 {
            return self.atom();
        }
        let d = depth - 1;
        match self.rng.below(16) {
            0 | 1 => self.atom(),
            2 => {
                // A builtin applied to arguments.
                let name = *self.rng.pick(self.builtins);
                self.out.push_str(&format!("(builtins.{name}"));
                for _ in 0..self.rng.below(4) {
                    self.out.push(' ');
                    self.paren(d);
                }
                self.out.push(')');
            }
            3 => {
                self.out.push('[');
                for _ in 0..self.rng.below(4) {
                    self.out.push(' ');
                    self.paren(d);
                }
                self.out.push_str(" ]");
            }
            4 => self.attrs(d),
            5 => {
                self.out.push_str("let ");
                self.bindings(d);
                self.out.push_str(" in ");
                self.expr(d);
            }
            6 => {
                if self.rng.chance(2) {
                    let name = *self.rng.pick(Self::NAMES);
                    self.out.push_str(&format!("({name}: "));
                } else {
                    self.out.push_str("({ a ? 1, b, ... }@x: ");
                }
                self.expr(d);
                self.out.push(')');
            }
            7 => {
                self.paren(d);
                self.out.push(' ');
                self.paren(d);
            }
            8 => {
                self.paren(d);
                let op = *self.rng.pick(Self::OPS);
                self.out.push_str(&format!(" {op} "));
                self.paren(d);
            }
            9 => {
                self.out.push_str("if ");
                self.expr(d);
                self.out.push_str(" then ");
                self.expr(d);
                self.out.push_str(" else ");
                self.expr(d);
            }
            10 => {
                self.paren(d);
                let name = *self.rng.pick(Self::NAMES);
                self.out.push_str(&format!(".{name} or "));
                self.paren(d);
            }
            11 => {
                self.out.push_str("with ");
                self.paren(d);
                self.out.push_str("; ");
                self.expr(d);
            }
            12 => {
                self.out.push_str("\"s${");
                self.expr(d);
                self.out.push_str("}t\"");
            }
            13 => {
                self.paren(d);
                let name = *self.rng.pick(Self::NAMES);
                self.out.push_str(&format!(" ? {name}"));
            }
            14 => {
                self.out.push_str("assert ");
                self.paren(d);
                self.out.push_str("; ");
                self.expr(d);
            }
            _ => {
                // A recursive function: recursion and laziness.
                self.out.push_str("let f = n: if n <= 0 then ");
                self.paren(d);
                self.out.push_str(" else [ (f (n - 1)) ");
                self.paren(d);
                self.out.push_str(" ]; in f ");
                self.out.push_str(&self.rng.below(50).to_string());
            }
        }
    }

    fn paren(&mut self, depth: usize) {
        self.out.push('(');
        self.expr(depth);
        self.out.push(')');
    }

    fn attrs(&mut self, depth: usize) {
        if self.rng.chance(3) {
            self.out.push_str("rec ");
        }
        self.out.push('{');
        self.bindings(depth);
        self.out.push('}');
    }

    fn bindings(&mut self, depth: usize) {
        for _ in 0..1 + self.rng.below(3) {
            let name = *self.rng.pick(Self::NAMES);
            match self.rng.below(5) {
                0 => self.out.push_str(&format!(" inherit {name};")),
                1 => {
                    self.out.push_str(&format!(" {name}.y = "));
                    self.expr(depth);
                    self.out.push(';');
                }
                2 => {
                    self.out.push_str(" ${\"d\"} = ");
                    self.expr(depth);
                    self.out.push(';');
                }
                _ => {
                    self.out.push_str(&format!(" {name} = "));
                    self.expr(depth);
                    self.out.push(';');
                }
            }
        }
    }

    fn atom(&mut self) {
        const ATOMS: &[&str] = &[
            "0",
            "1",
            "-1",
            "9223372036854775807",
            "1.5",
            "0.0",
            "true",
            "false",
            "null",
            "\"\"",
            "\"abc\"",
            "''x\n  y''",
            "[]",
            "{}",
            "a",
            "x",
            "f",
            "./p",
            "/abs",
            "builtins",
            "(x: x)",
            "\"(a*)*b\"",
            "\"[\"",
            "\"{\\\"a\\\":[1,{}]}\"",
            "\"a = [1, {b=2}]\"",
            "builtins.genList (x: x) 5",
            "throw \"t\"",
            "abort \"a\"",
            "__curPos",
            "(builtins.tryEval (throw \"x\"))",
            "(rec { a = b; b = a; }).a",
            "(let x = { a = x; }; in x)",
            "\"${toString 1}\"",
            "<nixpkgs>",
        ];
        // Values whose walks are deep or whose size multiplies: slow, so
        // rarer.
        const BIG: &[&str] = &[
            "(builtins.foldl' (acc: _: [acc]) [] (builtins.genList (x: x) 250000))",
            "(builtins.foldl' (acc: _: { a = acc; }) {} (builtins.genList (x: x) 250000))",
            "(builtins.foldl' (a: _: a + a) \"x\" (builtins.genList (x: x) 40))",
            "(builtins.foldl' (a: _: a ++ a) [1] (builtins.genList (x: x) 40))",
            "(builtins.genList (x: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\") 100000)",
            "(let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 5000)",
            "\"(a*)*(b|c*)*d\"",
            "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        ];
        let atom = match self.rng.chance(25) {
            true => *self.rng.pick(BIG),
            false => *self.rng.pick(ATOMS),
        };
        self.out.push_str(atom);
    }
}

fn generate_nix(rng: &mut Rng, builtins: &[&'static str]) -> Vec<u8> {
    let depth = 1 + rng.below(6);
    let mut g = NixGen {
        rng,
        builtins,
        out: String::new(),
    };
    g.expr(depth);
    g.out.into_bytes()
}

// ----------------------------------------------------------------- checks

/// Parses, evaluates and prints `input` strictly; any outcome but a panic,
/// crash or hang is fine.
fn eval_bytes(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut ev = Evaluator::new(Box::new(NoFileSystem), limits());
    if let Ok(v) = ev.eval_source("fuzz", &text, "/") {
        let _ = ev.force_deep(&v).and_then(|v| ev.print(&v));
        let _ = ev.to_json(&v);
    }
}

/// `builtin` of `input` as a string, forced and printed.
fn parse_with(builtin: &str, input: &[u8]) {
    let mut ev = Evaluator::new(Box::new(NoFileSystem), limits());
    ev.set_global("input", Value::string(&String::from_utf8_lossy(input)));
    let source = format!("builtins.{builtin} input");
    if let Ok(v) = ev.eval_source("fuzz", &source, "/") {
        let _ = ev.force_deep(&v).and_then(|v| ev.print(&v));
    }
}

fn json_bytes(input: &[u8]) {
    parse_with("fromJSON", input);
}

fn toml_bytes(input: &[u8]) {
    parse_with("fromTOML", input);
}

/// Sources whose bound trees make the packs the pack target mutates.
const PACK_SOURCES: &[&str] = &[
    "let f = { a ? 1, b, ... }@x: a + b; in f { b = 2; }",
    "rec { a = 1; b = a + 1; c = { inherit a; d = [ b \"s${toString a}\" ]; }; }",
    "with { x = 1; }; let y = x; in if y == 1 then ./p else <nixpkgs>",
    "builtins.map (x: x * 2) [ 1 2 3 ] ++ [ (assert true; -1) (!false) ]",
    "{ ${\"dyn\"} = 1; a.b.c = 2; }.a.b.c or null",
];

/// Length of a pack's header: its magic, the build's identity and the
/// checksum of the rest (`compiled.rs`).
const PACK_HEAD: usize = 8 + 32 + 32;

/// A pack of the bound trees of [`PACK_SOURCES`].
fn valid_pack() -> &'static [u8] {
    static PACK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PACK.get_or_init(write_pack)
}

fn write_pack() -> Vec<u8> {
    let mut ev = Evaluator::new(Box::new(NoFileSystem), limits());
    ev.use_compiled(Arc::new(CompiledFiles::empty()));
    for source in PACK_SOURCES {
        let _ = ev.eval_source("pack", source, "/");
    }
    ev.compiled_pack(true).expect("a pack")
}

/// `body` under a header that checks: the checksum is recomputed, so that
/// the reader gets past it to the trees.
fn seal(head: &[u8], body: &[u8]) -> Vec<u8> {
    let mut pack = head[..PACK_HEAD - 32].to_vec();
    pack.extend_from_slice(blake3::hash(body).as_bytes());
    pack.extend_from_slice(body);
    pack
}

/// Loads `input` as a pack body and binds every source with it.
fn pack_bytes(input: &[u8]) {
    let Ok(files) = CompiledFiles::load(seal(valid_pack(), input)) else {
        return;
    };
    let files = Arc::new(files);
    for source in PACK_SOURCES {
        let mut ev = Evaluator::new(Box::new(NoFileSystem), limits());
        ev.use_compiled(files.clone());
        if let Ok(v) = ev.eval_source("pack", source, "/") {
            let _ = ev.force_deep(&v).and_then(|v| ev.print(&v));
        }
    }
}

// ------------------------------------------------------------------ tests

fn builtin_names() -> Vec<&'static str> {
    Evaluator::new(Box::new(NoFileSystem), Limits::default()).builtin_names()
}

#[test]
fn fuzz_eval() {
    let builtins = builtin_names();
    let mut seeds = nix_seeds();
    seeds.extend(corpus("eval").into_iter().map(|(_, b)| b));
    fuzz(
        "eval",
        move |rng| {
            let generated = generate_nix(rng, &builtins);
            match rng.below(4) {
                0 if !seeds.is_empty() => {
                    let seed = rng.pick(&seeds).clone();
                    mutate(rng, &seed, &generated)
                }
                1 => mutate(rng, &generated, &generated),
                _ => generated,
            }
        },
        eval_bytes,
    );
}

/// Random JSON-ish text: nested arrays and objects, numbers at the edges
/// of their ranges, escapes.
fn generate_json(rng: &mut Rng, depth: usize, out: &mut String) {
    const ATOMS: &[&str] = &[
        "0",
        "-0",
        "1e400",
        "-1e400",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1.5e-320",
        "true",
        "false",
        "null",
        "\"\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\uD83D\\uDE00\"",
        "\"a\\\"b\"",
        "\"__toString\"",
    ];
    match rng.below(4) {
        0 if depth > 0 => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                generate_json(rng, depth - 1, out);
            }
            out.push(']');
        }
        1 if depth > 0 => {
            out.push('{');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                let key = *rng.pick(&["\"a\"", "\"a\"", "\"outPath\"", "\"\""]);
                out.push_str(key);
                out.push(':');
                generate_json(rng, depth - 1, out);
            }
            out.push('}');
        }
        _ => {
            let atom = *rng.pick(ATOMS);
            out.push_str(atom)
        }
    }
}

#[test]
fn fuzz_from_json() {
    let seeds: Vec<Vec<u8>> = corpus("json").into_iter().map(|(_, b)| b).collect();
    fuzz(
        "json",
        move |rng| {
            let mut text = String::new();
            let depth = 1 + rng.below(8);
            generate_json(rng, depth, &mut text);
            match rng.below(3) {
                0 if !seeds.is_empty() => {
                    let seed = rng.pick(&seeds).clone();
                    mutate(rng, &seed, text.as_bytes())
                }
                1 => mutate(rng, text.as_bytes(), text.as_bytes()),
                _ => text.into_bytes(),
            }
        },
        json_bytes,
    );
}

#[test]
fn fuzz_from_toml() {
    const LINES: &[&str] = &[
        "a = 1\n",
        "a.b = \"x\"\n",
        "[t]\n",
        "[[arr]]\n",
        "x = [1, [2, {y = 3}]]\n",
        "d = 1979-05-27T07:32:00Z\n",
        "f = inf\n",
        "n = nan\n",
        "s = '''\nraw'''\n",
        "i = 0x7fffffffffffffff\n",
        "\"quoted key\" = true\n",
        "e = {}\n",
        "a = 2\n",
        "u = \"\\U0001F600\"\n",
        "t = 07:32:00\n",
        "o = 0o777\n",
    ];
    let seeds: Vec<Vec<u8>> = corpus("toml").into_iter().map(|(_, b)| b).collect();
    fuzz(
        "toml",
        move |rng| {
            let text: String = (0..1 + rng.below(6)).map(|_| *rng.pick(LINES)).collect();
            match rng.below(3) {
                0 if !seeds.is_empty() => {
                    let seed = rng.pick(&seeds).clone();
                    mutate(rng, &seed, text.as_bytes())
                }
                1 => mutate(rng, text.as_bytes(), text.as_bytes()),
                _ => text.into_bytes(),
            }
        },
        toml_bytes,
    );
}

#[test]
fn fuzz_pack_reader() {
    let pack = valid_pack();
    // The header layout this target relies on: a resealed copy of a valid
    // pack is read back and used.
    let resealed = CompiledFiles::load(seal(pack, &pack[PACK_HEAD..])).expect("resealed pack");
    assert!(resealed.len() >= PACK_SOURCES.len());
    let body = pack[PACK_HEAD..].to_vec();
    fuzz(
        "pack",
        move |rng| match rng.below(8) {
            0 => (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
            _ => mutate(rng, &body, &body),
        },
        pack_bytes,
    );
}
