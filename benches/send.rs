//! Client role (masking every frame) sending messages into an in-memory
//! sink: `send_*`, then `pending_output` / `advance_output` after each
//! message, as a writer draining to a socket would. Masking keys come from
//! the default source (`rand`'s thread-local CSPRNG) unless the bench name
//! says `fixed_mask`.

mod common;

use common::{Copying, Replay, SIZES, XorShift, ascii, batch, binary};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::{Bytes, Config, Connection, Message, Plain, Role, WebSocket};
use std::hint::black_box;
use std::time::Duration;

fn throughput(size: usize) -> Throughput {
    let n = batch(size);
    Throughput::ElementsAndBytes {
        elements: n as u64,
        bytes: (n * size) as u64,
    }
}

/// Writes everything pending to the "socket".
#[inline]
fn drain(conn: &mut Connection) {
    let n = black_box(conn.pending_output()).len();
    conn.advance_output(n);
}

fn core(c: &mut Criterion) {
    let mut group = c.benchmark_group("send");
    for size in SIZES {
        group.throughput(throughput(size));
        let data = binary(size);
        let text = ascii(size);
        let mut conn = Connection::established(Role::Client, Config::default(), &[]);
        group.bench_function(BenchmarkId::new("binary", size), |b| {
            b.iter(|| {
                for _ in 0..batch(size) {
                    conn.send_binary(&data).unwrap();
                    drain(&mut conn);
                }
            });
        });
        group.bench_function(BenchmarkId::new("text", size), |b| {
            b.iter(|| {
                for _ in 0..batch(size) {
                    conn.send_text(&text).unwrap();
                    drain(&mut conn);
                }
            });
        });
    }
    // The cost of the CSPRNG in the small-message path.
    for size in [16, 125] {
        group.throughput(throughput(size));
        let data = binary(size);
        let mut conn =
            Connection::established_with_masks(Role::Client, Config::default(), &[], Box::new(XorShift::new(3)));
        group.bench_function(BenchmarkId::new("binary_fixed_mask", size), |b| {
            b.iter(|| {
                for _ in 0..batch(size) {
                    conn.send_binary(&data).unwrap();
                    drain(&mut conn);
                }
            });
        });
    }
    group.finish();
}

/// Server role (no masking), a 16 KiB payload whose bytes land in the
/// output buffer `dist` bytes ahead of where they come from, modulo 4 KiB:
/// the position a payload takes when it moves behind a shorter header.
/// `src/copy.rs` explains why 4 differs from 64.
fn distance(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_distance");
    let size = 16 << 10;
    group.throughput(throughput(size));
    for dist in [4usize, 64] {
        let mut conn = Connection::established(Role::Server, Config::default(), &[]);
        conn.send_binary(&binary(size)).unwrap();
        // After a drain the next frame starts where this one did.
        let payload_at = conn.pending_output().as_ptr() as usize + 4;
        drain(&mut conn);
        let source = binary(size + 4096);
        let skip = payload_at.wrapping_sub(dist).wrapping_sub(source.as_ptr() as usize) % 4096;
        let data = &source[skip..skip + size];
        group.bench_function(BenchmarkId::new("binary_16k_ahead", dist), |b| {
            b.iter(|| {
                for _ in 0..batch(size) {
                    conn.send_binary(data).unwrap();
                    assert_eq!(conn.pending_output().as_ptr() as usize + 4, payload_at);
                    drain(&mut conn);
                }
            });
        });
    }
    group.finish();
}

fn driver(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_driver");
    for size in [16, 64 << 10] {
        group.throughput(throughput(size));
        let data = binary(size);
        let conn = Connection::established(Role::Client, Config::default(), &[]);
        let mut ws = WebSocket::from_connection(conn, Plain(Replay::new(vec![0])));
        group.bench_function(BenchmarkId::new("binary", size), |b| {
            b.iter(|| {
                for _ in 0..batch(size) {
                    ws.send_binary(&data).unwrap();
                }
            });
        });
    }
    // A server forwarding messages it owns (an echo, a proxy): copied into
    // the output queue (`send_binary`) or written from the `Bytes` itself
    // (`send_message`), into a sink that copies as a kernel does.
    for size in [64 << 10, 1 << 20] {
        group.throughput(throughput(size));
        let data = Bytes::from(binary(size));
        for (name, owned) in [("server_copied", false), ("server_bytes", true)] {
            let conn = Connection::established(Role::Server, Config::default(), &[]);
            let mut ws = WebSocket::from_connection(conn, Plain(Copying::new()));
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter(|| {
                    for _ in 0..batch(size) {
                        match owned {
                            true => ws.send_message(Message::Binary(data.clone())).unwrap(),
                            false => ws.send_binary(&data).unwrap(),
                        }
                    }
                });
            });
        }
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
    targets = core, distance, driver
}
criterion_main!(benches);
