//! Running one scenario: boot QEMU, execute the steps in order, collect what happened.
//!
//! The serial output is matched with a *cursor*: each `expect` searches only the text after
//! the end of the previous match, so the same line can never satisfy two steps. `reject`
//! patterns, in contrast, are searched in all of the output, continuously while steps wait and
//! once more when the scenario ends. Sub-test result lines (`results`) are read the same way,
//! complete line by complete line, and all of them are reported.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use regex::{Captures, Regex};

use crate::gdb::{self, GdbEnd};
use crate::qemu::{self, Machine, Qemu};
use crate::scenario::{Action, MemSize, Pattern, Scenario, Step};
use crate::stream::{complete_lines_end, deadline_after};
use crate::subresults::{SubResult, SubResults};
use crate::template::{Render, Template, Vars};

/// Settings shared by every scenario of an invocation (from the command line).
pub struct Settings {
    /// The QEMU program.
    pub qemu: PathBuf,
    /// The gdb program.
    pub gdb: PathBuf,
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// The memory size when a scenario has no `mem:`.
    pub mem: MemSize,
    /// Every timeout is multiplied by this.
    pub timeout_scale: f64,
    /// Echo serial output live.
    pub verbose: bool,
    /// QEMU arguments after each scenario's own (`--qemu-arg`).
    pub qemu_args: Vec<String>,
    /// Added to each scenario's kernel command line (`--append`).
    pub append: Option<String>,
}

/// One run of a scenario: a scenario and the core count to run it with.
pub struct Run<'a> {
    pub scenario: &'a Scenario,
    /// The name in reports: the scenario's, plus `@smp=N` in an SMP matrix.
    pub name: String,
    pub smp: u32,
}

/// What happened in a run.
pub struct Outcome {
    pub name: String,
    /// The scenario file.
    pub scenario_path: PathBuf,
    pub elapsed: Duration,
    /// Why the run failed; `None` if it passed.
    pub failure: Option<Failure>,
    /// The QEMU command line, as a shell would take it.
    pub command_line: String,
    /// Everything QEMU wrote to the serial console.
    pub serial: String,
    /// Everything QEMU wrote to its stderr.
    pub qemu_stderr: String,
    /// The output of the gdb steps, each under a heading naming the step.
    pub gdb_log: String,
    /// The sub-test results read by a `results` step, in output order. They count on their
    /// own, in addition to the run itself.
    pub sub_results: Vec<SubResult>,
}

impl Outcome {
    /// Whether the run and all its sub-tests passed.
    pub fn all_passed(&self) -> bool {
        self.failure.is_none() && self.sub_results.iter().all(|r| r.failure.is_none())
    }
}

/// Why a run failed.
#[derive(Debug)]
pub struct Failure {
    /// The step that failed; `None` for failures outside any step (QEMU would not start, or a
    /// rejected pattern found in the final check).
    pub step: Option<FailedStep>,
    pub problem: Problem,
}

/// The failed step, as reports name it.
#[derive(Debug)]
pub struct FailedStep {
    /// 1-based position among the steps.
    pub number: usize,
    /// The line in the scenario file.
    pub line: usize,
    /// The step, e.g. `expect /boot ok/`.
    pub description: String,
}

impl FailedStep {
    /// Names `step`, the one at `index` (0-based) among the scenario's steps.
    fn new(index: usize, step: &Step) -> FailedStep {
        FailedStep { number: index + 1, line: step.line, description: step.to_string() }
    }
}

/// What went wrong.
#[derive(Debug)]
pub enum Problem {
    /// The step did not finish within its (scaled) timeout.
    TimedOut(Duration),
    /// Anything else, as a message.
    Failed(String),
}

impl fmt::Display for Failure {
    /// E.g. "step 4 (line 12) `expect /boot ok/` timed out after 30s".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(step) = &self.step {
            write!(f, "step {} (line {}) `{}`", step.number, step.line, step.description)?;
            match &self.problem {
                Problem::TimedOut(after) => write!(f, " timed out after {}", seconds(*after)),
                Problem::Failed(message) => write!(f, ": {message}"),
            }
        } else {
            match &self.problem {
                Problem::TimedOut(after) => write!(f, "timed out after {}", seconds(*after)),
                Problem::Failed(message) => f.write_str(message),
            }
        }
    }
}

