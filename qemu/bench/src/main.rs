//! `bench` (`just bench`): the kernel's cost figures, measured and written down.
//!
//! It runs the benchmark scenarios of `qemu/bench/scenarios` with the serial harness, every
//! one under `-icount shift=0` (one guest instruction = one nanosecond of guest time, so the
//! guest's virtual counter counts instructions, of all cores: QEMU then runs the vCPUs in turn
//! on one host thread):
//! 1. `all.scn`: every figure on 4 cores (`bench` and `bench-modules` in the guest shell);
//! 2. `sync.scn` once per core count (`--smp`, default 1 to 64): the figures that scale with
//!    the cores (the sync and the unmap, the other cores idle or busy);
//! 3. `boot.scn` `--boots` times: reset to `boot ok` and to the shell.
//!
//! It reads the `bench-record:` lines from each boot's serial output ([`records`]), pools
//! each figure's values over rounds and boots, and writes to `--out` (default `target/bench`):
//! `results.json` (one record per figure, with the commit; the Linux figures and the ratios if
//! `just bench-peer` left `peer.json` there), `table.md` (also printed) and one SVG plot per
//! scaling series ([`plot`]). `--report-only` skips the runs and reports what `--out` holds.

mod plot;
mod records;
mod report;

use clap::Parser;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Runs the benchmark scenarios in QEMU and writes target/bench/results.json, table.md and the
/// plots.
#[derive(Parser, Debug)]
#[command(name = "bench", version)]
struct Cli {
    /// Where the results go (serial logs in OUT/serial).
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    out: PathBuf,

    /// Core counts of the scaling series.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    smp: Vec<u32>,

    /// Boots for the boot figures.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    boots: u32,

    /// The harness program.
    #[arg(long, value_name = "PATH", default_value = "target/debug/harness")]
    harness: PathBuf,

    /// The scenarios.
    #[arg(long, value_name = "DIR", default_value = "qemu/bench/scenarios")]
    scenarios: PathBuf,

    /// Run nothing: report the serial logs already in OUT/serial (and OUT/peer.json).
    #[arg(long)]
    report_only: bool,
}

/// The core count of the main table (and of the Linux peer).
const MAIN_CORES: u32 = 4;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let serial = cli.out.join("serial");
    if !cli.report_only {
        if serial.exists() {
            fs::remove_dir_all(&serial).map_err(|e| format!("cannot clear {}: {e}", serial.display()))?;
        }
        fs::create_dir_all(&serial).map_err(|e| format!("cannot create {}: {e}", serial.display()))?;
        let smp = cli.smp.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let steps: [(&str, String, Vec<String>); 3] = [
            ("every figure on 4 cores", "all.scn".into(), vec![]),
            ("the sync and the unmap on each core count", "sync.scn".into(), vec![format!("--matrix-smp={smp}")]),
            ("boot", "boot.scn".into(), vec![format!("--repeat={}", cli.boots)]),
        ];
        for (i, (what, file, args)) in steps.iter().enumerate() {
            harness(cli, &serial, &format!("[{}/3] {what}", i + 1), file, args)?;
        }
    }
    report(cli, &serial)
}

