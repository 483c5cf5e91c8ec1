//! Trust policies (`spec/trust.md` §5): OpenSSH `allowed_signers` files,
//! a manifest's `[trust.<set>]`, and what locking does with them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use atom_format::Manifest;
use atom_lock::lock::LockedAtom;
use atom_lock::resolve::Resolution;
use atom_lock::Lockfile;
use atom_trust::{
    AllowedSigners, AllowedSignersError, ListedTag, Policy, PolicyRefusal, Statement,
};
use gix::objs::Exists as _;
use gix::ObjectId;

/// An `allowed_signers` file that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PolicyFileError {
    #[error("cannot read the allowed_signers file `{}`", .path.display())]
    #[diagnostic(code(atom::trust::policy_read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the allowed_signers file `{}` is invalid", .path.display())]
    #[diagnostic(
        code(atom::trust::policy),
        help("each line is `principals [options] keytype base64 [comment]`, as ssh-keygen(1) describes; times end in Z")
    )]
    Parse {
        path: PathBuf,
        #[source]
        source: AllowedSignersError,
    },
}

/// Reads and parses an `allowed_signers` file.
pub fn read_allowed_signers(path: &Path) -> Result<AllowedSigners, PolicyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    AllowedSigners::parse(&text).map_err(|source| PolicyFileError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Why a lock was refused under a set's policy, or a policy cannot be
/// read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TrustError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    File(#[from] PolicyFileError),
    #[error("[trust.{set}] in atom.toml names no set of [package.sets]")]
    #[diagnostic(code(atom::trust::unknown_set))]
    UnknownSet { set: String },
    #[error("[trust.{set}] in atom.toml: {why}")]
    #[diagnostic(code(atom::trust::policy_field))]
    Field { set: String, why: String },
    #[error("[trust.{set}] in atom.toml: the inline signers are invalid")]
    #[diagnostic(code(atom::trust::policy))]
    Inline {
        set: String,
        #[source]
        source: AllowedSignersError,
    },
    #[error("the set `{set}` refuses {}: {}", .refusal.atom, .refusal.why)]
    #[diagnostic(code(atom::trust::refused))]
    Refused { set: String, refusal: PolicyRefusal },
    #[error("the trust policy of the sibling `{label}` ({manifest})")]
    #[diagnostic(code(atom::trust::sibling_policy))]
    InSibling {
        label: atom_format::Label,
        manifest: String,
        #[source]
        source: Box<TrustError>,
    },
    #[error("two trust policies for one set disagree: [trust.{first_set}] in {first} and [trust.{second_set}] in {second} (`{mirror}`)")]
    #[diagnostic(
        code(atom::trust::policies_differ),
        help("one lock holds one version of each atom of a set, checked by one policy: give the set the same policy (signers and root) in both manifests, or leave it out of one")
    )]
    Disagree {
        first_set: String,
        first: String,
        second_set: String,
        second: String,
        mirror: String,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Project(#[from] atom_lock::project::ProjectError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] atom_lock::lock::LockError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Git(#[from] atom_git::GitError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(#[from] atom_git::RemoteError),
}

/// A set's policy, with the set's name and mirrors.
#[derive(Clone, Debug)]
pub struct SetPolicy {
    pub set: String,
    pub mirrors: Vec<atom_lock::RepoUrl>,
    pub policy: Policy,
    /// The manifest declaring it (`atom.toml`, or a sibling's, from the
    /// repository's root).
    pub declared_in: String,
    /// Whether a sibling's manifest declares it (not the atom's own).
    pub from_sibling: bool,
}

/// The policies that apply to the lock of the atom in `dir`: its
/// manifest's `[trust.<set>]`, and those of the siblings it reaches
/// through `::`, whose registry dependencies its lock pins
/// (`spec/trust.md` §5.3, "Siblings"). A set is its mirrors: two
/// manifests' policies for one set must be the same policy.
pub fn project_policies(manifest: &Manifest, dir: &Path) -> Result<Vec<SetPolicy>, TrustError> {
    let mut out = policies(manifest, dir)?;
    if atom_lock::siblings::local_deps(manifest).next().is_none() {
        return Ok(out);
    }
    let tree = atom_lock::siblings::worktree_atoms(dir).map_err(project_error)?;
    let reached = atom_lock::siblings::reached(manifest, &tree.atoms).map_err(project_error)?;
    let own = manifest_path(&tree.here);
    for p in &mut out {
        p.declared_in.clone_from(&own);
    }
    for sibling in reached {
        let declared_in = manifest_path(&sibling.path);
        let in_sibling = |source| TrustError::InSibling {
            label: sibling.manifest.package.label.clone(),
            manifest: declared_in.clone(),
            source: Box::new(source),
        };
        // Its sets as the atom's lock names them; its files from its own
        // directory.
        let rebased = atom_lock::siblings::rebased(sibling, &tree.here);
        let theirs = policies(&rebased, &tree.root.join(&sibling.path)).map_err(in_sibling)?;
        for mut p in theirs {
            p.declared_in.clone_from(&declared_in);
            p.from_sibling = true;
            merge(&mut out, p)?;
        }
    }
    Ok(out)
}

/// Adds `p` unless the same set has a policy already, which must be the
/// same.
fn merge(out: &mut Vec<SetPolicy>, p: SetPolicy) -> Result<(), TrustError> {
    match out.iter().find(|q| q.mirrors == p.mirrors) {
        None => out.push(p),
        Some(q) if q.policy == p.policy => {}
        Some(q) => {
            return Err(TrustError::Disagree {
                first_set: q.set.clone(),
                first: q.declared_in.clone(),
                second_set: p.set,
                second: p.declared_in,
                mirror: p.mirrors[0].to_string(),
            })
        }
    }
    Ok(())
}

fn project_error(e: atom_lock::siblings::SiblingError) -> TrustError {
    TrustError::Project(e.into())
}

/// The manifest of the atom at `path` (from the repository's root).
fn manifest_path(path: &str) -> String {
    format!("{path}/{}", atom_format::manifest::MANIFEST_FILE)
}

/// The policies `[trust.<set>]` of a manifest in `dir`.
pub fn policies(manifest: &Manifest, dir: &Path) -> Result<Vec<SetPolicy>, TrustError> {
    if manifest.trust.is_empty() {
        return Ok(Vec::new());
    }
    let keys = atom_lock::project::set_keys(manifest)?;
    let mut out = Vec::new();
    for (set, spec) in &manifest.trust {
        let key = keys
            .get(set)
            .ok_or_else(|| TrustError::UnknownSet { set: set.clone() })?;
        let field = |why: &str| TrustError::Field {
            set: set.clone(),
            why: why.to_owned(),
        };
        let signers = match (&spec.allowed_signers, spec.signers.is_empty()) {
            (Some(file), true) => read_allowed_signers(&dir.join(file))?,
            (None, false) => AllowedSigners::parse(&spec.signers.join("\n")).map_err(|source| {
                TrustError::Inline {
                    set: set.clone(),
                    source,
                }
            })?,
            (Some(_), false) => return Err(field("give `allowed-signers` or `signers`, not both")),
            (None, true) => {
                return Err(field(
                    "give `allowed-signers` (a file) or `signers` (its lines)",
                ))
            }
        };
        let root = spec
            .root
            .as_deref()
            .map(|r| {
                ObjectId::from_hex(r.as_bytes())
                    .map_err(|_| field("`root` is not a commit id (40 hex digits)"))
            })
            .transpose()?;
        out.push(SetPolicy {
            set: set.clone(),
            mirrors: key.mirrors().to_vec(),
            policy: Policy { signers, root },
            declared_in: atom_format::manifest::MANIFEST_FILE.to_owned(),
            from_sibling: false,
        });
    }
    Ok(out)
}

/// Resolution's registry for a project in `dir` with `policies`: on a set
/// with a policy, only yanks signed by a key it allows count
/// (`spec/trust.md` §6); the others are ignored with a warning.
pub fn registry<'c>(
    policies: &[SetPolicy],
    cache: &'c atom_git::Cache,
    connections: &atom_git::Connections,
    dir: &Path,
) -> atom_lock::registry::git::GitRegistry<'c> {
    policies.iter().fold(
        atom_lock::project::registry(cache, connections, dir),
        |registry, p| {
            registry.with_yank_signers(
                atom_lock::registry::SetKey(p.mirrors.clone()),
                p.policy.signers.clone(),
            )
        },
    )
}

