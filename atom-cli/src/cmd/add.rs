//! `eka add`: add dependencies to atom.toml and lock them.

use std::process::ExitCode;

use atom_format::Manifest;
use atom_lock::project::{self, AddDep, Keep, ManifestEdit};
use atom_lock::{Aliases, AtomUri};

use crate::cmd::deps;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Atoms to depend on: `<repository>::<label>[@<requirement>]`, e.g.
    /// `gh:owner/repo::lib@^1`; without a requirement, `^<resolved version>`
    #[arg(required = true, value_name = "URI")]
    uris: Vec<String>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let p = deps::project()?;
    let repo_root = atom_git::open(&p.dir)
        .ok()
        .and_then(|r| r.workdir().map(|w| w.to_owned()));
    let (aliases, _) = Aliases::load_default(repo_root.as_deref())?;
    let mut adds = Vec::new();
    for text in &args.uris {
        let uri = AtomUri::parse(text, &aliases)?;
        let url = uri
            .repo
            .ok_or_else(|| project::ProjectError::NoRepository(text.clone()))?;
        adds.push(AddDep {
            url,
            label: uri.label,
            req: uri.req,
        });
    }
    let mut edit = ManifestEdit::new(&p.manifest_text)?;
    let mut sets = Vec::new();
    for a in &adds {
        sets.push(edit.add(a)?);
    }
    let name = p.manifest_path().display().to_string();
    let manifest = Manifest::parse(&name, &edit.text())?;
    let old = deps::old_lock(&p, global);
    let mut locked = deps::lock(&p.dir, &manifest, &edit.text(), old, &Keep::Locked, global)?;
    // `^<resolved>` for those given without a requirement.
    for (a, set) in adds.iter().zip(&sets) {
        if a.req.is_some() {
            continue;
        }
        let edge = project::root_edge(&locked.lock, &a.label, &a.url)
            .expect("an added dependency is locked");
        let id = edge.id;
        let version = locked.lock.get(&id).expect("edges resolve").version.clone();
        let req = project::caret(&version);
        edit.set_req(set, &a.label, &req)?;
        locked.lock = project::with_root_req(locked.lock, id, &req)?;
    }
    let text = edit.text();
    let manifest = Manifest::parse(&name, &text)?;
    let stale = project::stale_reasons(&project::root_input(&manifest)?, &locked.lock);
    assert!(
        stale.is_empty(),
        "the new lock matches the new manifest: {stale:?}"
    );
    project::write_both(&p.dir, Some(&text), &locked.lock)?;
    deps::report(&locked, global, "adding")?;
    Ok(ExitCode::SUCCESS)
}
