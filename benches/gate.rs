//! The parity gate, warm: loading every fixture and running every case, in process (what
//! `tch-parity check` does after start-up), PyTorch's Python reference included (one process
//! per run, started with the run).

use criterion::{criterion_group, criterion_main, Criterion};
use std::path::Path;
use std::time::Duration;
use tch_parity::check::{check, load_path, Selection};
use tch_parity::implementation::Registry;

fn gate(c: &mut Criterion) {
    // As the CLI runs it (see main.rs).
    tch::set_num_threads(1);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut group = c.benchmark_group("gate");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    group.bench_function("check", |b| {
        b.iter(|| {
            let files = load_path(&fixtures).unwrap();
            let report = check(&Registry::standard(), &files, &Selection::default());
            assert!(report.passed());
        })
    });
    group.finish();
}

criterion_group!(benches, gate);
criterion_main!(benches);
