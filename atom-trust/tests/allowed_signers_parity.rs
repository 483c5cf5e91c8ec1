//! `allowed_signers` verdicts compared with `ssh-keygen -Y verify` and
//! `-Y find-principals` on the same files, signatures and times.

mod common;

use atom_trust::allowed_signers::{AllowedSigners, Judgement};
use atom_trust::{SigningKey, Timestamp};
use common::*;

#[test]
fn verdicts_match_ssh_keygens() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let keys: Vec<(SigningKey, String)> = [
        ("a", "ed25519", None),
        ("b", "ecdsa", Some("256")),
        ("c", "ed25519", None),
        ("stranger", "ecdsa", Some("384")),
    ]
    .into_iter()
    .map(|(name, kind, bits)| {
        let (private, public) = keygen(dir, name, kind, bits);
        (SigningKey::from_file(&private).unwrap(), public)
    })
    .collect();
    let [a, b, c, _] = [0, 1, 2, 3].map(|i| keys[i].1.as_str());
    let file = format!(
        "# the maintainers\n\
         alice@example.com valid-before=\"20250101Z\" {a}\n\
         alice@example.com valid-after=\"20250101000001Z\" {b}\n\
         \"*@example.com,!mallory@example.com\" namespaces=\"git,file\" {c}\n\
         ci namespaces=\"file\" {a}\n\
         ci Valid-After=\"20240601120000Z\",valid-before=\"20260101UTC\" {c}\n\
         ca@example.com cert-authority {b}\n"
    );
    let allowed = AllowedSigners::parse(&file).unwrap();
    std::fs::write(dir.join("allowed"), &file).unwrap();
    std::fs::write(dir.join("payload"), b"payload\n").unwrap();
    let principals = [
        "alice@example.com",
        "bob@example.com",
        "mallory@example.com",
        "ci",
        "ca@example.com",
        "nobody",
    ];
    let times = [
        "20240101Z",
        "20241231235959Z",
        "20250101000000Z",
        "20250101000001Z",
        "20250601Z",
        "20260102Z",
    ];
    let mut compared = 0;
    for (key, _) in &keys {
        let signature = key.sign(&[b"payload\n".to_vec()]).unwrap().remove(0);
        std::fs::write(
            dir.join("payload.sig"),
            signature.to_pem(ssh_key::LineEnding::LF).unwrap(),
        )
        .unwrap();
        let key_data = signature.public_key();
        for time in times {
            let at = Timestamp::parse_openssh(time).unwrap();
            let verify_time = format!("-Overify-time={time}");
            for principal in principals {
                let ours = matches!(
                    allowed.judge_principal(principal, key_data, "git", at),
                    Judgement::Allowed { .. }
                );
                let theirs = run(
                    "ssh-keygen",
                    &[
                        "-Y",
                        "verify",
                        "-f",
                        "allowed",
                        "-I",
                        principal,
                        "-n",
                        "git",
                        "-s",
                        "payload.sig",
                        &verify_time,
                    ],
                    dir,
                    Some(b"payload\n"),
                )
                .status
                .success();
                assert_eq!(
                    ours, theirs,
                    "key {key_data:?}, principal {principal}, time {time}"
                );
                compared += 1;
            }
            // find-principals ignores namespaces (every line here allows
            // `git` or `file`), and prints the line's principals one per line.
            let found = run(
                "ssh-keygen",
                &[
                    "-Y",
                    "find-principals",
                    "-f",
                    "allowed",
                    "-s",
                    "payload.sig",
                    &verify_time,
                ],
                dir,
                None,
            );
            let theirs: Vec<String> = String::from_utf8_lossy(&found.stdout)
                .lines()
                .map(str::to_owned)
                .collect();
            let judge = |ns| allowed.judge(key_data, ns, at);
            let ours_found = [judge("git"), judge("file")]
                .iter()
                .any(|j| matches!(j, Judgement::Allowed { .. }));
            assert_eq!(
                ours_found,
                found.status.success(),
                "{time}: ssh-keygen finds {theirs:?}"
            );
            if let Judgement::Allowed { principals, .. } = judge("git") {
                if matches!(judge("file"), Judgement::Allowed { line, .. } if line == judge_line(&judge("git")))
                {
                    assert_eq!(theirs.join(","), principals, "{time}");
                }
            }
        }
    }
    assert_eq!(compared, 4 * 6 * 6);
}

fn judge_line(j: &Judgement) -> usize {
    match j {
        Judgement::Allowed { line, .. } | Judgement::Refused { line, .. } => *line,
        Judgement::UnknownSigner => 0,
    }
}
