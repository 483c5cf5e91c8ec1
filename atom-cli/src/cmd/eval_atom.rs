//! `eka eval ATOM[#attr]`: the atom half of `eka eval`. Opens the atom
//! (from a commit, or the working tree with `--worktree`), makes sure its
//! locked dependencies are in the cache, and evaluates its public API with
//! the module system.

use std::rc::Rc;

use atom_lock::cache::{self, Access, Cache};
use atom_lock::fetch::{self, Want};
use atom_lock::project::{self, Keep};
use atom_lock::remote::{self, QueryOptions};
use atom_lock::AtomId;
use atom_lock::Lockfile;
use atom_modules::packs::{PackStore, Saved};
use atom_modules::readahead::Readers;
use atom_modules::{
    open_local, AtomFiles, Checkout, Composer, GitTreeFiles, LockedDeps, Siblings, WithSiblings,
};
use miette::{miette, IntoDiagnostic};

use crate::cmd::eval::{diagnose, Args, AtomTarget};
use crate::cmd::query::{self, MirrorArgs};
use crate::Global;

/// An atom named by URI, resolved and fetched into the cache.
pub(crate) struct Fetched {
    cache: Cache,
    commit: gix::ObjectId,
    attr: Vec<String>,
    /// Its dependencies, resolved now when its tree holds no atom.lock, or
    /// the current project's lock when that pins the atom.
    lock: Option<Lockfile>,
    /// The atom's key for the dependency source: its id when `lock` is the
    /// project's (whose entry for it lists its dependencies), else `""`.
    key: String,
}

/// The version of `target` that the lock of the project around the current
/// directory pins, if it pins one (same label, a mirror in common, the
/// requirement met).
fn locked_in_project(target: &query::Target) -> Option<(Lockfile, atom_lock::LockedAtom)> {
    let cwd = std::env::current_dir().ok()?;
    let project = project::Project::find(&cwd).ok()?;
    let lock = project.valid_lock()?.clone();
    let found: Vec<&atom_lock::LockedAtom> = lock
        .atoms()
        .iter()
        .filter(|a| a.label == target.label)
        .filter(|a| a.mirrors.iter().any(|m| target.urls.contains(m)))
        .filter(|a| target.req.as_ref().is_none_or(|r| r.matches(&a.version)))
        .collect();
    match found.as_slice() {
        [one] => {
            let one = (*one).clone();
            Some((lock, one))
        }
        _ => None,
    }
}

/// Resolves `uri` (`repo::label[@req][#attr]`) from the remote's ref listing
/// and fetches that version into the cache.
pub(crate) fn fetch_uri(text: &str, args: &Args, global: &Global) -> miette::Result<Fetched> {
    let (uri, attr) = match text.rsplit_once('#') {
        Some((u, a)) => (
            u,
            a.split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        None => (text, Vec::new()),
    };
    let target = query::atom_target(uri, &MirrorArgs::default(), global)?;
    let base = std::env::current_dir().into_diagnostic()?;
    // The version the current project locked, like `cargo run -p`: no
    // resolution, and the same dependencies as the project's.
    if let Some((lock, atom)) = locked_in_project(&target) {
        let cache = locked_cache(&lock, args.offline, &base, None)?;
        return Ok(Fetched {
            cache,
            commit: atom.commit,
            attr,
            key: atom.id().to_string(),
            lock: Some(lock),
        });
    }
    if args.offline {
        return Err(miette!(
            help = "evaluate it from a project whose atom.lock pins it, or drop --offline",
            "`{uri}` must be resolved over the network, but --offline was given"
        ));
    }
    let listing =
        remote::list_atom_versions(&target.urls, &target.label, &QueryOptions::default())?;
    let entry = listing.select(&target.label, target.req.as_ref())?;
    let root = listing.root.ok_or_else(|| {
        miette!(
            help = "publish from the repository again with this eka, which writes refs/atoms/_root",
            "the repository does not publish its root commit, so the atom id of `{}` cannot be checked",
            target.label
        )
    })?;
    let cache = Cache::open(&cache::default_dir()?, Access::Write)?;
    let want = Want {
        id: AtomId::compute(&root, &target.label),
        label: target.label.clone(),
        version: entry.version.clone(),
        commit: entry.commit,
        root,
        origin: entry.origin,
        digest: None,
        mirrors: listing.answered.clone(),
    };
    fetch::fetch(
        &cache,
        &base,
        &[want],
        fetch::Options {
            offline: false,
            check_remote: false,
        },
    )?;
    let lock = resolve_unlocked(&cache, entry.commit, &listing.answered, &base)?;
    Ok(Fetched {
        cache,
        commit: entry.commit,
        attr,
        lock,
        key: String::new(),
    })
}

/// For a fetched atom without an atom.lock of its own but with
/// dependencies: resolves them now (its set `"::"` being the repository it
/// came from) and fetches them, as `eka lock` would.
fn resolve_unlocked(
    cache: &Cache,
    commit: gix::ObjectId,
    came_from: &[atom_lock::RepoUrl],
    base: &std::path::Path,
) -> miette::Result<Option<Lockfile>> {
    use atom_format::git;
    use gix::objs::tree::EntryKind;
    let repo = cache.repo();
    let tree = git::commit_tree(&repo, commit)?;
    if git::lookup_path(&repo, tree, atom_lock::lock::LOCK_FILE)?.is_some() {
        return Ok(None);
    }
    let Some((EntryKind::Blob | EntryKind::BlobExecutable, blob)) =
        git::lookup_path(&repo, tree, "atom.toml")?
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&git::read_blob(&repo, blob)?).into_owned();
    let mut manifest = atom_format::Manifest::parse("atom.toml", &text)?;
    if manifest.deps.from.is_empty() {
        return Ok(None);
    }
    let here: Vec<String> = came_from.iter().map(|u| u.to_string()).collect();
    for mirrors in manifest.package.sets.values_mut() {
        if mirrors.urls() == [atom_format::manifest::LOCAL_SET] {
            *mirrors = atom_format::manifest::SetMirrors::Mirrors(here.clone());
        }
    }
    let registry = project::registry(cache, base);
    let locked = project::lock(base, &manifest, None, &Keep::Nothing, &registry, cache)?;
    Ok(Some(locked.lock))
}

