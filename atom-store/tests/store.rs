//! End to end against the machine's Nix: sources, texts and derivations
//! computed by atom-store are written into the local store through
//! `nix-daemon --stdio` at exactly their computed paths, and built; as
//! root without a daemon (single-user) and through a daemon.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use atom_store::daemon::{DerivedPath, Store, StoreError, StoreOptions};
use atom_store::literal::Value;
use atom_store::nar::MemTree;
use atom_store::{derivation_strict, ContextElem, Instantiated, KnownPaths, StorePath};

/// Makes every run's derivations new, so they are built, not found.
fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos}-{}", std::process::id())
}

fn string(text: &str, context: &[ContextElem]) -> Value {
    Value::String {
        text: text.to_owned(),
        context: context.iter().cloned().collect(),
    }
}

/// A derivation running `script` with `/bin/sh` (builtins only: the
/// build has no PATH).
fn sh(
    known: &mut KnownPaths,
    name: &str,
    script: Value,
    extra: Vec<(&str, Value)>,
) -> Instantiated {
    let mut attrs = vec![
        ("name".to_owned(), Value::str(name)),
        ("system".to_owned(), Value::str(current_system())),
        ("builder".to_owned(), Value::str("/bin/sh")),
        (
            "args".to_owned(),
            Value::List(vec![Value::str("-c"), script]),
        ),
        ("nonce".to_owned(), Value::str(nonce())),
    ];
    attrs.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    derivation_strict(known, attrs).unwrap_or_else(|e| panic!("{}", common::error_chain(&e)))
}

fn current_system() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-linux",
        _ => "x86_64-linux",
    }
}

fn open(options: StoreOptions) -> Store {
    common::require_nix();
    Store::open_with(options).unwrap_or_else(|e| panic!("{}", common::error_chain(&e)))
}

/// Options for the store Nix uses by default, whatever the environment.
fn local() -> StoreOptions {
    StoreOptions {
        env: vec![("NIX_REMOTE".into(), "".into())],
        ..StoreOptions::default()
    }
}

fn built(drv: &Instantiated, outputs: &[&str]) -> DerivedPath {
    DerivedPath::Built {
        drv: drv.drv_path.clone(),
        outputs: outputs.iter().map(|o| o.to_string()).collect(),
    }
}

fn read_output(known: &KnownPaths, path: &StorePath) -> String {
    std::fs::read_to_string(known.store_dir().print(path)).unwrap()
}

/// A source, a text referring to it, a two-output derivation and one
/// using both outputs and the text.
fn chain_builds(options: StoreOptions) {
    let mut store = open(options);
    let mut known = KnownPaths::default();
    let src = known
        .add_source(
            "greeting-src",
            Arc::new(MemTree::dir([(
                "hello.txt",
                MemTree::file(format!("hello {}\n", nonce())),
            )])),
        )
        .unwrap();
    let src_text = known.store_dir().print(&src);
    let text = known
        .add_text(
            "greeting",
            &format!("{src_text}/hello.txt"),
            &[ContextElem::Plain(src.clone())].into(),
        )
        .unwrap();
    let first = sh(
        &mut known,
        "first",
        Value::str("echo out > $out; echo dev > $dev"),
        vec![(
            "outputs",
            Value::List(vec![Value::str("out"), Value::str("dev")]),
        )],
    );
    let out = known.store_dir().print(&first.outputs["out"]);
    let dev = known.store_dir().print(&first.outputs["dev"]);
    let text_path = known.store_dir().print(&text);
    let script = format!("read a < {out}; read b < {dev}; read f < {text_path}; read g < $f; echo \"$a $b $g\" > $out");
    let second = sh(
        &mut known,
        "second",
        string(
            &script,
            &[
                first.output_context("out"),
                first.output_context("dev"),
                ContextElem::Plain(text.clone()),
            ],
        ),
        vec![],
    );

    let added = store
        .upload(&known, std::slice::from_ref(&second.drv_path))
        .unwrap();
    for path in [&src, &text, &first.drv_path, &second.drv_path] {
        assert!(added.contains(path), "{path} was added");
        assert!(
            store.is_valid(path).unwrap(),
            "{path} is valid at the computed path"
        );
    }
    // The store now holds the closure: a second upload adds nothing.
    assert!(store
        .upload(&known, std::slice::from_ref(&second.drv_path))
        .unwrap()
        .is_empty());

    store
        .build(&[built(&second, &["out"])])
        .unwrap_or_else(|e| panic!("{}", common::error_chain(&e)));
    let output = &second.outputs["out"];
    assert!(store.is_valid(output).unwrap());
    let content = read_output(&known, output);
    assert!(content.starts_with("out dev hello "), "{content}");
    assert!(store.is_valid(&first.outputs["dev"]).unwrap());
}

