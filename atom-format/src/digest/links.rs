//! The symlink check of an atom: every symlink, where it sits, must lead to a
//! place inside the atom.
//!
//! The digest walk sees each tree once, but whether a symlink escapes
//! depends on where its tree sits, so this walk visits every occurrence of
//! the trees that hold symlinks (and only those). It keeps its own stack of
//! directories, so depth costs no recursion.

use gix::objs::tree::EntryKind;
use gix::objs::FindExt;
use gix::ObjectId;

use super::{display_path, DigestError, Digester, Entry};

/// A directory being walked: its entries and the next one to look at.
struct Dir {
    name: Vec<u8>,
    entries: Vec<Entry>,
    next: usize,
}

/// Checks every symlink of the atom whose root tree is `root`.
pub(super) fn check<O: gix::objs::Find>(
    digester: &mut Digester<'_, O>,
    root: ObjectId,
) -> Result<(), DigestError> {
    let entries = digester.entries(root, Vec::new)?;
    let mut stack = vec![Dir {
        name: Vec::new(),
        entries,
        next: 0,
    }];
    while let Some(top) = stack.last_mut() {
        let Some(entry) = top.entries.get(top.next).cloned() else {
            stack.pop();
            continue;
        };
        top.next += 1;
        match entry.kind {
            EntryKind::Tree if digester.trees.get(&entry.oid).is_some_and(|f| f.has_links) => {
                let entries = digester.entries(entry.oid, || dir_path(&stack, &entry.name))?;
                stack.push(Dir {
                    name: entry.name,
                    entries,
                    next: 0,
                });
            }
            EntryKind::Link => {
                let path = dir_path(&stack, &entry.name);
                let target = link_target(digester, entry.oid, &path)?;
                if escapes_lexically(stack.len() - 1, &target) {
                    return Err(DigestError::SymlinkEscapes {
                        path: display_path(&path),
                        target: String::from_utf8_lossy(&target).into_owned(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The path of entry `name` of the innermost directory.
fn dir_path(stack: &[Dir], name: &[u8]) -> Vec<Vec<u8>> {
    let mut path: Vec<Vec<u8>> = stack.iter().skip(1).map(|d| d.name.clone()).collect();
    path.push(name.to_vec());
    path
}

fn link_target<O: gix::objs::Find>(
    digester: &mut Digester<'_, O>,
    id: ObjectId,
    path: &[Vec<u8>],
) -> Result<Vec<u8>, DigestError> {
    let blob = digester
        .objects
        .find_blob(&id, &mut digester.buf)
        .map_err(super::object_error(|| path.to_vec(), id))?;
    Ok(blob.data.to_vec())
}

/// Whether a symlink at directory depth `depth` (0 = the atom root) with this
/// target leaves the atom. Resolution is lexical: absolute targets always
/// leave; each `..` climbs one directory.
pub(super) fn escapes_lexically(depth: usize, target: &[u8]) -> bool {
    if target.is_empty() || target.first() == Some(&b'/') || target.contains(&0) {
        return true;
    }
    let mut level = depth as isize;
    for part in target.split(|&b| b == b'/') {
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
