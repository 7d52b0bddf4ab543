//! `harness`: a serial-console test harness for the kernel.
//!
//! For each scenario file it boots `qemu-system-aarch64` with the kernel, types lines into
//! the guest's serial console, waits for regular expressions in what the guest prints (each
//! wait with a timeout; nothing ever sleeps), and reports one line per scenario, ending with
//! `N passed, N failed`. A scenario with a `results` step also reports one line per sub-test
//! result the guest printed, and counts each. The scenario format is documented in `qemu/scenarios/README.md`.
//!
//! Exit status: 0 if every scenario passed, 1 if any failed, 2 for a usage error or a
//! scenario file that does not parse.
//!
//! The modules, in the order a scenario flows through them:
//! - [`scenario`] parses scenario files (with [`template`] for `${name}` variables);
//! - [`runner`] runs one scenario: [`qemu`] starts QEMU, [`stream`] collects its output,
//!   [`gdb`] runs gdb steps, [`subresults`] reads sub-test result lines, [`process`] makes sure
//!   no child outlives its scenario;
//! - [`report`] prints outcomes and writes failure logs.

mod gdb;
mod process;
mod qemu;
mod report;
mod runner;
mod scenario;
mod stream;
mod subresults;
mod template;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use runner::{Run, Settings};
use scenario::{MemSize, Scenario};

/// Runs scenario files against the kernel in QEMU, over its serial console.
///
/// Each scenario boots QEMU, sends lines to the guest's serial console and waits for
/// regular expressions in its output, with a timeout per step. One line is printed per
/// scenario (PASS or FAIL, with the failing step), and one per sub-test result read by a
/// `results` step, then `N passed, N failed`. A failed
/// scenario's serial output, QEMU command line and gdb transcript are saved under --log-dir.
///
/// Exit status: 0 if all scenarios passed, 1 if any failed, 2 for a usage error or a
/// scenario file with errors. The scenario format is described in qemu/scenarios/README.md.
#[derive(Parser, Debug)]
// args_override_self: a later `--kernel X` replaces an earlier one instead of being an error.
#[command(name = "harness", version, args_override_self = true)]
struct Cli {
    /// Scenario files (*.scn), or directories whose *.scn files are all run, in file-name
    /// order.
    #[arg(value_name = "PATHS", default_value = "qemu/scenarios")]
    paths: Vec<PathBuf>,

    /// The kernel ELF to boot (QEMU's -kernel).
    #[arg(long, value_name = "PATH", default_value = "target/aarch64-unknown-none-softfloat/release/kernel")]
    kernel: PathBuf,

    /// Number of cores, for scenarios without `smp:`.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    smp: u32,

    /// Memory size, for scenarios without `mem:` (as QEMU's -m: 512M, 1G, ...).
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = MemSize::parse)]
    mem: MemSize,

    /// The QEMU program.
    #[arg(long, value_name = "PATH", default_value = "qemu-system-aarch64")]
    qemu: PathBuf,

    /// The gdb program, for `gdb` steps.
    #[arg(long, value_name = "PATH", default_value = "gdb-multiarch")]
    gdb: PathBuf,

    /// Run only the scenarios whose file name (without .scn) contains SUBSTR. May be given
    /// several times: a scenario runs if it matches any of them.
    #[arg(long, value_name = "SUBSTR")]
    filter: Vec<String>,

    /// Print the scenarios that would run, with their titles, and run nothing.
    #[arg(long)]
    list: bool,

    /// Multiply every timeout by F (for slow machines, e.g. 3).
    #[arg(
        long,
        value_name = "F",
        env = "HARNESS_TIMEOUT_SCALE",
        default_value_t = 1.0,
        value_parser = parse_scale
    )]
    timeout_scale: f64,

    /// Where failure logs are written (one NAME.log per failed scenario).
    #[arg(long, value_name = "DIR", default_value = "target/harness-logs")]
    log_dir: PathBuf,

    /// Echo the guest's serial output live, each line prefixed with the scenario name.
    #[arg(short, long)]
    verbose: bool,

    /// Run each scenario once per core count in LIST (e.g. 1,2,4,8), naming the runs
    /// NAME@smp=N. Scenarios that pin `smp:` still run once.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    matrix_smp: Vec<u32>,

    /// Run everything N times (the flake finder): pass by pass, each run named NAME#K, with
    /// the logs of failing runs kept as NAME#K.log; ends with a table of how many of the N
    /// runs of each scenario passed, before `N passed, N failed` (which counts every run).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,

    /// One more QEMU argument after each scenario's own (may repeat; e.g. `--qemu-arg=-icount
    /// --qemu-arg=shift=3,sleep=off`).
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    qemu_args: Vec<String>,

    /// Words added to every scenario's kernel command line (after its `append:`).
    #[arg(long, value_name = "TEXT")]
    append: Option<String>,

    /// Write each run's whole serial output, passed or failed, to DIR/NAME.serial (for
    /// comparing two runs byte for byte, as `just race` does).
    #[arg(long, value_name = "DIR")]
    serial_dir: Option<PathBuf>,
}

/// Parses `--timeout-scale`: a positive number.
fn parse_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 => Ok(scale),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

/// The exit status for usage errors and unparsable scenarios (clap uses it too).
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    process::install_panic_hook();
    // No child (QEMU, gdb) leaves a core dump in the working tree: a crash is reported as a
    // failed step with its exit status instead.
    process::forbid_core_dumps();
    let cli = Cli::parse();
    match run_all(&cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("harness: {message}");
            ExitCode::from(USAGE_ERROR)
        }
    }
}

