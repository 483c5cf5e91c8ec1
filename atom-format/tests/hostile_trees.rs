//! Hostile atom trees, built by git itself, against the digest walk that
//! publish, verify and add run: each refusal is pinned to what git does
//! with the same tree (`git fsck --strict`, a protected checkout, a real
//! checkout whose files are then read).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use atom_format::digest::{ContentDigest, DigestError, Digester};
use gix::ObjectId;

/// A tree entry to build: its path, kind (`f` file, `l` symlink) and
/// content (a symlink's target).
type Item<'a> = (&'a str, char, &'a str);

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

    /// A tree from `(path, kind, content)` items: files (`f`) and symlinks
    /// (`l`, content = target), directories made as needed.
    fn build(&self, items: &[(&str, char, &str)]) -> String {
        let split: Vec<(Vec<&str>, char, &str)> = items
            .iter()
            .map(|(p, k, c)| (p.split('/').collect(), *k, *c))
            .collect();
        self.level(&split)
    }

    fn level(&self, items: &[(Vec<&str>, char, &str)]) -> String {
        let mut entries: Vec<(&str, Vec<u8>, String)> = Vec::new();
        let mut dirs: Vec<&str> = Vec::new();
        for (parts, kind, content) in items {
            if parts.len() > 1 {
                if !dirs.contains(&parts[0]) {
                    dirs.push(parts[0]);
                }
                continue;
            }
            let mode = if *kind == 'l' { "120000" } else { "100644" };
            entries.push((
                mode,
                parts[0].as_bytes().to_vec(),
                self.blob(content.as_bytes()),
            ));
        }
        for dir in dirs {
            let inner: Vec<_> = items
                .iter()
                .filter(|(p, _, _)| p.len() > 1 && p[0] == dir)
                .map(|(p, k, c)| (p[1..].to_vec(), *k, *c))
                .collect();
            entries.push(("040000", dir.as_bytes().to_vec(), self.level(&inner)));
        }
        let refs: Vec<_> = entries
            .iter()
            .map(|(m, n, id)| (*m, n.as_slice(), id.as_str()))
            .collect();
        self.tree(&refs)
    }

    /// A commit of tree `id` checked out by git into a fresh directory
    /// `worktree` inside `parent`.
    fn checkout(&self, id: &str, parent: &Path) -> PathBuf {
        let commit = self.ok(&["commit-tree", "-m", "atom", id], b"");
        let worktree = parent.join("worktree");
        std::fs::create_dir_all(&worktree).unwrap();
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(self.path())
            .arg("--work-tree")
            .arg(&worktree)
            .args(["checkout", "-q", "-f", &commit, "--", "."])
            .env("GIT_INDEX_FILE", self.path().join("checkout-index"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        worktree
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

/// Symlink chains whose every target looks harmless alone, but which lead
/// out of the atom: a real checkout by git reads the file beside the
/// worktree through them, and the digest refuses every one.
#[test]
fn symlink_chains_that_escape_a_real_checkout_are_refused() {
    let cases: &[(&str, &[Item])] = &[
        // Issue 17: `sub/up/..` is the worktree's parent.
        (
            "esc",
            &[("sub/up", 'l', ".."), ("esc", 'l', "sub/up/../outside.txt")],
        ),
        // A link to its own directory, then up.
        ("x", &[("d", 'l', "."), ("x", 'l', "d/../outside.txt")]),
        // A deeper link to the root.
        (
            "esc",
            &[
                ("a/b/up2", 'l', "../.."),
                ("esc", 'l', "a/b/up2/../outside.txt"),
            ],
        ),
        // Two links in other directories, one leading to the other.
        (
            "x/y",
            &[
                ("a/b/c", 'l', "../d"),
                ("a/d", 'l', ".."),
                ("x/y", 'l', "../a/b/c/../outside.txt"),
            ],
        ),
    ];
    for (link, items) in cases {
        let git = Git::new();
        let tree = git.build(items);
        let parent = tempfile::tempdir().unwrap();
        std::fs::write(parent.path().join("outside.txt"), "outside the atom").unwrap();
        let worktree = git.checkout(&tree, parent.path());
        let read = std::fs::read_to_string(worktree.join(link)).unwrap();
        assert_eq!(
            read, "outside the atom",
            "{items:?}: the checkout does not escape"
        );
        let ours = git.digest(&tree);
        assert!(
            matches!(ours, Err(DigestError::SymlinkEscapes { .. })),
            "{items:?}: {ours:?}"
        );
    }
}

/// The same shapes kept inside the atom resolve in a real checkout to the
/// atom's own files, and the digest keeps them.
#[test]
fn symlink_chains_that_stay_inside_a_real_checkout_are_kept() {
    let items: &[(&str, char, &str)] = &[
        ("inside.txt", 'f', "inside the atom"),
        ("sub/up", 'l', ".."),
        ("esc", 'l', "sub/up/inside.txt"),
        ("d", 'l', "."),
        ("x", 'l', "d/d/sub/../inside.txt"),
        ("a/b/c", 'l', "../d"),
        ("a/d", 'l', ".."),
        ("y/z", 'l', "../a/b/c/inside.txt"),
    ];
    let git = Git::new();
    let tree = git.build(items);
    let parent = tempfile::tempdir().unwrap();
    let worktree = git.checkout(&tree, parent.path());
    for link in ["esc", "x", "y/z"] {
        let read = std::fs::read_to_string(worktree.join(link)).unwrap();
        assert_eq!(read, "inside the atom", "{link}");
    }
    git.digest(&tree).unwrap();
}

/// Linux follows at most 40 symlinks in one lookup (`ELOOP` past it); the
/// digest draws the line at the same chain length.
#[test]
fn the_symlink_hop_bound_is_linuxs() {
    for (links, resolves) in [(40, true), (41, false)] {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..links).map(|i| format!("l{i:02}")).collect();
        let mut items: Vec<(&str, char, &str)> = vec![("file", 'f', "content")];
        std::fs::write(dir.path().join("file"), "content").unwrap();
        for (i, name) in names.iter().enumerate() {
            let target = names.get(i + 1).map_or("file", String::as_str);
            std::os::unix::fs::symlink(target, dir.path().join(name)).unwrap();
            items.push((name, 'l', target));
        }
        let read = std::fs::read_to_string(dir.path().join("l00"));
        assert_eq!(read.is_ok(), resolves, "Linux, {links} links: {read:?}");
        let git = Git::new();
        let ours = git.digest(&git.build(&items));
        assert_eq!(ours.is_ok(), resolves, "digest, {links} links: {ours:?}");
    }
}

/// git refuses to check out a symlink below a directory it takes for
/// `.gitmodules` on HFS+ or NTFS (though fsck does not report it); so does
/// the digest. (git's path check knows the NTFS spellings only for the
/// last component, so it checks out `gi7eba~1/l`; so does the digest.)
#[test]
fn symlinks_below_a_gitmodules_directory_are_refused_as_git_refuses_them() {
    let git = Git::new();
    let cases = [
        // (path, kind, refused)
        ("d/.gitmodules/l", 'l', true),
        ("d/.GitModules/x/l", 'l', true),
        ("d/.git\u{200c}modules/l", 'l', true),
        ("d/gi7eba~1/l", 'l', false),
        ("d/gitmod~2/l", 'l', false),
        ("d/.gitmodules./l", 'l', false),
        ("d/.gitmodules/f", 'f', false),
        ("d/.gitmodulesx/l", 'l', false),
    ];
    for (path, kind, refused) in cases {
        let tree = git.build(&[(path, kind, "f")]);
        let read_tree = git.run(
            &[
                "-c",
                "core.protectHFS=true",
                "-c",
                "core.protectNTFS=true",
                "read-tree",
                &tree,
            ],
            b"",
        );
        assert_eq!(!read_tree.status.success(), refused, "git, {path}");
        assert_eq!(git.digest(&tree).is_err(), refused, "digest, {path}");
    }
}

/// A tree ~5,000 directories deep (issue 17: publish, verify and add died
/// of a stack overflow) is refused with an error naming the depth, on a
/// thread with a small stack.
#[test]
fn a_tree_5000_deep_is_refused_not_overflowed() {
    let dir = tempfile::tempdir().unwrap();
    let repo = gix::init_bare(dir.path()).unwrap().with_object_memory();
    let write = |entry: gix::objs::tree::Entry| {
        repo.write_object(gix::objs::Tree {
            entries: vec![entry],
        })
        .unwrap()
        .detach()
    };
    let file = repo.write_blob(b"x").unwrap().detach();
    let mut tree = write(gix::objs::tree::Entry {
        mode: gix::objs::tree::EntryKind::Blob.into(),
        filename: "f".into(),
        oid: file,
    });
    for _ in 0..5000 {
        tree = write(gix::objs::tree::Entry {
            mode: gix::objs::tree::EntryKind::Tree.into(),
            filename: "d".into(),
            oid: tree,
        });
    }
    let repo = repo.clone();
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            Digester::new(&repo.objects)
                .atom_digest(tree)
                .map_err(|e| e.to_string())
        })
        .unwrap()
        .join()
        .unwrap();
    let err = result.unwrap_err();
    assert!(
        err.contains("directories nest more than 2048 levels"),
        "{err}"
    );
}
