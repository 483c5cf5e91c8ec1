//! `eka eval ATOM[#attr]`: the atom half of `eka eval`. Opens the atom
//! (from a commit, or the working tree with `--worktree`), makes sure its
//! locked dependencies are in the cache, and evaluates its public API with
//! the module system.

use std::rc::Rc;

use atom_eval::Limits;
use atom_lock::cache::{self, Access, Cache};
use atom_lock::fetch::{self, Want};
use atom_lock::Lockfile;
use atom_modules::{open_local, Checkout, Composer, LockedDeps};
use miette::miette;

use crate::cmd::eval::{diagnose, Args, AtomTarget};

/// Opens the cache with the locked atoms in it, fetching the missing ones
/// unless `offline`.
fn locked_cache(lock: &Lockfile, offline: bool, base: &std::path::Path) -> miette::Result<Cache> {
    let dir = cache::default_dir()?;
    let wants: Vec<Want> = lock
        .atoms()
        .iter()
        .map(|a| Want {
            id: a.id(),
            label: a.label.clone(),
            version: a.version.clone(),
            commit: a.commit,
            root: a.root,
            origin: Some(a.origin),
            digest: Some(a.digest),
            mirrors: a.mirrors.clone(),
        })
        .collect();
    if !offline {
        let cache = Cache::open(&dir, Access::Write)?;
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
    Ok(Cache::open(&dir, Access::Read)?)
}

pub(crate) fn evaluate(args: &Args, target: AtomTarget) -> miette::Result<Option<String>> {
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
            locked_cache(l, args.offline, &target.dir).map_err(|e| format!("{e}"))
        }
        _ => Err("no dependency is locked in atom.lock; run `eka lock`".to_string()),
    };
    let deps = LockedDeps::new(lock, cache);
    let limits = Limits {
        max_call_depth: args.max_call_depth,
        max_steps: args.max_steps,
    };
    let mut composer = Composer::new(Box::new(deps), limits)
        .map_err(|e| miette!("cannot prepare the module system: {e}"))?;
    let files = Rc::clone(&local.files);
    let fail = |c: &mut Composer, e| miette::Report::new(diagnose(c.evaluator(), &e));
    let api = match composer.load("", files) {
        Ok(v) => v,
        Err(e) => return Err(fail(&mut composer, e)),
    };
    if args.names {
        let value = match composer.select(&api, &target.attr) {
            Ok(v) => v,
            Err(e) => return Err(fail(&mut composer, e)),
        };
        let names = match composer.names(&value) {
            Ok(n) => n,
            Err(e) => return Err(fail(&mut composer, e)),
        };
        return Ok(Some(if args.json {
            serde_json::to_string(&names).expect("strings serialize")
        } else {
            names.join("\n")
        }));
    }
    let result = composer.select(&api, &target.attr).and_then(|v| {
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
    match result {
        Ok(text) => Ok(Some(text)),
        Err(e) => Err(fail(&mut composer, e)),
    }
}
