//! End-to-end tests of signing and trust (`spec/trust.md`): the registry
//! hook behind every transport, with eka and plain git as the attacker.

use crate::support::{
    self, assert_cli_snapshot, git_run, ls_remote, Registry, RegistryBuilder, Sandbox, Transport,
    EKA,
};

/// A registry with `a` 0.1.0 on `transport`, its hook installed.
fn hooked(sb: &Sandbox, server: &support::GitServer) -> Registry {
    let reg = RegistryBuilder::new(sb, server)
        .atom("a", "0.1.0")
        .file("a.txt", "a\n")
        .build();
    sb.filter(EKA, "[EKA]");
    let path = reg.path.display().to_string();
    let run = sb
        .eka(sb.path(), &["hook", "install", &path])
        .assert_success();
    assert!(
        run.stdout.starts_with("installed ") && run.stdout.contains("hook pre-receive"),
        "{run}"
    );
    reg
}

/// Rewrites and deletes of published refs, by plain git, are refused with
/// the hook's one-line reason, and nothing changes on the registry; a
/// publish by eka still goes through.
fn hook_refuses_rewrites(transport: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(transport);
    let reg = hooked(&sb, &server);
    let before = ls_remote(&reg.url, &["refs/atoms/*"]);
    let src = reg.source.path();
    let head = reg.source.head();

    // Force-moving the version to another commit.
    let moved = git_run(
        src,
        &[
            "push",
            "--force",
            &reg.url,
            &format!("{head}:refs/atoms/a/0.1.0"),
        ],
    );
    assert!(!moved.success(), "{moved}");
    // Substrings: the rest is git's own output, which varies by transport.
    assert!(
        moved
            .stderr
            .contains("eka: refused refs/atoms/a/0.1.0: moving a published ref is refused"),
        "{moved}"
    );
    // Deleting it.
    let deleted = git_run(src, &["push", &reg.url, ":refs/atoms/a/0.1.0"]);
    assert!(!deleted.success(), "{deleted}");
    assert!(
        deleted
            .stderr
            .contains("eka: refused refs/atoms/a/0.1.0: deleting a published ref is refused"),
        "{deleted}"
    );
    // A ref in no form of the format.
    let junk = git_run(src, &["push", &reg.url, &format!("{head}:refs/atoms/junk")]);
    assert!(!junk.success(), "{junk}");
    assert!(
        junk.stderr
            .contains("eka: refused refs/atoms/junk: not a ref of the atom format"),
        "{junk}"
    );
    assert_eq!(ls_remote(&reg.url, &["refs/atoms/*"]), before);

    // A publish (all create) is accepted by the same hook.
    reg.source.write_atom("a", "a", "0.2.0");
    reg.source.commit("a@0.2.0");
    sb.eka(src, &["publish", "--remote", &reg.url, "a"])
        .assert_success();
    let after = ls_remote(&reg.url, &["refs/atoms/*"]);
    assert_eq!(after.len(), before.len() + 3, "{after:?}");
    // Branches are not the hook's business.
    git_run(src, &["push", &reg.url, "HEAD:refs/heads/main"]).assert_success();
    git_run(
        src,
        &["push", "--force", &reg.url, "HEAD~1:refs/heads/main"],
    )
    .assert_success();
}

#[test]
fn hook_refuses_rewrites_over_file() {
    hook_refuses_rewrites(Transport::File);
}

#[test]
fn hook_refuses_rewrites_over_git_daemon() {
    hook_refuses_rewrites(Transport::Git);
}

#[test]
fn hook_refuses_rewrites_over_http() {
    hook_refuses_rewrites(Transport::Http);
}

#[test]
fn hook_refuses_rewrites_over_ssh() {
    hook_refuses_rewrites(Transport::Ssh);
}

/// What the hook prints, run by hand as git runs it; and bad input to it.
#[test]
fn hook_output_and_bad_input() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = hooked(&sb, &server);
    let atom = reg.source.rev_parse("refs/atoms/a/0.1.0");
    let zero = "0".repeat(40);
    let input =
        format!("{atom} {zero} refs/atoms/a/0.1.0\n{zero} {atom} refs/atoms/_origin/a/0.1.0\n");
    let run = sb.eka_stdin(&reg.path, &["hook", "pre-receive"], input.as_bytes());
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka: refused refs/atoms/a/0.1.0: deleting a published ref is refused: published versions are immutable (withdraw a version with `eka yank`)
    ");
    let run = sb.eka_stdin(&reg.path, &["hook", "pre-receive"], b"not an update\n");
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::hook::input

      × `not an update` is not a ref update as git gives a hook (`<old> <new>
      │ <ref>`)
      help: `eka hook pre-receive` is run by git, which writes `<old> <new> <ref>`
            lines on its stdin; install it with `eka hook install`
    ");

    // Not a bare repository; a hook eka did not write.
    let run = sb.eka(
        sb.path(),
        &["hook", "install", &reg.source.path().display().to_string()],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::hook::not_bare

      × `[SANDBOX]/mono` is not a bare git repository
      help: a registry's hook runs where pushes arrive: give the path of the bare
            repository the server serves
    ");
    support::install_hook(&reg.path, "pre-receive", "exit 0");
    let run = sb.eka(
        sb.path(),
        &["hook", "install", &reg.path.display().to_string()],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::hook::exists

      × `[SANDBOX]/served-file/registry.git/hooks/pre-receive` is a pre-
      │ receive hook that eka did not write; it is left as it is
      help: merge it by hand (have it pipe its input to `eka hook pre-receive`),
            or remove it and run `eka hook install` again
    ");
    // As an update hook, the same rules, one ref at a time.
    let run = sb.eka(
        &reg.path,
        &["hook", "update", "refs/atoms/a/0.1.0", &atom, &zero],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka: refused refs/atoms/a/0.1.0: deleting a published ref is refused: published versions are immutable (withdraw a version with `eka yank`)
    ");
}
