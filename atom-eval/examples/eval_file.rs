//! Evaluates one Nix file strictly and prints the value, like
//! `eka eval --strict FILE` without the command line around it: for
//! profiling the evaluator alone (`bench/eval-callgrind.sh`).

use atom_eval::{Evaluator, Limits, RootedFileSystem};

fn main() -> std::process::ExitCode {
    let Some(file) = std::env::args().nth(1) else {
        eprintln!("usage: eval_file FILE.nix");
        return std::process::ExitCode::FAILURE;
    };
    let out = atom_eval::run_with_large_stack(move || {
        let path = std::path::absolute(&file).map_err(|e| e.to_string())?;
        let dir = path.parent().unwrap_or(std::path::Path::new("/"));
        let fs = RootedFileSystem::new(dir).map_err(|e| e.to_string())?;
        let file = fs.root().join(path.file_name().unwrap_or_default());
        let mut ev = Evaluator::new(Box::new(fs), Limits::default());
        ev.eval_file(&file.display().to_string())
            .and_then(|v| ev.force_deep(&v))
            .and_then(|v| ev.print(&v))
            .map_err(|e| e.to_string())
    });
    match out {
        Ok(Ok(text)) => {
            println!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