/// Formats a duration as seconds without needless decimals: `30s`, `1.5s`, `0.25s`.
pub fn seconds(duration: Duration) -> String {
    let text = format!("{:.3}", duration.as_secs_f64());
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Runs one scenario to the end and reports what happened. QEMU (and gdb) are always gone
/// when this returns.
pub fn run(settings: &Settings, run: &Run) -> Outcome {
    let started = Instant::now();
    let scenario = run.scenario;
    let mem = scenario.mem.as_ref().unwrap_or(&settings.mem);
    let mut outcome = Outcome {
        name: run.name.clone(),
        scenario_path: scenario.path.clone(),
        elapsed: Duration::ZERO,
        failure: None,
        command_line: String::new(),
        serial: String::new(),
        qemu_stderr: String::new(),
        gdb_log: String::new(),
        sub_results: Vec::new(),
    };
    let fail = |message: String| Failure { step: None, problem: Problem::Failed(message) };

    let gdb_port = match scenario.gdb.then(qemu::free_port).transpose() {
        Ok(port) => port,
        Err(e) => {
            outcome.failure = Some(fail(format!("no free TCP port for the gdbstub: {e}")));
            return outcome;
        }
    };
    let append = match (scenario.append.as_deref(), settings.append.as_deref()) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        (a, b) => a.or(b).map(str::to_string),
    };
    let extra_args: Vec<String> = scenario.qemu_args.iter().chain(&settings.qemu_args).cloned().collect();
    let args = Machine {
        kernel: &settings.kernel,
        smp: run.smp,
        mem,
        append: append.as_deref(),
        gdb_port,
        extra_args: &extra_args,
    }
    .arguments();
    outcome.command_line = qemu::shell_command_line(&settings.qemu, &args);

    let echo = settings.verbose.then(|| format!("{} | ", run.name));
    let qemu = match Qemu::start(&settings.qemu, &args, echo) {
        Ok(qemu) => qemu,
        Err(e) => {
            let program = settings.qemu.display();
            outcome.failure = Some(fail(format!("could not start QEMU (`{program}`): {e}")));
            outcome.elapsed = started.elapsed();
            return outcome;
        }
    };

    let mut vars = Vars::new();
    vars.insert("smp".into(), run.smp.to_string());
    vars.insert("mem_mib".into(), mem.mib.to_string());
    vars.insert("kernel".into(), settings.kernel.display().to_string());
    let mut session = Session {
        settings,
        qemu,
        gdb_port,
        vars,
        cursor: 0,
        rejects: Vec::new(),
        results: None,
        gdb_transcript: String::new(),
        gdb_cursor: 0,
        gdb_log: String::new(),
        live: None,
        live_cursor: 0,
    };

    for (index, step) in scenario.steps.iter().enumerate() {
        if let Err(problem) = session.step(step) {
            outcome.failure = Some(Failure { step: Some(FailedStep::new(index, step)), problem });
            break;
        }
    }

    if let Some(live) = session.live.take() {
        // A scenario that failed (or forgot gdb-end) with gdb still attached: keep what it said.
        session.gdb_log.push_str(&live.output.text());
    }
    session.qemu.stop();
    outcome.serial = session.qemu.serial.text();
    outcome.qemu_stderr = session.qemu.stderr.text();
    outcome.gdb_log = std::mem::take(&mut session.gdb_log);
    if outcome.failure.is_none() {
        // The final check: the whole output, including what arrived after the last wait.
        if let Some(hit) = session.rejects.iter().find_map(|r| r.search_all(&outcome.serial)) {
            outcome.failure = Some(fail(hit));
        }
    }
    if let Some(results) = session.results.take() {
        finish_results(&mut outcome, scenario, results);
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// Reads the result lines that arrived after the last wait, and fails a run whose `results`
/// step saw none (a suite that printed nothing has not passed), unless it failed already.
fn finish_results(outcome: &mut Outcome, scenario: &Scenario, mut results: SubResults) {
    results.read_new(&outcome.serial);
    outcome.sub_results = results.into_results();
    if !outcome.sub_results.is_empty() || outcome.failure.is_some() {
        return;
    }
    let step = scenario
        .steps
        .iter()
        .enumerate()
        .find(|(_, step)| matches!(step.action, Action::Results { .. }))
        .map(|(index, step)| FailedStep::new(index, step));
    outcome.failure = Some(Failure {
        step,
        problem: Problem::Failed(
            "no result line matched by the end of the scenario \
             (a suite that reports nothing has not passed)"
                .to_string(),
        ),
    });
}

/// The state of a running scenario.
struct Session<'a> {
    settings: &'a Settings,
    qemu: Qemu,
    gdb_port: Option<u16>,
    vars: Vars,
    /// Where the next `expect` starts searching the serial output (a byte offset).
    cursor: usize,
    rejects: Vec<Reject>,
    /// The sub-test results, once a `results` step has run.
    results: Option<SubResults>,
    /// The output of all gdb steps so far, searched by `expect-gdb`.
    gdb_transcript: String,
    /// Where the next `expect-gdb` starts searching the transcript.
    gdb_cursor: usize,
    /// The transcript with a heading before each gdb step's output, for the failure log.
    gdb_log: String,
    /// The live gdb session (`gdb-start` … `gdb-end`), and where its next `expect-gdb` starts.
    live: Option<gdb::Live>,
    live_cursor: usize,
}

impl Session<'_> {
    /// Executes one step.
    fn step(&mut self, step: &Step) -> Result<(), Problem> {
        match &step.action {
            Action::Expect { pattern, timeout } => self.expect(pattern, *timeout),
            Action::Send { text, line_ending } => {
                let mut bytes = self.render(text)?.into_bytes();
                if *line_ending {
                    bytes.push(b'\r');
                }
                self.qemu
                    .send(&bytes)
                    .map_err(|e| Problem::Failed(format!("could not write to the serial console: {e}")))
            }
            Action::Reject { pattern } => {
                let regex = self.regex(pattern)?;
                self.rejects.push(Reject::new(pattern.source(), regex));
                Ok(())
            }
            Action::Results { pattern } => {
                // From the cursor on: the output the steps before have already dealt with is
                // not results.
                self.results = Some(SubResults::new(self.regex(pattern)?, self.cursor));
                Ok(())
            }
            Action::Exit { timeout, code } => self.exit(*timeout, *code),
            Action::Gdb { commands, timeout } => self.gdb(step, commands, *timeout),
            Action::ExpectGdb { pattern, timeout } => match self.live.is_some() {
                true => self.expect_live_gdb(pattern, *timeout),
                false => self.expect_gdb(pattern),
            },
            Action::GdbStart { commands } => self.gdb_start(step, commands),
            Action::GdbSend { commands } => {
                let commands = commands.iter().map(|c| self.render(c)).collect::<Result<Vec<_>, _>>()?;
                let live = self.live.as_mut().ok_or_else(|| Problem::Failed("no live gdb (gdb-start)".into()))?;
                live.send(&commands).map_err(|e| Problem::Failed(format!("could not write to gdb: {e}")))
            }
            Action::GdbEnd { timeout } => self.gdb_end(*timeout),
            Action::Set { name, value } => {
                let value = self.render(value)?;
                self.vars.insert(name.clone(), value);
                Ok(())
            }
            Action::ExpectEq { name, value } => {
                let expected = self.render(value)?;
                let actual =
                    self.vars.get(name).ok_or_else(|| Problem::Failed(format!("unknown variable `${{{name}}}`")))?;
                if *actual == expected {
                    Ok(())
                } else {
                    Err(Problem::Failed(format!("`{name}` is `{actual}`, expected `{expected}`")))
                }
            }
            Action::ExpectNe { name, value } => {
                let other = self.render(value)?;
                let actual =
                    self.vars.get(name).ok_or_else(|| Problem::Failed(format!("unknown variable `${{{name}}}`")))?;
                if *actual != other {
                    Ok(())
                } else {
                    Err(Problem::Failed(format!("`{name}` is `{actual}`, expected anything else")))
                }
            }
        }
    }

    /// `expect`: waits for `pattern` after the cursor.
    fn expect(&mut self, pattern: &Pattern, timeout: Duration) -> Result<(), Problem> {
        let regex = self.regex(pattern)?;
        let cursor = self.cursor;
        let found = self.wait_serial(timeout, |text, closed| match regex.captures(&text[cursor..]) {
            Some(captures) => Some(Some(Match::new(&regex, &captures, cursor))),
            None if closed => Some(None),
            None => None,
        })?;
        match found {
            Some(found) => {
                self.cursor = found.end;
                self.vars.extend(found.captures);
                Ok(())
            }
            None => Err(Problem::Failed(format!("QEMU exited with {} before a match", self.exit_status()))),
        }
    }

    /// `exit`: waits for QEMU to exit and checks its status.
    fn exit(&mut self, timeout: Duration, code: i32) -> Result<(), Problem> {
        self.wait_serial(timeout, |_, closed| closed.then_some(()))?;
        let status = self.qemu.wait().map_err(|e| Problem::Failed(format!("could not get QEMU's exit status: {e}")))?;
        if status.code() == Some(code) {
            Ok(())
        } else {
            Err(Problem::Failed(format!("QEMU exited with {}, expected status {code}", describe_status(status))))
        }
    }

    /// `gdb`: runs gdb against the gdbstub and adds its output to the transcript.
    fn gdb(&mut self, step: &Step, commands: &[Template], timeout: Duration) -> Result<(), Problem> {
        let port = self.gdb_port.expect("the parser allows gdb steps only with `gdb: yes`");
        let commands = commands.iter().map(|command| self.render(command)).collect::<Result<Vec<_>, _>>()?;
        let timeout = self.scale(timeout);
        let settings = self.settings;
        let run = gdb::run(&settings.gdb, &settings.kernel, port, &commands, timeout);
        self.gdb_transcript.push_str(&run.output);
        self.gdb_log.push_str(&format!(
            "----- line {}: gdb {} -----\n{}",
            step.line,
            commands.join(" ;; "),
            run.output
        ));
        match run.end {
            GdbEnd::Exited(status) if status.success() => Ok(()),
            GdbEnd::Exited(status) => Err(Problem::Failed(format!(
                "gdb exited with {} (see the gdb transcript in the log)",
                describe_status(status)
            ))),
            GdbEnd::TimedOut => Err(Problem::TimedOut(timeout)),
            GdbEnd::Error(e) => Err(Problem::Failed(format!("could not run gdb (`{}`): {e}", settings.gdb.display()))),
        }
    }

    /// `gdb-start`: a live gdb session.
    fn gdb_start(&mut self, step: &Step, commands: &[Template]) -> Result<(), Problem> {
        if self.live.is_some() {
            return Err(Problem::Failed("a live gdb is running already (gdb-end first)".into()));
        }
        let port = self.gdb_port.expect("the parser allows gdb steps only with `gdb: yes`");
        let commands = commands.iter().map(|command| self.render(command)).collect::<Result<Vec<_>, _>>()?;
        self.gdb_log.push_str(&format!("----- line {}: gdb-start {} -----\n", step.line, commands.join(" ;; ")));
        let settings = self.settings;
        let live = gdb::Live::start(&settings.gdb, &settings.kernel, port, &commands)
            .map_err(|e| Problem::Failed(format!("could not run gdb (`{}`): {e}", settings.gdb.display())))?;
        self.live = Some(live);
        self.live_cursor = 0;
        Ok(())
    }

    /// `expect-gdb` with a live session: waits for the pattern in gdb's output after the cursor.
    fn expect_live_gdb(&mut self, pattern: &Pattern, timeout: Duration) -> Result<(), Problem> {
        let regex = self.regex(pattern)?;
        let timeout = self.scale(timeout);
        let cursor = self.live_cursor;
        let live = self.live.as_ref().expect("checked");
        let found =
            live.output.wait_until(deadline_after(timeout), |text, closed| match regex.captures(&text[cursor..]) {
                Some(c) => Some(Ok(Match::new(&regex, &c, cursor))),
                None if closed => Some(Err(())),
                None => None,
            });
        match found {
            Some(Ok(found)) => {
                self.live_cursor = found.end;
                self.vars.extend(found.captures);
                Ok(())
            }
            Some(Err(())) => Err(Problem::Failed("gdb exited before printing it (see the gdb transcript)".into())),
            None => Err(Problem::TimedOut(timeout)),
        }
    }

    /// `gdb-end`: detach, quit, and check that gdb exited cleanly.
    fn gdb_end(&mut self, timeout: Duration) -> Result<(), Problem> {
        let mut live = self.live.take().ok_or_else(|| Problem::Failed("no live gdb (gdb-start)".into()))?;
        let _ = live.send(&["detach".to_string(), "quit".to_string()]);
        live.stdin = None; // end of input
        let timeout = self.scale(timeout);
        let closed = live.output.wait_closed(deadline_after(timeout));
        let text = live.output.text();
        self.gdb_log.push_str(&text);
        self.gdb_transcript.push_str(&text);
        if !closed {
            return Err(Problem::TimedOut(timeout));
        }
        if let Some(bad) = ["internal-error", "Fatal signal", "Python Exception", "Traceback", "[kmod] resync failed"]
            .iter()
            .find(|b| text.contains(*b))
        {
            return Err(Problem::Failed(format!("gdb printed `{bad}` (see the gdb transcript)")));
        }
        match live.process.wait() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(Problem::Failed(format!("gdb exited with {}", describe_status(status)))),
            Err(e) => Err(Problem::Failed(format!("could not wait for gdb: {e}"))),
        }
    }

    /// `expect-gdb`: searches the gdb transcript after the gdb cursor (no waiting: the gdb
    /// steps before it have finished).
    fn expect_gdb(&mut self, pattern: &Pattern) -> Result<(), Problem> {
        let regex = self.regex(pattern)?;
        let cursor = self.gdb_cursor;
        match regex.captures(&self.gdb_transcript[cursor..]) {
            Some(captures) => {
                let found = Match::new(&regex, &captures, cursor);
                self.gdb_cursor = found.end;
                self.vars.extend(found.captures);
                Ok(())
            }
            None => Err(Problem::Failed("no match in the gdb transcript".to_string())),
        }
    }

    /// Waits on the serial output until `check(text, closed)` returns a value, failing if a
    /// rejected pattern appears first or the (scaled) `timeout` passes. Result lines are read
    /// as they complete.
    fn wait_serial<T>(
        &mut self,
        timeout: Duration,
        mut check: impl FnMut(&str, bool) -> Option<T>,
    ) -> Result<T, Problem> {
        let timeout = self.scale(timeout);
        let rejects = &mut self.rejects;
        let results = &mut self.results;
        let result = self.qemu.serial.wait_until(deadline_after(timeout), |text, closed| {
            if let Some(results) = results.as_mut() {
                results.read_new(text);
            }
            if let Some(hit) = rejects.iter_mut().find_map(|r| r.search_new(text)) {
                return Some(Err(hit));
            }
            check(text, closed).map(Ok)
        });
        match result {
            Some(Ok(value)) => Ok(value),
            Some(Err(hit)) => Err(Problem::Failed(hit)),
            None => Err(Problem::TimedOut(timeout)),
        }
    }

    /// A timeout multiplied by `--timeout-scale`.
    fn scale(&self, timeout: Duration) -> Duration {
        Duration::try_from_secs_f64(timeout.as_secs_f64() * self.settings.timeout_scale).unwrap_or(Duration::MAX)
    }

    /// Renders a text template with the current variables.
    fn render(&self, template: &Template) -> Result<String, Problem> {
        template.render(&self.vars, Render::Plain).map_err(|e| Problem::Failed(e.to_string()))
    }

    /// Builds a pattern's regex with the current variables.
    fn regex(&self, pattern: &Pattern) -> Result<Regex, Problem> {
        pattern.regex(&self.vars).map_err(Problem::Failed)
    }

    /// QEMU's exit status, described (QEMU has closed its output, so it has exited).
    fn exit_status(&mut self) -> String {
        match self.qemu.wait() {
            Ok(status) => describe_status(status),
            Err(e) => format!("an unknown status ({e})"),
        }
    }
}

