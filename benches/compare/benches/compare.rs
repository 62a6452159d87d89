//! One criterion run over every workload and library. Group = workload,
//! function = library; `cargo run --release --bin table` prints the table.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rfc6455_compare::{LIBS, SPECS, runner, slug};
use std::time::Duration;

fn compare(c: &mut Criterion) {
    for spec in &SPECS {
        let mut group = c.benchmark_group(slug(spec.name));
        group.throughput(Throughput::ElementsAndBytes {
            elements: spec.messages() as u64,
            bytes: spec.payload() as u64,
        });
        for lib in LIBS {
            let mut r = runner(lib, spec);
            // Every library must hand the whole payload to the application.
            assert_eq!(r.run(), spec.payload(), "{lib}: {}", spec.name);
            group.bench_function(lib, |b| b.iter(|| r.run()));
        }
        group.finish();
    }
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
    targets = compare
}
criterion_main!(benches);