/// Checks every atom of a fresh lock that comes from a set with a policy
/// (`spec/trust.md` §5.3): its signature tags (listed by resolution) are
/// fetched into the cache, one fetch per mirror, and judged against the
/// atom as locked; an atom without an allowed signature (or from another
/// root than a pinned one) refuses the lock. Returns the lock with each
/// such atom's allowed signers recorded.
///
/// Every signature is verified on every lock. The atoms are judged on all
/// cores ([`map_in_order`]): the signature verifications are most of the
/// work (some 50 µs each), and each atom's verdict depends on its own
/// tags and the policy alone. The refusal reported is the first in the
/// lock's order, as if judged one after the other.
pub fn enforce(
    policies: &[SetPolicy],
    lock: Lockfile,
    resolution: &Resolution,
    cache: &atom_git::Cache,
    connections: &atom_git::Connections,
) -> Result<Lockfile, TrustError> {
    if policies.is_empty() {
        return Ok(lock);
    }
    let (deps, mut atoms) = lock.into_parts();
    let listed = listed_signatures(resolution);
    let judged: Vec<_> = atoms
        .iter()
        .filter_map(|a| {
            let p = policies.iter().find(|p| p.mirrors == a.mirrors)?;
            let tags = listed.get(&a.id()).copied().unwrap_or_default();
            Some((a, p, tags))
        })
        .collect();
    cache.with_handle(|repo| fetch_tags(repo, connections, &judged))?;
    let signers = map_in_order(&judged, MIN_PER_THREAD, |chunk| {
        cache.with_handle(|repo| {
            chunk
                .iter()
                .map(|(a, p, tags)| judge_atom(repo, a, p, tags))
                .collect()
        })
    });
    let mut signers = signers.into_iter();
    for a in &mut atoms {
        if policies.iter().any(|p| p.mirrors == a.mirrors) {
            let next = signers.next().expect("one verdict per judged atom");
            a.signers = next?;
        }
    }
    Ok(Lockfile::new(deps, atoms)?)
}