/// "status 3", or "signal 9" for a process killed by a signal.
fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("status {code}"),
        None => {
            #[cfg(unix)]
            if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
                return format!("signal {signal}");
            }
            status.to_string()
        }
    }
}

/// A successful match: where it ends, and the values of its named groups.
struct Match {
    /// The end of the match in the whole text (not just the part searched).
    end: usize,
    captures: Vec<(String, String)>,
}

impl Match {
    /// `captures` come from searching the text from `offset` on.
    fn new(regex: &Regex, captures: &Captures, offset: usize) -> Match {
        let whole = captures.get(0).expect("group 0 is the whole match");
        let captures = regex
            .capture_names()
            .flatten()
            // A group that took no part in the match leaves its variable unchanged.
            .filter_map(|name| Some((name.to_string(), captures.name(name)?.as_str().to_string())))
            .collect();
        Match { end: offset + whole.end(), captures }
    }
}

/// A `reject` pattern.
struct Reject {
    /// The pattern as written, for the message.
    source: String,
    regex: Regex,
    /// Where the next continuous search starts: the start of the first line not yet known to
    /// be clear. Searching from a line start keeps the work linear in the output, and still
    /// finds a match that arrives in pieces within one line.
    search_from: usize,
}

impl Reject {
    fn new(source: &str, regex: Regex) -> Reject {
        Reject { source: source.to_string(), regex, search_from: 0 }
    }

