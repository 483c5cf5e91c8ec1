//! The symlink check of an atom: every symlink, where it sits, must lead to a
//! place inside the atom, however it is resolved.
//!
//! A symlink's target is resolved as the file system will: component by
//! component from the link's directory, through the tree itself, following
//! the other symlinks it meets (a link `sub/up -> ..` makes `sub/up/..` the
//! atom's parent, though `sub/up/..` looks like `sub`). Resolution fails the
//! check as soon as it climbs above the atom root, even if it would come
//! back. Names are looked up as a case-insensitive file system would too
//! (`SUB/UP` finds `sub/up`). Each target is also resolved lexically (`..` removes the previous
//! component, as Windows resolves paths), and must stay inside then too.
//!
//! The digest walk sees each tree once, but where a symlink leads depends on
//! where its tree sits, so this walk visits every occurrence of the trees
//! that hold symlinks (and only those). It keeps its own stack of
//! directories, so depth costs no recursion, and it counts its steps, so a
//! small repository that expands into a huge tree cannot keep it busy.

use std::collections::HashMap;
use std::rc::Rc;

use gix::objs::tree::EntryKind;
use gix::objs::FindExt;
use gix::ObjectId;

use super::{display_path, dotgit, fold, show_name, DigestError, Digester, Entry, NameProblem};

/// How many symlinks one resolution may follow: Linux's bound (`ELOOP`
/// past it), so a longer chain does not resolve there either.
pub const MAX_SYMLINK_HOPS: usize = 40;

/// How many steps (directories entered, target components resolved) the
/// check of one atom may take, far above any real atom's.
pub const MAX_SYMLINK_STEPS: usize = 1 << 24;

/// What is wrong with a symlink's target text itself, wherever it sits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    #[error("is empty")]
    Empty,
    #[error("is absolute: it points outside the atom")]
    Absolute,
    #[error("holds NUL")]
    Nul,
    #[error("holds `\\`, a directory separator on Windows")]
    Backslash,
    #[error("starts with a drive (`c:`): on Windows it points outside the atom")]
    DrivePrefix,
    #[error("goes through `{0}`, which git takes for `.git`")]
    GitDir(String),
}

/// One symlink followed while resolving another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The followed link, `/`-separated from the atom root.
    pub path: String,
    pub target: String,
}

/// The hops of a resolution, as the tail of a message.
pub(super) fn through(hops: &[Hop]) -> String {
    hops.iter()
        .map(|h| format!(", through `{}` -> `{}`", h.path, h.target))
        .collect()
}

/// A directory of the atom, as resolution sees it.
#[derive(Clone, Copy)]
enum Node {
    Tree(ObjectId),
    /// A submodule: a directory whose content the atom does not hold.
    Submodule,
}

/// A directory on the way from the atom root, with its name.
#[derive(Clone)]
struct Place {
    name: Vec<u8>,
    node: Node,
}

/// A directory being walked: its entries and the next one to look at.
struct Dir {
    name: Vec<u8>,
    id: ObjectId,
    entries: Rc<[Entry]>,
    next: usize,
    /// Whether it or a directory above it is named as git takes for
    /// `.gitmodules` in a path (git refuses to check out a symlink below
    /// one).
    under_gitmodules: bool,
}

/// The state of one atom's check.
struct Check<'d, 'r, O> {
    digester: &'d mut Digester<'r, O>,
    root: ObjectId,
    dirs: HashMap<ObjectId, Rc<[Entry]>>,
    targets: HashMap<ObjectId, Rc<[u8]>>,
    steps: usize,
}

/// Checks every symlink of the atom whose root tree is `root`.
pub(super) fn check<O: gix::objs::Find>(
    digester: &mut Digester<'_, O>,
    root: ObjectId,
) -> Result<(), DigestError> {
    let mut check = Check {
        digester,
        root,
        dirs: HashMap::new(),
        targets: HashMap::new(),
        steps: 0,
    };
    check.walk()
}

