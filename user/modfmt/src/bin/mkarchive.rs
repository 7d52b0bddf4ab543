//! `mkarchive OUT FILE...`: packs files into a boot archive (see `modfmt::archive`), each under
//! its file name without the directory.

use modfmt::archive;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "\
usage: mkarchive OUT FILE...

Packs each FILE into the module archive OUT, under its file name (without the directory),
in the order given. Names must be 1 to 47 bytes of UTF-8 and unique. Prints one line per
entry (offset, size, name) and the total.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let Some((out, files)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(out, files) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("mkarchive: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Reads `files`, builds the archive, writes it to `out` and reports what it holds.
fn run(out: &str, files: &[String]) -> Result<(), String> {
    let mut entries: Vec<(String, Vec<u8>)> = Vec::with_capacity(files.len());
    let mut sources: Vec<&str> = Vec::with_capacity(files.len());
    for file in files {
        let name = Path::new(file)
            .file_name()
            .ok_or_else(|| format!("`{file}` has no file name"))?
            .to_str()
            .ok_or_else(|| format!("the name of `{file}` is not UTF-8"))?
            .to_string();
        if let Some(i) = entries.iter().position(|(n, _)| *n == name) {
            return Err(format!("duplicate name `{name}` (from `{}` and `{file}`)", sources[i]));
        }
        if name.len() > archive::MAX_NAME_LEN {
            return Err(format!(
                "name `{name}` of `{file}` is {} bytes long (at most {})",
                name.len(),
                archive::MAX_NAME_LEN
            ));
        }
        let data = std::fs::read(file).map_err(|e| format!("cannot read `{file}`: {e}"))?;
        entries.push((name, data));
        sources.push(file);
    }
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let bytes = archive::build(&refs).map_err(|e| e.to_string())?;
    // Read it back: what is reported is what a reader will see.
    let parsed = archive::parse(&bytes).map_err(|e| format!("built a bad archive: {e}"))?;
    std::fs::write(out, &bytes).map_err(|e| format!("cannot write `{out}`: {e}"))?;
    for e in &parsed {
        let offset = e.data.as_ptr() as usize - bytes.as_ptr() as usize;
        println!("{offset:#010x} {:>10} {}", e.data.len(), e.name);
    }
    println!("{out}: {} entries, {} bytes", parsed.len(), bytes.len());
    Ok(())
}
