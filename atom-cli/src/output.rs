//! Rendering: tables for people, JSON for scripts, miette for errors.
//!
//! Everything for stdout goes through `out!`/`outln!`: `print!` panics
//! when the reader has gone (`eka list | head -1`), and a closed pipe is
//! no error of ours, so the command ends there, quietly and successfully,
//! as when the reader had read everything.

use std::io::Write;

/// The version of every `--json` document (`"schema"`): raised when a
/// field changes meaning or goes away (new fields may appear within one).
pub const JSON_SCHEMA: u32 = 1;

/// `n` and the noun, singular for one: `1 atom`, `2 atoms`.
pub fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Writes to stdout; when the reader has closed the pipe, exits quietly.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Another failure (a full disk behind a redirection) is reported
        // once, without the panic `print!` would give.
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `print!` that ends the command quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that ends the command quietly on a closed pipe.
macro_rules! outln {
    () => { $crate::output::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints rows as left-aligned columns under a header; on a terminal, the
/// widest columns are cut (with `…`) so that lines fit its width.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    if let Some(columns) = terminal_columns() {
        fit(&mut widths, columns);
    }
    let cut: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().zip(&widths).map(|(c, w)| cut(c, *w)).collect())
        .collect();
    let rows = &cut;
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = *w));
            }
        }
        outln!("{}", s.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A command's `--json` document: its report, after the schema version.
#[derive(serde::Serialize)]
struct Document<'a, T> {
    schema: u32,
    #[serde(flatten)]
    report: &'a T,
}

/// Prints a command's report (a struct or map) as one pretty JSON document
/// on stdout, with the `"schema"` version first.
pub fn json<T: serde::Serialize>(report: &T) -> miette::Result<()> {
    let document = Document {
        schema: JSON_SCHEMA,
        report,
    };
    let text = serde_json::to_string_pretty(&document)
        .map_err(|e| miette::miette!("cannot render JSON: {e}"))?;
    outln!("{text}");
    Ok(())
}

/// The width of the terminal stdout writes to (none: not a terminal).
fn terminal_columns() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(w, _)| w.0 as usize)
}

/// Narrows the widest columns until a line (two spaces between columns)
/// fits `columns`; no column goes below 8 characters.
fn fit(widths: &mut [usize], columns: usize) {
    const MIN: usize = 8;
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    while total(widths) > columns {
        let Some(widest) = widths.iter_mut().filter(|w| **w > MIN).max_by_key(|w| **w) else {
            return;
        };
        *widest -= 1;
    }
}

/// `cell` cut to `width` characters, the last one `…` when cut.
fn cut(cell: &str, width: usize) -> String {
    if cell.chars().count() <= width {
        return cell.to_owned();
    }
    let mut out: String = cell.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Applies `--color` to error reports (miette) and progress.
pub fn set_color(color: crate::Color) {
    let enabled = match color {
        crate::Color::Auto => return,
        crate::Color::Always => true,
        crate::Color::Never => false,
    };
    indicatif_colors(enabled);
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(miette::MietteHandlerOpts::new().color(enabled).build())
    }));
}

fn indicatif_colors(enabled: bool) {
    // indicatif draws through `console`, which reads these.
    let value = if enabled { "1" } else { "0" };
    // Set at start-up, before any thread is spawned.
    std::env::set_var("CLICOLOR_FORCE", value);
    if !enabled {
        std::env::set_var("NO_COLOR", "1");
    }
}

/// `eka --version` (with `-v`: where it was built from and the formats it
/// writes).
pub fn version(verbose: u8) {
    outln!("eka {}", env!("CARGO_PKG_VERSION"));
    if verbose > 0 {
        outln!(
            "commit: {}",
            option_env!("EKA_COMMIT").unwrap_or("unknown (not built from a git checkout)")
        );
        outln!("atom format: {}", atom_format::commit::FORMAT);
        outln!("lockfile version: {}", atom_lock::lock::LOCK_VERSION);
    }
}

/// A spinner with a message on stderr while long work runs: only on a
/// terminal, and not under `--quiet` or `--json`; cleared when dropped.
/// The libraries' progress events ([`crate::phases`]) add counts to it
/// (`3/12 atoms`).
pub struct Progress(Option<indicatif::ProgressBar>);

/// The bar on screen, for the progress events (one at a time), and the
/// unit it counts.
static SHOWN: std::sync::Mutex<Option<(indicatif::ProgressBar, String)>> =
    std::sync::Mutex::new(None);

impl Progress {
    pub fn start(global: &crate::Global, message: &str) -> Progress {
        if !global.chatty() {
            return Progress(None);
        }
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        if bar.is_hidden() {
            return Progress(None);
        }
        bar.set_style(style("{spinner} {msg} ({elapsed})"));
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        if let Ok(mut shown) = SHOWN.lock() {
            *shown = Some((bar.clone(), String::new()));
        }
        Progress(Some(bar))
    }

    /// Shows `done` of `total` `unit` on the bar on screen, if any.
    pub fn count(done: u64, total: u64, unit: &str) {
        let Ok(mut shown) = SHOWN.lock() else { return };
        let Some((bar, shown_unit)) = shown.as_mut() else {
            return;
        };
        if bar.length() != Some(total) || shown_unit != unit {
            bar.set_style(style(&format!(
                "{{spinner}} {{msg}}: {{pos}}/{{len}} {unit} ({{elapsed}})"
            )));
            bar.set_length(total);
            unit.clone_into(shown_unit);
        }
        bar.set_position(done);
    }

    /// Prints `line` on stderr, above the bar on screen if there is one
    /// (so that the bar is not drawn over).
    pub fn eprintln(line: &str) {
        let shown = SHOWN
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|s| s.0.clone()));
        match shown {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

fn style(template: &str) -> indicatif::ProgressStyle {
    // Units are the libraries' words (`atoms`), never braces.
    indicatif::ProgressStyle::with_template(template).expect("a valid template")
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            if let Ok(mut shown) = SHOWN.lock() {
                *shown = None;
            }
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_narrows_the_widest_columns_first() {
        let mut w = vec![5, 52, 70];
        fit(&mut w, 80);
        assert_eq!(w.iter().sum::<usize>() + 4, 80);
        assert_eq!(w[0], 5);
        assert!(w[1].abs_diff(w[2]) <= 1, "{w:?}");
    }

    #[test]
    fn fit_keeps_a_minimum_width() {
        let mut w = vec![10, 10, 10];
        fit(&mut w, 5);
        assert_eq!(w, vec![8, 8, 8]);
    }

    #[test]
    fn cut_marks_what_it_cut() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