/// Evaluates an atom fetched by [`fetch_uri`], with the dependencies its
/// own atom.lock pins.
pub(crate) fn evaluate_fetched(
    args: &Args,
    fetched: Fetched,
    readers: Option<Readers>,
) -> miette::Result<Option<String>> {
    let repo = fetched.cache.repo();
    let tree = atom_format::git::commit_tree(&repo, fetched.commit)?;
    let files: Rc<dyn AtomFiles> = Rc::new(GitTreeFiles::new(repo, tree));
    if !fetched.key.is_empty() {
        // Pinned by the project's lock, which also pins its dependencies.
        let cache = Ok(fetched.cache);
        return run_atom(
            args,
            &fetched.key,
            files,
            fetched.lock,
            cache,
            None,
            &fetched.attr,
            readers,
        );
    }
    let lock = match files.read_file(atom_lock::lock::LOCK_FILE) {
        Ok(bytes) => Some(Lockfile::parse(
            &String::from_utf8_lossy(&bytes),
            "atom.lock",
        )?),
        Err(_) => fetched.lock,
    };
    let base = std::env::current_dir().into_diagnostic()?;
    let cache = match &lock {
        Some(l) if !l.atoms().is_empty() => {
            locked_cache(l, args.offline, &base, Some(fetched.cache)).map_err(|e| format!("{e}"))
        }
        _ => Err("no dependency is locked in the atom's atom.lock".to_string()),
    };
    run_atom(args, "", files, lock, cache, None, &fetched.attr, readers)
}

/// Opens the cache (or uses `open`) with the locked atoms in it, fetching
/// the missing ones unless `offline`.
fn locked_cache(
    lock: &Lockfile,
    offline: bool,
    base: &std::path::Path,
    open: Option<Cache>,
) -> miette::Result<Cache> {
    let dir = cache::default_dir()?;
    let wants: Vec<Want> = lock.atoms().iter().map(Want::locked).collect();
    if !offline {
        let cache = match open {
            Some(c) => c,
            None => Cache::open(&dir, Access::Write)?,
        };
        if wants.iter().any(|w| !cache.has(&w.commit)) {
            fetch::fetch(
                &cache,
                base,
                &wants,
                fetch::Options {
                    offline: false,
                    check_remote: false,
                },
            )?;
        }
        return Ok(cache);
    }
    match open {
        Some(c) => Ok(c),
        None => Ok(Cache::open(&dir, Access::Read)?),
    }
}

pub(crate) fn evaluate(
    args: &Args,
    target: AtomTarget,
    readers: Option<Readers>,
) -> miette::Result<Option<String>> {
    let checkout = if args.worktree {
        Checkout::Worktree
    } else {
        Checkout::Rev(args.rev.clone())
    };
    let local = open_local(&target.dir, &checkout).map_err(|e| match e.help() {
        Some(help) => miette!(code = "eka::eval::atom", help = help, "{e}"),
        None => miette!(code = "eka::eval::atom", "{e}"),
    })?;
    let lock = match &local.lock {
        Some(text) => Some(Lockfile::parse(text, "atom.lock")?),
        None => None,
    };
    let cache = match &lock {
        Some(l) if !l.atoms().is_empty() => {
            locked_cache(l, args.offline, &target.dir, None).map_err(|e| format!("{e}"))
        }
        _ => Err("no dependency is locked in atom.lock; run `eka lock`".to_string()),
    };
    run_atom(
        args,
        "",
        local.files,
        lock,
        cache,
        local.siblings,
        &target.attr,
        readers,
    )
}

