//! The parity gate, warm: loading every fixture and running every case, in process (what
//! `tch-parity check` does after start-up).

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::Duration;
use tch_parity::fixture::load_path;
use tch_parity::harness::run;
use tch_parity::harness::select::Selection;

fn gate(c: &mut Criterion) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut group = c.benchmark_group("gate");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.bench_function("check", |b| {
        b.iter(|| {
            let files = load_path(&fixtures).unwrap();
            let report = run::check(&files, &Selection::default());
            assert!(report.passed());
        })
    });
    group.finish();
}

criterion_group!(benches, gate);
criterion_main!(benches);