/// The signature tags resolution listed for each atom it reached.
fn listed_signatures(
    resolution: &Resolution,
) -> std::collections::HashMap<atom_format::AtomId, &[atom_lock::registry::TrustTag]> {
    let mut out = std::collections::HashMap::new();
    for r in &resolution.atoms {
        out.entry(r.id).or_insert(r.published.signatures.as_slice());
    }
    out
}

/// The signers `p` allows among the signature `tags` of the locked atom
/// `a`, read from `repo`; a refusal if there is none.
fn judge_atom(
    repo: &gix::Repository,
    a: &LockedAtom,
    p: &SetPolicy,
    tags: &[atom_lock::registry::TrustTag],
) -> Result<Vec<atom_trust::RecordedSigner>, TrustError> {
    let statement = Statement::new(
        a.label.clone(),
        a.version.clone(),
        a.commit,
        a.origin,
        a.root,
        a.digest,
    );
    let mut read = Vec::with_capacity(tags.len());
    for t in tags {
        let bytes = match atom_git::read_object(repo, t.tag)? {
            Some((gix::object::Kind::Tag, bytes)) => bytes,
            _ => Vec::new(),
        };
        read.push((t.signer, bytes));
    }
    let evaluation = p.policy.evaluate(
        &statement,
        read.iter().map(|(signer, bytes)| ListedTag {
            listed: *signer,
            bytes,
        }),
    );
    evaluation
        .into_result()
        .map_err(|refusal| TrustError::Refused {
            set: p.set.clone(),
            refusal,
        })
}

/// The fewest atoms worth a thread of their own in [`enforce`]: starting
/// a thread costs about as much as verifying a signature.
const MIN_PER_THREAD: usize = 4;

