//! The byte-crunching kernels of the receive path, each alone, beside a
//! plain memcpy of the same bytes: `rfc6455::testkit::apply_mask` (the crate's private kernel), std's
//! `core::str::from_utf8` (the crate's incremental validator is private
//! and built on it), and, through the public path, a Text frame against a
//! Binary frame of the same size through the core (the difference is what
//! validation costs there).

mod common;

use common::{Workload, ascii, binary, multibyte, receive_all, server};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rfc6455::testkit::apply_mask;
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 3] = [1 << 10, 64 << 10, 1 << 20];

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernels");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let src = binary(size);
        let mut dst = vec![0u8; size];
        group.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| dst.copy_from_slice(black_box(&src)));
        });
        let mut buf = src.clone();
        group.bench_function(BenchmarkId::new("apply_mask", size), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), [0x37, 0xfa, 0x21, 0x3d], 0));
        });
        // Unaligned start and key phase, as for a payload after a 6- or
        // 8-byte header read piecewise.
        group.bench_function(BenchmarkId::new("apply_mask_unaligned", size), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[1..]), [0x37, 0xfa, 0x21, 0x3d], 3));
        });
        let text = ascii(size);
        group.bench_function(BenchmarkId::new("from_utf8_ascii", size), |b| {
            b.iter(|| core::str::from_utf8(black_box(text.as_bytes())).is_ok());
        });
        let text = multibyte(size, 0);
        group.bench_function(BenchmarkId::new("from_utf8_multibyte", size), |b| {
            b.iter(|| core::str::from_utf8(black_box(text.as_bytes())).is_ok());
        });
    }
    group.finish();
}

/// `apply_mask` on short payloads either side of the length where it stops
/// masking inline and calls out to a vector kernel (256 bytes).
fn short(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernels");
    for size in [16, 31, 32, 64, 127, 128, 255, 256, 512] {
        group.throughput(Throughput::Bytes(size as u64));
        let mut buf = binary(size + 1);
        group.bench_function(BenchmarkId::new("apply_mask_short", size), |b| {
            b.iter(|| apply_mask(black_box(&mut buf[1..]), [0x37, 0xfa, 0x21, 0x3d], 3));
        });
    }
    group.finish();
}

/// One message per iteration through the server core: Binary (unmask)
/// against Text (unmask + validate) of the same size.
fn text_vs_binary(c: &mut Criterion) {
    let mut group = c.benchmark_group("core_validation");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        for (name, w) in [
            ("binary", Workload::repeated(false, size, 1)),
            ("text_ascii", Workload::repeated(true, size, 1)),
            ("text_multibyte", Workload::multibyte(size, 1)),
        ] {
            let mut conn = server();
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter(|| receive_all(&mut conn, &w.wire));
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = kernels, short, text_vs_binary
}
criterion_main!(benches);
