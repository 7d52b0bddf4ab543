//! Sub-test results printed by the guest: the `results REGEX` step.
//!
//! An in-guest test suite prints one line per test, say `ktest: NAME ... ok` or
//! `ktest: NAME ... FAILED: reason`. Once a scenario's `results` step has run, every complete
//! line of serial output that its regex matches becomes one [`SubResult`], reported and counted
//! like a scenario of its own. A line is read only once its `\n` has arrived, so a line still
//! arriving is never half-matched or counted twice.

use std::collections::HashSet;

use regex::{Captures, Regex};

use crate::scenario::{RESULT_NAME, RESULT_OK, RESULT_STATUS};
use crate::stream::complete_lines_end;

/// One sub-test's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubResult {
    /// The `name` group of its line.
    pub name: String,
    /// Why it failed; `None` if it passed.
    pub failure: Option<String>,
}

/// Collects sub-test results from the serial output, line by line, as it grows.
pub struct SubResults {
    regex: Regex,
    /// Where the first line not read yet starts (a byte offset in the serial output).
    read_to: usize,
    results: Vec<SubResult>,
    /// The names reported so far, to catch duplicates.
    names: HashSet<String>,
}

impl SubResults {
    /// A collector for `regex` (which has the groups `name` and `status`) that reads the
    /// output from byte `from` on. The rest of the line `from` falls in counts as a line.
    pub fn new(regex: Regex, from: usize) -> SubResults {
        SubResults { regex, read_to: from, results: Vec::new(), names: HashSet::new() }
    }

    /// Reads the lines completed since the last call. `text` is all the output so far (it
    /// only grows); a last line without its `\n` is left for a later call.
    pub fn read_new(&mut self, text: &str) {
        let end = complete_lines_end(text, self.read_to);
        for line in text[self.read_to..end].lines() {
            self.read_line(line.trim_end_matches('\r'));
        }
        self.read_to = end;
    }

    /// Records the result on `line` (without its line ending), if it is a result line.
    fn read_line(&mut self, line: &str) {
        let Some(captures) = self.regex.captures(line) else {
            return;
        };
        let name = captures.name(RESULT_NAME).map_or("", |group| group.as_str()).to_string();
        let failure = if self.names.insert(name.clone()) {
            verdict(line, &captures)
        } else {
            Some(format!("duplicate result: `{name}` was already reported"))
        };
        self.results.push(SubResult { name, failure });
    }

    /// The results read so far, in output order.
    #[cfg(test)]
    fn results(&self) -> &[SubResult] {
        &self.results
    }

    /// The results, in output order.
    pub fn into_results(self) -> Vec<SubResult> {
        self.results
    }
}

/// `None` if the line's `status` is exactly `ok`; otherwise why it failed: the rest of the
/// line after `status` (without a leading `:`), or the status itself if nothing follows.
fn verdict(line: &str, captures: &Captures) -> Option<String> {
    let Some(status) = captures.name(RESULT_STATUS) else {
        return Some(format!("no `{RESULT_STATUS}` in the line: {line}"));
    };
    if status.as_str() == RESULT_OK {
        return None;
    }
    let rest = line[status.end()..].trim_start_matches(|c: char| c == ':' || c.is_whitespace()).trim_end();
    Some(if rest.is_empty() { status.as_str() } else { rest }.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KTEST: &str = r"^ktest: (?P<name>\S+) \.\.\. (?P<status>ok|FAILED)";

    fn collector(from: usize) -> SubResults {
        SubResults::new(Regex::new(KTEST).unwrap(), from)
    }

    fn pass(name: &str) -> SubResult {
        SubResult { name: name.into(), failure: None }
    }

    fn fail(name: &str, why: &str) -> SubResult {
        SubResult { name: name.into(), failure: Some(why.into()) }
    }

    #[test]
    fn counts_ok_and_failed_lines() {
        let mut results = collector(0);
        results.read_new(
            "boot ok\r\n\
             ktest: cap_copy ... ok\r\n\
             ktest: ipc_call ... FAILED: reply was 3, expected 4\r\n\
             ktest: summary is not a result\r\n\
             ktest: vm_map ... FAILED\n\
             ktest: 2 passed, 1 failed\r\n",
        );
        assert_eq!(
            results.into_results(),
            [pass("cap_copy"), fail("ipc_call", "reply was 3, expected 4"), fail("vm_map", "FAILED"),]
        );
    }

    #[test]
    fn partial_lines_are_not_counted() {
        // `\S+` would take a status still arriving (`o` of `ok`) for a failure.
        let regex = Regex::new(r"^ktest: (?P<name>\S+) \.\.\. (?P<status>\S+)").unwrap();
        let mut results = SubResults::new(regex, 0);
        let mut text = String::from("ktest: a ... ok\r\nktest: b ... o");
        results.read_new(&text);
        assert_eq!(results.results(), [pass("a")]);
        text.push_str("k\r");
        results.read_new(&text);
        assert_eq!(results.results(), [pass("a")]);
        text.push_str("\nktest: c ... FAI");
        results.read_new(&text);
        text.push_str("LED: boom\r\n");
        results.read_new(&text);
        // Reading again finds nothing new: no line is counted twice.
        results.read_new(&text);
        assert_eq!(results.results(), [pass("a"), pass("b"), fail("c", "boom")]);
        // A last line that never ends (QEMU stopped mid-line) is never counted.
        text.push_str("ktest: d ... ok");
        results.read_new(&text);
        assert_eq!(results.into_results().len(), 3);
    }

    #[test]
    fn status_must_be_exactly_ok() {
        let mut results = SubResults::new(Regex::new(r"^t (?P<name>\w+) (?P<status>\S+)").unwrap(), 0);
        results.read_new("t a ok\nt b okay\nt c OK\nt d skipped: no gic\n");
        assert_eq!(results.into_results(), [pass("a"), fail("b", "okay"), fail("c", "OK"), fail("d", "no gic")]);
    }

    #[test]
    fn duplicates_fail() {
        let mut results = collector(0);
        results.read_new("ktest: a ... ok\nktest: b ... ok\nktest: a ... ok\n");
        assert_eq!(
            results.into_results(),
            [pass("a"), pass("b"), fail("a", "duplicate result: `a` was already reported"),]
        );
    }

    #[test]
    fn reads_from_its_start_on() {
        let text = "ktest: early ... ok\nktest: late ... ok\n";
        let mut results = collector("ktest: early ... ok\n".len());
        results.read_new(text);
        assert_eq!(results.results(), [pass("late")]);
        // Nothing matched: an empty list (the runner turns that into a failure).
        let mut results = collector(text.len());
        results.read_new(text);
        assert!(results.results().is_empty());
    }
}
