//! `eka cache`: where the cache is and what it holds; `eka cache gc`:
//! remove what no lock under the given directories uses.

use std::path::PathBuf;
use std::process::ExitCode;

use atom_ops::cache::{self, CacheInfo, CachedAtom, GcReport, GcRequest};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Remove the fetched atoms and parse packs that no atom.lock under DIR… uses
    Gc(GcArgs),
}

#[derive(clap::Args)]
struct GcArgs {
    /// Directories searched for atom.lock files (and atoms); what their
    /// locks pin is kept
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// List what would be removed; remove nothing
    #[arg(long)]
    dry_run: bool,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    match args.command {
        None => show(&cache::info()?, global),
        Some(Sub::Gc(gc)) => {
            let report = cache::gc(&GcRequest {
                dirs: gc.dirs,
                dry_run: gc.dry_run,
            })?;
            collected(&report, global)
        }
    }
}

fn show(info: &CacheInfo, global: &Global) -> miette::Result<ExitCode> {
    if global.json {
        crate::output::json(&serde_json::json!({
            "schema": crate::output::JSON_SCHEMA,
            "dir": info.dir,
            "bytes": info.bytes,
            "git_bytes": info.git_bytes,
            "atoms": info.atoms,
            "yank_tags": info.yank_tags,
            "packs": info.packs,
            "packs_bytes": info.packs_bytes,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    outln!("cache: {}", info.dir.display());
    outln!("size: {}", bytes(info.bytes));
    outln!(
        "fetched atoms: {} ({}, in {})",
        info.atoms.len(),
        bytes(info.git_bytes),
        info.dir.join("git").display()
    );
    if info.yank_tags > 0 {
        outln!("kept yank tags: {} (for --offline)", info.yank_tags);
    }
    outln!(
        "parse packs: {} ({}, in {})",
        info.packs,
        bytes(info.packs_bytes),
        info.dir.join("parsed").display()
    );
    if !info.atoms.is_empty() {
        outln!();
        atoms_table(&info.atoms);
    }
    Ok(ExitCode::SUCCESS)
}

fn collected(report: &GcReport, global: &Global) -> miette::Result<ExitCode> {
    if global.json {
        crate::output::json(&serde_json::json!({
            "schema": crate::output::JSON_SCHEMA,
            "dir": report.dir,
            "dry_run": report.dry_run,
            "locks": report.locks,
            "kept": report.kept,
            "removed": report.removed,
            "packs_kept": report.packs_kept,
            "packs_removed": report.packs_removed,
            "listings_kept": report.listings_kept,
            "listings_removed": report.listings_removed,
            "yank_tags_kept": report.yank_tags_kept,
            "yank_tags_removed": report.yank_tags_removed,
            "bytes_before": report.bytes_before,
            "bytes_freed": report.bytes_freed,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let verb = match report.dry_run {
        true => "Would remove",
        false => "Removed",
    };
    outln!(
        "Read {} lock{}; keeping {} atom{}",
        report.locks.len(),
        plural(report.locks.len()),
        report.kept.len(),
        plural(report.kept.len())
    );
    for atom in &report.removed {
        outln!("{verb} {}", atom_name(atom));
    }
    for pack in &report.packs_removed {
        outln!("{verb} {} ({})", pack.path.display(), bytes(pack.bytes));
    }
    for listing in &report.listings_removed {
        let url = match listing.url.is_empty() {
            true => listing.path.display().to_string(),
            false => listing.url.clone(),
        };
        outln!("{verb} the listing of {url} ({})", bytes(listing.bytes));
    }
    if report.yank_tags_removed > 0 {
        outln!(
            "{verb} {} kept yank tag{} that no kept listing names",
            report.yank_tags_removed,
            plural(report.yank_tags_removed)
        );
    }
    let freed = match report.dry_run {
        true => format!("would free about {}", bytes(report.bytes_freed)),
        false => format!("freed {}", bytes(report.bytes_freed)),
    };
    outln!(
        "{} atom{}, {} parse pack{} and {} listing{} {}; {freed}",
        report.removed.len(),
        plural(report.removed.len()),
        report.packs_removed.len(),
        plural(report.packs_removed.len()),
        report.listings_removed.len(),
        plural(report.listings_removed.len()),
        match report.dry_run {
            true => "to remove",
            false => "removed",
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn atoms_table(atoms: &[CachedAtom]) {
    let rows: Vec<Vec<String>> = atoms
        .iter()
        .map(|a| {
            vec![
                a.label.clone().unwrap_or_else(|| "?".into()),
                a.version.clone(),
                a.commit.chars().take(12).collect(),
                a.id.clone(),
            ]
        })
        .collect();
    crate::output::table(&["LABEL", "VERSION", "COMMIT", "ATOM ID"], &rows);
}

fn atom_name(atom: &CachedAtom) -> String {
    let commit: String = atom.commit.chars().take(12).collect();
    match &atom.label {
        Some(label) => format!("{label} {} ({commit})", atom.version),
        None => format!("{} {} ({commit})", atom.id, atom.version),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_for_people() {
        assert_eq!(super::bytes(0), "0 B");
        assert_eq!(super::bytes(1023), "1023 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