    /// The continuous check: searches the text not searched yet (from the start of its line),
    /// and returns the failure message if the pattern appears.
    fn search_new(&mut self, text: &str) -> Option<String> {
        let new = &text[self.search_from..];
        if let Some(found) = self.regex.find(new) {
            let (start, end) = (self.search_from + found.start(), self.search_from + found.end());
            return Some(self.message(text, start, end));
        }
        // Complete lines are clear; the last one may still grow, so it is searched again.
        self.search_from = complete_lines_end(text, self.search_from);
        None
    }

    /// The final check: searches all of `text`.
    fn search_all(&self, text: &str) -> Option<String> {
        let found = self.regex.find(text)?;
        Some(self.message(text, found.start(), found.end()))
    }

    /// "rejected pattern /…/ appeared: <the line(s) of the match>".
    fn message(&self, text: &str, start: usize, end: usize) -> String {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        let lines = text[line_start..line_end].trim_end();
        format!("rejected pattern /{}/ appeared: {lines}", self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_format() {
        assert_eq!(seconds(Duration::from_secs(30)), "30s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25s");
        assert_eq!(seconds(Duration::from_secs_f64(0.1 * 3.0)), "0.3s");
    }

    #[test]
    fn reject_searches_incrementally_by_line() {
        let mut reject = Reject::new("(?i)panic", Regex::new("(?i)panic").unwrap());
        let mut text = String::from("boot\nok\nkernel pa");
        assert_eq!(reject.search_new(&text), None);
        assert_eq!(reject.search_from, "boot\nok\n".len());
        text.push_str("nic: oops\r\nmore\n");
        assert_eq!(
            reject.search_new(&text).as_deref(),
            Some("rejected pattern /(?i)panic/ appeared: kernel panic: oops")
        );
        assert!(reject.search_all(&text).is_some());
    }

    #[test]
    fn failure_messages() {
        let step = || Some(FailedStep { number: 4, line: 12, description: "expect /boot ok/".into() });
        let timed_out = Failure { step: step(), problem: Problem::TimedOut(Duration::from_secs(30)) };
        assert_eq!(timed_out.to_string(), "step 4 (line 12) `expect /boot ok/` timed out after 30s");
        let failed =
            Failure { step: step(), problem: Problem::Failed("QEMU exited with status 1 before a match".into()) };
        assert_eq!(failed.to_string(), "step 4 (line 12) `expect /boot ok/`: QEMU exited with status 1 before a match");
    }
}
