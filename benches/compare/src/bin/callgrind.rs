//! Runs N messages of one workload through one library, for
//! `valgrind --tool=callgrind`: instructions per message.
//!
//! ```text
//! callgrind [LIB] [WORKLOAD] [N]
//!   LIB       rfc6455 | rfc6455-driver | rfc6455-tokio | tungstenite | fastwebsockets | tokio-websockets
//!   WORKLOAD  a slug from the spec list, e.g. recv_binary_16_b (default)
//!   N         messages (default 100000; rounded up to whole batches)
//! ```
//!
//! Setup happens outside `measured`, so with
//! `--collect-atstart=no --toggle-collect='*measured*'` callgrind counts
//! only the message loop. Divide the total Ir by the printed message count.

use rfc6455_compare::{SPECS, runner, slug};

#[inline(never)]
fn measured(r: &mut dyn rfc6455_compare::Runner, batches: usize) -> usize {
    let mut bytes = 0;
    for _ in 0..batches {
        bytes += r.run();
    }
    bytes
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lib = args.next().unwrap_or_else(|| "rfc6455".into());
    let workload = args.next().unwrap_or_else(|| "recv_binary_16_b".into());
    let n: usize = args.next().map_or(100_000, |s| s.parse().expect("N"));
    let spec = SPECS.iter().find(|s| slug(s.name) == workload).unwrap_or_else(|| {
        panic!(
            "workloads: {:?}",
            SPECS.iter().map(|s| slug(s.name)).collect::<Vec<_>>()
        )
    });
    let mut r = runner(&lib, spec);
    let batches = n.div_ceil(spec.messages());
    let bytes = measured(&mut *r, batches);
    assert_eq!(bytes, batches * spec.payload());
    println!(
        "{lib} {workload}: {} messages, {bytes} payload bytes",
        batches * spec.messages()
    );
}
