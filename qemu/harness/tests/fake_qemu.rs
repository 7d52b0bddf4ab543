//! End-to-end tests of the `harness` binary against a fake QEMU.
//!
//! The fake QEMU is a small `sh` script: it runs a "guest" script that each test writes,
//! with QEMU's arguments as `"$@"` and the serial console as its stdin/stdout. So a test can
//! make the "guest" print lines, read what the harness sends, and exit with any status —
//! no QEMU, kernel or gdb needed. A fake gdb works the same way.
//!
//! The fakes are written once for all tests and each test's own scripts are only ever *read*
//! by `sh`, never executed directly: writing an executable while another test thread forks
//! can make executing it fail with "text file busy" (ETXTBSY).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The fake QEMU: runs `$FAKE_GUEST`, giving it `read_cr`, which reads one line typed by a
/// `send` step into `$line` (serial terminals end lines with `\r`, which sh's `read` does not
/// stop at, so this reads byte by byte).
const FAKE_QEMU: &str = r#"#!/bin/sh
read_cr() {
    line=''
    cr=$(printf '\r')
    while :; do
        c=$(dd bs=1 count=1 2>/dev/null)
        if [ -z "$c" ] || [ "$c" = "$cr" ]; then break; fi
        line="$line$c"
    done
}
. "$FAKE_GUEST"
"#;

/// The fake gdb: runs `$FAKE_GDB` with gdb's arguments.
const FAKE_GDB: &str = "#!/bin/sh\n. \"$FAKE_GDB\"\n";

/// Paths shared by all tests.
struct Fakes {
    qemu: PathBuf,
    gdb: PathBuf,
    kernel: PathBuf,
    /// Each test gets a directory under this one.
    root: PathBuf,
}

fn fakes() -> &'static Fakes {
    static FAKES: OnceLock<Fakes> = OnceLock::new();
    FAKES.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("harness-tests");
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        let fakes =
            Fakes { qemu: root.join("fake-qemu"), gdb: root.join("fake-gdb"), kernel: root.join("kernel.elf"), root };
        write_executable(&fakes.qemu, FAKE_QEMU);
        write_executable(&fakes.gdb, FAKE_GDB);
        fs::write(&fakes.kernel, "not really an ELF").unwrap();
        fakes
    })
}

fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// One test's directory: its guest script, gdb script, scenarios and logs.
struct Case {
    dir: PathBuf,
}

/// What a harness run printed and returned.
struct Ran {
    stdout: String,
    stderr: String,
    code: Option<i32>,
    took: Duration,
}

