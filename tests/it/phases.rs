//! `eka -v`: the phases of a command's work and how long each took, printed
//! on stderr from the libraries' `eka::phase` spans (and nothing without
//! `-v`).

use crate::support::{keygen, RegistryBuilder, Sandbox, Transport};

/// The phase names of `-v` output, in order, timings left out; fails on a
/// line that is not `<indent><phase>: <float> ms`.
fn phases(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .map(|line| {
            let (phase, took) = line
                .rsplit_once(": ")
                .unwrap_or_else(|| panic!("not a phase timing: {line:?}"));
            let ms = took.strip_suffix(" ms").and_then(|n| n.parse::<f64>().ok());
            assert!(ms.is_some(), "not a timing in ms: {line:?}");
            phase.to_string()
        })
        .collect()
}

#[test]
fn publish_and_lock_print_their_phases() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .build();

    let repo = sb.repo("publisher");
    repo.write_atom("p", "p", "0.1.0");
    repo.commit("initial");
    let url = server.create("other");
    let run = sb
        .eka(repo.path(), &["-v", "publish", "--all", "--remote", &url])
        .assert_success();
    assert_eq!(
        phases(&run.stderr),
        [
            "read commit, list remote",
            "  check dependencies",
            "  digests",
            "check work tree, beside the phases above",
            "write commits",
            "  of which local refs, beside the push",
            "push and local refs",
        ],
        "{run}"
    );

    // Signed in-process beside the work tree check; the tags are written
    // once the work tree is known to be clean.
    repo.write_atom("q", "q", "0.1.0");
    repo.commit("q");
    let (key, _) = keygen(&sb, "key");
    let key = key.to_str().unwrap();
    let args = [
        "-v", "publish", "--all", "--sign", "--key", key, "--remote", &url,
    ];
    let run = sb.eka(repo.path(), &args).assert_success();
    assert_eq!(
        phases(&run.stderr),
        [
            "read commit, list remote",
            "  check dependencies",
            "  digests",
            "  sign",
            "check work tree, beside the phases above",
            "write signature tags",
            "write commits",
            "  of which local refs, beside the push",
            "push and local refs",
        ],
        "{run}"
    );

    let app = sb.mkdir("app");
    std::fs::write(
        app.join("atom.toml"),
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let add = format!("{}::b", reg.url);
    let run = sb.eka(&app, &["-v", "add", &add]).assert_success();
    assert_eq!(
        phases(&run.stderr),
        [
            "open the cache",
            "level 1: list 1 sets, fetch 1 manifests and 1 atoms from 1 sets",
            "solve",
            "fetch and check 1 atoms",
        ],
        "{run}"
    );

    let quiet = sb.eka(&app, &["lock"]).assert_success();
    assert_eq!(quiet.stderr, "", "no timings without -v: {quiet}");
}