/// Runs one scenario file with the harness, saving each boot's serial output in `serial`.
fn harness(cli: &Cli, serial: &Path, what: &str, file: &str, args: &[String]) -> Result<(), String> {
    let scenario = cli.scenarios.join(file);
    println!("bench: {what}: {} ...", scenario.display());
    let start = Instant::now();
    let status = Command::new(&cli.harness)
        .arg(format!("--serial-dir={}", serial.display()))
        .arg(format!("--log-dir={}", cli.out.join("logs").display()))
        .args(args)
        .arg(&scenario)
        .status()
        .map_err(|e| format!("cannot run {}: {e} (cargo build -p harness)", cli.harness.display()))?;
    if !status.success() {
        return Err(format!(
            "{} failed ({status}); its logs are in {}",
            scenario.display(),
            cli.out.join("logs").display()
        ));
    }
    println!("bench: {what}: done in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Reads every serial log, writes results.json, table.md and the plots, prints the table.
fn report(cli: &Cli, serial: &Path) -> Result<(), String> {
    let mut files: Vec<PathBuf> = fs::read_dir(serial)
        .map_err(|e| format!("no serial logs in {}: {e} (run `just bench` first)", serial.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "serial"))
        .collect();
    // all, then boot, then sync by core count: the order of the table.
    files.sort_by_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let cores: u32 = name.split("smp=").nth(1).and_then(|r| r.split('.').next()?.parse().ok()).unwrap_or(0);
        (!name.starts_with("all"), !name.starts_with("boot"), cores, name)
    });
    let mut samples = Vec::new();
    for f in &files {
        let text = fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Boot figures only from the boot runs (the others boot with more memory); the
        // core-scaling series only from the per-core-count runs (so each point has as many runs).
        samples.extend(records::parse_serial(&text).into_iter().filter(|s| {
            (s.key != "boot_ok" || name.starts_with("boot")) && (!report::is_series(&s.key) || name.starts_with("sync"))
        }));
    }
    if samples.is_empty() {
        return Err(format!("no bench-record lines in {}", serial.display()));
    }
    let commit = commit();
    let figures = records::merge(&samples, "icount", &commit);

    let peer_path = cli.out.join("peer.json");
    let peer: Option<report::Peer> = match fs::read_to_string(&peer_path) {
        Ok(text) => Some(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", peer_path.display()))?),
        Err(_) => {
            println!("bench: no {} (run `just bench-peer` for the Linux column)", peer_path.display());
            None
        }
    };
    let method = "guest virtual counter (CNTVCT_EL0) around each round, qemu-system-aarch64 -M virt,gic-version=3 \
                  -cpu cortex-a72 -icount shift=0 (1 guest instruction = 1 ns; all vCPUs in turn on one host \
                  thread, so a figure counts every core's instructions meanwhile); median, min, max over the \
                  rounds of every boot";
    let results = report::Results {
        commit: &commit,
        method,
        records: &figures,
        peer: peer.as_ref(),
        comparisons: report::compare(&figures, peer.as_ref()),
    };
    let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    write(&cli.out.join("results.json"), &json)?;
    let table = report::table(&figures, peer.as_ref(), MAIN_CORES);
    write(&cli.out.join("table.md"), &table)?;

    let plots = [
        (
            "sync.svg",
            "Sync syscall (every core passes a quiescent point) against cores",
            plot::by_cores(
                &figures,
                &[
                    ("sync_idle", "other cores idle"),
                    ("sync_busy_same", "other cores run this address space"),
                    ("sync_busy_other", "other cores run other address spaces"),
                ],
            ),
        ),
        (
            "unmap.svg",
            "Unmap of one page (targeted shootdown) against cores",
            plot::by_cores(
                &figures,
                &[
                    ("unmap_idle", "other cores idle"),
                    ("unmap_busy_same", "ASID live on every core"),
                    ("unmap_busy_other", "ASID live on one core, others busy"),
                ],
            ),
        ),
    ];
    let mut drawn = Vec::new();
    for (file, title, series) in &plots {
        let path = cli.out.join(file);
        if plot::draw(&path, title, "cores (log scale)", "guest instructions per operation", series)? {
            drawn.push(path);
        }
    }
    let path = cli.out.join("revoke.svg");
    let revoke = plot::revoke(&figures);
    if plot::draw(
        &path,
        "Revoke: cost per descendant",
        "descendants (log scale)",
        "guest instructions per descendant",
        &revoke,
    )? {
        drawn.push(path);
    }

    println!("\nbench: commit {commit}; {method}");
    if let Some(p) = &peer {
        println!("bench: Linux: {} ({})", p.kernel, p.qemu);
    }
    println!("\n{table}");
    println!(
        "bench: wrote {} ({} figures), {}",
        cli.out.join("results.json").display(),
        figures.len(),
        cli.out.join("table.md").display()
    );
    for p in drawn {
        println!("bench: wrote {}", p.display());
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The commit measured (`git describe`-like: short hash, `-dirty` with uncommitted changes).
fn commit() -> String {
    let out = |args: &[&str]| Command::new("git").args(args).output().ok().filter(|o| o.status.success());
    let Some(head) = out(&["rev-parse", "--short", "HEAD"]) else { return "unknown".into() };
    let mut commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if out(&["diff", "--quiet", "HEAD"]).is_none() {
        commit.push_str("-dirty");
    }
    commit
}