impl Ran {
    /// The last line of stdout.
    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// Asserts that stdout has a line starting with `start`, and returns it.
    fn line(&self, start: &str) -> &str {
        self.stdout
            .lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting with {start:?} in:\n{self}"))
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--- exit code {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Case {
    /// A fresh directory for the test `name`, with a guest script.
    fn new(name: &str, guest: &str) -> Case {
        let dir = fakes().root.join(name);
        fs::create_dir_all(dir.join("scenarios")).unwrap();
        fs::write(dir.join("guest.sh"), guest).unwrap();
        fs::write(dir.join("gdb.sh"), "echo 'no gdb script'\n").unwrap();
        Case { dir }
    }

    fn gdb_script(&self, text: &str) {
        fs::write(self.dir.join("gdb.sh"), text).unwrap();
    }

    fn scenario(&self, name: &str, text: &str) {
        fs::write(self.dir.join("scenarios").join(format!("{name}.scn")), text).unwrap();
    }

    fn scenarios(&self) -> String {
        self.dir.join("scenarios").display().to_string()
    }

    fn log(&self, name: &str) -> String {
        let path = self.dir.join("logs").join(format!("{name}.log"));
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Runs the harness on this case's scenarios directory.
    fn run(&self) -> Ran {
        self.run_with(&[&self.scenarios()])
    }

    /// Runs the harness with the fakes and `args`.
    fn run_with(&self, args: &[&str]) -> Ran {
        let fakes = fakes();
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_harness"))
            .arg("--qemu")
            .arg(&fakes.qemu)
            .arg("--gdb")
            .arg(&fakes.gdb)
            .arg("--kernel")
            .arg(&fakes.kernel)
            .arg("--log-dir")
            .arg(self.dir.join("logs"))
            .args(args)
            .env("FAKE_GUEST", self.dir.join("guest.sh"))
            .env("FAKE_GDB", self.dir.join("gdb.sh"))
            .env_remove("HARNESS_TIMEOUT_SCALE")
            .output()
            .unwrap();
        Ran {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: output.status.code(),
            took: started.elapsed(),
        }
    }
}

/// A guest that greets whoever logs in, then prints `tick` once and waits.
const GREETER: &str = r#"
echo "booting"
echo "login: "
read_cr
echo "hello $line"
echo "tick"
read_cr
"#;

#[test]
fn expect_send_cursor_summary_and_failure_log() {
    let case = Case::new("cursor", GREETER);
    case.scenario(
        "a-greets",
        "title: says hello\n\
         # log in\n\
         expect 30 login:\n\
         send world\n\
         expect 30 hello (?P<who>\\w+)\n\
         expect-eq who world\n\
         expect 30 tick\n",
    );
    // `tick` appears once: the second `expect tick` must not match it again.
    case.scenario("b-ticks-twice", "expect login:\nsend me\nexpect 30 tick\nexpect 1 tick\n");
    let ran = case.run();

    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.line("PASS a-greets (").ends_with("s)"), "{ran}");
    assert_eq!(
        ran.line("FAIL b-ticks-twice"),
        "FAIL b-ticks-twice: step 4 (line 4) `expect /tick/` timed out after 1s"
    );
    assert_eq!(ran.last_line(), "1 passed, 1 failed");
    // The report shows where the log is, and the serial output's last lines, indented.
    let log_path = case.dir.join("logs/b-ticks-twice.log");
    assert!(ran.stdout.contains(&format!("  log: {}", log_path.display())), "{ran}");
    assert!(ran.stdout.contains("\n    login: \n"), "{ran}");
    // The log starts with the QEMU command line, then holds all the serial output.
    let log = case.log("b-ticks-twice");
    let first = log.lines().next().unwrap();
    assert!(first.starts_with("$ ") && first.contains(" -smp 4 -m 512M "), "{log}");
    assert!(log.contains("===== serial output =====\nbooting\nlogin: \nhello me\ntick\n"), "{log}");
    assert!(!case.dir.join("logs/a-greets.log").exists());
}

#[test]
fn list_and_filter() {
    let case = Case::new("list", GREETER);
    case.scenario("boot-smoke", "title: Boots\nexpect x\n");
    case.scenario("shell-echo", "expect x\n");
    let ran = case.run_with(&["--list", &case.scenarios()]);
    assert_eq!(ran.code, Some(0), "{ran}");
    assert_eq!(ran.stdout, "boot-smoke  Boots\nshell-echo  \n");

    let ran = case.run_with(&["--list", "--filter", "echo", &case.scenarios()]);
    assert_eq!(ran.stdout, "shell-echo  \n", "{ran}");

    let ran = case.run_with(&["--filter", "nothing-like-this", &case.scenarios()]);
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains("no scenarios to run"), "{ran}");
}

#[test]
fn timeout_scale_option_and_environment() {
    let case = Case::new("scale", GREETER);
    case.scenario("slow", "expect 2 never\n");
    let ran = case.run_with(&["--timeout-scale", "0.5", &case.scenarios()]);
    assert!(ran.line("FAIL slow").ends_with("timed out after 1s"), "{ran}");

    let ran = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["--list", "--timeout-scale", "0", &case.scenarios()])
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(2));

    let fakes = fakes();
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--qemu")
        .arg(&fakes.qemu)
        .arg("--kernel")
        .arg(&fakes.kernel)
        .arg("--log-dir")
        .arg(case.dir.join("logs"))
        .arg(case.scenarios())
        .env("FAKE_GUEST", case.dir.join("guest.sh"))
        .env("HARNESS_TIMEOUT_SCALE", "0.25")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("`expect /never/` timed out after 0.5s"), "{stdout}");
}