/// Does what the command line asks. `Err` is a usage error, already worded for the user.
fn run_all(cli: &Cli) -> Result<ExitCode, String> {
    let files: Vec<PathBuf> = find_scenario_files(&cli.paths)?
        .into_iter()
        .filter(|file| {
            let name = scenario::scenario_name(file);
            cli.filter.is_empty() || cli.filter.iter().any(|part| name.contains(part.as_str()))
        })
        .collect();
    if files.is_empty() {
        return Err("no scenarios to run (check PATHS and --filter)".to_string());
    }

    let mut scenarios = Vec::new();
    let mut errors = Vec::new();
    for file in &files {
        match scenario::parse_file(file) {
            Ok(scenario) => scenarios.push(scenario),
            Err(file_errors) => errors.extend(file_errors),
        }
    }
    if !errors.is_empty() {
        for error in &errors {
            eprintln!("{error}");
        }
        return Err(format!("{} error(s) in scenario files; nothing was run", errors.len()));
    }

    let runs = plan_runs(&scenarios, cli.smp, &cli.matrix_smp);
    if cli.list {
        let width = runs.iter().map(|run| run.name.len()).max().unwrap_or(0);
        for run in &runs {
            let title = run.scenario.title.as_deref().unwrap_or("");
            println!("{:width$}  {title}", run.name);
        }
        return Ok(ExitCode::SUCCESS);
    }

    if !cli.kernel.is_file() {
        return Err(format!(
            "kernel `{}` not found: build it with `just build`, or pass --kernel PATH",
            cli.kernel.display()
        ));
    }
    let settings = Settings {
        qemu: cli.qemu.clone(),
        gdb: cli.gdb.clone(),
        kernel: cli.kernel.clone(),
        mem: cli.mem.clone(),
        timeout_scale: cli.timeout_scale,
        verbose: cli.verbose,
        qemu_args: cli.qemu_args.clone(),
        append: cli.append.clone(),
    };

    let mut tally = report::Tally::default();
    let mut repeats = report::Repeats::default();
    // One scenario at a time: they would compete for the two or so cores otherwise.
    for pass in 1..=cli.repeat {
        if cli.repeat > 1 {
            println!("== pass {pass} of {}", cli.repeat);
        }
        for run in &runs {
            let named;
            let run = if cli.repeat > 1 {
                named = Run { name: format!("{}#{pass}", run.name), ..*run };
                &named
            } else {
                run
            };
            if cli.verbose {
                println!("RUN  {}", run.name);
            }
            let outcome = runner::run(&settings, run);
            if let Some(dir) = &cli.serial_dir {
                let path = dir.join(format!("{}.serial", outcome.name));
                if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &outcome.serial)) {
                    println!("  (could not write {}: {e})", path.display());
                }
            }
            report::print_outcome(&outcome, &cli.log_dir);
            tally.add(&outcome);
            repeats.add(&outcome, &cli.log_dir);
        }
    }
    if cli.repeat > 1 {
        print!("{}", repeats.table(cli.repeat));
    }
    println!("{}", tally.summary());
    Ok(if tally.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Expands PATHS: a file is taken as it is; a directory gives its `*.scn` files, sorted by
/// file name.
fn find_scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(scenario_files_in(path)?);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(format!("`{}`: no such file or directory", path.display()));
        }
    }
    Ok(files)
}

/// The `*.scn` files directly in `dir`, sorted by file name.
fn scenario_files_in(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read directory `{}`: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "scn"))
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The runs to do: one per scenario, or one per core count in `matrix` for scenarios that do
/// not pin `smp:`.
fn plan_runs<'a>(scenarios: &'a [Scenario], default_smp: u32, matrix: &[u32]) -> Vec<Run<'a>> {
    let mut runs = Vec::new();
    for scenario in scenarios {
        let name = scenario.name.clone();
        match scenario.smp {
            Some(smp) => runs.push(Run { scenario, name, smp }),
            None if matrix.is_empty() => runs.push(Run { scenario, name, smp: default_smp }),
            None => runs.extend(matrix.iter().map(|&smp| Run { scenario, name: format!("{name}@smp={smp}"), smp })),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn matrix_plan() {
        let pinned = scenario::parse(Path::new("pinned.scn"), "smp: 2\nexpect x").unwrap();
        let free = scenario::parse(Path::new("free.scn"), "expect x").unwrap();
        let scenarios = [pinned, free];
        let names =
            |runs: Vec<Run>| -> Vec<(String, u32)> { runs.into_iter().map(|run| (run.name, run.smp)).collect() };
        assert_eq!(names(plan_runs(&scenarios, 4, &[])), [("pinned".to_string(), 2), ("free".to_string(), 4)]);
        assert_eq!(
            names(plan_runs(&scenarios, 4, &[1, 8])),
            [("pinned".to_string(), 2), ("free@smp=1".to_string(), 1), ("free@smp=8".to_string(), 8)]
        );
    }

    #[test]
    fn scale() {
        assert_eq!(parse_scale("2.5"), Ok(2.5));
        assert!(parse_scale("0").is_err());
        assert!(parse_scale("-1").is_err());
        assert!(parse_scale("inf").is_err());
    }
}
