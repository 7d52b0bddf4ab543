//! Reporting outcomes: one line per run, and a log file for each failure.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::runner::Outcome;

/// How many lines of serial output a failure report shows.
const SERIAL_TAIL_LINES: usize = 15;
/// How many lines of QEMU's stderr a failure report shows.
const STDERR_TAIL_LINES: usize = 5;

/// Prints the outcome of a run. A failure also gets its log written to `log_dir`; a pass
/// removes any log left from an earlier failure of the same run.
pub fn print_outcome(outcome: &Outcome, log_dir: &Path) {
    let Some(failure) = &outcome.failure else {
        println!(
            "PASS {} ({:.1}s)",
            outcome.name,
            outcome.elapsed.as_secs_f64()
        );
        // A stale log from an earlier failure would only mislead.
        let _ = fs::remove_file(log_path(log_dir, &outcome.name));
        return;
    };
    println!("FAIL {}: {failure}", outcome.name);
    match write_log(outcome, log_dir) {
        Ok(path) => println!("  log: {}", path.display()),
        Err(e) => println!("  (could not write the log to {}: {e})", log_dir.display()),
    }
    print_tail("serial output", &outcome.serial, SERIAL_TAIL_LINES);
    print_tail("QEMU stderr", &outcome.qemu_stderr, STDERR_TAIL_LINES);
}

/// The final summary line.
pub fn summary(passed: usize, failed: usize) -> String {
    format!("{passed} passed, {failed} failed")
}

/// Prints the last `count` lines of `text`, indented, under a heading (nothing if empty).
fn print_tail(what: &str, text: &str, count: usize) {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    if lines.is_empty() {
        if what == "serial output" {
            println!("  (no serial output)");
        }
        return;
    }
    let tail = &lines[lines.len().saturating_sub(count)..];
    println!("  last {} lines of {what}:", tail.len());
    for line in tail {
        println!("    {line}");
    }
}

/// Where the log of a run is written.
pub fn log_path(log_dir: &Path, name: &str) -> PathBuf {
    log_dir.join(format!("{name}.log"))
}

/// Writes the failure log: the QEMU command line first, then the result, the serial output,
/// QEMU's stderr and the gdb transcript.
fn write_log(outcome: &Outcome, log_dir: &Path) -> io::Result<PathBuf> {
    let mut log = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(log, "$ {}", outcome.command_line);
    if let Some(failure) = &outcome.failure {
        let _ = writeln!(log, "# FAIL {}: {failure}", outcome.name);
    }
    let _ = writeln!(log, "# scenario file: {}", outcome.scenario_path.display());
    let _ = writeln!(log, "# after {:.1}s", outcome.elapsed.as_secs_f64());
    section(&mut log, "serial output", &outcome.serial);
    section(&mut log, "QEMU stderr", &outcome.qemu_stderr);
    if !outcome.gdb_log.is_empty() {
        section(&mut log, "gdb transcript", &outcome.gdb_log);
    }
    fs::create_dir_all(log_dir)?;
    let path = log_path(log_dir, &outcome.name);
    fs::write(&path, log)?;
    Ok(path)
}

fn section(log: &mut String, title: &str, text: &str) {
    let _ = writeln!(log, "\n===== {title} =====");
    log.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        log.push('\n');
    }
}