#[test]
fn early_exit_fails_without_waiting_for_the_timeout() {
    let case = Case::new("early-exit", "echo booting\nexit 3\n");
    case.scenario("dies", "expect booting\nexpect 3600 boot ok\n");
    let ran = case.run();
    assert_eq!(
        ran.line("FAIL dies"),
        "FAIL dies: step 2 (line 2) `expect /boot ok/`: QEMU exited with status 3 before a match"
    );
    assert!(ran.took < Duration::from_secs(600), "the harness waited for a timeout it should not have: {ran}");
    assert!(case.log("dies").contains("booting"));
}

#[test]
fn reject_while_waiting_and_at_the_end() {
    let guest = "echo ok\necho 'kernel PANIC at mm.rs:12'\necho done\nread_cr\n";
    let case = Case::new("reject", guest);
    // Found while `expect` waits: fails at once, not at the timeout.
    case.scenario("a-waiting", "reject (?i)panic\nexpect 3600 never\n");
    // Registered after the text appeared: found by the final check.
    case.scenario("b-final", "expect done\nreject (?i)panic\n");
    // Not there at all.
    case.scenario("c-clean", "reject oops\nexpect done\n");
    let ran = case.run();
    assert_eq!(
        ran.line("FAIL a-waiting"),
        "FAIL a-waiting: step 2 (line 2) `expect /never/`: \
         rejected pattern /(?i)panic/ appeared: kernel PANIC at mm.rs:12"
    );
    assert_eq!(
        ran.line("FAIL b-final"),
        "FAIL b-final: rejected pattern /(?i)panic/ appeared: kernel PANIC at mm.rs:12"
    );
    ran.line("PASS c-clean");
    assert_eq!(ran.last_line(), "1 passed, 2 failed");
    assert!(ran.took < Duration::from_secs(600), "the harness waited for a timeout it should not have: {ran}");
}

#[test]
fn exit_status_is_checked() {
    let case = Case::new("exit", "echo bye\nexit 7\n");
    case.scenario("a-seven", "exit 30 7\n");
    case.scenario("b-zero", "expect bye\nexit 30\n");
    let ran = case.run();
    ran.line("PASS a-seven");
    assert_eq!(
        ran.line("FAIL b-zero"),
        "FAIL b-zero: step 2 (line 2) `exit 30`: QEMU exited with status 7, expected status 0"
    );

    let case = Case::new("no-exit", "echo running\nread_cr\n");
    case.scenario("hangs", "exit 1\n");
    let ran = case.run();
    assert_eq!(ran.line("FAIL hangs"), "FAIL hangs: step 1 (line 1) `exit 1` timed out after 1s");
}

#[test]
fn send_and_send_raw_bytes() {
    // Prints the bytes it receives in hex.
    let guest = "echo ready\necho \"got $(head -c 6 | od -An -tx1)\"\nread_cr\n";
    let case = Case::new("send", guest);
    case.scenario("bytes", "expect ready\nsend-raw ab\\x03\nsend hi\nexpect 30 got\\s+61 62 03 68 69 0d\n");
    let ran = case.run();
    ran.line("PASS bytes");
    assert_eq!(ran.code, Some(0), "{ran}");
}

#[test]
fn variables_captures_and_expect_eq() {
    let guest = r#"
echo "args: $*"
echo "free=120"
echo "free=120"
echo "total=1x5"
echo "total=1.5"
read_cr
"#;
    let case = Case::new("vars", guest);
    case.scenario(
        "a-good",
        "expect -smp ${smp} -m ${mem_mib}M\n\
         expect -kernel ${kernel}\n\
         expect free=(?P<before>\\d+)\n\
         expect free=(?P<after>\\d+)\n\
         expect-eq after ${before}\n\
         # The value of a variable is matched literally: its `.` is not a wildcard.\n\
         set v 1.5\n\
         expect (?P<line>total=${v})\n\
         expect-eq line total=1.5\n",
    );
    case.scenario("b-differ", "expect free=(?P<before>\\d+)\nexpect-eq before 121\n");
    case.scenario("c-unknown", "expect free\nsend ${nope}\n");
    let ran = case.run();
    ran.line("PASS a-good");
    assert_eq!(
        ran.line("FAIL b-differ"),
        "FAIL b-differ: step 2 (line 2) `expect-eq before 121`: `before` is `120`, expected `121`"
    );
    assert_eq!(
        ran.line("FAIL c-unknown"),
        "FAIL c-unknown: step 2 (line 2) `send ${nope}`: unknown variable `${nope}`"
    );
    assert_eq!(ran.last_line(), "1 passed, 2 failed");
}