/// Whether everything will be forced, so that reading the atom ahead pays.
pub(crate) fn reads_ahead(args: &Args) -> bool {
    (args.strict || args.json) && !args.names
}

/// Reader threads: every core but the evaluator's (at least one).
pub(crate) fn reader_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}

/// Composes the atom and prints what was asked; `readers` (started by the
/// caller, see [`Readers`]) read it ahead.
#[allow(clippy::too_many_arguments)]
fn run_atom(
    args: &Args,
    key: &str,
    files: Rc<dyn AtomFiles>,
    lock: Option<Lockfile>,
    cache: Result<Cache, String>,
    siblings: Option<Siblings>,
    attr: &[String],
    readers: Option<Readers>,
) -> miette::Result<Option<String>> {
    let deps = WithSiblings {
        inner: LockedDeps::new(lock, cache),
        siblings,
    };
    let limits = args.limits();
    // Everything will be forced: parse ahead on the other cores, starting
    // now, while the composer is set up. Dependencies are read ahead too.
    let threads = if reads_ahead(args) {
        readers.as_ref().map_or_else(reader_threads, Readers::len)
    } else {
        0
    };
    // Files bound in an earlier run of the same atom are read back instead
    // of parsed again (readers leave them unparsed).
    let store = match args.no_parse_cache {
        true => None,
        false => cache::default_dir()
            .ok()
            .and_then(|d| PackStore::for_atom(&d.join(PARSED_SUBDIR), &*files)),
    };
    let pack = store.as_ref().map(PackStore::load);
    let read_ahead = match readers {
        Some(r) if threads > 0 => r.start(&*files, pack.clone()),
        None if threads > 0 => atom_modules::readahead::start(&*files, threads, pack.clone()),
        _ => None,
    };
    let mut composer = Composer::new(Box::new(deps), limits)
        .map_err(|e| miette!("cannot prepare the module system: {e}"))?;
    composer.set_read_ahead(threads);
    if let Some(pack) = pack {
        composer.use_compiled(pack);
    }
    let fail = |c: &mut Composer, e| {
        let e = c.locate(e);
        miette::Report::new(diagnose(c.evaluator(), &e))
    };
    let api = match composer.load_started(key, files, read_ahead) {
        Ok(v) => v,
        Err(e) => return Err(fail(&mut composer, e)),
    };
    if args.names {
        let value = match composer.select(&api, attr) {
            Ok(v) => v,
            Err(e) => return Err(fail(&mut composer, e)),
        };
        let names = match composer.names(&value) {
            Ok(n) => n,
            Err(e) => return Err(fail(&mut composer, e)),
        };
        if let Some(store) = &store {
            save_pack(store, composer.evaluator(), args.verbose);
        }
        return Ok(Some(if args.json {
            serde_json::to_string(&names).expect("strings serialize")
        } else {
            names.join("\n")
        }));
    }
    let result = composer.select(&api, attr).and_then(|v| {
        let ev = composer.evaluator();
        let v = if args.strict || args.json {
            ev.force_deep(&v)?
        } else {
            ev.force_value(&v)?
        };
        if args.json {
            ev.to_json(&v)
        } else {
            ev.print(&v)
        }
    });
    let out = match result {
        Ok(text) => Ok(Some(text)),
        Err(e) => Err(fail(&mut composer, e)),
    };
    if let Some(store) = &store {
        save_pack(store, composer.evaluator(), args.verbose);
    }
    // The process ends right after printing: tearing down every value,
    // syntax-free source and interned name one at a time would only delay
    // that (by a millisecond on an atom of 1,100 files).
    std::mem::forget(api);
    std::mem::forget(composer);
    out
}

/// The folder of parse caches under eka's cache directory.
const PARSED_SUBDIR: &str = "parsed";

/// Writes the atom's pack of parsed files if this run added to it. The
/// pack only saves time: failing to write it is reported with `-v` only.
fn save_pack(store: &PackStore, ev: &atom_eval::Evaluator, verbose: bool) {
    let saved = store.save(ev);
    if !verbose {
        return;
    }
    let stats = ev.compiled_stats().unwrap_or_default();
    eprintln!(
        "parse cache: {} read back, {} parsed",
        stats.hits, stats.misses
    );
    match saved {
        Ok(Saved::Unchanged) => {}
        Ok(Saved::Written(bytes)) => {
            eprintln!(
                "parse cache: wrote {} ({bytes} bytes)",
                store.path().display()
            )
        }
        Err(e) => eprintln!(
            "warning: parse cache: cannot write {}: {e}",
            store.path().display()
        ),
    }
}
