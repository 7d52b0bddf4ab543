//! Scenario files: their format and parser.
//!
//! A scenario is plain text, one directive per line; blank lines and `#` comments are ignored.
//! Header directives (`key: value`) come first and configure the QEMU machine; steps
//! (`keyword arguments`) follow and are executed in order. The full format is documented in
//! `qemu/scenarios/README.md`; keep the two in step.
//!
//! Everything that can be checked without running QEMU is checked here (regex syntax, numbers,
//! variable syntax, `gdb` steps without `gdb: yes`, the named groups of a `results` regex), so
//! a typo is reported with its file and line before any scenario starts.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use crate::template::{is_valid_name, Render, Template, Vars};

/// The per-step timeout when the scenario has no `timeout:` header.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed scenario file.
#[derive(Debug)]
pub struct Scenario {
    /// The file it was read from.
    pub path: PathBuf,
    /// The file name without its extension: how the scenario is named in reports.
    pub name: String,
    /// `title:` — free text shown by `--list`.
    pub title: Option<String>,
    /// `smp:` — pins the core count (overrides `--smp` and `--matrix-smp`).
    pub smp: Option<u32>,
    /// `mem:` — the memory size (overrides `--mem`).
    pub mem: Option<MemSize>,
    /// `append:` — the kernel command line.
    pub append: Option<String>,
    /// `qemu-arg:` — extra QEMU arguments, in order.
    pub qemu_args: Vec<String>,
    /// `gdb: yes` — start QEMU halted, with a gdbstub.
    pub gdb: bool,
    /// The steps, in file order.
    pub steps: Vec<Step>,
}

/// One step of a scenario.
#[derive(Debug)]
pub struct Step {
    /// The 1-based line number in the scenario file.
    pub line: usize,
    /// The line as written (trimmed), for messages.
    pub source: String,
    /// What to do.
    pub action: Action,
}

/// What a step does. Timeouts are already resolved (an explicit one, or the scenario default)
/// but not yet multiplied by `--timeout-scale`.
#[derive(Debug)]
pub enum Action {
    /// `expect [TIMEOUT] REGEX`: wait for REGEX in the serial output after the cursor.
    Expect { pattern: Pattern, timeout: Duration },
    /// `send TEXT` (with `line_ending`, a `\r`) or `send-raw TEXT` (without).
    Send { text: Template, line_ending: bool },
    /// `reject REGEX`: REGEX must never appear in the serial output.
    Reject { pattern: Pattern },
    /// `exit [TIMEOUT] [CODE]`: wait for QEMU to exit with status `code`.
    Exit { timeout: Duration, code: i32 },
    /// `gdb [TIMEOUT] CMD ;; CMD …`: run gdb against the gdbstub.
    Gdb { commands: Vec<Template>, timeout: Duration },
    /// `expect-gdb [TIMEOUT] REGEX`: REGEX must match the gdb transcript after the gdb cursor;
    /// with a live session (`gdb-start`) it waits up to TIMEOUT for gdb to print it.
    ExpectGdb { pattern: Pattern, timeout: Duration },
    /// `gdb-start CMD ;; CMD …`: starts a live gdb session (attached, running the commands) that
    /// goes on while later steps drive the serial console.
    GdbStart { commands: Vec<Template> },
    /// `gdb-send CMD ;; CMD …`: more commands for the live session (gdb reads them once the
    /// target has stopped, if it is running).
    GdbSend { commands: Vec<Template> },
    /// `gdb-end [TIMEOUT]`: the live session detaches and quits; it must exit with status 0
    /// (a gdb that crashed, or printed an internal error, fails the step).
    GdbEnd { timeout: Duration },
    /// `set NAME VALUE`.
    Set { name: String, value: Template },
    /// `expect-eq NAME VALUE`: variable NAME must equal VALUE.
    ExpectEq { name: String, value: Template },
    /// `expect-ne NAME VALUE`: variable NAME must differ from VALUE.
    ExpectNe { name: String, value: Template },
    /// `results REGEX`: from here on, each complete serial line matching REGEX is one
    /// sub-test result (REGEX has the named groups [`RESULT_NAME`] and [`RESULT_STATUS`]).
    Results { pattern: Pattern },
}

