//! Keys eka signs with through `ssh-keygen -Y sign`, as git does: a key
//! held by ssh-agent (a public key file, or git's literal `key::…`) and an
//! encrypted key (its passphrase asked once for many atoms). One test per
//! binary run sets the environment ssh-keygen reads, so the cases run in
//! sequence within one test.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atom_trust::{check_signature_tag, sign_statements, SigningKey, Tagger};
use common::*;

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        // Only the agent this test started, by its own handle.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(dir: &std::path::Path) -> (Agent, std::path::PathBuf) {
    let socket = dir.join("agent.sock");
    let child = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("`ssh-agent` is needed by this test ({e}); install openssh-client")
        });
    let agent = Agent(child);
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ssh-agent did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (agent, socket)
}

#[test]
fn agent_keys_and_encrypted_keys_sign_through_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let commit = gix::ObjectId::from_hex(b"0c5ed1a8ef7ec1e5f0e4bd4e0b7bbaa0c07c5c9e").unwrap();
    let statements: Vec<_> = ["1.0.0", "1.0.1", "1.1.0"]
        .iter()
        .map(|v| statement(commit, "hello", v, 1))
        .collect();
    let tagger = Tagger::new("t", "t@x", 1_760_000_000).unwrap();
    let check = |key: &SigningKey, public: &str| {
        let tags = sign_statements(key, &statements, &tagger).unwrap();
        let expected = ssh_key::PublicKey::from_openssh(public).unwrap();
        for (tag, statement) in tags.iter().zip(&statements) {
            let checked = check_signature_tag(&tag.bytes).unwrap();
            assert_eq!(&checked.statement, statement);
            assert_eq!(checked.signer.unwrap().key.key_data(), expected.key_data());
        }
    };

    // An encrypted key: ssh-keygen asks for the passphrase (here through
    // SSH_ASKPASS, which counts the prompts), once for all three atoms.
    let (encrypted, public) = keygen(dir, "enc", "ed25519", None);
    ok(
        "ssh-keygen",
        &[
            "-q",
            "-p",
            "-N",
            "secret",
            "-P",
            "",
            "-f",
            encrypted.to_str().unwrap(),
        ],
        dir,
        None,
    );
    let askpass = dir.join("askpass");
    let count = dir.join("prompts");
    std::fs::write(
        &askpass,
        format!("#!/bin/sh\necho x >> '{}'\necho secret\n", count.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &askpass,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::env::set_var("SSH_ASKPASS", &askpass);
    std::env::set_var("SSH_ASKPASS_REQUIRE", "force");
    std::env::set_var("DISPLAY", ":0");
    std::env::remove_var("SSH_AUTH_SOCK");
    let key = SigningKey::from_file(&encrypted).unwrap();
    assert!(
        !key.is_in_process(),
        "an encrypted key goes through ssh-keygen"
    );
    check(&key, &public);
    let prompts = std::fs::read_to_string(&count).unwrap();
    assert_eq!(
        prompts.lines().count(),
        1,
        "one passphrase prompt for three atoms"
    );
    // A wrong passphrase is an error that says what ssh-keygen said.
    std::fs::write(&askpass, "#!/bin/sh\necho wrong\n").unwrap();
    let err = sign_statements(&key, &statements, &tagger).unwrap_err();
    assert!(matches!(err, atom_trust::SignError::SshKeygen(_)), "{err}");
    std::env::remove_var("SSH_ASKPASS");
    std::env::remove_var("SSH_ASKPASS_REQUIRE");

    // A key in ssh-agent, named by its public key file or by git's literal.
    let (private, public) = keygen(dir, "agent", "ecdsa", Some("256"));
    let (_agent, socket) = start_agent(dir);
    std::env::set_var("SSH_AUTH_SOCK", &socket);
    let public_file = dir.join("agent.pub");
    // Without the key in the agent, signing fails with ssh-keygen's reason.
    std::fs::rename(&private, dir.join("agent.moved")).unwrap();
    let key = SigningKey::from_file(&public_file).unwrap();
    assert!(sign_statements(&key, &statements, &tagger).is_err());
    ok(
        "ssh-add",
        &["-q", dir.join("agent.moved").to_str().unwrap()],
        dir,
        None,
    );
    check(&key, &public);
    let literal = SigningKey::from_git_signing_key(&format!("key::{public}")).unwrap();
    check(&literal, &public);
    std::env::remove_var("SSH_AUTH_SOCK");
}