/// `judge` over `items` split in one run of consecutive items per core
/// (none shorter than `min_per_thread`), the first on this thread and the
/// others on scoped threads; the results in the order of `items`.
///
/// Scoped threads rather than rayon's pool: one split of a few dozen
/// items, whose pool would start a thread per core and keep them spinning
/// for work after it (more CPU for the same wall time, measured on `eka
/// lock` of 50 signed atoms).
fn map_in_order<T: Sync, R: Send>(
    items: &[T],
    min_per_thread: usize,
    judge: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(items.len() / min_per_thread.max(1)).max(1);
    if threads == 1 {
        return judge(items);
    }
    let mut runs = items.chunks(items.len().div_ceil(threads));
    let first = runs.next().unwrap_or_default();
    std::thread::scope(|s| {
        let judge = &judge;
        let others: Vec<_> = runs.map(|run| s.spawn(move || judge(run))).collect();
        let mut out = judge(first);
        for h in others {
            out.extend(
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        out
    })
}

/// The signature tags of the atoms under a policy, into `repo`: one fetch
/// per first mirror, of the tags alone (the server is told we have the
/// atom commits).
fn fetch_tags(
    repo: &gix::Repository,
    connections: &atom_git::Connections,
    judged: &[(&LockedAtom, &SetPolicy, &[atom_lock::registry::TrustTag])],
) -> Result<(), TrustError> {
    let mut by_mirror: BTreeMap<String, (Vec<ObjectId>, Vec<ObjectId>)> = BTreeMap::new();
    for (a, _, tags) in judged {
        let missing: Vec<ObjectId> = tags
            .iter()
            .map(|t| t.tag)
            .filter(|t| !repo.objects.exists(t))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let entry = by_mirror.entry(a.mirrors[0].to_string()).or_default();
        entry.0.extend(missing);
        entry.1.push(a.commit);
    }
    for (url, (wants, haves)) in by_mirror {
        connections.fetch_objects_having(repo, &url, &wants, &haves)?;
    }
    Ok(())
}

/// The lock's recorded signers re-checked against the manifest's policies,
/// offline (`eka lock --check`): one line per atom they no longer admit.
pub fn recheck(policies: &[SetPolicy], lock: &Lockfile) -> Vec<String> {
    let mut out = Vec::new();
    for a in lock.atoms() {
        let Some(p) = policies.iter().find(|p| p.mirrors == a.mirrors) else {
            continue;
        };
        let name = format!("{}@{}", a.label, a.version);
        if let Err(e) = p.policy.check_recorded(&name, a.root, &a.signers) {
            let (set, atom, why) = (&p.set, &e.atom, &e.why);
            let origin = match p.from_sibling {
                true => format!(" (policy of {})", p.declared_in),
                false => String::new(),
            };
            out.push(format!("the set `{set}`{origin} refuses {atom}: {why}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the split, each item is judged once and the results come
    /// in the items' order, so that `enforce` reports the first refusal
    /// of the lock.
    #[test]
    fn map_in_order_keeps_the_order_of_the_items() {
        for len in 0..40 {
            let items: Vec<usize> = (0..len).collect();
            for min in [0, 1, 4, 100] {
                let out = map_in_order(&items, min, |run| run.iter().map(|i| i * 10).collect());
                let want: Vec<usize> = items.iter().map(|i| i * 10).collect();
                assert_eq!(out, want, "{len} items, at least {min} per thread");
            }
        }
    }

    /// Enough items are judged on every core (the first run on the calling
    /// thread); too few for two threads stay on the calling thread.
    #[test]
    fn map_in_order_uses_every_core_for_enough_items() {
        let threads_used = |len: usize| {
            let items: Vec<usize> = (0..len).collect();
            let ids = map_in_order(&items, 4, |run| {
                vec![(std::thread::current().id(), run.len())]
            });
            assert_eq!(ids.iter().map(|(_, n)| n).sum::<usize>(), len);
            assert_eq!(ids[0].0, std::thread::current().id());
            ids.len()
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(threads_used(7), 1);
        assert_eq!(threads_used(4 * cores), cores);
        assert_eq!(threads_used(100 * cores), cores);
    }
}
