//! Prints one Markdown table of the medians of the last `cargo bench` run:
//! MB/s of payload, messages/s, and the ratio against the fastest peer
//! (tungstenite, fastwebsockets, tokio-websockets) of each workload.
//!
//! `cargo run --release --bin table [CRITERION_DIR]` (default: the target
//! directory's `criterion`, honouring `CARGO_TARGET_DIR`).

use rfc6455_compare::{LIBS, SPECS, is_peer, slug};
use std::path::{Path, PathBuf};

/// The median time of one iteration, in nanoseconds.
fn median_ns(dir: &Path, group: &str, lib: &str) -> Option<f64> {
    let path = dir.join(group).join(lib).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn main() {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        PathBuf::from(target).join("criterion")
    });
    println!("| workload | library | MB/s | msgs/s | vs fastest peer |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for spec in &SPECS {
        let group = slug(spec.name);
        let rows: Vec<(&str, Option<f64>)> = LIBS.iter().map(|&lib| (lib, median_ns(&dir, &group, lib))).collect();
        // Throughput in messages per second.
        let rate = |ns: f64| spec.messages() as f64 / (ns * 1e-9);
        let best_peer = rows
            .iter()
            .filter(|(lib, _)| is_peer(lib))
            .filter_map(|(_, ns)| ns.map(rate))
            .fold(0.0, f64::max);
        for (lib, ns) in rows {
            let Some(ns) = ns else {
                println!("| {} | {lib} | – | – | – |", spec.name);
                continue;
            };
            let msgs = rate(ns);
            let mbs = msgs * spec.size as f64 / 1e6;
            let ratio = if best_peer > 0.0 {
                format!("{:.2}×", msgs / best_peer)
            } else {
                "–".into()
            };
            println!("| {} | {lib} | {mbs:.0} | {} | {ratio} |", spec.name, thousands(msgs));
        }
    }
}

fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
