//! Publishing: turning the atoms of a source commit into atom commits and
//! refs, locally and on a remote, all or nothing.
//!
//! The order of work is chosen so that a failure at any point leaves nothing
//! half done: everything is computed and checked (manifests, labels, ref
//! names, digests, the remote's listing, local ref conflicts) before the first
//! write; objects are written first (unreferenced objects are harmless); local
//! refs change in one transaction; the remote changes in one atomic push; and
//! if the push fails, the local refs go back to what they were.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use gix::ObjectId;
use rayon::prelude::*;
use serde::Deserialize;

use crate::digest::{DigestError, Digester};
use crate::git::{self, FoundAtom, GitError, PushError, RefUpdate, RemoteError};
use crate::manifest::{Manifest, ManifestError, MANIFEST_FILE};
use crate::refs::{AtomRef, AtomVersion, InvalidRefName, Namespace, ROOT_REF};
use crate::{AtomCommit, AtomId, ContentDigest, Label};

/// Which atoms of the source commit to publish.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Every atom (or those listed in `ekala.toml`'s `[set] packages`).
    All,
    /// The atoms in these directories, relative to the repository root.
    Paths(Vec<String>),
}

/// What `publish` is asked to do.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    /// The revision whose tree is published (`HEAD` by default).
    pub rev: String,
    /// A configured remote's name, or a URL or path.
    pub remote: String,
    pub selection: Selection,
    /// Compute and check everything, write nothing.
    pub dry_run: bool,
}

/// What happened (or would happen) to one atom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Published by this run.
    Published,
    /// Would be published (dry run).
    WouldPublish,
    /// The remote already has this very commit.
    UpToDate,
}

/// One atom in a publish report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishedAtom {
    pub path: String,
    pub label: Label,
    pub version: semver::Version,
    pub status: Status,
    pub id: AtomId,
    pub digest: ContentDigest,
    #[serde(serialize_with = "ser_oid")]
    pub commit: ObjectId,
}

/// The result of a publish.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishReport {
    pub remote: String,
    #[serde(serialize_with = "ser_oid")]
    pub source: ObjectId,
    #[serde(serialize_with = "ser_oid")]
    pub root: ObjectId,
    pub atoms: Vec<PublishedAtom>,
    /// Refs pushed to the remote (empty when nothing was new, or dry run).
    pub pushed_refs: Vec<String>,
    /// Problems that did not stop the publish.
    pub warnings: Vec<String>,
    /// How long each phase took, in milliseconds, in order.
    pub timings_ms: Vec<(&'static str, f64)>,
}

fn ser_oid<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// Why nothing was published.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PublishError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] ManifestError),
    #[error("`{path}/atom.toml` is not valid UTF-8")]
    #[diagnostic(code(atom::manifest::utf8), help("save atom.toml as UTF-8"))]
    ManifestNotUtf8 { path: String },
    #[error("no atom found in {rev}")]
    #[diagnostic(
        code(atom::publish::no_atoms),
        help("an atom is a directory holding atom.toml; create one with `eka new <dir>` and commit it")
    )]
    NoAtoms { rev: String },
    #[error("{rev} has an atom.toml at the repository root, which cannot be an atom")]
    #[diagnostic(
        code(atom::publish::root_manifest),
        help("an atom is a subdirectory of the repository: move atom.toml (and the atom's files) into one")
    )]
    RootManifest { rev: String },
    #[error("`{path}` is not an atom directory in {rev}{}", found_list(.found))]
    #[diagnostic(
        code(atom::publish::not_an_atom),
        help("publish reads committed trees only: commit the atom first, or check the path")
    )]
    NotAnAtom {
        path: String,
        rev: String,
        found: Vec<String>,
    },
    #[error("ekala.toml lists `{path}`, but {rev} has no atom.toml there")]
    #[diagnostic(
        code(atom::publish::ekala_missing),
        help("remove the entry from ekala.toml's [set] packages, or restore the atom")
    )]
    EkalaMissing { path: String, rev: String },
    #[error("ekala.toml: {0}")]
    #[diagnostic(code(atom::publish::ekala))]
    Ekala(String),
    #[error("two atoms have the label `{label}` in {rev}: `{first}` and `{second}`")]
    #[diagnostic(
        code(atom::publish::duplicate_label),
        help("labels identify atoms within a repository; rename one of them")
    )]
    DuplicateLabel {
        label: Label,
        rev: String,
        first: String,
        second: String,
    },
    #[error("atom `{path}`: {source}")]
    #[diagnostic(
        code(atom::publish::ref_name),
        help(
            "choose a version git can store in a ref name (a pre-release may not end in `.lock`)"
        )
    )]
    RefName {
        path: String,
        #[source]
        source: InvalidRefName,
    },
    #[error("atom `{path}`: {source}")]
    #[diagnostic(
        code(atom::publish::unsafe_tree),
        help("atoms are fetched by others: remove the offending entry, or point the symlink inside the atom")
    )]
    UnsafeTree {
        path: String,
        #[source]
        source: DigestError,
    },
    #[error("the remote's repository root is {theirs}, but this repository's is {ours}")]
    #[diagnostic(
        code(atom::publish::root_mismatch),
        help("a registry holds atoms of one repository history; publish to a remote of this repository")
    )]
    RootMismatch { ours: ObjectId, theirs: ObjectId },
    #[error("{}", conflicts_text(.0))]
    #[diagnostic(
        code(atom::publish::version_conflict),
        help("published versions are immutable: bump the version in atom.toml and commit; nothing was pushed")
    )]
    Conflicts(Vec<Conflict>),
    #[error("local ref `{name}` points to {existing}, but publishing needs {wanted}")]
    #[diagnostic(
        code(atom::publish::local_ref_conflict),
        help("inspect it with `git show {name}`; if it is stale, delete it with `git update-ref -d {name}`")
    )]
    LocalRefConflict {
        name: String,
        existing: ObjectId,
        wanted: ObjectId,
    },
}