#[test]
fn a_chain_builds_in_the_local_store() {
    chain_builds(local());
}

#[test]
fn fixed_outputs_build_and_a_mismatch_registers_nothing() {
    let mut store = open(local());
    let mut known = KnownPaths::default();
    // sha256("hello " + nonce) is not known in advance: print a fixed text.
    let sha256_of_hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    let fixed = |known: &mut KnownPaths, name: &str, hash: &str| {
        sh(
            known,
            name,
            Value::str("printf hello > $out"),
            vec![
                ("outputHash", Value::str(hash)),
                ("outputHashAlgo", Value::str("sha256")),
            ],
        )
    };
    let name = format!("fixed-{}", nonce().replace('-', "_"));
    let good = fixed(&mut known, &name, sha256_of_hello);
    store
        .upload(&known, std::slice::from_ref(&good.drv_path))
        .unwrap();
    store
        .build(&[built(&good, &["out"])])
        .unwrap_or_else(|e| panic!("{}", common::error_chain(&e)));
    assert_eq!(read_output(&known, &good.outputs["out"]), "hello");

    let wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    let bad = fixed(&mut known, &format!("{name}-wrong"), wrong);
    store
        .upload(&known, std::slice::from_ref(&bad.drv_path))
        .unwrap();
    let err = store.build(&[built(&bad, &["out"])]).unwrap_err();
    let StoreError::BuildFailed { message, .. } = &err else {
        panic!("not a build failure: {err}");
    };
    assert!(
        message.contains("hash mismatch in fixed-output derivation"),
        "{message}"
    );
    assert!(message.contains(&bad.drv_path.to_string()), "{message}");
    assert!(
        !store.is_valid(&bad.outputs["out"]).unwrap(),
        "the declared output is not registered"
    );
}

#[test]
fn a_failing_builder_is_a_clear_error_with_its_log() {
    let mut store = open(local());
    let mut known = KnownPaths::default();
    let failing = sh(
        &mut known,
        "failing",
        Value::str("echo preparing; echo something went wrong >&2; exit 3"),
        vec![],
    );
    store
        .upload(&known, std::slice::from_ref(&failing.drv_path))
        .unwrap();
    let err = store.build(&[built(&failing, &["out"])]).unwrap_err();
    let StoreError::BuildFailed { message, log_tail } = &err else {
        panic!("not a build failure: {err}");
    };
    assert!(message.contains("failed with exit code 3"), "{message}");
    assert!(!message.contains('\u{1b}'), "no colour codes: {message:?}");
    assert!(
        log_tail.iter().any(|l| l.contains("something went wrong")),
        "{log_tail:?}"
    );
    assert!(err.to_string().contains("something went wrong"), "{err}");
    eprintln!("{err}");
    assert!(
        !store.is_valid(&failing.outputs["out"]).unwrap(),
        "no output is registered"
    );
    // The store still answers after a failed build.
    assert!(store.is_valid(&failing.drv_path).unwrap());
}

