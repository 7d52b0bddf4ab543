//! The side-by-side with Linux, the printed table and `results.json`.

use crate::records::Figure;
use serde::{Deserialize, Serialize};

/// `peer.json`: the Linux kernel measured and its figures.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Peer {
    pub kernel: String,
    pub qemu: String,
    pub records: Vec<Figure>,
}

/// Which Linux figure each of ours is put beside (the same work, the closest Linux can do).
pub const EQUIVALENTS: &[(&str, &str)] = &[
    ("boot_shell", "boot"),
    ("null_syscall", "null_syscall"),
    ("call_reply_one_core", "futex_one_core"),
    ("call_reply_one_core", "pipe_one_core"),
    ("call_reply_cross_core", "futex_cross_core"),
    ("call_reply_cross_core", "pipe_cross_core"),
    ("notify_cross_core", "futex_cross_core"),
    ("sync_idle", "membarrier_idle"),
    ("sync_busy_same", "membarrier_busy"),
    ("unmap_idle", "munmap_one_core"),
    ("unmap_busy_same", "munmap_all_cores"),
    ("load_unload_small", "insmod_rmmod_small"),
];

/// One of our figures beside a Linux one, on the same number of cores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub ours: String,
    pub linux: String,
    pub cores: u32,
    pub ours_median: f64,
    pub linux_median: f64,
    /// ours / Linux: below 1 is cheaper than Linux.
    pub ratio: f64,
}

/// Every pair of [`EQUIVALENTS`] that both sides measured on the same number of cores and in
/// the same unit.
pub fn compare(ours: &[Figure], peer: Option<&Peer>) -> Vec<Comparison> {
    let Some(peer) = peer else { return Vec::new() };
    let mut out = Vec::new();
    for &(o, l) in EQUIVALENTS {
        for f in ours.iter().filter(|f| f.key == o) {
            let Some(p) = peer.records.iter().find(|p| p.key == l && p.cores == f.cores && p.unit == f.unit) else {
                continue;
            };
            if p.median > 0.0 {
                out.push(Comparison {
                    ours: o.into(),
                    linux: l.into(),
                    cores: f.cores,
                    ours_median: f.median,
                    linux_median: p.median,
                    ratio: f.median / p.median,
                });
            }
        }
    }
    out
}

