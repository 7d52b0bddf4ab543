//! Reporting outcomes: one line per run (after one line per sub-test result of the run, if it
//! has a `results` step), and a log file for each run with a failure.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::runner::Outcome;
use crate::subresults::SubResult;

/// How many lines of serial output a failure report shows.
const SERIAL_TAIL_LINES: usize = 15;
/// How many lines of QEMU's stderr a failure report shows.
const STDERR_TAIL_LINES: usize = 5;

/// Prints the outcome of a run: its sub-test results first, in output order, then the run's
/// own line. A failure (of the run or of a sub-test) also gets the run's log written to
/// `log_dir`; a run that passed entirely removes any log left from an earlier failure.
pub fn print_outcome(outcome: &Outcome, log_dir: &Path) {
    for sub in &outcome.sub_results {
        println!("{}", sub_result_line(&outcome.name, sub));
    }
    match &outcome.failure {
        None => println!("PASS {} ({:.1}s)", outcome.name, outcome.elapsed.as_secs_f64()),
        Some(failure) => println!("FAIL {}: {failure}", outcome.name),
    }
    if outcome.all_passed() {
        // A stale log from an earlier failure would only mislead.
        let _ = fs::remove_file(log_path(log_dir, &outcome.name));
        return;
    }
    match write_log(outcome, log_dir) {
        Ok(path) => println!("  log: {}", path.display()),
        Err(e) => println!("  (could not write the log to {}: {e})", log_dir.display()),
    }
    // A failed sub-test's line already says why; the tails are about the run's own failure.
    if outcome.failure.is_some() {
        print_tail("serial output", &outcome.serial, SERIAL_TAIL_LINES);
        print_tail("QEMU stderr", &outcome.qemu_stderr, STDERR_TAIL_LINES);
    }
}

/// A sub-test's report line: `PASS RUN :: NAME` or `FAIL RUN :: NAME: REASON`, where RUN is
/// the run's name (so the runs of an SMP matrix stay apart).
pub fn sub_result_line(run: &str, sub: &SubResult) -> String {
    match &sub.failure {
        None => format!("PASS {run} :: {}", sub.name),
        Some(reason) => format!("FAIL {run} :: {}: {reason}", sub.name),
    }
}

/// The counts of the final summary: every run counts once, and so does every sub-test result.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

impl Tally {
    /// Counts a run and its sub-test results.
    pub fn add(&mut self, outcome: &Outcome) {
        self.count(outcome.failure.is_none());
        for sub in &outcome.sub_results {
            self.count(sub.failure.is_none());
        }
    }

    fn count(&mut self, passed: bool) {
        if passed {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
    }

    /// The final summary line, `N passed, N failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed)
    }
}

/// Per scenario, how many of the repeated runs passed (`--repeat`), in first-run order.
#[derive(Debug, Default)]
pub struct Repeats {
    rows: Vec<RepeatRow>,
}

#[derive(Debug)]
struct RepeatRow {
    /// The run's name without its `#K` suffix.
    name: String,
    runs: u32,
    passed: u32,
    /// Failure logs of the runs that failed.
    logs: Vec<PathBuf>,
}

