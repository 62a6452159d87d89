//! Renders `echo.sh`'s results as one Markdown table: the median messages/s
//! of each library at each point, and each rfc6455 variant's ratio to the
//! fastest peer there.
//!
//! ```text
//! echo_table RESULTS.tsv [--cpu]
//! ```
//!
//! Each input line is `LIB CONNS SIZE REP key=value...` (tab-separated
//! fields, the last being `loadgen`'s output line). A run that failed has
//! no `msgs_per_s` and shows as `fail`. With `--cpu` the table holds the
//! server's CPU time per echoed message (µs, median) instead: lower is
//! better there, and the ratio is the best peer's over ours so that above
//! 1 still means rfc6455 is ahead.

use rfc6455_compare::is_peer;
use std::collections::BTreeMap;

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn size_label(size: u64) -> String {
    match size {
        s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s / 1024),
        s => format!("{s} B"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .expect("usage: echo_table RESULTS.tsv [--cpu]");
    let cpu = args.iter().any(|a| a == "--cpu");
    let text = std::fs::read_to_string(path).expect("read results");

    let mut libs: Vec<String> = Vec::new();
    // (conns, size) -> lib -> values; None marks a failed run.
    type Runs = BTreeMap<String, Vec<Option<f64>>>;
    let mut points: BTreeMap<(u64, u64), Runs> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let [lib, conns, size, _rep, out] = f[..] else { continue };
        let kv = |key: &str| -> Option<f64> {
            out.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.parse().ok())
        };
        let rate = kv("msgs_per_s");
        let value = match cpu {
            false => rate,
            true => rate.zip(kv("server_cpu")).map(|(r, c)| c / r * 1e6),
        };
        if !libs.iter().any(|l| l == lib) {
            libs.push(lib.to_string());
        }
        let key = (conns.parse().unwrap_or(0), size.parse().unwrap_or(0));
        points
            .entry(key)
            .or_default()
            .entry(lib.to_string())
            .or_default()
            .push(value);
    }

    let ours: Vec<&String> = libs.iter().filter(|l| !is_peer(l)).collect();
    let unit = if cpu { "server µs CPU / msg" } else { "k msgs/s" };
    let mut header = format!("| conns | payload | {} |", libs.join(" | "));
    let mut rule = String::from("| ---: | ---: |") + &" ---: |".repeat(libs.len());
    for lib in &ours {
        header += &format!(" {lib} ÷ best peer |");
        rule += " ---: |";
    }
    println!("Median of the runs, {unit}.\n");
    println!("{header}\n{rule}");
    for ((conns, size), by_lib) in &points {
        let med = |lib: &str| -> Option<f64> {
            let runs = by_lib.get(lib)?;
            // One failed run fails the point.
            median(runs.iter().copied().collect::<Option<Vec<f64>>>()?)
        };
        let mut row = format!("| {conns} | {} |", size_label(*size));
        for lib in &libs {
            row += &match (by_lib.contains_key(lib.as_str()), med(lib)) {
                (false, _) => " |".to_string(),
                (true, None) => " fail |".to_string(),
                (true, Some(v)) if cpu => format!(" {v:.2} |"),
                (true, Some(v)) => format!(" {:.1} |", v / 1e3),
            };
        }
        let peers: Vec<f64> = libs.iter().filter(|l| is_peer(l)).filter_map(|l| med(l)).collect();
        let best = match cpu {
            false => peers.iter().copied().reduce(f64::max),
            true => peers.iter().copied().reduce(f64::min),
        };
        for lib in &ours {
            row += &match (med(lib), best) {
                (Some(v), Some(b)) if cpu => format!(" {:.2}× |", b / v),
                (Some(v), Some(b)) => format!(" {:.2}× |", v / b),
                _ => " – |".to_string(),
            };
        }
        println!("{row}");
    }
}