/// `12,345` for 12345.4; one decimal below 100 (`87.5`).
pub fn human(v: f64) -> String {
    if v.abs() < 100.0 && v.fract() != 0.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The table, as Markdown (the README's table is this text): every figure on the main core
/// count with its Linux equivalents and the ratio, then each core-scaling series as one row per
/// figure with a column per core count.
pub fn table(ours: &[Figure], peer: Option<&Peer>, main_cores: u32) -> String {
    let comparisons = compare(ours, peer);
    let mut t = String::new();
    t.push_str("| figure | ours: median (min–max) | runs | Linux equivalent: median (min–max) | ours / Linux |\n");
    t.push_str("|---|---|---|---|---|\n");
    for f in ours.iter().filter(|f| f.cores == main_cores || !is_series(&f.key)) {
        let ours_cell = format!("**{}** ({}–{}) {}", human(f.median), human(f.min), human(f.max), f.unit);
        let linux: Vec<_> = comparisons.iter().filter(|c| c.ours == f.key && c.cores == f.cores).collect();
        if linux.is_empty() {
            t.push_str(&format!("| `{}` {}, {} cores | {ours_cell} | {} | — | — |\n", f.key, f.what, f.cores, f.runs));
        }
        for c in linux {
            let p = peer.and_then(|p| p.records.iter().find(|p| p.key == c.linux && p.cores == c.cores));
            let linux_cell = p.map_or_else(String::new, |p| {
                format!("`{}` {} ({}–{})", p.key, human(p.median), human(p.min), human(p.max))
            });
            t.push_str(&format!(
                "| `{}` {}, {} cores | {ours_cell} | {} | {linux_cell} | {} |\n",
                f.key,
                f.what,
                f.cores,
                f.runs,
                ratio(c.ratio)
            ));
        }
    }
    let series = series_table(ours);
    if !series.is_empty() {
        t.push('\n');
        t.push_str(&series);
    }
    t
}

/// Two significant digits: `0.13×`, `0.0021×`, `4.2×`, `310×`.
fn ratio(r: f64) -> String {
    if r >= 10.0 {
        return format!("{}×", human(r.round()));
    }
    if r <= 0.0 {
        return "0×".into();
    }
    let decimals = (1 - r.log10().floor() as i32).max(1) as usize;
    format!("{r:.decimals$}×")
}

/// Figures measured at several core counts (the plots' series).
pub fn is_series(key: &str) -> bool {
    key.starts_with("sync_") || key.starts_with("unmap_")
}

/// Each core-scaling figure's median against the number of cores.
fn series_table(ours: &[Figure]) -> String {
    let mut cores: Vec<u32> = ours.iter().filter(|f| is_series(&f.key)).map(|f| f.cores).collect();
    cores.sort_unstable();
    cores.dedup();
    if cores.len() < 2 {
        return String::new();
    }
    let mut keys: Vec<&str> = Vec::new();
    for f in ours.iter().filter(|f| is_series(&f.key)) {
        if !keys.contains(&f.key.as_str()) {
            keys.push(&f.key);
        }
    }
    let mut t = String::from("| median, instructions, by cores |");
    for c in &cores {
        t.push_str(&format!(" {c} |"));
    }
    t.push_str("\n|---|");
    t.push_str(&"---|".repeat(cores.len()));
    t.push('\n');
    for k in keys {
        t.push_str(&format!("| `{k}` |"));
        for c in &cores {
            match ours.iter().find(|f| f.key == k && f.cores == *c) {
                Some(f) => t.push_str(&format!(" {} |", human(f.median))),
                None => t.push_str(" — |"),
            }
        }
        t.push('\n');
    }
    t
}

/// `results.json`.
#[derive(Debug, Serialize)]
pub struct Results<'a> {
    pub commit: &'a str,
    /// How the figures were measured.
    pub method: &'a str,
    pub records: &'a [Figure],
    /// The Linux figures (`just bench-peer`), if they were there.
    pub peer: Option<&'a Peer>,
    pub comparisons: Vec<Comparison>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(key: &str, cores: u32, median: f64) -> Figure {
        Figure {
            key: key.into(),
            what: "w".into(),
            unit: "instructions".into(),
            mode: "icount".into(),
            cores,
            runs: 3,
            ops_per_run: 1,
            median,
            min: median,
            max: median,
            commit: "c".into(),
        }
    }

    fn peer() -> Peer {
        let p = |key: &str, median: f64| Figure { runs: 5, commit: String::new(), ..fig(key, 4, median) };
        Peer {
            kernel: "linux".into(),
            qemu: "q".into(),
            records: vec![p("null_syscall", 500.0), p("futex_cross_core", 20_000.0), p("pipe_cross_core", 0.0)],
        }
    }

    #[test]
    fn comparisons_need_the_same_core_count_and_a_linux_figure() {
        let ours =
            [fig("null_syscall", 4, 150.0), fig("null_syscall", 8, 150.0), fig("call_reply_cross_core", 4, 4000.0)];
        let c = compare(&ours, Some(&peer()));
        assert_eq!(c.len(), 2, "no 8-core Linux figure, and a zero Linux median is no comparison: {c:?}");
        assert_eq!((c[0].ours.as_str(), c[0].ratio), ("null_syscall", 0.3));
        assert_eq!((c[1].linux.as_str(), c[1].ratio), ("futex_cross_core", 0.2));
        assert!(compare(&ours, None).is_empty());
    }

    #[test]
    fn numbers_read_like_the_readme() {
        assert_eq!(human(1234567.4), "1,234,567");
        assert_eq!(human(408.0), "408");
        assert_eq!(human(87.46), "87.5");
        assert_eq!(ratio(0.3), "0.30×");
        assert_eq!(ratio(0.0021), "0.0021×");
        assert_eq!(ratio(1.5e-5), "0.000015×");
        assert_eq!(ratio(4.23), "4.2×");
        assert_eq!(ratio(312.4), "312×");
    }

    #[test]
    fn the_table_has_a_row_per_figure_and_a_series_table() {
        let ours = [fig("null_syscall", 4, 150.0), fig("sync_idle", 1, 400.0), fig("sync_idle", 4, 410.0)];
        let t = table(&ours, Some(&peer()), 4);
        assert!(t.contains("| `null_syscall` w, 4 cores | **150** (150–150) instructions | 3 | `null_syscall` 500 (500–500) | 0.30× |"), "{t}");
        assert!(!t.contains("sync_idle` w, 1 cores"), "series rows only for the main core count: {t}");
        assert!(t.contains("| `sync_idle` | 400 | 410 |"), "{t}");
    }
}