impl Repeats {
    /// Counts one run (named `NAME#K` or `NAME`); a failing run's log path is remembered.
    pub fn add(&mut self, outcome: &Outcome, log_dir: &Path) {
        let name = outcome.name.rsplit_once('#').map_or(outcome.name.as_str(), |(n, _)| n);
        let index = match self.rows.iter().position(|r| r.name == name) {
            Some(i) => i,
            None => {
                self.rows.push(RepeatRow { name: name.to_string(), runs: 0, passed: 0, logs: Vec::new() });
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[index];
        row.runs += 1;
        if outcome.all_passed() {
            row.passed += 1;
        } else {
            row.logs.push(log_path(log_dir, &outcome.name));
        }
    }

    /// The table: one line per scenario, `NAME  PASSED/RUNS`, and the failing runs' logs.
    pub fn table(&self, repeat: u32) -> String {
        let width = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
        let mut out = format!("repeat: {repeat} runs of each scenario\n");
        for row in &self.rows {
            let verdict = if row.passed == row.runs { "green" } else { "FLAKY" };
            // Writing to a String cannot fail.
            let _ = writeln!(out, "  {:width$}  {:>3}/{:<3} {verdict}", row.name, row.passed, row.runs);
            for log in &row.logs {
                let _ = writeln!(out, "  {:width$}    log: {}", "", log.display());
            }
        }
        out
    }
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

/// Writes the failure log: the QEMU command line first, then the failures (the run's and its
/// sub-tests'), the serial output, QEMU's stderr and the gdb transcript.
fn write_log(outcome: &Outcome, log_dir: &Path) -> io::Result<PathBuf> {
    fs::create_dir_all(log_dir)?;
    let path = log_path(log_dir, &outcome.name);
    fs::write(&path, log_text(outcome))?;
    Ok(path)
}

/// The text of the failure log.
fn log_text(outcome: &Outcome) -> String {
    let mut log = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(log, "$ {}", outcome.command_line);
    if let Some(failure) = &outcome.failure {
        let _ = writeln!(log, "# FAIL {}: {failure}", outcome.name);
    }
    if !outcome.sub_results.is_empty() {
        let mut tally = Tally::default();
        for sub in &outcome.sub_results {
            tally.count(sub.failure.is_none());
        }
        let _ = writeln!(log, "# sub-test results: {}", tally.summary());
        for sub in outcome.sub_results.iter().filter(|sub| sub.failure.is_some()) {
            let _ = writeln!(log, "# {}", sub_result_line(&outcome.name, sub));
        }
    }
    let _ = writeln!(log, "# scenario file: {}", outcome.scenario_path.display());
    let _ = writeln!(log, "# after {:.1}s", outcome.elapsed.as_secs_f64());
    section(&mut log, "serial output", &outcome.serial);
    section(&mut log, "QEMU stderr", &outcome.qemu_stderr);
    if !outcome.gdb_log.is_empty() {
        section(&mut log, "gdb transcript", &outcome.gdb_log);
    }
    log
}

fn section(log: &mut String, title: &str, text: &str) {
    let _ = writeln!(log, "\n===== {title} =====");
    log.push_str(text);
    if !text.is_empty() && !text.ends_with('\n') {
        log.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sub(name: &str, failure: Option<&str>) -> SubResult {
        SubResult { name: name.into(), failure: failure.map(str::to_string) }
    }

    /// A run of `ktest` on 2 cores that passed, with the given sub-test results.
    fn outcome(sub_results: Vec<SubResult>) -> Outcome {
        Outcome {
            name: "ktest@smp=2".into(),
            scenario_path: "qemu/scenarios/ktest.scn".into(),
            elapsed: Duration::from_millis(1200),
            failure: None,
            command_line: "qemu-system-aarch64 -smp 2".into(),
            serial: "ktest: a ... ok\nktest: b ... FAILED: boom\n".into(),
            qemu_stderr: String::new(),
            gdb_log: String::new(),
            sub_results,
        }
    }

    #[test]
    fn repeats_count_runs_per_scenario_and_keep_failing_logs() {
        let mut repeats = Repeats::default();
        let dir = Path::new("logs");
        for (pass, subs) in [(1, vec![sub("a", None)]), (2, vec![sub("a", Some("boom"))]), (3, vec![sub("a", None)])] {
            let mut o = outcome(subs);
            o.name = format!("ktest@smp=2#{pass}");
            repeats.add(&o, dir);
        }
        let mut other = outcome(Vec::new());
        other.name = "boot#1".into();
        repeats.add(&other, dir);
        let table = repeats.table(3);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "repeat: 3 runs of each scenario");
        assert!(lines[1].contains("ktest@smp=2") && lines[1].contains("2/3") && lines[1].ends_with("FLAKY"), "{table}");
        assert!(lines[2].ends_with("log: logs/ktest@smp=2#2.log"), "{table}");
        assert!(lines[3].contains("boot") && lines[3].contains("1/1") && lines[3].ends_with("green"), "{table}");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn sub_result_lines_name_the_run() {
        assert_eq!(sub_result_line("ktest@smp=2", &sub("cap_copy", None)), "PASS ktest@smp=2 :: cap_copy");
        assert_eq!(
            sub_result_line("ktest@smp=2", &sub("ipc_call", Some("reply was 3"))),
            "FAIL ktest@smp=2 :: ipc_call: reply was 3"
        );
    }

    #[test]
    fn tally_counts_runs_and_sub_tests() {
        let mut tally = Tally::default();
        tally.add(&outcome(Vec::new()));
        tally.add(&outcome(vec![sub("a", None), sub("b", Some("boom"))]));
        assert_eq!(tally, Tally { passed: 3, failed: 1 });
        assert_eq!(tally.summary(), "3 passed, 1 failed");
    }

    #[test]
    fn log_lists_failed_sub_tests() {
        let outcome = outcome(vec![sub("a", None), sub("b", Some("boom"))]);
        assert!(!outcome.all_passed());
        let log = log_text(&outcome);
        assert!(
            log.starts_with(
                "$ qemu-system-aarch64 -smp 2\n\
                 # sub-test results: 1 passed, 1 failed\n\
                 # FAIL ktest@smp=2 :: b: boom\n\
                 # scenario file: qemu/scenarios/ktest.scn\n"
            ),
            "{log}"
        );
        assert!(log.contains("===== serial output =====\nktest: a ... ok\n"), "{log}");
    }
}
