//! Server role receiving masked client frames (as a browser sends them)
//! from memory, through the core's zero-copy read path in reads of at most
//! 64 KiB, and through the blocking driver's `WebSocket::read`.
//!
//! Each iteration receives a batch of messages (256 KiB of payload, at
//! least one message); criterion reports both payload bytes/s and
//! messages/s.

mod common;

use common::{Replay, SIZES, Workload, batch, receive_all, server, server_with};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::{Config, Message, WebSocket};
use std::time::Duration;

fn throughput(w: &Workload) -> Throughput {
    Throughput::ElementsAndBytes {
        elements: w.messages as u64,
        bytes: w.payload as u64,
    }
}

/// 1 MiB in 64 KiB frames, binary and (cut inside UTF-8 sequences) text.
fn fragmented_1m() -> [(&'static str, Workload); 2] {
    [
        ("binary_fragmented_64k", Workload::fragmented(false, 1 << 20, 64 << 10)),
        ("text_fragmented_64k", Workload::fragmented(true, 1 << 20, 64 << 10)),
    ]
}

fn core(c: &mut Criterion) {
    let mut group = c.benchmark_group("receive");
    let mut run = |name: &str, param: usize, w: Workload| {
        group.throughput(throughput(&w));
        let mut conn = server();
        assert_eq!(receive_all(&mut conn, &w.wire), (w.messages, w.payload));
        group.bench_with_input(BenchmarkId::new(name, param), &w.wire, |b, wire| {
            b.iter(|| receive_all(&mut conn, wire));
        });
    };
    for size in SIZES {
        run("binary", size, Workload::repeated(false, size, batch(size)));
        run("text", size, Workload::repeated(true, size, batch(size)));
    }
    let size = 64 << 10;
    run("text_multibyte", size, Workload::multibyte(size, batch(size)));
    for (name, w) in fragmented_1m() {
        run(name, 1 << 20, w);
    }
    group.finish();
}

/// The core with `stream_messages`: the same large messages, lent in parts
/// as each read arrives instead of read in place or reassembled.
fn core_parts(c: &mut Criterion) {
    let mut group = c.benchmark_group("receive_parts");
    let mut run = |name: &str, param: usize, w: Workload| {
        group.throughput(throughput(&w));
        let mut conn = server_with(Config::default().stream_messages(true));
        assert_eq!(receive_all(&mut conn, &w.wire), (w.messages, w.payload));
        group.bench_with_input(BenchmarkId::new(name, param), &w.wire, |b, wire| {
            b.iter(|| receive_all(&mut conn, wire));
        });
    };
    for size in [64 << 10, 1 << 20] {
        run("binary", size, Workload::repeated(false, size, batch(size)));
        run("text", size, Workload::repeated(true, size, batch(size)));
    }
    for (name, w) in fragmented_1m() {
        run(name, 1 << 20, w);
    }
    group.finish();
}

fn driver(c: &mut Criterion) {
    let mut group = c.benchmark_group("receive_driver");
    let mut run = |name: &str, param: usize, w: Workload| {
        group.throughput(throughput(&w));
        let messages = w.messages;
        let mut ws = WebSocket::from_connection(server(), Replay::new(w.wire));
        group.bench_function(BenchmarkId::new(name, param), |b| {
            b.iter(|| {
                for _ in 0..messages {
                    match ws.read() {
                        Ok(Some(Message::Text(t))) => drop(std::hint::black_box(t)),
                        Ok(Some(Message::Binary(d))) => drop(std::hint::black_box(d)),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            });
        });
    };
    for size in [16, 16 << 10, 32 << 10, 64 << 10, 1 << 20] {
        run("binary", size, Workload::repeated(false, size, batch(size)));
        run("text", size, Workload::repeated(true, size, batch(size)));
    }
    for (name, w) in fragmented_1m() {
        run(name, 1 << 20, w);
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = core, core_parts, driver
}
criterion_main!(benches);