#[test]
fn a_text_whose_references_are_missing_is_refused_by_nix() {
    let mut store = open(local());
    let missing = StorePath::from_base_name("ffffffffffffffffffffffffffffffff-missing").unwrap();
    let err = store
        .add_text("needs-missing", "x", &BTreeSet::from([missing]))
        .unwrap_err();
    assert!(matches!(err, StoreError::Nix { .. }), "{err}");
    // And the connection is still usable.
    let path = store
        .add_text(
            &format!("ok-{}", nonce().replace('-', "_")),
            "ok",
            &BTreeSet::new(),
        )
        .unwrap();
    assert!(store.is_valid(&path).unwrap());
}

#[test]
fn a_store_with_another_store_dir_is_refused() {
    let mut store = open(StoreOptions {
        store_dir: atom_store::StoreDir::new("/gnu/store").unwrap(),
        ..local()
    });
    let err = store
        .add_text("elsewhere", "x", &BTreeSet::new())
        .unwrap_err();
    assert!(matches!(err, StoreError::StoreDirMismatch { .. }), "{err}");
    assert!(err.to_string().contains("/gnu/store"), "{err}");
}

#[test]
fn realise_writes_builds_and_returns_the_outputs() {
    let mut store = open(local());
    let mut known = KnownPaths::default();
    let two = sh(
        &mut known,
        "two",
        Value::str("echo a > $out; echo b > $doc"),
        vec![(
            "outputs",
            Value::List(vec![Value::str("out"), Value::str("doc")]),
        )],
    );
    let wanted = [built(&two, &["doc", "out"])];
    let paths = store
        .realise(&known, &wanted)
        .unwrap_or_else(|e| panic!("{}", common::error_chain(&e)));
    // Outputs come in set order (doc, out), as asked.
    assert_eq!(
        paths,
        [two.outputs["doc"].clone(), two.outputs["out"].clone()]
    );
    assert_eq!(read_output(&known, &paths[0]), "b\n");

    let err = store.realise(&known, &[built(&two, &["man"])]).unwrap_err();
    assert!(matches!(err, StoreError::NoSuchOutput { .. }), "{err}");
    let stranger =
        StorePath::from_base_name("ffffffffffffffffffffffffffffffff-stranger.drv").unwrap();
    let err = store
        .realise(
            &known,
            &[DerivedPath::Built {
                drv: stranger.clone(),
                outputs: ["out".to_owned()].into(),
            }],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Unknown(_)), "{err}");
    assert!(!store.is_valid(&stranger).unwrap());
}

#[test]
fn nix_missing_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        program: dir.path().join("nix-daemon"),
        ..StoreOptions::default()
    };
    let err = Store::open_with(options).err().expect("no Nix there");
    assert!(matches!(err, StoreError::NixMissing { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("apt-get install nix-bin"), "{message}");
    assert!(message.contains("nix-daemon"), "{message}");
}

/// A daemon of our own on a socket of our own; the client reaches it with
/// `NIX_REMOTE=daemon`, as a non-root user reaches the system daemon.
struct Daemon {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        common::require_nix();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("socket");
        let child = std::process::Command::new("nix-daemon")
            .env("NIX_DAEMON_SOCKET_PATH", &socket)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nix-daemon starts");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(socket.exists(), "nix-daemon made its socket");
        Daemon { child, dir }
    }

    fn options(&self) -> StoreOptions {
        StoreOptions {
            env: vec![
                ("NIX_REMOTE".into(), "daemon".into()),
                (
                    "NIX_DAEMON_SOCKET_PATH".into(),
                    self.dir.path().join("socket").into(),
                ),
            ],
            ..StoreOptions::default()
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_chain_builds_through_a_daemon() {
    let daemon = Daemon::start();
    chain_builds(daemon.options());
}

#[test]
fn a_daemon_that_is_not_running_is_a_clear_error() {
    common::require_nix();
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        env: vec![
            ("NIX_REMOTE".into(), "daemon".into()),
            (
                "NIX_DAEMON_SOCKET_PATH".into(),
                dir.path().join("no-socket").into(),
            ),
        ],
        ..StoreOptions::default()
    };
    let err = Store::open_with(options).err().expect("no daemon there");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Connection { .. }), "{message}");
    assert!(message.contains("cannot connect to socket"), "{message}");
}
