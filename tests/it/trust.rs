//! End-to-end tests of signing and trust (`spec/trust.md`): the registry
//! hook behind every transport, with eka and plain git as the attacker.

use crate::support::{
    self, assert_cli_snapshot, git_run, keygen, ls_remote, Registry, RegistryBuilder, Sandbox,
    Transport, EKA,
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
    force_move_is_refused(src, &reg.url, &head, "");
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
    eka: refused refs/atoms/a/0.1.0: deleting a published ref is refused: published versions are immutable
    eka: to withdraw a published version, yank it (`eka yank`)
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
    eka: refused refs/atoms/a/0.1.0: deleting a published ref is refused: published versions are immutable
    eka: to withdraw a published version, yank it (`eka yank`)
    ");
}

/// The signature refs of `url`, their signer (hex) filtered as
/// `[<NAME>-HEX]` in snapshots; returns `(ref, tag id)`.
fn signature_refs(sb: &Sandbox, url: &str, name: &str) -> Vec<(String, String)> {
    let refs: Vec<(String, String)> = ls_remote(url, &["refs/atoms/_sig/*"])
        .into_iter()
        .filter(|(r, _)| !r.ends_with("^{}"))
        .collect();
    for (r, _) in &refs {
        let hex = r.rsplit('/').next().unwrap();
        sb.filter(hex, &format!("[{}-HEX]", name.to_uppercase()));
    }
    refs
}

/// The `allowed_signers` line of a key made by [`keygen`].
fn allowed_line(principal: &str, key: &std::path::Path) -> String {
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    format!("{principal} {}\n", public.trim())
}

/// Checks the tag `id` in the bare repository `bare` with ssh-keygen: its
/// payload (everything before the signature) verifies as `principal`'s in
/// the namespace `git`, and with git's own `verify-tag`.
fn ssh_keygen_verifies(
    sb: &Sandbox,
    bare: &std::path::Path,
    id: &str,
    principal: &str,
    key: &std::path::Path,
) {
    let tag = crate::support::git(bare, &["cat-file", "tag", id]);
    let tag = format!("{tag}\n");
    let at = tag.rfind("-----BEGIN SSH SIGNATURE-----").expect("signed");
    let dir = sb.mkdir("verify");
    std::fs::write(dir.join("payload"), &tag[..at]).unwrap();
    std::fs::write(dir.join("sig"), &tag[at..]).unwrap();
    std::fs::write(dir.join("allowed"), allowed_line(principal, key)).unwrap();
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(&dir).args([
        "-c",
        &format!("ssh-keygen -Y verify -f allowed -I {principal} -n git -s sig < payload"),
    ]);
    let run = sb.run(cmd);
    assert!(
        run.success() && run.stdout.contains("Good \"git\" signature"),
        "{run}"
    );
    let mut cmd = sb.git_command(bare);
    cmd.args([
        "-c",
        "gpg.format=ssh",
        "-c",
        &format!(
            "gpg.ssh.allowedSignersFile={}",
            dir.join("allowed").display()
        ),
        "verify-tag",
        id,
    ]);
    let run = sb.run(cmd);
    assert!(
        run.success() && run.stderr.contains("Good \"git\" signature"),
        "{run}"
    );
}

/// `eka publish --sign` writes one signature per new version, which
/// ssh-keygen and git verify-tag accept; `eka sign` adds a second signer
/// later without touching the published refs.
#[test]
fn publish_signed_then_sign_again() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let (alice, _) = keygen(&sb, "alice");
    let (ci, _) = keygen(&sb, "ci");
    let url = server.create("registry");
    sb.filter(&url, "[URL]");
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0")
        .write_atom("b", "b", "1.0.0");
    repo.commit("two atoms");
    let key = alice.display().to_string();
    let run = sb.eka(
        repo.path(),
        &[
            "publish", "--all", "--remote", &url, "--sign", "--key", &key,
        ],
    );
    let sigs = signature_refs(&sb, &url, "alice");
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION  STATUS     ATOM ID                                               DIGEST
    a      0.1.0    published  jkbvdgan6middvl9etrmldm22hbifeo35pgod8lrfsqvk79bagbg  blake3:6bf46e2aa7548d0d1575cee2a2dff3a3c82db78af7010b46fe624d7b5ed025d8
    b      1.0.0    published  1onstjk85tqcef01n60dsgnmd330n153qp1k6jp04jbg5f5nssbg  blake3:e3cf833cc9c63aaf90d26c83fa4194d69ddaed14068c9b19de75dc24699f17dd
    published 2 to [URL] (9 refs)
    signed by [ALICE]
    --- stderr ---
    ");
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    let bare = server.path("registry");
    for (_, id) in &sigs {
        ssh_keygen_verifies(&sb, &bare, id, "alice", &alice);
    }
    crate::support::fsck(&bare);

    let published = ls_remote(&url, &["refs/atoms/a/*", "refs/atoms/_manifest/*"]);
    let ci_key = ci.display().to_string();
    let run = sb.eka(
        repo.path(),
        &["sign", "a@0.1.0", "--remote", &url, "--key", &ci_key],
    );
    let all = signature_refs(&sb, &url, "ci");
    assert_eq!(all.len(), 3, "{all:?}");
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a@0.1.0: signed
    signer [CI] on [URL]
    --- stderr ---
    ");
    assert_eq!(
        ls_remote(&url, &["refs/atoms/a/*", "refs/atoms/_manifest/*"]),
        published
    );
    // Again: nothing new.
    let run = sb.eka(
        repo.path(),
        &["sign", "a@0.1.0", "--remote", &url, "--key", &ci_key],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a@0.1.0: already signed by this key
    signer [CI] on [URL]
    --- stderr ---
    ");
    assert_eq!(signature_refs(&sb, &url, "ci"), all);
}

