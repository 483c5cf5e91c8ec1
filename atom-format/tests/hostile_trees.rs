//! Hostile atom trees, built by git itself, against the digest walk that
//! publish, verify and add run: each refusal is pinned to what git does
//! with the same tree (`git fsck --strict`, a protected checkout, a real
//! checkout whose files are then read).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use atom_format::digest::{ContentDigest, DigestError, Digester};
use gix::ObjectId;

/// A bare scratch repository driven through the `git` command.
struct Git {
    dir: tempfile::TempDir,
}

impl Git {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let init = Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(init.status.success());
        Git { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new("git")
            .arg("--git-dir")
            .arg(self.path())
            .args(args)
            .env("GIT_INDEX_FILE", self.path().join("scratch-index"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str], stdin: &[u8]) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn blob(&self, data: &[u8]) -> String {
        self.ok(&["hash-object", "-w", "--stdin"], data)
    }

    /// A tree of `(mode, name, id)` entries, written by `git mktree`.
    fn tree(&self, entries: &[(&str, &[u8], &str)]) -> String {
        let mut text = Vec::new();
        for (mode, name, id) in entries {
            let kind = match *mode {
                "040000" => "tree",
                "160000" => "commit",
                _ => "blob",
            };
            text.extend(format!("{mode} {kind} {id}\t").as_bytes());
            text.extend(*name);
            text.push(b'\n');
        }
        self.ok(&["mktree", "--missing"], &text)
    }

    /// Our digest of tree `id`, read through gix as publish and verify do.
    fn digest(&self, id: &str) -> Result<ContentDigest, DigestError> {
        let repo = gix::open(self.path()).unwrap();
        let id = ObjectId::from_hex(id.as_bytes()).unwrap();
        Digester::new(&repo.objects).atom_digest(id)
    }
}

/// git's verdict on each tree id: refused if `git fsck --strict` reports an
/// error in it or a protected `git read-tree` refuses it.
fn git_refuses(git: &Git, trees: &[String]) -> Vec<bool> {
    let fsck = git.run(&["fsck", "--strict", "--no-dangling"], b"");
    let report =
        String::from_utf8_lossy(&fsck.stderr).into_owned() + &String::from_utf8_lossy(&fsck.stdout);
    trees
        .iter()
        .map(|tree| {
            let fsck_error = report.contains(&format!("error in tree {tree}"));
            let read_tree = git.run(
                &[
                    "-c",
                    "core.protectHFS=true",
                    "-c",
                    "core.protectNTFS=true",
                    "read-tree",
                    tree,
                ],
                b"",
            );
            fsck_error || !read_tree.status.success()
        })
        .collect()
}

/// Names git takes for `.git` (HFS+ ignored code points and case folding;
/// NTFS trailing dots and spaces, streams, the short name `git~1`; malformed
/// UTF-8 after `.git`) and for `.gitmodules`, beside near misses git
/// accepts. Each goes into a tree as a file and as a symlink.
fn dotgit_candidates() -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut add = |n: &[u8]| names.push(n.to_vec());
    for n in [
        ".git",
        ".GIT",
        ".Git",
        "git~1",
        "GIT~1",
        "git~2",
        "git~10",
        ".git~1",
        ".git.",
        ".git..",
        ".git ",
        ".git . .",
        ".git.x",
        ".gitx",
        ".gi",
        "git",
        "..git",
        ".git::$INDEX_ALLOCATION",
        ".git:x",
        "git~1:x",
        "git~1 .",
        "git~1x",
    ] {
        add(n.as_bytes());
    }
    // HFS+ ignores these code points anywhere in a name; these are not.
    for c in [
        '\u{200c}', '\u{200d}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{206a}',
        '\u{206f}', '\u{feff}', '\u{ad}', '\u{2060}', '\u{200b}', '\u{180e}', '\u{34f}',
    ] {
        add(format!(".g{c}it").as_bytes());
        add(format!("{c}.git").as_bytes());
        add(format!(".git{c}").as_bytes());
    }
    for n in [
        &b".git\xff"[..],
        b".git\xc0\x80",
        b".git\xef\xbf\xbe",
        b".g\xffit",
        b"\xff.git",
    ] {
        add(n);
    }
    for n in [
        ".gitmodules",
        ".GITMODULES",
        ".gitmodules.",
        ".gitmodules :x",
        "gitmod~1",
        "GITMOD~4",
        "gitmod~5",
        "gi7eba~1",
        "gi7eba~9",
        "gi7eb~12",
        "gi7eba~0",
        ".gitmodulesx",
        "gitmodules",
        ".gitignore",
        ".gitattributes",
        ".mailmap",
        "gi250a~1",
    ] {
        add(n.as_bytes());
    }
    add(".gitmo\u{200c}dules".as_bytes());
    names
}

/// Every candidate name, as a file and as a symlink, is refused by the
/// digest exactly when git refuses it.
#[test]
fn names_git_takes_for_dotgit_are_refused_as_git_refuses_them() {
    let git = Git::new();
    let blob = git.blob(b"target");
    let mut cases = Vec::new();
    for name in dotgit_candidates() {
        for mode in ["100644", "120000"] {
            let tree = git.tree(&[(mode, &name, &blob)]);
            cases.push((String::from_utf8_lossy(&name).into_owned(), mode, tree));
        }
    }
    let trees: Vec<String> = cases.iter().map(|c| c.2.clone()).collect();
    let verdicts = git_refuses(&git, &trees);
    let mut disagreements = Vec::new();
    for ((name, mode, tree), git_refused) in cases.iter().zip(&verdicts) {
        let ours = git.digest(tree);
        if ours.is_err() != *git_refused {
            disagreements.push(format!(
                "{name:?} ({mode}): git refuses: {git_refused}, ours: {ours:?}"
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // Both sides of the line are exercised.
    let refused = verdicts.iter().filter(|r| **r).count();
    assert!(
        refused > 40 && refused < verdicts.len() - 40,
        "{refused} of {}",
        verdicts.len()
    );
}