/// The named group of a `results` regex that names the sub-test.
pub const RESULT_NAME: &str = "name";
/// The named group of a `results` regex that holds the outcome: [`RESULT_OK`] passes.
pub const RESULT_STATUS: &str = "status";
/// The only `status` that passes; anything else fails.
pub const RESULT_OK: &str = "ok";

/// `CMD ;; CMD …` as templates; an empty command is an error.
fn gdb_commands(args: &str) -> Result<Vec<Template>, String> {
    args.split(";;")
        .map(|cmd| match cmd.trim() {
            "" => Err("empty gdb command (check the `;;` separators)".to_string()),
            cmd => Template::parse(cmd),
        })
        .collect()
}

impl fmt::Display for Step {
    /// Describes the step for reports: regexes as `/…/`, everything else as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            Action::Expect { pattern, .. } => write!(f, "expect /{pattern}/"),
            Action::Reject { pattern } => write!(f, "reject /{pattern}/"),
            Action::ExpectGdb { pattern, .. } => write!(f, "expect-gdb /{pattern}/"),
            Action::Results { pattern } => write!(f, "results /{pattern}/"),
            _ => f.write_str(&self.source),
        }
    }
}

/// A regular expression that may contain `${name}` variables.
#[derive(Debug)]
pub struct Pattern {
    template: Template,
    /// The compiled regex when the pattern has no variables (compiled once, at parse time).
    constant: Option<Regex>,
    /// The names of its named groups (variables are escaped, so they never add any).
    groups: Vec<String>,
}

impl Pattern {
    /// Parses and checks a pattern. A pattern with variables is checked by compiling it with
    /// a placeholder for each variable, which catches syntax errors before the run.
    pub fn parse(source: &str) -> Result<Pattern, String> {
        let template = Template::parse(source)?;
        let placeholder = template
            .render_with(|_| Some("x".to_string()), Render::RegexLiteral)
            .expect("every variable has a placeholder");
        let compiled = Regex::new(&placeholder).map_err(|e| format!("bad regex `{source}`: {}", regex_error(&e)))?;
        let groups = compiled.capture_names().flatten().map(str::to_string).collect();
        let constant = template.is_constant().then_some(compiled);
        Ok(Pattern { template, constant, groups })
    }

    /// The regex for this run: variables are replaced by their (regex-escaped) values.
    pub fn regex(&self, vars: &Vars) -> Result<Regex, String> {
        if let Some(regex) = &self.constant {
            return Ok(regex.clone());
        }
        let source = self.template.render(vars, Render::RegexLiteral).map_err(|e| e.to_string())?;
        Regex::new(&source).map_err(|e| format!("bad regex `{source}` after substitution: {}", regex_error(&e)))
    }

    /// The pattern as written in the scenario file.
    pub fn source(&self) -> &str {
        self.template.source()
    }

    /// Whether the pattern has a named group `(?P<name>…)` called `name`.
    pub fn has_group(&self, name: &str) -> bool {
        self.groups.iter().any(|group| group == name)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source())
    }
}

/// The gist of a regex error on one line. (Syntax errors are displayed over several lines,
/// with the pattern and a caret; their last line says what is wrong.)
fn regex_error(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default();
    last.trim_start_matches("error: ").to_string()
}

/// A memory size as QEMU's `-m` takes it, e.g. `512M`, `1G`, `2048` (MiB when no unit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemSize {
    /// The size as written; passed to QEMU unchanged.
    pub text: String,
    /// The size in MiB (the `${mem_mib}` variable).
    pub mib: u64,
}