/// The key from git's configuration (`gpg.format = ssh`, `user.signingKey`)
/// and `eka.sign = true`; bad keys and versions are refused before anything
/// is pushed.
#[test]
fn signing_key_from_git_config_and_bad_keys() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let (alice, _) = keygen(&sb, "alice");
    let url = server.create("registry");
    sb.filter(&url, "[URL]");
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0");
    repo.commit("a");
    // No key anywhere.
    let run = sb.eka(repo.path(), &["publish", "--remote", &url, "--sign", "a"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::sign::no_key

      × no signing key: none given, and neither git config eka.signingKey nor
      │ user.signingKey (with gpg.format = ssh) names one
      help: pass --key ~/.ssh/id_ed25519, or configure one: `git config
            eka.signingKey ~/.ssh/id_ed25519`
    ");
    // A key that is not a key.
    let run = sb.eka(
        repo.path(),
        &["publish", "--remote", &url, "--key", "atom.toml", "a"],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::sign::key

      × the signing key `atom.toml` cannot be used
      ├─▶ cannot read the signing key `atom.toml`
      ╰─▶ No such file or directory (os error 2)
    ");
    // user.signingKey for OpenPGP.
    repo.git(&["config", "user.signingKey", "ABCDEF12"]);
    let run = sb.eka(repo.path(), &["publish", "--remote", &url, "--sign", "a"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::sign::not_ssh

      × git config user.signingKey is set for gpg.format = openpgp, not ssh
      help: sign with SSH as git does (`git config gpg.format ssh`), or give eka
            its own key: --key or `git config eka.signingKey`
    ");
    assert!(ls_remote(&url, &["refs/atoms/*"]).is_empty());
    // As git signs: gpg.format = ssh, and eka.sign = true signs always.
    repo.git(&["config", "gpg.format", "ssh"]);
    repo.git(&["config", "user.signingKey", &alice.display().to_string()]);
    repo.git(&["config", "eka.sign", "true"]);
    let run = sb.eka(repo.path(), &["publish", "--remote", &url, "a"]);
    signature_refs(&sb, &url, "alice");
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION  STATUS     ATOM ID                                               DIGEST
    a      0.1.0    published  atefo1s5ousnlvhbp9g1grlmj91e28lv89docjhebc1vdvbfpmbg  blake3:6bf46e2aa7548d0d1575cee2a2dff3a3c82db78af7010b46fe624d7b5ed025d8
    published 1 to [URL] (5 refs)
    signed by [ALICE]
    --- stderr ---
    ");
    // Signing a version that is not published.
    let run = sb.eka(repo.path(), &["sign", "a@9.9.9", "--remote", &url]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::sign::not_published

      × a@9.9.9 is not published on `file://[SANDBOX]/served-file/
      │ registry.git`
      help: list the published versions with `eka versions <remote>::<label>`
    ");
    let run = sb.eka(repo.path(), &["sign", "a", "--remote", &url]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
      × `a` names no version
      help: name a published version as LABEL@VERSION, e.g. hello@1.0.0
    ");
}

/// A registry with a policy (git config eka.allowedSignersFile): unsigned
/// versions and versions signed by an unknown key are refused, with the
/// hook's reason; signed by an allowed key, accepted.
#[test]
fn hook_with_a_policy_needs_allowed_signatures() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Git);
    let (alice, _) = keygen(&sb, "alice");
    let (mallory, _) = keygen(&sb, "mallory");
    let url = server.create("registry");
    let bare = server.path("registry");
    sb.eka(sb.path(), &["hook", "install", &bare.display().to_string()])
        .assert_success();
    std::fs::write(bare.join("allowed_signers"), allowed_line("alice", &alice)).unwrap();
    crate::support::git(
        &bare,
        &["config", "eka.allowedSignersFile", "allowed_signers"],
    );
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0");
    repo.commit("a");
    let refused = |args: &[&str], why: &str| {
        let mut all = vec!["publish", "--remote", &url, "a"];
        all.extend_from_slice(args);
        let run = sb.eka(repo.path(), &all);
        assert!(!run.success(), "{run}");
        // Substring: the rest is git's report of the push.
        assert!(unwrapped(&run.stderr).contains(why), "{run}");
        assert!(ls_remote(&url, &["refs/atoms/*"]).is_empty(), "{run}");
    };
    refused(
        &[],
        "eka: refused refs/atoms/a/0.1.0: the registry's policy refuses it: not signed",
    );
    let mallory_key = mallory.display().to_string();
    refused(
        &["--key", &mallory_key],
        "the signature is refused: unknown signer",
    );
    let alice_key = alice.display().to_string();
    sb.eka(
        repo.path(),
        &["publish", "--remote", &url, "a", "--key", &alice_key],
    )
    .assert_success();
    assert_eq!(signature_refs(&sb, &url, "alice").len(), 1);
    // A later signature by an unknown key is refused too.
    let run = sb.eka(
        repo.path(),
        &["sign", "a@0.1.0", "--remote", &url, "--key", &mallory_key],
    );
    assert!(
        unwrapped(&run.stderr).contains("the signature is refused: unknown signer"),
        "{run}"
    );
    assert_eq!(signature_refs(&sb, &url, "alice").len(), 1);
}

/// A miette report's text with its wrapping undone (lines joined, the
/// frame's `│` gone, runs of spaces one space).
fn unwrapped(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

/// `eka verify` reports each signature, judges keys by an allowed_signers
/// file, fails unsigned versions with --require-signed, and names a
/// signature copied from another version.
#[test]
fn verify_reports_and_requires_signatures() {
    let sb = Sandbox::new();
    sb.filter_times();
    let server = sb.server(Transport::File);
    let (alice, _) = keygen(&sb, "alice");
    let (ci, _) = keygen(&sb, "ci");
    let url = server.create("registry");
    sb.filter(&url, "[URL]");
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0")
        .write_atom("b", "b", "1.0.0");
    repo.commit("two atoms");
    let alice_key = alice.display().to_string();
    sb.eka(
        repo.path(),
        &["publish", "--remote", &url, "a", "--key", &alice_key],
    )
    .assert_success();
    sb.eka(repo.path(), &["publish", "--remote", &url, "b"])
        .assert_success();
    let sigs = signature_refs(&sb, &url, "alice");
    let policy = sb.path().join("allowed_signers");
    std::fs::write(&policy, allowed_line("alice@example.org", &alice)).unwrap();
    let policy = policy.display().to_string();

    let run = sb.eka(sb.path(), &["verify", &url]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    ok      a@0.1.0  jkbvdgan6middvl9etrmldm22hbifeo35pgod8lrfsqvk79bagbg  blake3:6bf46e2aa7548d0d1575cee2a2dff3a3c82db78af7010b46fe624d7b5ed025d8
            signature [ALICE] at [TIME]: good signature (no policy)
    ok      b@1.0.0  1onstjk85tqcef01n60dsgnmd330n153qp1k6jp04jbg5f5nssbg  blake3:e3cf833cc9c63aaf90d26c83fa4194d69ddaed14068c9b19de75dc24699f17dd
    2 verified, 0 failed
    --- stderr ---
    ");
    let run = sb.eka(sb.path(), &["verify", &url, "--allowed-signers", &policy]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    ok      a@0.1.0  jkbvdgan6middvl9etrmldm22hbifeo35pgod8lrfsqvk79bagbg  blake3:6bf46e2aa7548d0d1575cee2a2dff3a3c82db78af7010b46fe624d7b5ed025d8
            signature [ALICE] at [TIME]: valid, signed by alice@example.org
    ok      b@1.0.0  1onstjk85tqcef01n60dsgnmd330n153qp1k6jp04jbg5f5nssbg  blake3:e3cf833cc9c63aaf90d26c83fa4194d69ddaed14068c9b19de75dc24699f17dd
    2 verified, 0 failed
    --- stderr ---
    ");
    let run = sb.eka(sb.path(), &["verify", &url, "--require-signed"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    ok      a@0.1.0  jkbvdgan6middvl9etrmldm22hbifeo35pgod8lrfsqvk79bagbg  blake3:6bf46e2aa7548d0d1575cee2a2dff3a3c82db78af7010b46fe624d7b5ed025d8
            signature [ALICE] at [TIME]: good signature (no policy)
    FAILED  b@1.0.0: not signed (--require-signed)
    1 verified, 1 failed
    --- stderr ---
    ");
    // A policy that trusts another key: alice is an unknown signer.
    let other = sb.path().join("other_signers");
    std::fs::write(&other, allowed_line("ci", &ci)).unwrap();
    let other = other.display().to_string();
    let run = sb.eka(
        sb.path(),
        &[
            "verify",
            &url,
            "a",
            "--require-signed",
            "--allowed-signers",
            &other,
        ],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: its signature does not count (--require-signed)
            signature [ALICE] at [TIME]: unknown signer: the policy does not hold this key
    0 verified, 1 failed
    --- stderr ---
    ");

    // Alice's signature of a, copied to b by plain git (no hook here).
    let (sig_ref, tag) = &sigs[0];
    let copied = sig_ref.replace("/a/0.1.0/", "/b/1.0.0/");
    let bare = server.path("registry");
    crate::support::git(&bare, &["update-ref", &copied, tag]);
    let run = sb.eka(
        sb.path(),
        &[
            "verify",
            &url,
            "b",
            "--require-signed",
            "--allowed-signers",
            &policy,
        ],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    FAILED  b@1.0.0: its signature does not count (--require-signed)
            signature [ALICE] at [TIME]: a signature over another atom: signed for label a, but the atom's is b; signed for version 0.1.0, but the atom's is 1.0.0; signed for id jkbvdgan6middvl9etrmldm22hbifeo35pgod8lrfsqvk79bagbg, but the atom's is 1onstjk85tqcef01n60dsgnmd330n153qp1k6jp04jbg5f5nssbg; signed for commit 5d744fadb2eb9dcb88b6c9ccf9d6c3488be4f626, but the atom's is cd0807bb35b996a1953a07b7905c164b221a7c7a; signed for digest blake3:6bf46e2aa7548d0d1575cee2a2dff3a3c82db78af7010b46fe624d7b5ed025d8, but the atom's is blake3:e3cf833cc9c63aaf90d26c83fa4194d69ddaed14068c9b19de75dc24699f17dd
    0 verified, 1 failed
    --- stderr ---
    ");

    // A policy file that does not parse.
    std::fs::write(sb.path().join("bad_signers"), "alice\n").unwrap();
    let bad = sb.path().join("bad_signers").display().to_string();
    let run = sb.eka(sb.path(), &["verify", &url, "--allowed-signers", &bad]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::trust::policy

      × the allowed_signers file `[SANDBOX]/bad_signers` is invalid
      ╰─▶ line 1: a principal list and a key are needed
      help: each line is `principals [options] keytype base64 [comment]`, as ssh-
            keygen(1) describes; times end in Z
    ");
}

/// `eka yank`: the version shows as yanked with its reason, a new lock
/// never picks it, a lock that pins it keeps it with a warning, and
/// `eka update` moves off it. Nothing is deleted or moved.
#[test]
fn yank_withdraws_a_version_from_resolution() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Git);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("a", "0.1.0")
        .atom("c", "1.0.0")
        .release()
        .atom("a", "0.2.0")
        .build();
    let url = reg.url.clone();
    sb.filter(&url, "[URL]");
    let dir = sb.consumer("app");
    sb.eka(&dir, &["add", &format!("{url}::a@^0")])
        .assert_success();
    let before = ls_remote(
        &url,
        &[
            "refs/atoms/a/*",
            "refs/atoms/_manifest/*",
            "refs/atoms/_origin/*",
        ],
    );

    let run = sb.eka(
        reg.source.path(),
        &[
            "yank",
            "a@0.2.0",
            "--remote",
            &url,
            "--reason",
            "breaks the build on aarch64",
        ],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    yanked a@0.2.0 on [URL] (unsigned)
    --- stderr ---
    ");
    assert_eq!(
        ls_remote(
            &url,
            &[
                "refs/atoms/a/*",
                "refs/atoms/_manifest/*",
                "refs/atoms/_origin/*"
            ]
        ),
        before
    );
    let yank_refs = ls_remote(&url, &["refs/atoms/_yank/*"]);
    assert_eq!(
        yank_refs
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        // The tag, and the commit it points at (peeled).
        [
            "refs/atoms/_yank/a/0.2.0/unsigned",
            "refs/atoms/_yank/a/0.2.0/unsigned^{}"
        ]
    );
    // Again: already yanked, nothing pushed.
    let run = sb.eka(
        reg.source.path(),
        &[
            "yank",
            "a@0.2.0",
            "--remote",
            &url,
            "--reason",
            "breaks the build on aarch64",
        ],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a@0.2.0 was already yanked on [URL] (unsigned)
    --- stderr ---
    ");

    let run = sb.eka(sb.path(), &["versions", &format!("{url}::a")]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a on [URL] (atom id 31s9r1cd4qqitlosh87o1tdas5pv120c3virojqogrjd87g8dqt0)
      VERSION  COMMIT
      0.2.0    f2ed352ea69f2b5dd09e8fc9210bcd4944481c7d  yanked: breaks the build on aarch64
      0.1.0    5a53b74351767f7eef5846f45ae467d0f1e8770f
    --- stderr ---
    ");
    let run = sb.eka(sb.path(), &["list", &url]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSIONS
    a      0.2.0 (yanked: breaks the build on aarch64), 0.1.0
    c      1.0.0
    2 atoms, 3 versions on [URL]
    --- stderr ---
    ");

    // The lock pins 0.2.0: resolving again keeps it, with a warning.
    let run = sb.eka(&dir, &["add", &format!("{url}::c")]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding c ^1.0.0 to [deps.from.registry]
      locking c 1.0.0
    wrote atom.toml and atom.lock (2 atoms)
    --- stderr ---
    warning: a@0.2.0 from [URL] is yanked; the lock keeps it (`eka update a` moves off it)
    ");
    let run = sb.eka(&dir, &["update", "a"]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
     updating a 0.2.0 -> 0.1.0
    wrote atom.lock (2 atoms)
    --- stderr ---
    ");
    // A new project never picks it.
    let fresh = sb.mkdir("fresh");
    std::fs::write(
        fresh.join("atom.toml"),
        "[package]\nlabel = \"fresh\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let run = sb.eka(&fresh, &["add", &format!("{url}::a")]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding a ^0.1.0 to [deps.from.registry]
      locking a 0.1.0
    wrote atom.toml and atom.lock (1 atom)
    --- stderr ---
    ");
    let run = sb.eka(&fresh, &["add", &format!("{url}::a@=0.2.0")]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::resolve::conflict

      × the dependencies cannot be satisfied:
      │ fresh (atom.toml) 0.1.0 depends on a 0.2.0
      │   (a in [URL] has 0.2.0, 0.1.0; yanked, never
      │ chosen for a new lock: 0.2.0)
      help: relax one of the clashing requirements above
    ");
}

/// A project whose set has a policy (`[trust.<set>]`): an atom signed by an
/// allowed key is locked with its signer recorded; unsigned, or signed by
/// an unknown key, the lock is refused naming the set, the atom and what
/// was missing; a key revoked afterwards fails `eka lock --check` and
/// `eka fetch` offline-checkably; a pinned root refuses another history.
#[test]
fn the_lock_enforces_a_sets_policy() {
    let sb = Sandbox::new();
    sb.filter_times();
    let server = sb.server(Transport::Git);
    let (alice, _) = keygen(&sb, "alice");
    let (mallory, _) = keygen(&sb, "mallory");
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("a", "0.1.0")
        .atom("b", "1.0.0")
        .atom("c", "1.0.0")
        .build();
    let url = reg.url.clone();
    sb.filter(&url, "[URL]");
    let src = reg.source.path();
    let (alice_key, mallory_key) = (alice.display().to_string(), mallory.display().to_string());
    sb.eka(
        src,
        &["sign", "a@0.1.0", "--remote", &url, "--key", &alice_key],
    )
    .assert_success();
    sb.eka(
        src,
        &["sign", "c@1.0.0", "--remote", &url, "--key", &mallory_key],
    )
    .assert_success();
    signature_refs(&sb, &url, "sig");

    let dir = sb.mkdir("app");
    let manifest = format!(
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"{url}\"\n\n[trust.reg]\nallowed-signers = \"allowed_signers\"\n"
    );
    std::fs::write(dir.join("atom.toml"), &manifest).unwrap();
    std::fs::write(
        dir.join("allowed_signers"),
        allowed_line("alice@example.org", &alice),
    )
    .unwrap();

    let run = sb.eka(&dir, &["add", &format!("{url}::a")]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding a ^0.1.0 to [deps.from.reg]
      locking a 0.1.0
    wrote atom.toml and atom.lock (1 atom)
    --- stderr ---
    ");
    let lock = std::fs::read_to_string(dir.join("atom.lock")).unwrap();
    let fingerprint = keygen_fingerprint(&alice);
    assert!(
        lock.contains(&format!("signers = [\n    \"{fingerprint} ")),
        "{lock}"
    );
    let manifest_now = std::fs::read_to_string(dir.join("atom.toml")).unwrap();

    let unchanged = || {
        assert_eq!(
            std::fs::read_to_string(dir.join("atom.toml")).unwrap(),
            manifest_now
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("atom.lock")).unwrap(),
            lock
        );
    };
    let run = sb.eka(&dir, &["add", &format!("{url}::b")]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::trust::refused

      × the set `reg` refuses b@1.0.0: not signed, and the policy requires a
      │ signature by an allowed key
      help: `eka verify <repository> <label> --allowed-signers <file>` shows each
            signature; have the version signed by a key the set trusts (`eka
            sign`), or trust its key in the set's allowed_signers
    ");
    unchanged();
    let run = sb.eka(&dir, &["add", &format!("{url}::c")]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::trust::refused

      × the set `reg` refuses c@1.0.0: no valid signature by an allowed key
      │ ([MALLORY]: unknown signer: the
      │ policy does not hold this key)
      help: `eka verify <repository> <label> --allowed-signers <file>` shows each
            signature; have the version signed by a key the set trusts (`eka
            sign`), or trust its key in the set's allowed_signers
    ");
    unchanged();
    sb.eka(&dir, &["lock", "--check"]).assert_success();

    // Alice's key is revoked before she signed.
    let revoked =
        allowed_line("alice@example.org", &alice).replacen(' ', " valid-before=\"20000101Z\" ", 1);
    std::fs::write(dir.join("allowed_signers"), revoked).unwrap();
    let run = sb.eka(&dir, &["lock", "--check"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::lock::stale

      × atom.lock is not in line with atom.toml:
      │   - the set `reg` refuses a@0.1.0: the signers the lock records no longer
      │ satisfy the policy ([ALICE]:
      │ line 1: the key expired (valid-before [TIME]) before the
      │ signing time [TIME])
      help: run `eka lock` and commit atom.lock
    ");
    let run = sb.eka(&dir, &["fetch", "--offline"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::trust::lock_untrusted

      × atom.lock no longer satisfies the trust policies it was locked under:
      │   the set `reg` refuses a@0.1.0: the signers the lock records no longer
      │ satisfy the policy ([ALICE]:
      │ line 1: the key expired (valid-before [TIME]) before the
      │ signing time [TIME])
      help: run `eka update` to lock versions the policy admits, or fix the
            policy; then commit atom.lock
    ");

    // A pinned root that is not this registry's: another history.
    std::fs::write(
        dir.join("allowed_signers"),
        allowed_line("alice@example.org", &alice),
    )
    .unwrap();
    let pinned = manifest_now.replace(
        "[trust.reg]\n",
        &format!("[trust.reg]\nroot = \"{}\"\n", "1".repeat(40)),
    );
    std::fs::write(dir.join("atom.toml"), pinned).unwrap();
    let run = sb.eka(&dir, &["update"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::trust::refused

      × the set `reg` refuses a@0.1.0: its registry's root is
      │ ca9d30cde951d694c735342cff50597f17507145, but the policy pins
      │ 1111111111111111111111111111111111111111: another history (a fork or a
      │ rewritten mirror)
      help: `eka verify <repository> <label> --allowed-signers <file>` shows each
            signature; have the version signed by a key the set trusts (`eka
            sign`), or trust its key in the set's allowed_signers
    ");
    assert_eq!(
        std::fs::read_to_string(dir.join("atom.lock")).unwrap(),
        lock
    );
}

/// A lock of many atoms under a policy judges them on every core: each
/// atom is judged by its own signatures, and the refusal is the first in
/// the lock's order (here on the second half, judged on another thread),
/// whatever the split.
#[test]
fn a_lock_of_many_atoms_judges_each_by_its_own_signatures() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let (alice, alice_fingerprint) = keygen(&sb, "alice");
    let (mallory, _) = keygen(&sb, "mallory");
    let labels: Vec<String> = (0..12).map(|i| format!("a{i:02}")).collect();
    let reg = labels
        .iter()
        .fold(RegistryBuilder::new(&sb, &server), |r, l| {
            r.atom(l, "1.0.0")
        })
        .build();
    let url = reg.url.clone();
    let sign = |atoms: &[&str], key: &std::path::Path| {
        let key = key.display().to_string();
        let mut args = vec!["sign"];
        args.extend(atoms);
        args.extend(["--remote", &url, "--key", &key]);
        sb.eka(reg.source.path(), &args).assert_success();
    };
    let by_alice: Vec<String> = labels
        .iter()
        .filter(|l| !matches!(l.as_str(), "a07" | "a09"))
        .map(|l| format!("{l}@1.0.0"))
        .collect();
    sign(
        &by_alice.iter().map(String::as_str).collect::<Vec<_>>(),
        &alice,
    );
    sign(&["a07@1.0.0"], &mallory);

    let dir = sb.mkdir("app");
    let deps: String = labels.iter().map(|l| format!("{l} = \"^1\"\n")).collect();
    std::fs::write(
        dir.join("atom.toml"),
        format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"{url}\"\n\n[trust.reg]\nallowed-signers = \"allowed_signers\"\n\n[deps.from.reg]\n{deps}"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("allowed_signers"),
        allowed_line("alice@example.org", &alice),
    )
    .unwrap();
    let run = sb.eka(&dir, &["lock"]).assert_failure();
    assert!(
        run.stderr
            .contains("the set `reg` refuses a07@1.0.0: no valid signature by an allowed key"),
        "{run}"
    );
    assert!(!dir.join("atom.lock").exists());

    // a07 signed by alice too: a09, unsigned, is the first refused.
    sign(&["a07@1.0.0"], &alice);
    let run = sb.eka(&dir, &["lock"]).assert_failure();
    assert!(
        run.stderr
            .contains("the set `reg` refuses a09@1.0.0: not signed"),
        "{run}"
    );

    sign(&["a09@1.0.0"], &alice);
    sb.eka(&dir, &["lock"]).assert_success();
    let lock = std::fs::read_to_string(dir.join("atom.lock")).unwrap();
    let recorded = format!("signers = [\n    \"{alice_fingerprint} ");
    assert_eq!(lock.matches(&recorded).count(), labels.len(), "{lock}");
    sb.eka(&dir, &["lock", "--check"]).assert_success();
}

/// The `SHA256:…` fingerprint of a key made by [`keygen`].
/// A sibling's policy (`[trust.<set>]` in the manifest of an atom reached
/// through `::`) checks the atoms of that set the dependent's lock pins
/// (the sibling is evaluated with that lock); two policies for one set
/// must be the same, or the lock is refused naming both manifests.
#[test]
fn a_siblings_policy_applies_to_the_lock_that_pins_its_dependencies() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let (alice, _) = keygen(&sb, "alice");
    let (mallory, _) = keygen(&sb, "mallory");
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("a", "0.1.0")
        .atom("b", "1.0.0")
        .build();
    let url = reg.url.clone();
    sb.filter(&url, "[URL]");
    let alice_key = alice.display().to_string();
    sb.eka(
        reg.source.path(),
        &["sign", "a@0.1.0", "--remote", &url, "--key", &alice_key],
    )
    .assert_success();

    // `app` reaches `lib` through `::`; `lib` trusts alice for `reg` and
    // needs `b`, which nobody signed.
    let repo = sb.repo("work");
    let lib_manifest = |dep: &str| {
        format!(
            "[package]\nlabel = \"lib\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"{url}\"\n\n[deps.from.reg]\n{dep}\n\n[trust.reg]\nallowed-signers = \"allowed_signers\"\n"
        )
    };
    repo.write("lib/atom.toml", lib_manifest("b = \"^1\""))
        .write("lib/allowed_signers", allowed_line("alice@example.org", &alice))
        .write(
            "app/atom.toml",
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\nlib = \"^0.1\"\n",
        );
    let app = repo.path().join("app");
    let run = sb.eka(&app, &["lock"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::trust::refused

      × the set `reg` refuses b@1.0.0: not signed, and the policy requires a
      │ signature by an allowed key
      help: `eka verify <repository> <label> --allowed-signers <file>` shows each
            signature; have the version signed by a key the set trusts (`eka
            sign`), or trust its key in the set's allowed_signers
    ");
    assert!(!app.join("atom.lock").exists());

    // Signed by alice: locked, her signature recorded as lib's policy
    // asks; `--check` re-checks it against lib's policy.
    repo.write("lib/atom.toml", lib_manifest("a = \"^0.1\""));
    let run = sb.eka(&app, &["lock"]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
      locking a 0.1.0
    wrote a new atom.lock (1 atom)
    --- stderr ---
    ");
    let lock = std::fs::read_to_string(app.join("atom.lock")).unwrap();
    let fingerprint = keygen_fingerprint(&alice);
    assert!(lock.contains(&fingerprint), "{lock}");
    let revoked =
        allowed_line("alice@example.org", &alice).replacen(' ', " valid-before=\"20000101Z\" ", 1);
    repo.write("lib/allowed_signers", &revoked);
    let run = sb.eka(&app, &["lock", "--check"]);
    assert!(
        run.stderr
            .contains("the set `reg` (policy of lib/atom.toml) refuses a@0.1.0"),
        "{run}"
    );
    repo.write(
        "lib/allowed_signers",
        allowed_line("alice@example.org", &alice),
    );

    // app's own policy for the same set: the same one is fine, another
    // is an error naming both manifests.
    let app_manifest = |signers: &str| {
        format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\nmine = \"{url}\"\n\n[deps.from.here]\nlib = \"^0.1\"\n\n[trust.mine]\nsigners = [\"{}\"]\n",
            signers.trim()
        )
    };
    repo.write(
        "app/atom.toml",
        app_manifest(&allowed_line("alice@example.org", &alice)),
    );
    sb.eka(&app, &["lock", "--check"]).assert_success();
    repo.write(
        "app/atom.toml",
        app_manifest(&allowed_line("mallory@example.org", &mallory)),
    );
    let run = sb.eka(&app, &["lock", "--check"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::trust::policies_differ

      × two trust policies for one set disagree: [trust.mine] in app/atom.toml and
      │ [trust.reg] in lib/atom.toml (`file://[SANDBOX]/served-file/
      │ registry.git`)
      help: one lock holds one version of each atom of a set, checked by one
            policy: give the set the same policy (signers and root) in both
            manifests, or leave it out of one
    ");
}

fn keygen_fingerprint(key: &std::path::Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// A key held by ssh-agent signs through `ssh-keygen -Y sign`, named by its
/// public key file (`--key`) or as git names it (`user.signingKey =
/// key::ssh-ed25519 …`); the signature verifies with ssh-keygen.
#[test]
fn a_key_in_ssh_agent_signs() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let (alice, _) = keygen(&sb, "alice");
    let socket = sb.path().join("agent.sock");
    // In the foreground (-D), as this test's own child, killed on drop.
    struct Agent(std::process::Child);
    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Agent(
        std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent (OpenSSH) is installed"),
    );
    for _ in 0..200 {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut cmd = std::process::Command::new("ssh-add");
    cmd.arg(&alice).env("SSH_AUTH_SOCK", &socket);
    sb.run(cmd).assert_success();
    // Only the agent has the private key now.
    std::fs::remove_file(&alice).unwrap();

    let url = server.create("registry");
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0")
        .write_atom("b", "b", "0.1.0");
    repo.commit("a, b");
    let public = alice.with_extension("pub");
    let mut cmd = sb.eka_command(repo.path());
    cmd.env("SSH_AUTH_SOCK", &socket).args([
        "publish",
        "--remote",
        &url,
        "a",
        "--key",
        &public.display().to_string(),
    ]);
    sb.run(cmd).assert_success();
    let literal = std::fs::read_to_string(&public).unwrap();
    repo.git(&["config", "gpg.format", "ssh"]);
    repo.git(&[
        "config",
        "user.signingKey",
        &format!("key::{}", literal.trim()),
    ]);
    let mut cmd = sb.eka_command(repo.path());
    cmd.env("SSH_AUTH_SOCK", &socket)
        .args(["publish", "--remote", &url, "b", "--sign"]);
    sb.run(cmd).assert_success();
    let sigs = signature_refs(&sb, &url, "alice");
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    for (_, id) in &sigs {
        ssh_keygen_verifies(&sb, &server.path("registry"), id, "alice", &alice);
    }
    // Without the agent, signing fails and nothing is published.
    repo.write_atom("c", "c", "0.1.0");
    repo.commit("c");
    let mut cmd = sb.eka_command(repo.path());
    cmd.env("SSH_AUTH_SOCK", sb.path().join("no-agent.sock"))
        .args(["publish", "--remote", &url, "c", "--sign"]);
    let run = sb.run(cmd);
    assert!(!run.success(), "{run}");
    assert!(run.stderr.contains("atom::trust::ssh_keygen"), "{run}");
    assert!(ls_remote(&url, &["refs/atoms/c/*"]).is_empty());
}

/// A signed yank verifies with ssh-keygen; a yank copied onto another
/// version by plain git is named as such where its reason would show.
#[test]
fn signed_and_forged_yanks() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let (alice, _) = keygen(&sb, "alice");
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("a", "0.1.0")
        .release()
        .atom("a", "0.2.0")
        .build();
    let url = reg.url.clone();
    sb.filter(&url, "[URL]");
    let key = alice.display().to_string();
    let run = sb.eka(
        reg.source.path(),
        &[
            "yank",
            "a@0.2.0",
            "--remote",
            &url,
            "--reason",
            "CVE-2026-0001",
            "--key",
            &key,
        ],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    yanked a@0.2.0 on [URL] (signed by [ALICE])
    --- stderr ---
    ");
    let yanks: Vec<(String, String)> = ls_remote(&url, &["refs/atoms/_yank/*"])
        .into_iter()
        .filter(|(n, _)| !n.ends_with("^{}"))
        .collect();
    assert_eq!(yanks.len(), 1, "{yanks:?}");
    ssh_keygen_verifies(&sb, &reg.path, &yanks[0].1, "alice", &alice);

    // The same tag under 0.1.0's yank ref, by plain git.
    let copied = yanks[0].0.replace("/0.2.0/", "/0.1.0/");
    crate::support::git(&reg.path, &["update-ref", &copied, &yanks[0].1]);
    let run = sb.eka(sb.path(), &["--json", "versions", &format!("{url}::a")]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let yanked = json["yanked"].as_array().unwrap();
    let of = |v: &str| yanked.iter().find(|y| y["version"] == v).unwrap()["yanks"][0].clone();
    assert_eq!(of("0.2.0")["reason"], "CVE-2026-0001");
    assert!(of("0.2.0")["ignored"].is_null());
    let forged = of("0.1.0");
    assert!(
        forged["ignored"]
            .as_str()
            .unwrap()
            .starts_with("a yank of another atom: signed for version 0.2.0"),
        "{forged}"
    );
    let run = sb.eka(sb.path(), &["versions", &format!("{url}::a")]);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a on [URL] (atom id 8e3ucast5eegonsvbv266va185sntidchg7frf4u3b36thq4arn0)
      VERSION  COMMIT
      0.2.0    42a8d60b89722c103729943b8784a95e5050f0c5  yanked: CVE-2026-0001
      0.1.0    c0958f325b4da2c66a6ca30d7baa4275474e34e0  yanked (its yank does not hold: a yank of another atom: signed for version 0.2.0, but the atom's is 0.1.0; signed for commit 42a8d60b89722c103729943b8784a95e5050f0c5, but the atom's is c0958f325b4da2c66a6ca30d7baa4275474e34e0)
    --- stderr ---
    ");
}

/// On a set with a policy, only yanks signed by an allowed key count
/// (`spec/trust.md` §6): an unsigned yank forged with plain git, the same
/// tag under a ref naming an allowed key, and a yank signed by a key the
/// policy does not hold are each ignored with a warning naming who signed,
/// and the version stays resolvable; a yank by the allowed key withdraws
/// it. Without a policy, the forged yank counts, as before.
#[test]
fn forged_yanks_do_not_withdraw_a_version_under_a_policy() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Git);
    let (alice, _) = keygen(&sb, "alice");
    let (mallory, _) = keygen(&sb, "mallory");
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("a", "0.1.0")
        .release()
        .atom("a", "0.2.0")
        .build();
    let url = reg.url.clone();
    sb.filter(&url, "[URL]");
    let src = reg.source.path();
    let (alice_key, mallory_key) = (alice.display().to_string(), mallory.display().to_string());
    for version in ["a@0.1.0", "a@0.2.0"] {
        sb.eka(
            src,
            &["sign", version, "--remote", &url, "--key", &alice_key],
        )
        .assert_success();
    }
    let alice_hex = signature_refs(&sb, &url, "alice")[0]
        .0
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    // Mallory's yank, signed by a key no policy below holds.
    let yank = |key: &str, reason: &str| {
        let mut args = vec!["yank", "a@0.2.0", "--remote", &url, "--reason", reason];
        if !key.is_empty() {
            args.extend(["--key", key]);
        }
        sb.eka(src, &args).assert_success();
    };
    yank(&mallory_key, "mallory says so");
    // An unsigned yank statement in a tag made by plain git, pushed under
    // the unsigned ref and under a ref that names Alice's key.
    let listed = ls_remote(&url, &["refs/atoms/_root", "refs/atoms/a/0.2.0"]);
    let target = |name: &str| listed.iter().find(|(n, _)| n == name).unwrap().1.clone();
    let (root, commit) = (target("refs/atoms/_root"), target("refs/atoms/a/0.2.0"));
    let versions = sb.eka(sb.path(), &["versions", &format!("{url}::a")]);
    let id = versions
        .assert_success()
        .stdout
        .split("(atom id ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    let statement = format!(
        "eka-atom-yank v1\nlabel a\nversion 0.2.0\nid {id}\ncommit {commit}\nroot {root}\nreason forged\n"
    );
    std::fs::write(sb.path().join("statement"), statement).unwrap();
    crate::support::git(src, &["fetch", &url, "refs/atoms/a/0.2.0:refs/forge/a"]);
    let statement_file = sb.path().join("statement").display().to_string();
    crate::support::git(
        src,
        &["tag", "-a", "-F", &statement_file, "forged", "refs/forge/a"],
    );
    git_run(
        src,
        &[
            "push",
            &url,
            "refs/tags/forged:refs/atoms/_yank/a/0.2.0/unsigned",
            &format!("refs/tags/forged:refs/atoms/_yank/a/0.2.0/{alice_hex}"),
        ],
    )
    .assert_success();

    // Without a policy, the yanks count: 0.1.0 is locked.
    let open = sb.consumer("app");
    let run = sb.eka(&open, &["add", &format!("{url}::a")]);
    assert!(
        run.success() && run.stdout.contains("locking a 0.1.0"),
        "{run}"
    );

    // With Alice as the policy, none counts: 0.2.0 is locked, with a
    // warning for each.
    let dir = sb.mkdir("trusting");
    std::fs::write(
        dir.join("atom.toml"),
        format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"{url}\"\n\n[trust.reg]\nallowed-signers = \"allowed_signers\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("allowed_signers"),
        allowed_line("alice@example.org", &alice),
    )
    .unwrap();
    let run = sb.eka(&dir, &["add", &format!("{url}::a")]);
    let stderr = unwrapped(&run.stderr);
    assert!(
        run.success() && run.stdout.contains("locking a 0.2.0"),
        "{run}"
    );
    assert_eq!(
        stderr.matches("ignoring a yank of a@0.2.0 in").count(),
        3,
        "{run}"
    );
    assert!(stderr.contains("(unsigned): it is not signed"), "{run}");
    assert!(
        stderr.contains("a key the set's policy does not hold"),
        "{run}"
    );
    assert!(stderr.contains("the ref names signer"), "{run}");

    // Alice's own yank counts: the lock keeps 0.2.0 with a warning, and
    // `eka update` moves off it.
    // (The lying ref holds Alice's slot: gone first, as on a registry
    // cleaned up by hand.)
    crate::support::git(
        &reg.path,
        &[
            "update-ref",
            "-d",
            &format!("refs/atoms/_yank/a/0.2.0/{alice_hex}"),
        ],
    );
    yank(&alice_key, "alice withdraws it");
    // `eka add` required ^0.2.0, which only the yanked version meets: the
    // lock is resolved again and refused, naming 0.2.0 as yanked.
    let run = sb.eka(&dir, &["update", "a"]);
    let stderr = unwrapped(&run.stderr);
    assert!(
        !run.success() && stderr.contains("yanked, never chosen for a new lock: 0.2.0"),
        "{run}"
    );
}

/// `eka fetch` checks again the signatures the lock records (`spec/trust.md`
/// §5.3): a signature ref moved to another version's tag, removed, or
/// replaced by a new signature of the same key at another time refuses the
/// fetch, naming the atom and the signer; the project's files are left as
/// they are. Put back, the fetch goes through.
#[test]
fn fetch_checks_the_recorded_signatures_again() {
    let sb = Sandbox::new();
    sb.filter_times();
    let server = sb.server(Transport::Http);
    let (alice, _) = keygen(&sb, "alice");
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("a", "0.1.0")
        .release()
        .atom("a", "0.2.0")
        .build();
    let url = reg.url.clone();
    sb.filter(&url, "[URL]");
    let src = reg.source.path();
    let alice_key = alice.display().to_string();
    for version in ["a@0.1.0", "a@0.2.0"] {
        sb.eka(
            src,
            &["sign", version, "--remote", &url, "--key", &alice_key],
        )
        .assert_success();
    }
    let sigs = signature_refs(&sb, &url, "alice");
    let of = |v: &str| {
        sigs.iter()
            .find(|(r, _)| r.contains(&format!("/{v}/")))
            .unwrap()
            .clone()
    };
    let ((sig_ref, sig), (_, other_sig)) = (of("0.1.0"), of("0.2.0"));

    let dir = sb.mkdir("app");
    std::fs::write(
        dir.join("atom.toml"),
        format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"{url}\"\n\n[trust.reg]\nallowed-signers = \"allowed_signers\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("allowed_signers"),
        allowed_line("alice@example.org", &alice),
    )
    .unwrap();
    sb.eka(&dir, &["add", &format!("{url}::a@^0.1")])
        .assert_success();
    let files =
        || ["atom.toml", "atom.lock"].map(|f| std::fs::read_to_string(dir.join(f)).unwrap());
    let before = files();
    sb.eka(&dir, &["fetch"]).assert_success();

    // The ref moved to 0.2.0's signature (the registry has no hook).
    let bare = &reg.path;
    crate::support::git(bare, &["update-ref", &sig_ref, &other_sig]);
    let run = sb.eka(&dir, &["fetch"]);
    let stderr = unwrapped(&run.stderr);
    assert!(
        !run.success() && stderr.contains("eka::fetch::signature"),
        "{run}"
    );
    assert!(
        stderr.contains("signed for version 0.2.0, but the atom's is 0.1.0"),
        "{run}"
    );
    // Removed.
    crate::support::git(bare, &["update-ref", "-d", &sig_ref]);
    let run = sb.eka(&dir, &["fetch"]);
    let stderr = unwrapped(&run.stderr);
    assert!(
        !run.success() && stderr.contains("eka::fetch::signature_gone"),
        "{run}"
    );
    // Signed again by the same key, later than the lock says.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    sb.eka(
        src,
        &["sign", "a@0.1.0", "--remote", &url, "--key", &alice_key],
    )
    .assert_success();
    let run = sb.eka(&dir, &["fetch"]);
    let stderr = unwrapped(&run.stderr);
    assert!(
        !run.success() && stderr.contains("it is now signed at"),
        "{run}"
    );
    assert!(stderr.contains("but the lock records"), "{run}");
    assert_eq!(files(), before);

    // The signature the lock records, back in place.
    crate::support::git(bare, &["update-ref", &sig_ref, &sig]);
    sb.eka(&dir, &["fetch"]).assert_success();
}

/// Runs `cmd` in a session of its own whose controlling terminal, stdin,
/// stdout and stderr are a new pseudo-terminal; types `input` once the
/// terminal shows `prompt`. Returns whether it succeeded and everything
/// the terminal showed (what was typed is not echoed by a passphrase
/// prompt). Killed after a minute.
fn run_in_pty(mut cmd: std::process::Command, prompt: &str, input: &str) -> (bool, String) {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::process::CommandExt;
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
    assert!(
        master >= 0,
        "posix_openpt: {}",
        std::io::Error::last_os_error()
    );
    let mut name = [0 as libc::c_char; 128];
    unsafe {
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
    }
    let master = unsafe { std::fs::File::from_raw_fd(master) };
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(name.to_str().unwrap())
        .unwrap();
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // A new session, whose controlling terminal the slave (stdin) becomes.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn under a pty");
    drop(cmd); // closes this process's copies of the slave
    let (tx, rx) = std::sync::mpsc::channel();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // EIO once every holder of the slave has exited.
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (mut seen, mut typed) = (Vec::new(), false);
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(bytes) => seen.extend(bytes),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if !typed && String::from_utf8_lossy(&seen).contains(prompt) {
            (&master).write_all(input.as_bytes()).unwrap();
            typed = true;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("timed out under a pty:\n{}", String::from_utf8_lossy(&seen));
        }
    }
    let status = child.wait().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&seen).into_owned(),
    )
}

/// An encrypted key asks for its passphrase on the terminal, once for all
/// the atoms of a publish, and signs through ssh-keygen; without a
/// terminal, the publish fails saying what to do, and nothing is pushed.
#[test]
fn an_encrypted_key_asks_for_its_passphrase_on_the_terminal() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let keys = sb.mkdir("keys");
    let key = keys.join("enc_key");
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args([
        "-q",
        "-t",
        "ed25519",
        "-N",
        "hunter2-secret",
        "-C",
        "enc",
        "-f",
    ])
    .arg(&key);
    sb.run(cmd).assert_success();
    let url = server.create("registry");
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0")
        .write_atom("b", "b", "0.1.0");
    repo.commit("a, b");
    let key_arg = key.display().to_string();

    // No terminal at all (a session of its own without one), stdin empty.
    // Spawned directly: a process group leader (as `Sandbox::run` makes)
    // cannot start a session.
    let mut cmd = sb.eka_command(repo.path());
    cmd.args([
        "publish", "--remote", &url, "--all", "--sign", "--key", &key_arg,
    ])
    .stdin(std::process::Stdio::null());
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run eka");
    let stderr = unwrapped(&String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("atom::trust::no_terminal"), "{stderr}");
    assert!(
        stderr.contains("is encrypted, and there is no terminal to ask its passphrase on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("(`ssh-add ") && stderr.contains("enc_key.pub"),
        "{stderr}"
    );
    assert!(ls_remote(&url, &["refs/atoms/*"]).is_empty());

    // On a terminal: one prompt, the passphrase typed (not echoed), two
    // signatures that ssh-keygen verifies.
    let mut cmd = sb.eka_command(repo.path());
    cmd.args([
        "publish", "--remote", &url, "--all", "--sign", "--key", &key_arg,
    ]);
    let (ok, screen) = run_in_pty(cmd, "Enter passphrase", "hunter2-secret\n");
    assert!(ok, "{screen}");
    assert_eq!(screen.matches("Enter passphrase").count(), 1, "{screen}");
    assert!(!screen.contains("hunter2-secret"), "{screen}");
    let sigs = signature_refs(&sb, &url, "enc");
    assert_eq!(sigs.len(), 2, "{sigs:?}");
    for (_, id) in &sigs {
        ssh_keygen_verifies(&sb, &server.path("registry"), id, "enc", &key);
    }
}

/// The hook's layout rules against plain `git push` (`spec/trust.md` §7
/// rules 2 and 3): a version ref alone or without one of its manifest and
/// origin refs, a commit that is not an atom commit, and another version's
/// atom commit are each refused with the hook's reason, and nothing
/// changes; the same refs complete and in the format are accepted.
fn hook_refuses_bad_layouts(transport: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(transport);
    let reg = hooked(&sb, &server);
    let src = reg.source.path();
    // A real a@0.2.0, published by eka to a scratch registry without the
    // hook; plain git pushes parts of it from there.
    reg.source.write_atom("a", "a", "0.2.0");
    reg.source.commit("a@0.2.0");
    let scratch = sb.path().join("scratch.git");
    crate::support::git(sb.path(), &["init", "--bare", "-q", "scratch.git"]);
    let scratch_url = scratch.display().to_string();
    sb.eka(src, &["publish", "--remote", &scratch_url, "a"])
        .assert_success();
    let before = ls_remote(&reg.url, &["refs/atoms/*"]);
    let push = |from: &std::path::Path, refspecs: &[&str]| {
        let mut args = vec!["push", reg.url.as_str()];
        args.extend(refspecs);
        let run = git_run(from, &args);
        assert!(!run.success(), "{run}");
        assert_eq!(ls_remote(&reg.url, &["refs/atoms/*"]), before);
        run.stderr
    };
    let refused = |stderr: &str, line: &str| {
        assert!(
            stderr.contains(&format!("eka: refused {line}")),
            "{line}\n{stderr}"
        );
    };
    let (atom, manifest, origin) = (
        "refs/atoms/a/0.2.0",
        "refs/atoms/_manifest/a/0.2.0",
        "refs/atoms/_origin/a/0.2.0",
    );

    // The version ref alone: its siblings are missing after the push.
    let stderr = push(&scratch, &[atom]);
    refused(
        &stderr,
        "refs/atoms/a/0.2.0: its manifest ref refs/atoms/_manifest/a/0.2.0 is missing",
    );
    let stderr = push(&scratch, &[atom, manifest]);
    refused(
        &stderr,
        "refs/atoms/a/0.2.0: its origin ref refs/atoms/_origin/a/0.2.0 is missing",
    );
    let stderr = push(&scratch, &[atom, origin]);
    refused(
        &stderr,
        "refs/atoms/a/0.2.0: its manifest ref refs/atoms/_manifest/a/0.2.0 is missing",
    );
    // An origin ref that is not the atom commit's origin.
    let stderr = push(&scratch, &[atom, manifest, &format!("{origin}~1:{origin}")]);
    refused(
        &stderr,
        "refs/atoms/a/0.2.0: its origin ref refs/atoms/_origin/a/0.2.0 holds ",
    );
    assert!(
        stderr.contains("but the atom commit's origin is"),
        "{stderr}"
    );
    // A source commit (with parents, no origin header) as a version.
    let head = reg.source.head();
    let stderr = push(
        src,
        &[
            &format!("{head}:refs/atoms/a/0.3.0"),
            &format!("{head}:refs/atoms/_origin/a/0.3.0"),
        ],
    );
    refused(
        &stderr,
        &format!("refs/atoms/a/0.3.0: {head} is not an atom commit in the format's layout"),
    );
    // 0.2.0's atom commit, with its siblings, under 0.3.0's refs.
    let commit = crate::support::git(&scratch, &["rev-parse", atom]);
    let stderr = push(
        &scratch,
        &[
            "refs/atoms/a/0.2.0:refs/atoms/a/0.3.0",
            "refs/atoms/_manifest/a/0.2.0:refs/atoms/_manifest/a/0.3.0",
            "refs/atoms/_origin/a/0.2.0:refs/atoms/_origin/a/0.3.0",
        ],
    );
    refused(
        &stderr,
        &format!("refs/atoms/a/0.3.0: {commit} publishes a@0.2.0, not a@0.3.0"),
    );

    // Complete and in the format: accepted from plain git too.
    git_run(&scratch, &["push", &reg.url, atom, manifest, origin]).assert_success();
    assert_eq!(
        ls_remote(&reg.url, &["refs/atoms/*"]).len(),
        before.len() + 3
    );
}

#[test]
fn hook_refuses_bad_layouts_over_file() {
    hook_refuses_bad_layouts(Transport::File);
}

#[test]
fn hook_refuses_bad_layouts_over_ssh() {
    hook_refuses_bad_layouts(Transport::Ssh);
}

#[test]
fn hook_refuses_bad_layouts_over_http() {
    hook_refuses_bad_layouts(Transport::Http);
}

/// The hook where self-hosted forges run it (`spec/trust.md` §7.1),
/// emulated with plain git since no forge is installed here: as one of the
/// scripts in `hooks/pre-receive.d/` that a dispatching `pre-receive` feeds
/// its input to (the layout Gitea and Forgejo write), and in the
/// environment GitLab's Gitaly gives custom hooks (`GIT_DIR` and the
/// quarantine as `GIT_OBJECT_DIRECTORY`, without `GIT_QUARANTINE_PATH`). In
/// both, a publish by eka goes through and a rewrite by plain git is
/// refused with the hook's reason.
#[test]
fn the_hook_in_forge_layouts() {
    use std::os::unix::fs::PermissionsExt;
    for layout in ["pre-receive.d", "gitaly environment"] {
        let sb = Sandbox::new();
        let server = sb.server(Transport::File);
        let reg = RegistryBuilder::new(&sb, &server)
            .atom("a", "0.1.0")
            .build();
        if layout == "pre-receive.d" {
            support::install_hook(
                &reg.path,
                "pre-receive",
                "input=$(cat)\nstatus=0\nfor hook in hooks/pre-receive.d/*; do\n  [ -f \"$hook\" ] && [ -x \"$hook\" ] || continue\n  printf '%s\\n' \"$input\" | \"$hook\" || status=1\ndone\nexit $status",
            );
            let dir = reg.path.join("hooks/pre-receive.d");
            std::fs::create_dir_all(&dir).unwrap();
            for (name, body) in [
                ("eka", format!("exec {EKA} hook pre-receive")),
                ("forge", "cat >/dev/null".to_owned()),
            ] {
                let path = dir.join(name);
                std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        } else {
            support::install_hook(
                &reg.path,
                "pre-receive",
                &format!(
                    "export GIT_DIR=\"$(pwd)\"\nexec env -u GIT_QUARANTINE_PATH {EKA} hook pre-receive"
                ),
            );
        }
        let src = reg.source.path();
        reg.source.write_atom("a", "a", "0.2.0");
        reg.source.commit("a@0.2.0");
        let run = sb.eka(src, &["publish", "--remote", &reg.url, "a"]);
        assert!(run.success(), "{layout}: {run}");
        let before = ls_remote(&reg.url, &["refs/atoms/*"]);
        let head = reg.source.head();
        force_move_is_refused(src, &reg.url, &head, layout);
        assert_eq!(ls_remote(&reg.url, &["refs/atoms/*"]), before, "{layout}");
    }
}

/// A `git push --force` of `head` over `a@0.1.0` at `url` is refused by
/// the hook (`context` names the case in failures). Substrings: the rest
/// is git's own output, which varies by transport.
fn force_move_is_refused(src: &std::path::Path, url: &str, head: &str, context: &str) {
    let refspec = format!("{head}:refs/atoms/a/0.1.0");
    let moved = git_run(src, &["push", "--force", url, &refspec]);
    assert!(!moved.success(), "{context}: {moved}");
    assert!(
        moved
            .stderr
            .contains("eka: refused refs/atoms/a/0.1.0: moving a published ref is refused"),
        "{context}: {moved}"
    );
}

/// The yank tags (`(ref, tag id)`, peeled entries left out) of `url`.
fn yank_refs(url: &str) -> Vec<(String, String)> {
    ls_remote(url, &["refs/atoms/_yank/*"])
        .into_iter()
        .filter(|(n, _)| !n.ends_with("^{}"))
        .collect()
}

/// The cache's repository in `sb`.
fn cache_git(sb: &Sandbox) -> std::path::PathBuf {
    sb.home().join(".cache/eka/git")
}

/// The cache's kept yank tags: `(ref, blob)`, sorted (none without a
/// cache).
fn kept_yank_tags(sb: &Sandbox) -> Vec<(String, String)> {
    if !cache_git(sb).exists() {
        return Vec::new();
    }
    let out = support::git(
        &cache_git(sb),
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname) %(objecttype)",
            "refs/yanks/",
        ],
    );
    out.lines()
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            assert_eq!(parts[2], "blob", "{l}");
            (parts[0].to_owned(), parts[1].to_owned())
        })
        .collect()
}

/// Insta settings of `sb` with the age of a kept listing as `[AGE]`.
fn offline_settings(sb: &Sandbox) -> insta::Settings {
    let mut settings = sb.insta_settings();
    settings.add_filter(r"kept \d+ (second|minute)s? ago", "kept [AGE] ago");
    settings
}

/// Online, `eka versions` and `eka list` keep the yank tags they read in
/// the cache (`refs/yanks/<tag id>`, to a blob of the tag); `--offline`,
/// answering from the kept listing with the server gone, they show the
/// same reasons, judged the same way (a signed yank verifies, a yank
/// copied onto another version stays ignored). A tag the cache lacks
/// leaves the version yanked, saying why its reason is unknown.
#[test]
fn offline_queries_show_the_yank_reasons_kept_online() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Git);
    let (alice, _) = keygen(&sb, "alice");
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("a", "0.1.0")
        .atom("c", "1.0.0")
        .release()
        .atom("a", "0.2.0")
        .build();
    let url = reg.url.clone();
    sb.filter(&url, "[URL]");
    sb.filter_ids();
    let key = alice.display().to_string();
    sb.eka(
        reg.source.path(),
        &[
            "yank",
            "a@0.2.0",
            "--remote",
            &url,
            "--reason",
            "CVE-2026-0001",
            "--key",
            &key,
        ],
    )
    .assert_success();
    // The same tag under 0.1.0's yank ref, by plain git.
    let yank = yank_refs(&url).remove(0);
    support::git(
        &reg.path,
        &["update-ref", &yank.0.replace("/0.2.0/", "/0.1.0/"), &yank.1],
    );

    // A repository on this machine is asked, offline too: its tags are
    // read from it, not kept.
    let local = format!("{}::a", reg.path.display());
    for args in [
        vec!["versions", &local],
        vec!["--offline", "versions", &local],
    ] {
        let run = sb.eka(sb.path(), &args).assert_success();
        assert!(run.stdout.contains("yanked: CVE-2026-0001"), "{run}");
    }
    assert_eq!(kept_yank_tags(&sb), []);

    let a = format!("{url}::a");
    let queries = [
        vec!["versions", a.as_str()],
        vec!["list", url.as_str()],
        vec!["-v", "list", url.as_str()],
    ];
    let online: Vec<_> = queries
        .iter()
        .map(|args| sb.eka(sb.path(), args).assert_success())
        .collect();
    assert_cli_snapshot!(sb, online[0], @"
    status: 0
    --- stdout ---
    a on [URL] (atom id 31s9r1cd4qqitlosh87o1tdas5pv120c3virojqogrjd87g8dqt0)
      VERSION  COMMIT
      0.2.0    [COMMIT]  yanked: CVE-2026-0001
      0.1.0    [COMMIT]  yanked (its yank does not hold: a yank of another atom: signed for version 0.2.0, but the atom's is 0.1.0; signed for commit [COMMIT], but the atom's is [COMMIT])
    --- stderr ---
    ");
    assert_cli_snapshot!(sb, online[1], @"
    status: 0
    --- stdout ---
    LABEL  VERSIONS
    a      0.2.0 (yanked: CVE-2026-0001), 0.1.0 (yanked (its yank does not hold: a yank of another atom: signed for version 0.2.0, but the atom's is 0.1.0; signed for commit [COMMIT], but the atom's is [COMMIT]))
    c      1.0.0
    2 atoms, 3 versions on [URL]
    --- stderr ---
    ");
    // One tag (named twice), kept once.
    let kept = kept_yank_tags(&sb);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].0, format!("refs/yanks/{}", yank.1));

    // The server is gone: offline, the same answers, from the cache.
    drop(server);
    let offline = |args: &[&str]| {
        let mut all = vec!["--offline"];
        all.extend_from_slice(args);
        sb.eka(sb.path(), &all).assert_success()
    };
    for (args, live) in queries.iter().zip(&online) {
        let run = offline(args);
        assert_eq!(run.stdout, live.stdout, "{run}");
    }
    let run = offline(&["versions", &a]);
    offline_settings(&sb).bind(|| insta::assert_snapshot!(run.transcript(), @"
    status: 0
    --- stdout ---
    a on [URL] (atom id 31s9r1cd4qqitlosh87o1tdas5pv120c3virojqogrjd87g8dqt0)
      VERSION  COMMIT
      0.2.0    [COMMIT]  yanked: CVE-2026-0001
      0.1.0    [COMMIT]  yanked (its yank does not hold: a yank of another atom: signed for version 0.2.0, but the atom's is 0.1.0; signed for commit [COMMIT], but the atom's is [COMMIT])
    --- stderr ---
    note: offline: answered from the listing of `[URL]` kept [AGE] ago
    "));
    // `list --json` reports the same yanks per atom.
    let run = offline(&["--json", "list", url.as_str()]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let atom = json["atoms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["label"] == "a");
    let listed = atom.unwrap()["yanked"].as_array().unwrap();
    let reason =
        |v: &str| listed.iter().find(|y| y["version"] == v).unwrap()["yanks"][0]["reason"].clone();
    assert_eq!(reason("0.2.0"), "CVE-2026-0001", "{run}");
    assert_eq!(listed.len(), 2, "{run}");

    let run = offline(&["--json", "versions", &a]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let yanked = json["yanked"].as_array().unwrap();
    let of = |v: &str| yanked.iter().find(|y| y["version"] == v).unwrap()["yanks"][0].clone();
    assert_eq!(of("0.2.0")["reason"], "CVE-2026-0001", "{run}");
    assert!(of("0.2.0")["ignored"].is_null(), "{run}");
    assert!(of("0.2.0").get("unknown").is_none(), "{run}");
    let forged = of("0.1.0");
    assert!(
        forged["ignored"]
            .as_str()
            .unwrap()
            .starts_with("a yank of another atom: signed for version 0.2.0"),
        "{forged}"
    );

    // A cache that lacks the tag (kept by an older eka, say): the versions
    // stay yanked, with why the reason is unknown.
    support::git(&cache_git(&sb), &["update-ref", "-d", &kept[0].0]);
    support::git(
        &cache_git(&sb),
        &[
            "-c",
            "gc.reflogExpire=now",
            "-c",
            "gc.reflogExpireUnreachable=now",
            "gc",
            "--prune=now",
            "--quiet",
        ],
    );
    let gone = git_run(&cache_git(&sb), &["cat-file", "-e", &yank.1]);
    assert!(!gone.success(), "{gone}");
    let run = offline(&["versions", &a]);
    offline_settings(&sb).bind(|| insta::assert_snapshot!(run.transcript(), @"
    status: 0
    --- stdout ---
    a on [URL] (atom id 31s9r1cd4qqitlosh87o1tdas5pv120c3virojqogrjd87g8dqt0)
      VERSION  COMMIT
      0.2.0    [COMMIT]  yanked (reason unknown: its tag was not kept)
      0.1.0    [COMMIT]  yanked (reason unknown: its tag was not kept)
    --- stderr ---
    note: offline: answered from the listing of `[URL]` kept [AGE] ago
    note: offline: the reasons of some yanks are unknown (their tags were not kept); run the query once without --offline to keep them
    "));
    let run = offline(&["list", &url]);
    offline_settings(&sb).bind(|| insta::assert_snapshot!(run.transcript(), @"
    status: 0
    --- stdout ---
    LABEL  VERSIONS
    a      0.2.0 (yanked (reason unknown: its tag was not kept)), 0.1.0 (yanked (reason unknown: its tag was not kept))
    c      1.0.0
    2 atoms, 3 versions on [URL]
    --- stderr ---
    note: offline: answered from the listing of `[URL]` kept [AGE] ago
    note: offline: the reasons of some yanks are unknown (their tags were not kept); run the query once without --offline to keep them
    "));
    let run = offline(&["--json", "versions", &a]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let line = &json["yanked"][0]["yanks"][0];
    assert!(
        line["reason"].is_null() && line["ignored"].is_null(),
        "{run}"
    );
    assert_eq!(line["unknown"], "its tag was not kept", "{run}");
}

/// `eka cache gc` keeps the yank tags named by a listing it keeps (of a
/// remote a kept lock names), so that listing still gives the reasons
/// offline, and drops those of the listings it removes.
#[test]
fn cache_gc_keeps_the_yank_tags_of_the_listings_it_keeps() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Git);
    let used = RegistryBuilder::new(&sb, &server)
        .atom("a", "0.1.0")
        .release()
        .atom("a", "0.2.0")
        .build();
    let unused = RegistryBuilder::new(&sb, &server)
        .name("unused")
        .source("mono2")
        .atom("b", "1.0.0")
        .release()
        .atom("b", "2.0.0")
        .build();
    for (reg, atom) in [(&used, "a@0.2.0"), (&unused, "b@2.0.0")] {
        sb.eka(
            reg.source.path(),
            &["yank", atom, "--remote", &reg.url, "--reason", "withdrawn"],
        )
        .assert_success();
    }
    let project = sb.mkdir("projects");
    let app = project.join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        app.join("atom.toml"),
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    sb.eka(&app, &["add", &format!("{}::a@=0.1.0", used.url)])
        .assert_success();
    let a = format!("{}::a", used.url);
    let b = format!("{}::b", unused.url);
    for uri in [&a, &b] {
        sb.eka(sb.path(), &["versions", uri]).assert_success();
    }
    let used_tag = yank_refs(&used.url).remove(0).1;
    let unused_tag = yank_refs(&unused.url).remove(0).1;
    let before = kept_yank_tags(&sb);
    let mut names: Vec<&str> = before.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    let mut expected = [
        format!("refs/yanks/{used_tag}"),
        format!("refs/yanks/{unused_tag}"),
    ];
    expected.sort();
    assert_eq!(names, expected);
    let blob_of = |tag: &str| {
        before
            .iter()
            .find(|(n, _)| n.ends_with(tag))
            .unwrap()
            .1
            .clone()
    };
    let (used_blob, unused_blob) = (blob_of(&used_tag), blob_of(&unused_tag));
    let cache = sb.eka(sb.path(), &["--json", "cache"]).assert_success();
    let v: serde_json::Value = serde_json::from_str(&cache.stdout).unwrap();
    assert_eq!(v["yank_tags"], 2, "{cache}");
    let cache = sb.eka(sb.path(), &["cache"]).assert_success();
    assert!(
        cache
            .stdout
            .contains("\nkept yank tags: 2 (for --offline)\n"),
        "{cache}"
    );

    // --dry-run says so, and removes nothing.
    let run = sb
        .eka(sb.path(), &["cache", "gc", "projects", "--dry-run"])
        .assert_success();
    assert!(
        run.stdout
            .contains("Would remove 1 kept yank tag that no kept listing names"),
        "{run}"
    );
    assert_eq!(kept_yank_tags(&sb), before);

    let run = sb
        .eka(sb.path(), &["--json", "cache", "gc", "projects"])
        .assert_success();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["listings_kept"], 1, "{run}");
    assert_eq!(v["yank_tags_kept"], 1, "{run}");
    assert_eq!(v["yank_tags_removed"], 1, "{run}");
    assert_eq!(
        kept_yank_tags(&sb),
        [(format!("refs/yanks/{used_tag}"), used_blob.clone())]
    );
    git_run(&cache_git(&sb), &["cat-file", "-e", &used_blob]).assert_success();
    let gone = git_run(&cache_git(&sb), &["cat-file", "-e", &unused_blob]);
    assert!(!gone.success(), "{gone}");
    support::git(&cache_git(&sb), &["fsck", "--no-dangling"]);
    // The kept listing still answers with the reason, offline.
    let run = sb
        .eka(sb.path(), &["--offline", "versions", &a])
        .assert_success();
    assert!(run.stdout.contains("yanked: withdrawn"), "{run}");
}