#[test]
fn machine_configuration_and_smp_matrix() {
    let case = Case::new("matrix", "echo \"args: $*\"\nread_cr\n");
    case.scenario("free", "expect -smp ${smp} -m 512M \n");
    case.scenario(
        "pinned",
        "smp: 2\n\
         mem: 1G\n\
         append: console=ttyAMA0 debug\n\
         qemu-arg: -d int\n\
         qemu-arg: -semihosting\n\
         expect (?m)^args: -M virt,gic-version=3 -cpu cortex-a72 -smp 2 -m 1G -display none \
         -monitor none -serial stdio -no-reboot -nic none -kernel \\S+ -append console=ttyAMA0 debug \
         -d int -semihosting$\n",
    );
    let ran = case.run_with(&["--matrix-smp", "1,3", &case.scenarios()]);
    ran.line("PASS free@smp=1");
    ran.line("PASS free@smp=3");
    ran.line("PASS pinned (");
    assert_eq!(ran.last_line(), "3 passed, 0 failed");
    assert_eq!(ran.code, Some(0), "{ran}");
}

#[test]
fn gdb_steps() {
    let case = Case::new("gdb", "echo \"args: $*\"\nread_cr\n");
    case.gdb_script("echo \"gdb args: $*\"\necho 'Breakpoint 1, kmain () at main.rs:7' >&2\n");
    case.scenario(
        "debug",
        "gdb: yes\n\
         expect -S -gdb tcp:127\\.0\\.0\\.1:(?P<port>\\d+)\n\
         gdb 30 break kmain ;; continue\n\
         expect-gdb -batch -nx -ex set pagination off -ex set confirm off -ex set tcp auto-retry on -ex set tcp connect-timeout 60 -ex file \\S+ \
         -ex target remote 127\\.0\\.0\\.1:${port} -ex break kmain -ex continue\n\
         expect-gdb Breakpoint 1, (?P<function>\\w+)\n\
         expect-eq function kmain\n",
    );
    let ran = case.run();
    ran.line("PASS debug");

    let case = Case::new("gdb-hangs", "echo up\nread_cr\n");
    case.gdb_script("echo 'connecting'\nexec sleep 3600\n");
    case.scenario("stuck", "gdb: yes\ngdb 1 continue\n");
    let ran = case.run();
    assert_eq!(ran.line("FAIL stuck"), "FAIL stuck: step 1 (line 2) `gdb 1 continue` timed out after 1s");
    assert!(ran.took < Duration::from_secs(600), "the harness waited for a timeout it should not have: {ran}");
    let log = case.log("stuck");
    assert!(log.contains("===== gdb transcript =====\n----- line 2: gdb continue -----\nconnecting\n"), "{log}");
}

#[test]
fn verbose_echoes_the_serial_output() {
    let case = Case::new("verbose", GREETER);
    case.scenario("echo", "expect login:\n");
    let ran = case.run_with(&["-v", &case.scenarios()]);
    assert!(ran.stdout.contains("echo | booting\necho | login: \n"), "{ran}");
    ran.line("PASS echo");
}

#[test]
fn usage_errors_exit_with_2() {
    let case = Case::new("usage", GREETER);
    case.scenario("bad", "title: t\n\nexpect (\nfrobnicate\n");
    let ran = case.run();
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains("bad.scn:3: bad regex"), "{ran}");
    assert!(ran.stderr.contains("bad.scn:4: unknown directive `frobnicate`"), "{ran}");

    let case = Case::new("no-kernel", GREETER);
    case.scenario("fine", "expect x\n");
    let ran = case.run_with(&["--kernel", "/no/such/kernel", &case.scenarios()]);
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(ran.stderr.contains("build it with `just build`"), "{ran}");

    let ran = case.run_with(&["/no/such/dir"]);
    assert_eq!(ran.code, Some(2), "{ran}");

    let ran = case.run_with(&["--qemu", "/no/such/qemu", &case.scenarios()]);
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.line("FAIL fine").contains("could not start QEMU (`/no/such/qemu`)"), "{ran}");
}