impl MemSize {
    /// Parses a whole number with an optional unit `K`, `M`, `G` or `T` (either case).
    /// The size must be a whole number of MiB.
    pub fn parse(text: &str) -> Result<MemSize, String> {
        let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(digits_end);
        let number: u64 = number.parse().map_err(|_| format!("bad memory size `{text}` (expected e.g. 512M or 1G)"))?;
        let kib = match unit.to_ascii_uppercase().as_str() {
            "K" => Some(number),
            "" | "M" => number.checked_mul(1 << 10),
            "G" => number.checked_mul(1 << 20),
            "T" => number.checked_mul(1 << 30),
            _ => return Err(format!("bad memory size `{text}` (units are K, M, G, T)")),
        };
        match kib {
            Some(kib) if kib > 0 && kib % 1024 == 0 => Ok(MemSize { text: text.to_string(), mib: kib / 1024 }),
            Some(0) => Err(format!("memory size `{text}` is zero")),
            Some(_) => Err(format!("memory size `{text}` is not a whole number of MiB")),
            None => Err(format!("memory size `{text}` is too large")),
        }
    }
}

/// A problem with a scenario file, with the line it is on (when it is about one line).
#[derive(Debug)]
pub struct ParseError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// Reads and parses a scenario file.
pub fn parse_file(path: &Path) -> Result<Scenario, Vec<ParseError>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => Err(vec![ParseError { path: path.to_path_buf(), line: None, message: format!("cannot read: {e}") }]),
    }
}

/// Parses the text of a scenario file; `path` names it in errors and gives its name.
///
/// Every bad line is reported, not just the first.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, Vec<ParseError>> {
    let mut parser = Parser {
        scenario: Scenario {
            path: path.to_path_buf(),
            name: scenario_name(path),
            title: None,
            smp: None,
            mem: None,
            append: None,
            qemu_args: Vec::new(),
            gdb: false,
            steps: Vec::new(),
        },
        default_timeout: DEFAULT_TIMEOUT,
        seen_headers: Vec::new(),
        seen_step: false,
    };
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Err(message) = parser.line(index + 1, line) {
            errors.push(ParseError { path: path.to_path_buf(), line: Some(index + 1), message });
        }
    }
    if errors.is_empty() && parser.scenario.steps.is_empty() {
        errors.push(ParseError {
            path: path.to_path_buf(),
            line: None,
            message: "the scenario has no steps".to_string(),
        });
    }
    if errors.is_empty() {
        Ok(parser.scenario)
    } else {
        Err(errors)
    }
}

