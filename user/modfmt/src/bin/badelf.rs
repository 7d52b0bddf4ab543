//! `badelf GOOD_MODULE_ELF OUT_DIR`: writes the corpus of bad module ELFs (see
//! `modfmt::corpus`) derived from a good module, and checks that the validator refuses every
//! one of them (and accepts the good one).

use modfmt::{corpus, elf};
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "\
usage: badelf GOOD_MODULE_ELF OUT_DIR

Writes bad-*.elf files to OUT_DIR (created if missing), each the good module with one
defect, and checks that modfmt::elf::validate refuses each one. Exits non-zero if the good
module is refused or a bad one is accepted.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let [good, out_dir] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(good, Path::new(out_dir)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(msg) => {
            eprintln!("badelf: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Writes and checks the corpus; `Ok(false)` if some bad file was accepted.
fn run(good_path: &str, out_dir: &Path) -> Result<bool, String> {
    let good = std::fs::read(good_path).map_err(|e| format!("cannot read `{good_path}`: {e}"))?;
    let limits = elf::Limits::default();
    let plan = elf::validate(&good, &limits).map_err(|e| format!("{good_path}: the good module is refused: {e}"))?;
    println!("{good_path}: ok (module `{}`)", plan.info.name);
    let variants = corpus::all(&good).map_err(|e| format!("{good_path}: {e}"))?;
    std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create `{}`: {e}", out_dir.display()))?;
    let mut all_refused = true;
    for v in &variants {
        let path = out_dir.join(v.file_name);
        std::fs::write(&path, &v.bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        match elf::validate(&v.bytes, &limits) {
            Err(e) => println!("{}: refused: {e}", path.display()),
            Ok(_) => {
                println!("{}: ACCEPTED, but it has a defect: {}", path.display(), v.defect);
                all_refused = false;
            }
        }
    }
    Ok(all_refused)
}
