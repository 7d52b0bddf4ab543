//! Reading the guest's figures out of serial output, and summarising them.
//!
//! The guest prints one line per figure (`user/ktest/src/bench.rs`):
//!
//! ```text
//! bench-record: key=null_syscall cores=4 ops=10000 unit=ns values=159.0,159.1 | what it is
//! ```
//!
//! and the kernel one `[cpu0] boot took N us of guest time` line per boot, read here as the
//! figure `boot_ok`. The same figure from several boots (or runs) is merged: its values are
//! pooled, then summarised as median, minimum and maximum.

use serde::{Deserialize, Serialize};

/// One figure as one boot printed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub key: String,
    pub cores: u32,
    /// Operations per value (each value is the cost of one of them).
    pub ops: u64,
    pub what: String,
    /// Cost of one operation in each round, in nanoseconds of guest time.
    pub values: Vec<f64>,
}

/// Every figure in `serial` (one boot's whole output), in the order printed.
pub fn parse_serial(serial: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut boot_ns = None;
    let mut boot_cores = 0;
    for line in serial.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("bench-record: ") {
            if let Some(s) = parse_record(rest) {
                out.push(s);
            }
        } else if let Some(us) = line
            .split("boot took ")
            .nth(1)
            .and_then(|r| r.strip_suffix(" us of guest time (virtual counter since reset)"))
        {
            boot_ns = us.trim().parse::<f64>().ok().map(|us| us * 1000.0);
        } else if let Some(rest) = line.split("boot ok: cores=").nth(1) {
            boot_cores = rest.split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(0);
        }
    }
    if let Some(ns) = boot_ns {
        out.insert(
            0,
            Sample {
                key: "boot_ok".into(),
                cores: boot_cores,
                ops: 1,
                what: "reset to the kernel's `boot ok` line (counter since reset)".into(),
                values: vec![ns],
            },
        );
    }
    out
}

/// One `bench-record:` line after its prefix; `None` if it is malformed (a half-arrived line).
fn parse_record(rest: &str) -> Option<Sample> {
    let (fields, what) = rest.split_once(" | ")?;
    let mut s = Sample { key: String::new(), cores: 0, ops: 0, what: what.trim().to_string(), values: Vec::new() };
    for field in fields.split_ascii_whitespace() {
        let (name, value) = field.split_once('=')?;
        match name {
            "key" => s.key = value.to_string(),
            "cores" => s.cores = value.parse().ok()?,
            "ops" => s.ops = value.parse().ok()?,
            "unit" if value != "ns" => return None,
            "values" => {
                s.values =
                    value.split(',').map(|v| v.parse().ok().filter(|v: &f64| v.is_finite())).collect::<Option<_>>()?
            }
            _ => {}
        }
    }
    (!s.key.is_empty() && !s.values.is_empty()).then_some(s)
}

/// A figure: every value of one key on one core count, summarised. The Linux peer's
/// `peer.json` records have the same shape (`iterations` for `ops_per_run`, no commit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figure {
    pub key: String,
    pub what: String,
    /// `instructions` under `-icount shift=0` (one guest ns per instruction), else `ns`.
    pub unit: String,
    /// `icount` or `tcg`.
    pub mode: String,
    pub cores: u32,
    /// How many values (rounds, over every boot) the summary is over.
    pub runs: usize,
    /// Operations timed per value.
    #[serde(default, alias = "iterations")]
    pub ops_per_run: u64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    #[serde(default)]
    pub commit: String,
}

/// Pools the samples of each (key, cores), in order of first appearance, and summarises them.
pub fn merge(samples: &[Sample], mode: &str, commit: &str) -> Vec<Figure> {
    let mut groups: Vec<(Sample, Vec<f64>)> = Vec::new();
    for s in samples {
        match groups.iter_mut().find(|(g, _)| g.key == s.key && g.cores == s.cores) {
            Some((_, values)) => values.extend(&s.values),
            None => groups.push((s.clone(), s.values.clone())),
        }
    }
    groups
        .into_iter()
        .map(|(s, values)| {
            let (median, min, max) = summarise(&values);
            Figure {
                key: s.key,
                what: s.what,
                unit: if mode == "icount" { "instructions" } else { "ns" }.into(),
                mode: mode.into(),
                cores: s.cores,
                runs: values.len(),
                ops_per_run: s.ops,
                median,
                min,
                max,
                commit: commit.into(),
            }
        })
        .collect()
}

/// Median (the mean of the middle two for an even count), minimum and maximum; zeros if empty.
pub fn summarise(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
    (median, v[0], v[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIAL: &str = "\
[cpu0] boot took 15521 us of guest time (virtual counter since reset)
[cpu0] boot ok: cores=4 ram_mib=512 free_frames=123708
> bench
bench-record: key=null_syscall cores=4 ops=10000 unit=ns values=159.0,158.0,161.5 | null syscall
bench-record: key=broken cores=4 ops=1 unit=ns values=1.0,x | half a line
bench-record: key=nan cores=4 ops=1 unit=ns values=NaN | not a number
bench-record: key=sync_idle cores=4 ops=100 unit=ns values=408.0 | sync
bench: done
";

    #[test]
    fn reads_records_and_the_boot_line() {
        let s = parse_serial(SERIAL);
        let keys: Vec<_> = s.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["boot_ok", "null_syscall", "sync_idle"], "the malformed and non-finite lines are skipped");
        assert_eq!(s[0].values, [15_521_000.0]);
        assert_eq!(s[0].cores, 4);
        assert_eq!(s[1].values, [159.0, 158.0, 161.5]);
        assert_eq!((s[1].ops, s[1].what.as_str()), (10_000, "null syscall"));
    }

    #[test]
    fn summaries_are_median_min_max() {
        assert_eq!(summarise(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(summarise(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(summarise(&[]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn samples_of_one_figure_pool_across_boots_but_not_across_core_counts() {
        let mut a = parse_serial(SERIAL);
        let mut b = parse_serial(&SERIAL.replace("values=408.0 |", "values=410.0 |"));
        b[2].cores = 8; // sync_idle from an 8-core boot
        a.append(&mut b);
        let f = merge(&a, "icount", "abc");
        let boot = f.iter().find(|f| f.key == "boot_ok").unwrap();
        assert_eq!((boot.runs, boot.unit.as_str()), (2, "instructions"));
        let null = f.iter().find(|f| f.key == "null_syscall").unwrap();
        assert_eq!((null.runs, null.median, null.min, null.max), (6, 159.0, 158.0, 161.5));
        let sync: Vec<_> = f.iter().filter(|f| f.key == "sync_idle").map(|f| (f.cores, f.median)).collect();
        assert_eq!(sync, [(4, 408.0), (8, 410.0)]);
        assert!(f.iter().all(|f| f.commit == "abc"));
    }
}