/// The scenario's name: its file name without the extension.
pub fn scenario_name(path: &Path) -> String {
    path.file_stem().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

/// The header keys, in the order the README documents them.
const HEADERS: &[&str] = &["title", "smp", "mem", "append", "qemu-arg", "gdb", "timeout"];

/// The step keywords.
const STEPS: &[&str] = &[
    "expect",
    "send",
    "send-raw",
    "reject",
    "exit",
    "gdb",
    "expect-gdb",
    "gdb-start",
    "gdb-send",
    "gdb-end",
    "set",
    "expect-eq",
    "expect-ne",
    "results",
];

/// Parser state while reading one file.
struct Parser {
    scenario: Scenario,
    /// The `timeout:` header, or [`DEFAULT_TIMEOUT`].
    default_timeout: Duration,
    /// Headers seen so far, to refuse duplicates.
    seen_headers: Vec<String>,
    /// Whether a step line has been seen (even one with an error): headers must come first.
    seen_step: bool,
}

impl Parser {
    /// Parses one non-blank, non-comment line (already trimmed).
    fn line(&mut self, line_no: usize, line: &str) -> Result<(), String> {
        // The directive name runs up to the first character that cannot be part of one.
        let name_end = line.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')).unwrap_or(line.len());
        let (name, rest) = line.split_at(name_end);
        if let Some(value) = rest.strip_prefix(':') {
            self.header(name, value.trim())
        } else if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            self.step(line_no, line, name, rest.trim_start())
        } else {
            let word = line.split_whitespace().next().unwrap_or(line);
            Err(format!("unknown directive `{word}`"))
        }
    }

    /// Parses a header directive `name: value`.
    fn header(&mut self, name: &str, value: &str) -> Result<(), String> {
        if !HEADERS.contains(&name) {
            let hint = if STEPS.contains(&name) {
                format!(" (steps take no colon: `{name} …`)")
            } else {
                format!(" (headers are: {})", HEADERS.join(", "))
            };
            return Err(format!("unknown header `{name}:`{hint}"));
        }
        if self.seen_step {
            return Err(format!("header `{name}:` must come before the first step"));
        }
        if name != "qemu-arg" {
            if self.seen_headers.iter().any(|seen| seen == name) {
                return Err(format!("duplicate header `{name}:`"));
            }
            self.seen_headers.push(name.to_string());
        }
        if value.is_empty() {
            return Err(format!("header `{name}:` needs a value"));
        }
        let s = &mut self.scenario;
        match name {
            "title" => s.title = Some(value.to_string()),
            "smp" => match value.parse::<u32>() {
                Ok(n) if n > 0 => s.smp = Some(n),
                _ => return Err(format!("`smp:` needs a core count of 1 or more, not `{value}`")),
            },
            "mem" => s.mem = Some(MemSize::parse(value)?),
            "append" => s.append = Some(value.to_string()),
            "qemu-arg" => s.qemu_args.extend(value.split_whitespace().map(str::to_string)),
            "gdb" => {
                s.gdb = match value {
                    "yes" | "true" => true,
                    "no" | "false" => false,
                    _ => return Err(format!("`gdb:` takes `yes` or `no`, not `{value}`")),
                }
            }
            "timeout" => match parse_seconds(value) {
                Some(t) if !t.is_zero() => self.default_timeout = t,
                _ => return Err(format!("`timeout:` needs a number of seconds, not `{value}`")),
            },
            _ => unreachable!("every name in HEADERS is handled"),
        }
        Ok(())
    }

    /// Parses a step `keyword args` (`args` already trimmed).
    fn step(&mut self, line: usize, source: &str, keyword: &str, args: &str) -> Result<(), String> {
        // Even a step with an error ends the header (but an unknown word does not: it may be a
        // header without its colon, and one error is enough).
        self.seen_step |= STEPS.contains(&keyword);
        let action = match keyword {
            "expect" => {
                let (timeout, regex) = self.split_timeout(args);
                Action::Expect { pattern: parse_pattern(keyword, regex)?, timeout }
            }
            "send" => Action::Send { text: Template::parse(args)?, line_ending: true },
            "send-raw" => {
                if args.is_empty() {
                    return Err("`send-raw` needs some text".to_string());
                }
                Action::Send { text: Template::parse(&unescape(args)?)?, line_ending: false }
            }
            "reject" => Action::Reject { pattern: parse_pattern(keyword, args)? },
            "exit" => self.exit(args)?,
            "results" => self.results(args)?,
            "gdb" => {
                self.require_gdb(keyword)?;
                let (timeout, rest) = self.split_timeout(args);
                Action::Gdb { commands: gdb_commands(rest)?, timeout }
            }
            "gdb-start" | "gdb-send" => {
                self.require_gdb(keyword)?;
                let commands = gdb_commands(args)?;
                if keyword == "gdb-start" {
                    Action::GdbStart { commands }
                } else {
                    Action::GdbSend { commands }
                }
            }
            "gdb-end" => {
                self.require_gdb(keyword)?;
                let (timeout, rest) = self.split_timeout(args);
                if !rest.trim().is_empty() {
                    return Err("`gdb-end` takes only a timeout".to_string());
                }
                Action::GdbEnd { timeout }
            }
            "expect-gdb" => {
                self.require_gdb(keyword)?;
                let (timeout, regex) = self.split_timeout(args);
                Action::ExpectGdb { pattern: parse_pattern(keyword, regex)?, timeout }
            }
            "set" | "expect-eq" | "expect-ne" => {
                let (name, value) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
                if !is_valid_name(name) {
                    return Err(format!("`{keyword}` needs a variable name (letters, digits, `_`), not `{name}`"));
                }
                let name = name.to_string();
                let value = Template::parse(value.trim_start())?;
                match keyword {
                    "set" => Action::Set { name, value },
                    "expect-eq" => Action::ExpectEq { name, value },
                    _ => Action::ExpectNe { name, value },
                }
            }
            _ => {
                let hint = if HEADERS.contains(&keyword) {
                    format!(" (headers take a colon: `{keyword}: …`)")
                } else {
                    String::new()
                };
                return Err(format!("unknown directive `{keyword}`{hint}"));
            }
        };
        self.scenario.steps.push(Step { line, source: source.to_string(), action });
        Ok(())
    }

    /// Parses the arguments of `exit [TIMEOUT] [CODE]`.
    fn exit(&self, args: &str) -> Result<Action, String> {
        let words: Vec<&str> = args.split_whitespace().collect();
        let timeout = match words.first() {
            None => self.default_timeout,
            Some(word) => parse_seconds(word)
                .ok_or_else(|| format!("`exit` timeout must be a number of seconds, not `{word}`"))?,
        };
        let code = match words.get(1) {
            None => 0,
            Some(word) => word.parse().map_err(|_| format!("`exit` status must be an integer, not `{word}`"))?,
        };
        if words.len() > 2 {
            return Err("`exit` takes at most a timeout and a status: `exit [TIMEOUT] [CODE]`".into());
        }
        Ok(Action::Exit { timeout, code })
    }

    /// Parses the argument of `results REGEX`: a regex with the groups `name` and `status`,
    /// at most once per scenario (a line matched twice would be counted twice).
    fn results(&self, args: &str) -> Result<Action, String> {
        let pattern = parse_pattern("results", args)?;
        let missing: Vec<String> = [RESULT_NAME, RESULT_STATUS]
            .into_iter()
            .filter(|group| !pattern.has_group(group))
            .map(|group| format!("`(?P<{group}>…)`"))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "`results` regex `{args}` lacks the named group(s) {} \
                 (it needs both `(?P<{RESULT_NAME}>…)` and `(?P<{RESULT_STATUS}>…)`)",
                missing.join(" and ")
            ));
        }
        let earlier = self.scenario.steps.iter().find(|step| matches!(step.action, Action::Results { .. }));
        if let Some(earlier) = earlier {
            return Err(format!("only one `results` step per scenario (the first is on line {})", earlier.line));
        }
        Ok(Action::Results { pattern })
    }

    /// Splits an optional leading timeout off `args`: the first word is a timeout if it is a
    /// number. Without one, the scenario's default timeout applies.
    fn split_timeout<'a>(&self, args: &'a str) -> (Duration, &'a str) {
        let (first, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        match parse_seconds(first) {
            Some(timeout) => (timeout, rest.trim_start()),
            None => (self.default_timeout, args),
        }
    }

    /// Refuses a gdb step in a scenario without `gdb: yes`.
    fn require_gdb(&self, keyword: &str) -> Result<(), String> {
        if self.scenario.gdb {
            Ok(())
        } else {
            Err(format!("`{keyword}` needs `gdb: yes` in the header"))
        }
    }
}