impl<O: gix::objs::Find> Check<'_, '_, O> {
    /// Visits every symlink in every occurrence of the trees holding one.
    fn walk(&mut self) -> Result<(), DigestError> {
        let entries = self.dir(self.root, Vec::new)?;
        let mut stack = vec![Dir {
            name: Vec::new(),
            id: self.root,
            entries,
            next: 0,
            under_gitmodules: false,
        }];
        while let Some(top) = stack.last_mut() {
            let Some(entry) = top.entries.get(top.next).cloned() else {
                stack.pop();
                continue;
            };
            top.next += 1;
            self.step(|| dir_path(&stack, &entry.name))?;
            match entry.kind {
                EntryKind::Tree if self.has_links(entry.oid) => {
                    let under_gitmodules = stack.last().is_some_and(|d| d.under_gitmodules)
                        || dotgit::is_dotgitmodules_directory(&entry.name);
                    let entries = self.dir(entry.oid, || dir_path(&stack, &entry.name))?;
                    stack.push(Dir {
                        name: entry.name,
                        id: entry.oid,
                        entries,
                        next: 0,
                        under_gitmodules,
                    });
                }
                EntryKind::Link => self.check_link(&stack, &entry)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks the symlink `entry` of the innermost directory of `stack`.
    fn check_link(&mut self, stack: &[Dir], entry: &Entry) -> Result<(), DigestError> {
        let path = dir_path(stack, &entry.name);
        if stack.last().is_some_and(|d| d.under_gitmodules) {
            return Err(DigestError::BadName {
                path: display_path(&path[..path.len() - 1]),
                name: show_name(&entry.name),
                problem: NameProblem::SymlinkUnderGitmodules,
            });
        }
        let target = self.target(entry.oid, &path)?;
        let depth = stack.len() - 1;
        if escapes_lexically(depth, &target) {
            return Err(DigestError::SymlinkEscapes {
                path: display_path(&path),
                target: show_name(&target),
                hops: Vec::new(),
            });
        }
        let from: Vec<Place> = stack[1..]
            .iter()
            .map(|d| Place {
                name: d.name.clone(),
                node: Node::Tree(d.id),
            })
            .collect();
        self.resolve(from, &path, &target)
    }

    /// Resolves `target`, the target of the link at `path`, from the places
    /// `at` (the link's directory) through the tree, following the symlinks
    /// it meets; fails if it climbs above the atom root.
    fn resolve(
        &mut self,
        mut at: Vec<Place>,
        path: &[Vec<u8>],
        target: &[u8],
    ) -> Result<(), DigestError> {
        let mut pending: Vec<Vec<u8>> = components(target).rev().map(<[u8]>::to_vec).collect();
        let mut hops: Vec<Hop> = Vec::new();
        let escapes = |hops: Vec<Hop>| DigestError::SymlinkEscapes {
            path: display_path(path),
            target: show_name(target),
            hops,
        };
        while let Some(component) = pending.pop() {
            self.step(|| path.to_vec())?;
            match &component[..] {
                b"" | b"." => {}
                b".." => {
                    if at.pop().is_none() {
                        return Err(escapes(hops));
                    }
                }
                name => {
                    let dir = match at.last().map_or(Node::Tree(self.root), |p| p.node) {
                        Node::Tree(id) => id,
                        Node::Submodule => {
                            return Err(DigestError::SymlinkIntoSubmodule {
                                path: display_path(path),
                                target: show_name(target),
                                submodule: place_path(&at),
                            })
                        }
                    };
                    let Some(entry) = self.lookup(dir, name, || places(&at))? else {
                        // Nothing of that name: resolution ends here.
                        return Ok(());
                    };
                    match entry.kind {
                        EntryKind::Tree => at.push(Place {
                            name: entry.name,
                            node: Node::Tree(entry.oid),
                        }),
                        EntryKind::Commit => at.push(Place {
                            name: entry.name,
                            node: Node::Submodule,
                        }),
                        // A file: nothing lies below it (`ENOTDIR`).
                        EntryKind::Blob | EntryKind::BlobExecutable => return Ok(()),
                        EntryKind::Link => {
                            let mut link_path = places(&at);
                            link_path.push(entry.name);
                            // The link being checked counts as one.
                            if hops.len() + 1 == MAX_SYMLINK_HOPS {
                                return Err(DigestError::SymlinkLoop {
                                    path: display_path(path),
                                    target: show_name(target),
                                });
                            }
                            let next = self.target(entry.oid, &link_path)?;
                            pending.extend(components(&next).rev().map(<[u8]>::to_vec));
                            hops.push(Hop {
                                path: display_path(&link_path),
                                target: show_name(&next),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The entry `name` of tree `dir` (at `path`), if there is one: of that
    /// exact name, or else of one a case-insensitive file system takes for
    /// it (`SUB` for `sub`). The digest walk refuses a directory where two
    /// names fold together unless both are files, so a folded match that is
    /// not a file is the only one.
    fn lookup(
        &mut self,
        dir: ObjectId,
        name: &[u8],
        path: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Result<Option<Entry>, DigestError> {
        let entries = self.dir(dir, path)?;
        if let Ok(i) = entries.binary_search_by(|e| e.name.as_slice().cmp(name)) {
            return Ok(Some(entries[i].clone()));
        }
        let key = fold::key(name);
        Ok(entries.iter().find(|e| fold::key(&e.name) == key).cloned())
    }

    /// The entries of tree `id` (at `path`), sorted by name, read once.
    fn dir(
        &mut self,
        id: ObjectId,
        path: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Result<Rc<[Entry]>, DigestError> {
        if let Some(entries) = self.dirs.get(&id) {
            return Ok(entries.clone());
        }
        let entries: Rc<[Entry]> = self.digester.entries(id, path)?.into();
        self.dirs.insert(id, entries.clone());
        Ok(entries)
    }

    /// The target of the symlink blob `id` (at `path`), refused if its text
    /// is unsafe wherever it sits.
    fn target(&mut self, id: ObjectId, path: &[Vec<u8>]) -> Result<Rc<[u8]>, DigestError> {
        if let Some(target) = self.targets.get(&id) {
            return Ok(target.clone());
        }
        let digester = &mut *self.digester;
        let blob = digester
            .objects
            .find_blob(&id, &mut digester.buf)
            .map_err(super::object_error(|| path.to_vec(), id))?;
        let target: Rc<[u8]> = blob.data.into();
        if let Some(problem) = target_problem(&target) {
            return Err(DigestError::SymlinkTarget {
                path: display_path(path),
                target: show_name(&target),
                problem,
            });
        }
        self.targets.insert(id, target.clone());
        Ok(target)
    }

    fn has_links(&self, tree: ObjectId) -> bool {
        self.digester.trees.get(&tree).is_some_and(|f| f.has_links)
    }

    /// Counts one step, failing past [`MAX_SYMLINK_STEPS`].
    fn step(&mut self, path: impl FnOnce() -> Vec<Vec<u8>>) -> Result<(), DigestError> {
        self.steps += 1;
        if self.steps > self.digester.symlink_step_limit {
            return Err(DigestError::SymlinksTooComplex {
                path: display_path(&path()),
            });
        }
        Ok(())
    }
}

/// What is wrong with a symlink target's text, if anything.
pub(super) fn target_problem(target: &[u8]) -> Option<TargetProblem> {
    if target.is_empty() {
        Some(TargetProblem::Empty)
    } else if target[0] == b'/' {
        Some(TargetProblem::Absolute)
    } else if target.contains(&0) {
        Some(TargetProblem::Nul)
    } else if target.contains(&b'\\') {
        Some(TargetProblem::Backslash)
    } else if target.len() >= 2 && target[0].is_ascii_alphabetic() && target[1] == b':' {
        Some(TargetProblem::DrivePrefix)
    } else {
        components(target)
            .find(|c| dotgit::is_dotgit(c))
            .map(|c| TargetProblem::GitDir(show_name(c)))
    }
}

fn components(target: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    target.split(|&b| b == b'/')
}

/// The path of entry `name` of the innermost directory.
fn dir_path(stack: &[Dir], name: &[u8]) -> Vec<Vec<u8>> {
    let mut path: Vec<Vec<u8>> = stack.iter().skip(1).map(|d| d.name.clone()).collect();
    path.push(name.to_vec());
    path
}

fn places(at: &[Place]) -> Vec<Vec<u8>> {
    at.iter().map(|p| p.name.clone()).collect()
}

fn place_path(at: &[Place]) -> String {
    display_path(&places(at))
}

/// Whether a symlink at directory depth `depth` (0 = the atom root) with this
/// target leaves the atom when resolved lexically: each `..` climbs one
/// directory, and no prefix of the target may climb above the root.
pub(super) fn escapes_lexically(depth: usize, target: &[u8]) -> bool {
    if target.is_empty() || target.first() == Some(&b'/') || target.contains(&0) {
        return true;
    }
    let mut level = depth as isize;
    for part in components(target) {
        match part {
            b"" | b"." => {}
            b".." => {
                level -= 1;
                if level < 0 {
                    return true;
                }
            }
            _ => level += 1,
        }
    }
    false
}