/// A version that the remote already has with different content.
#[derive(Clone, Debug)]
pub struct Conflict {
    pub atom: AtomVersion,
    pub remote: ObjectId,
    pub local: ObjectId,
}

fn conflicts_text(conflicts: &[Conflict]) -> String {
    let mut s = String::from("already published with different content:");
    for c in conflicts {
        s.push_str(&format!(
            "\n  {} is {} on the remote, but would be {} from this commit",
            c.atom, c.remote, c.local
        ));
    }
    s
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        String::new()
    } else {
        format!(" (atoms there: {})", found.join(", "))
    }
}

/// `ekala.toml` of eka 0.3: an explicit list of the atoms of a repository.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EkalaManifest {
    set: EkalaSet,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EkalaSet {
    #[serde(default)]
    packages: Vec<String>,
}

/// An atom about to be published, with everything computed.
struct Prepared {
    found: FoundAtom,
    atom: AtomVersion,
    commit: AtomCommit,
    commit_id: ObjectId,
    id: AtomId,
}

/// Normalises a user-given repository-relative directory (`./a//b/` → `a/b`).
pub fn normalize_path(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Publishes atoms of the repository containing `cwd`.
pub fn publish(cwd: &Path, opts: &PublishOptions) -> Result<PublishReport, PublishError> {
    let mut clock = Clock::new();
    let repo = git::open(cwd)?;
    let source = git::resolve_commit(&repo, &opts.rev)?;
    let rev = if opts.rev == "HEAD" {
        format!("HEAD ({})", &source.to_hex_with_len(12))
    } else {
        format!("{} ({})", opts.rev, &source.to_hex_with_len(12))
    };
    let url = git::remote_url(Some(&repo), &opts.remote)?;

    // Listing the remote is network-bound; do it while reading the tree.
    let (listing, prepared) = std::thread::scope(|s| {
        // eka 0.3's atoms and root too: a version it published is as
        // immutable as ours (resolvers read both namespaces).
        let listing = s.spawn(|| {
            git::ls_refs(
                &url,
                &[
                    crate::refs::ATOMS_PREFIX,
                    crate::refs::EKA03_ATOMS_PREFIX,
                    crate::refs::EKA03_ROOT_REF,
                ],
            )
        });
        let prepared = prepare(&repo, source, &rev, &opts.selection);
        (listing.join().expect("ls-refs thread panicked"), prepared)
    });
    let (root, prepared) = prepared?;
    let remote_refs: HashMap<String, ObjectId> =
        listing?.into_iter().map(|r| (r.name, r.target)).collect();

    clock.lap("read commit, list remote");
    let digests = digests(&repo, &prepared)?;
    clock.lap("digests");

    let remote_root = remote_refs.get(ROOT_REF).copied();
    let eka03_root = remote_refs.get(crate::refs::EKA03_ROOT_REF).copied();
    if let Some(theirs) = remote_root.or(eka03_root).filter(|t| *t != root) {
        return Err(PublishError::RootMismatch { ours: root, theirs });
    }
    let mut conflicts = Vec::new();
    let mut fresh = Vec::new();
    // Atoms whose version the remote has from an earlier source commit:
    // their published commit id, by position in `prepared`.
    let mut published_earlier: HashMap<usize, ObjectId> = HashMap::new();
    for (i, (p, digest)) in prepared.iter().zip(&digests).enumerate() {
        // Ours first; else the same version as eka 0.3 published it.
        let ours = p.atom.atom_ref();
        let legacy = AtomRef::Atom(p.atom.clone()).name_in(Namespace::Eka03);
        let published = [ours, legacy]
            .into_iter()
            .find_map(|name| remote_refs.get(&name).map(|id| (name, *id)));
        match published {
            Some((_, theirs)) if theirs == p.commit_id => {}
            Some((name, theirs)) => conflicts.push((i, name, theirs)),
            None => fresh.push((p, *digest)),
        }
    }
    if !conflicts.is_empty() {
        // A version published from an earlier commit with the same tree is the
        // same content: up to date, not a conflict. Its commit may need
        // fetching first (only objects we lack come over).
        let missing: Vec<String> = conflicts
            .iter()
            .filter(|(_, _, theirs)| matches!(git::read_object(&repo, *theirs), Ok(None)))
            .map(|(_, name, _)| name.clone())
            .collect();
        if !missing.is_empty() {
            // If this fails, the conflict below reports what is known.
            let _ = git::fetch(&repo, &url, &missing);
        }
        let mut real = Vec::new();
        for (i, _, theirs) in conflicts {
            let p = &prepared[i];
            let same_content = match git::read_object(&repo, theirs) {
                Ok(Some((gix::object::Kind::Commit, bytes))) => AtomCommit::parse(&bytes)
                    .is_ok_and(|c| {
                        c.tree == p.commit.tree
                            && c.label == p.atom.label
                            && c.version == p.atom.version
                    }),
                _ => false,
            };
            if same_content {
                published_earlier.insert(i, theirs);
            } else {
                real.push(Conflict {
                    atom: p.atom.clone(),
                    remote: theirs,
                    local: p.commit_id,
                });
            }
        }
        if !real.is_empty() {
            return Err(PublishError::Conflicts(real));
        }
    }

    // The refs each fresh atom needs, locally and on the remote.
    let mut wanted: Vec<(String, ObjectId)> = Vec::new();
    for (p, _) in &fresh {
        wanted.push((p.atom.atom_ref(), p.commit_id));
        wanted.push((p.atom.manifest_ref(), p.found.manifest_blob));
        wanted.push((p.atom.origin_ref(), source));
    }
    if remote_root.is_none() && !fresh.is_empty() {
        wanted.push((ROOT_REF.to_owned(), root));
    }
    // Local refs mirror what the remote will hold; one that disagrees is
    // somebody's work, so it stops the publish rather than being overwritten.
    let local: HashMap<String, ObjectId> = git::local_refs(&repo, crate::refs::ATOMS_PREFIX)?
        .into_iter()
        .collect();
    let mut local_updates = Vec::new();
    for (name, new) in &wanted {
        match local.get(name) {
            Some(existing) if existing == new => {}
            Some(existing) => {
                return Err(PublishError::LocalRefConflict {
                    name: name.clone(),
                    existing: *existing,
                    wanted: *new,
                })
            }
            None => local_updates.push(RefUpdate {
                name: name.clone(),
                old: None,
                new: Some(*new),
            }),
        }
    }

    let status = if opts.dry_run {
        Status::WouldPublish
    } else {
        Status::Published
    };
    let fresh_ids: std::collections::HashSet<ObjectId> =
        fresh.iter().map(|(p, _)| p.commit_id).collect();
    let report_atoms = prepared
        .iter()
        .zip(&digests)
        .enumerate()
        .map(|(i, (p, digest))| PublishedAtom {
            path: p.found.path.clone(),
            label: p.atom.label.clone(),
            version: p.atom.version.clone(),
            status: if fresh_ids.contains(&p.commit_id) {
                status
            } else {
                Status::UpToDate
            },
            id: p.id,
            digest: *digest,
            commit: published_earlier.get(&i).copied().unwrap_or(p.commit_id),
        })
        .collect();
    let mut report = PublishReport {
        remote: url.clone(),
        source,
        root,
        atoms: report_atoms,
        pushed_refs: Vec::new(),
        warnings: Vec::new(),
        timings_ms: Vec::new(),
    };
    if opts.dry_run || wanted.is_empty() {
        report.timings_ms = clock.laps;
        return Ok(report);
    }

    let commits: Vec<Vec<u8>> = fresh.iter().map(|(p, _)| p.commit.to_bytes()).collect();
    // Dropping `_pack` (on every way out of this function) lets `git gc`
    // repack the new commits: by then refs point at them, or they are
    // unreferenced leftovers of a failed push.
    let (written, _pack) = git::write_commits(&repo, &commits)?;
    debug_assert!(written
        .iter()
        .zip(&fresh)
        .all(|(id, (p, _))| *id == p.commit_id));
    clock.lap("write commits");
    // The push and the local refs are independent disk-bound work, so they
    // run side by side. If the push fails, the local refs written meanwhile
    // are taken back, so the local repository ends as it was.
    let refs = git::RefStore::of(&repo);
    let (pushed, (local, local_ms)) = std::thread::scope(|s| {
        let local = s.spawn(|| {
            let start = std::time::Instant::now();
            let done = refs.update(&local_updates, "eka publish");
            (done, start.elapsed().as_secs_f64() * 1e3)
        });
        let pushed = git::push_atomic(&repo, &url, &wanted);
        (pushed, local.join().expect("local ref thread panicked"))
    });
    clock.lap("push and local refs");
    clock
        .laps
        .push(("of which local refs, beside the push", local_ms));
    if let Err(mut push) = pushed {
        if local.is_ok() {
            let undo: Vec<RefUpdate> = local_updates
                .iter()
                .map(|u| RefUpdate {
                    name: u.name.clone(),
                    old: u.new,
                    new: u.old,
                })
                .collect();
            if let Err(e) = refs.update(&undo, "eka publish: push failed") {
                push.stderr.push_str(&format!(
                    "\nand the local refs written meanwhile could not be taken back: {e}"
                ));
            }
        }
        return Err(PublishError::Push(push));
    }
    // Failing to write the local refs loses nothing (the remote has
    // everything), so it is a warning, not an error.
    if let Err(e) = local {
        report.warnings.push(format!(
            "published, but the local refs under refs/atoms/ were not updated: {e}"
        ));
    }
    report.pushed_refs = wanted.into_iter().map(|(n, _)| n).collect();
    report.timings_ms = clock.laps;
    Ok(report)
}

/// Phase timings for `-v` output and benchmarks.
struct Clock {
    last: std::time::Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Clock {
    fn new() -> Self {
        Clock {
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps
            .push((name, (now - self.last).as_secs_f64() * 1e3));
        self.last = now;
    }
}

/// Finds, selects and parses the atoms of `source`, and builds their commits.
fn prepare(
    repo: &gix::Repository,
    source: ObjectId,
    rev: &str,
    selection: &Selection,
) -> Result<(ObjectId, Vec<Prepared>), PublishError> {
    let root = git::root_commit(repo, source)?;
    let tree = git::commit_tree(repo, source)?;
    let discovery = git::discover_atoms(repo, tree)?;
    let by_path: BTreeMap<&str, &FoundAtom> = discovery
        .atoms
        .iter()
        .map(|a| (a.path.as_str(), a))
        .collect();
    let found_paths = || discovery.atoms.iter().map(|a| a.path.clone()).collect();

    let selected: Vec<&FoundAtom> = match selection {
        Selection::Paths(paths) => {
            let mut out = Vec::new();
            for p in paths {
                let norm = normalize_path(p);
                if norm.is_empty() && discovery.root_manifest {
                    return Err(PublishError::RootManifest {
                        rev: rev.to_owned(),
                    });
                }
                match by_path.get(norm.as_str()) {
                    Some(a) if !out.contains(a) => out.push(*a),
                    Some(_) => {}
                    None => {
                        return Err(PublishError::NotAnAtom {
                            path: p.clone(),
                            rev: rev.to_owned(),
                            found: found_paths(),
                        })
                    }
                }
            }
            out
        }
        Selection::All => match ekala_packages(repo, tree)? {
            Some(listed) => {
                let mut out = Vec::new();
                for p in listed {
                    let a = by_path.get(normalize_path(&p).as_str()).ok_or_else(|| {
                        PublishError::EkalaMissing {
                            path: p.clone(),
                            rev: rev.to_owned(),
                        }
                    })?;
                    out.push(*a);
                }
                out
            }
            None => {
                if discovery.root_manifest {
                    return Err(PublishError::RootManifest {
                        rev: rev.to_owned(),
                    });
                }
                discovery.atoms.iter().collect()
            }
        },
    };
    if selected.is_empty() {
        return Err(PublishError::NoAtoms {
            rev: rev.to_owned(),
        });
    }

    // Labels must be unique among all atoms of the commit, not only the
    // selected ones: verification finds an atom in its origin by label.
    let sync = repo.clone().into_sync();
    let manifests = discovery
        .atoms
        .par_iter()
        .map_init(
            || sync.to_thread_local(),
            |repo, found| -> Result<(FoundAtom, Result<Manifest, PublishError>), PublishError> {
                let bytes = git::read_blob(repo, found.manifest_blob)?;
                let display = format!("{}/{MANIFEST_FILE}", found.path);
                let parsed = match String::from_utf8(bytes) {
                    Ok(text) => Manifest::parse(&display, &text).map_err(PublishError::from),
                    Err(_) => Err(PublishError::ManifestNotUtf8 {
                        path: found.path.clone(),
                    }),
                };
                Ok((found.clone(), parsed))
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    let mut labels: HashMap<Label, String> = HashMap::new();
    let mut parsed: HashMap<String, Manifest> = HashMap::new();
    for (found, manifest) in manifests {
        match manifest {
            Ok(m) => {
                if let Some(first) = labels.insert(m.package.label.clone(), found.path.clone()) {
                    return Err(PublishError::DuplicateLabel {
                        label: m.package.label,
                        rev: rev.to_owned(),
                        first,
                        second: found.path,
                    });
                }
                parsed.insert(found.path, m);
            }
            // A broken manifest outside the selection does not stop others
            // from being published.
            Err(e) if selected.iter().any(|s| s.path == found.path) => return Err(e),
            Err(_) => {}
        }
    }

    let mut prepared = Vec::with_capacity(selected.len());
    for found in selected {
        let m = &parsed[found.path.as_str()];
        let atom = AtomVersion::new(m.package.label.clone(), m.package.version.clone());
        atom.check_ref_names()
            .map_err(|source| PublishError::RefName {
                path: found.path.clone(),
                source,
            })?;
        let commit = AtomCommit {
            tree: found.tree,
            origin: source,
            label: atom.label.clone(),
            version: atom.version.clone(),
        };
        prepared.push(Prepared {
            found: found.clone(),
            commit_id: commit.id(),
            id: AtomId::compute(&root, &atom.label),
            atom,
            commit,
        });
    }
    Ok((root, prepared))
}

/// Content digests of the prepared atoms, in parallel; each walk also
/// refuses unsafe trees.
fn digests(
    repo: &gix::Repository,
    prepared: &[Prepared],
) -> Result<Vec<ContentDigest>, PublishError> {
    let sync = repo.clone().into_sync();
    prepared
        .par_iter()
        .map_init(
            || sync.to_thread_local(),
            |repo, p| {
                Digester::new(&repo.objects)
                    .atom_digest(p.found.tree)
                    .map_err(|source| PublishError::UnsafeTree {
                        path: p.found.path.clone(),
                        source,
                    })
            },
        )
        .collect()
}

/// The `[set] packages` list of the `ekala.toml` at the root of `tree`, if any.
fn ekala_packages(
    repo: &gix::Repository,
    tree: ObjectId,
) -> Result<Option<Vec<String>>, PublishError> {
    let Some((kind, id)) = git::lookup_path(repo, tree, "ekala.toml")? else {
        return Ok(None);
    };
    if !matches!(
        kind,
        gix::objs::tree::EntryKind::Blob | gix::objs::tree::EntryKind::BlobExecutable
    ) {
        return Ok(None);
    }
    let bytes = git::read_blob(repo, id)?;
    let text =
        String::from_utf8(bytes).map_err(|_| PublishError::Ekala("not valid UTF-8".into()))?;
    let manifest: EkalaManifest =
        toml::from_str(&text).map_err(|e| PublishError::Ekala(e.message().trim().to_owned()))?;
    Ok(Some(manifest.set.packages))
}

/// Parses a ref listing into atom refs, returning the names that are under
/// the prefix but not in this format (for a warning).
pub fn classify_refs<'a>(
    refs: impl IntoIterator<Item = (&'a str, ObjectId)>,
) -> (Vec<(AtomRef, ObjectId)>, Vec<String>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (name, id) in refs {
        match AtomRef::parse(name) {
            Some(Ok(r)) => good.push((r, id)),
            Some(Err(_)) => bad.push(name.to_owned()),
            None => {}
        }
    }
    (good, bad)
}