/// Parses a step's regex, which must not be empty.
fn parse_pattern(keyword: &str, source: &str) -> Result<Pattern, String> {
    if source.is_empty() {
        return Err(format!("`{keyword}` needs a regex"));
    }
    Pattern::parse(source)
}

/// Parses a number of seconds: digits with an optional fraction (`30`, `1.5`, `.5`).
/// Anything else (including `inf`, `-1`, `1e3`) is not a timeout.
pub fn parse_seconds(word: &str) -> Option<Duration> {
    let is_number = !word.is_empty()
        && word != "."
        && word.chars().all(|c| c.is_ascii_digit() || c == '.')
        && word.matches('.').count() <= 1;
    if !is_number {
        return None;
    }
    Duration::try_from_secs_f64(word.parse().ok()?).ok()
}

/// Decodes the escapes of `send-raw` text: `\r`, `\n`, `\t`, `\e` (escape), `\\` and
/// `\xHH` (a byte from 00 to 7F, e.g. `\x03` for Ctrl-C).
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('e') => out.push('\x1b'),
            Some('\\') => out.push('\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(byte) if hex.len() == 2 && byte.is_ascii() => out.push(char::from(byte)),
                    _ => return Err(format!("bad escape `\\x{hex}` (expected \\x00 to \\x7f)")),
                }
            }
            Some(other) => return Err(format!("unknown escape `\\{other}`")),
            None => return Err("`\\` at the end of the text".to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Scenario {
        parse(Path::new("dir/boot-smoke.scn"), text).unwrap_or_else(|errors| {
            panic!("unexpected errors: {errors:#?}");
        })
    }

    /// The messages of the errors, as `line: message`.
    fn errors(text: &str) -> Vec<String> {
        parse(Path::new("bad.scn"), text).expect_err("should not parse").iter().map(ToString::to_string).collect()
    }

    fn one_error(text: &str) -> String {
        let errors = errors(text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn headers() {
        let s = ok("\
title: Boots and says hello
smp: 2
mem: 1G
append: loglevel=debug quiet
qemu-arg: -d guest_errors
qemu-arg: -semihosting
gdb: yes
timeout: 12.5
expect boot ok
");
        assert_eq!(s.name, "boot-smoke");
        assert_eq!(s.title.as_deref(), Some("Boots and says hello"));
        assert_eq!(s.smp, Some(2));
        assert_eq!(s.mem, Some(MemSize { text: "1G".into(), mib: 1024 }));
        assert_eq!(s.append.as_deref(), Some("loglevel=debug quiet"));
        assert_eq!(s.qemu_args, ["-d", "guest_errors", "-semihosting"]);
        assert!(s.gdb);
        match &s.steps[0].action {
            Action::Expect { timeout, .. } => assert_eq!(*timeout, Duration::from_millis(12_500)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let s = ok("expect x");
        assert_eq!(s.title, None);
        assert_eq!(s.smp, None);
        assert_eq!(s.mem, None);
        assert!(!s.gdb);
        assert!(s.qemu_args.is_empty());
        match &s.steps[0].action {
            Action::Expect { timeout, .. } => assert_eq!(*timeout, DEFAULT_TIMEOUT),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn comments_and_blank_lines_are_skipped_but_counted() {
        let s = ok("# a comment\n\n   # indented comment\n\texpect  one  \n\nsend two\n");
        let lines: Vec<usize> = s.steps.iter().map(|step| step.line).collect();
        assert_eq!(lines, [4, 6]);
        assert_eq!(s.steps[0].source, "expect  one");
    }

    #[test]
    fn expect_with_and_without_timeout() {
        let s = ok("timeout: 7\nexpect 5 boot (ok|done)\nexpect boot ok\nexpect 0.5 x\nexpect 1e3 y");
        let got: Vec<(Duration, &str)> = s
            .steps
            .iter()
            .map(|step| match &step.action {
                Action::Expect { pattern, timeout } => (*timeout, pattern.source()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            got,
            [
                (Duration::from_secs(5), "boot (ok|done)"),
                (Duration::from_secs(7), "boot ok"),
                (Duration::from_millis(500), "x"),
                // `1e3` is not a plain number, so it is part of the regex.
                (Duration::from_secs(7), "1e3 y"),
            ]
        );
        assert_eq!(s.steps[0].to_string(), "expect /boot (ok|done)/");
    }

    #[test]
    fn send_and_send_raw() {
        let s = ok("send echo hi\nsend\nsend-raw \\x03q\\r\\n\\\\");
        let texts: Vec<(String, bool)> = s
            .steps
            .iter()
            .map(|step| match &step.action {
                Action::Send { text, line_ending } => (text.render(&Vars::new(), Render::Plain).unwrap(), *line_ending),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, [("echo hi".to_string(), true), (String::new(), true), ("\x03q\r\n\\".to_string(), false)]);
        assert!(one_error("send-raw a\\qb").contains("unknown escape `\\q`"));
        assert!(one_error("send-raw \\xff").contains("bad escape"));
    }

    #[test]
    fn reject_exit_set_expect_eq() {
        let s = ok("reject (?i)panic\nexit\nexit 5\nexit 5 3\nset answer 42\nexpect-eq answer ${x}");
        assert!(matches!(&s.steps[0].action, Action::Reject { pattern } if pattern.source() == "(?i)panic"));
        assert!(matches!(s.steps[1].action, Action::Exit { timeout, code: 0 } if timeout == DEFAULT_TIMEOUT));
        assert!(matches!(s.steps[2].action, Action::Exit { timeout, code: 0 } if timeout.as_secs() == 5));
        assert!(matches!(s.steps[3].action, Action::Exit { timeout, code: 3 } if timeout.as_secs() == 5));
        assert!(
            matches!(&s.steps[4].action, Action::Set { name, value } if name == "answer" && value.source() == "42")
        );
        assert!(
            matches!(&s.steps[5].action, Action::ExpectEq { name, value } if name == "answer" && value.source() == "${x}")
        );
        assert!(one_error("exit soon").contains("number of seconds"));
        assert!(one_error("exit 5 ok").contains("integer"));
        assert!(one_error("exit 5 0 1").contains("at most"));
        assert!(one_error("set 9lives 1").contains("variable name"));
    }

    #[test]
    fn results_step() {
        let s = ok(r"expect ktest: start
results ^ktest: (?P<name>\S+) \.\.\. (?P<status>ok|FAILED)");
        match &s.steps[1].action {
            Action::Results { pattern } => {
                assert!(pattern.has_group(RESULT_NAME) && pattern.has_group(RESULT_STATUS));
                assert!(!pattern.has_group("reason"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.steps[1].to_string(), r"results /^ktest: (?P<name>\S+) \.\.\. (?P<status>ok|FAILED)/");
        // Variables are allowed; the groups are checked with a placeholder for them.
        ok(r"set p ktest
results ${p}: (?P<name>\S+) (?P<status>\w+)");
    }

    #[test]
    fn results_step_errors() {
        assert_eq!(
            one_error(r"results ktest: (?P<name>\S+) \.\.\. (\w+)"),
            "bad.scn:1: `results` regex `ktest: (?P<name>\\S+) \\.\\.\\. (\\w+)` lacks the named \
             group(s) `(?P<status>…)` (it needs both `(?P<name>…)` and `(?P<status>…)`)"
        );
        assert!(one_error("results ktest: .*").contains("lacks the named group(s) `(?P<name>…)` and `(?P<status>…)`"));
        assert!(one_error("results").contains("`results` needs a regex"));
        assert!(one_error("results (?P<name>x").contains("bad regex"));
        assert!(one_error("results: (?P<name>x)(?P<status>y)").contains("steps take no colon"));
        assert_eq!(
            one_error("results (?P<name>x)(?P<status>y)\nresults (?P<name>x)(?P<status>y)"),
            "bad.scn:2: only one `results` step per scenario (the first is on line 1)"
        );
    }

    #[test]
    fn gdb_steps() {
        let s = ok("gdb: yes\ngdb 10 break kmain ;; continue ;;  info registers \nexpect-gdb Breakpoint 1");
        match &s.steps[0].action {
            Action::Gdb { commands, timeout } => {
                let commands: Vec<&str> = commands.iter().map(Template::source).collect();
                assert_eq!(commands, ["break kmain", "continue", "info registers"]);
                assert_eq!(*timeout, Duration::from_secs(10));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&s.steps[1].action, Action::ExpectGdb { .. }));
        assert!(one_error("gdb: yes\ngdb bt ;; ;; x").contains("empty gdb command"));
    }

    #[test]
    fn gdb_steps_need_gdb_header() {
        let errors = errors("expect x\ngdb bt\nexpect-gdb y");
        assert_eq!(
            errors,
            [
                "bad.scn:2: `gdb` needs `gdb: yes` in the header",
                "bad.scn:3: `expect-gdb` needs `gdb: yes` in the header",
            ]
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let errors = errors("title: t\n\n# c\nexpect (unclosed\nsmp: 2\nfrobnicate now\nsmp 2\n");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(errors[0], "bad.scn:4: bad regex `(unclosed`: unclosed group");
        assert_eq!(errors[1], "bad.scn:5: header `smp:` must come before the first step");
        assert_eq!(errors[2], "bad.scn:6: unknown directive `frobnicate`");
        assert!(errors[3].starts_with("bad.scn:7: unknown directive `smp` (headers take a colon"));
    }

    #[test]
    fn header_errors() {
        assert!(one_error("smp: 0\nexpect x").starts_with("bad.scn:1: `smp:` needs"));
        assert!(one_error("smp: four\nexpect x").contains("not `four`"));
        assert!(one_error("mem: lots\nexpect x").contains("bad memory size"));
        assert!(one_error("gdb: maybe\nexpect x").contains("`yes` or `no`"));
        assert!(one_error("timeout: 0\nexpect x").contains("number of seconds"));
        assert!(one_error("title: a\ntitle: b\nexpect x").starts_with("bad.scn:2: duplicate header"));
        assert!(one_error("append:\nexpect x").contains("needs a value"));
        assert!(one_error("colour: red\nexpect x").contains("unknown header `colour:`"));
        assert!(one_error("expect: x").contains("steps take no colon"));
        assert!(one_error("expect").contains("`expect` needs a regex"));
        assert!(one_error("expect 5").contains("`expect` needs a regex"));
    }

    #[test]
    fn empty_scenario_is_an_error() {
        assert_eq!(errors("# nothing\ntitle: t\n"), ["bad.scn: the scenario has no steps"]);
    }

    #[test]
    fn pattern_substitution() {
        let p = Pattern::parse(r"free=${n}\s+end").unwrap();
        let re = p.regex(&vars(&[("n", "1.5")])).unwrap();
        assert!(re.is_match("free=1.5   end"));
        // The value is literal: its `.` does not match any character.
        assert!(!re.is_match("free=1x5 end"));
        // A quantifier after a variable applies to the whole value.
        let p = Pattern::parse(r"^(${w})+$").unwrap();
        let re = p.regex(&vars(&[("w", "ab")])).unwrap();
        assert!(re.is_match("ababab"));
        assert!(!re.is_match("abb"));
    }

    #[test]
    fn crlf_mode_is_available() {
        // The README recommends `(?mR)` for console output, whose lines end in `\r\n`.
        let p = Pattern::parse("(?mR)^hello$").unwrap();
        let re = p.regex(&Vars::new()).unwrap();
        assert!(re.is_match("$ echo hello\r\nhello\r\n$ "));
        assert!(!re.is_match("$ echo hello\r\n"));
    }

    #[test]
    fn unknown_variable_fails_at_run_time() {
        let p = Pattern::parse("x=${nope}").unwrap();
        assert_eq!(p.regex(&Vars::new()).unwrap_err(), "unknown variable `${nope}`");
    }

    #[test]
    fn variable_syntax_errors_are_parse_errors() {
        assert!(one_error("expect a ${b").starts_with("bad.scn:1: unterminated `${`"));
        assert!(one_error("send ${-}").contains("invalid variable name"));
        assert!(one_error("expect (${x}").contains("bad regex"));
    }

    #[test]
    fn mem_sizes() {
        assert_eq!(MemSize::parse("512M").unwrap().mib, 512);
        assert_eq!(MemSize::parse("512m").unwrap().mib, 512);
        assert_eq!(MemSize::parse("2048").unwrap().mib, 2048);
        assert_eq!(MemSize::parse("2G").unwrap().mib, 2048);
        assert_eq!(MemSize::parse("1T").unwrap().mib, 1 << 20);
        assert_eq!(MemSize::parse("4096K").unwrap().mib, 4);
        assert!(MemSize::parse("1000K").is_err());
        assert!(MemSize::parse("0M").is_err());
        assert!(MemSize::parse("1.5G").is_err());
        assert!(MemSize::parse("G").is_err());
        assert!(MemSize::parse("99999999999999999999G").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_seconds(".25"), Some(Duration::from_millis(250)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        for word in ["", ".", "1.2.3", "-1", "inf", "nan", "1e3", "5s"] {
            assert_eq!(parse_seconds(word), None, "{word}");
        }
    }
}