/// A guest that runs an in-guest test suite: one line per test, then a summary, then a line
/// that never ends (the guest stops in the middle of it).
const KTEST: &str = r#"
echo "booting"
echo "ktest: cap_copy ... ok"
printf 'ktest: ipc_call ... FAILED: reply was 3, expected 4\r\n'
echo "ktest: vm_map ... ok"
echo "ktest: 2 passed, 1 failed"
printf 'ktest: cut_off ... o'
read_cr
"#;

#[test]
fn results_are_reported_and_counted_per_run() {
    let case = Case::new("results", KTEST);
    case.scenario(
        "ktest",
        "results ^ktest: (?P<name>\\S+) \\.\\.\\. (?P<status>\\S+)\n\
         expect 30 ktest: \\d+ passed, \\d+ failed\n",
    );
    case.scenario(
        "silent",
        "results ^selftest: (?P<name>\\S+) (?P<status>\\S+)\n\
         expect 30 ktest: \\d+ passed\n",
    );
    let ran = case.run_with(&["--matrix-smp", "1,2", &case.scenarios()]);
    assert_eq!(ran.code, Some(1), "{ran}");
    for smp in [1, 2] {
        let run = format!("ktest@smp={smp}");
        // The sub-test lines come first, in output order, then the run's own line.
        let lines: Vec<&str> =
            ran.stdout.lines().skip_while(|line| !line.starts_with(&format!("PASS {run} ::"))).take(5).collect();
        assert_eq!(
            lines[..3],
            [
                format!("PASS {run} :: cap_copy"),
                format!("FAIL {run} :: ipc_call: reply was 3, expected 4"),
                format!("PASS {run} :: vm_map"),
            ],
            "{ran}"
        );
        assert!(lines[3].starts_with(&format!("PASS {run} (")), "{ran}");
        // A failed sub-test writes the run's log, which lists it.
        let log_path = case.dir.join(format!("logs/{run}.log"));
        assert_eq!(lines[4], format!("  log: {}", log_path.display()), "{ran}");
        let log = case.log(&run);
        assert!(
            log.contains(&format!(
                "# sub-test results: 2 passed, 1 failed\n# FAIL {run} :: ipc_call: reply was 3, \
                 expected 4\n"
            )),
            "{log}"
        );

        // A suite that reports nothing fails, at its `results` step.
        assert_eq!(
            ran.line(&format!("FAIL silent@smp={smp}")),
            format!(
                "FAIL silent@smp={smp}: step 1 (line 1) `results /^selftest: (?P<name>\\S+) \
                 (?P<status>\\S+)/`: no result line matched by the end of the scenario (a suite \
                 that reports nothing has not passed)"
            )
        );
    }
    // The unfinished `cut_off` line is never counted.
    assert!(!ran.stdout.contains(":: cut_off"), "{ran}");
    // Per run: 2 + 1 passed (sub-tests and the run), 1 failed; `silent` fails twice.
    assert_eq!(ran.last_line(), "6 passed, 4 failed");
}

#[test]
fn results_from_the_cursor_on_and_duplicates() {
    let guest = "echo 't early ok'\necho 'start'\necho 't a ok'\necho 't b ok'\necho 't a ok'\n\
                 echo 'end'\nread_cr\n";
    let case = Case::new("results-dup", guest);
    case.scenario("suite", "expect start\nresults ^t (?P<name>\\w+) (?P<status>\\w+)$\nexpect end\n");
    let ran = case.run();
    assert_eq!(ran.code, Some(1), "{ran}");
    // `early` came before the cursor: not a result of this suite.
    assert!(!ran.stdout.contains("early"), "{ran}");
    ran.line("PASS suite :: a");
    ran.line("PASS suite :: b");
    assert_eq!(ran.line("FAIL suite :: a"), "FAIL suite :: a: duplicate result: `a` was already reported");
    ran.line("PASS suite (");
    assert_eq!(ran.last_line(), "3 passed, 1 failed");
}
