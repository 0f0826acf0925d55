//! One optimizer step on a model-shaped parameter set (about 10 million parameters in 100
//! tensors of mixed shapes): hand-written against libtorch's C++ optimizer, tch's COptimizer and
//! the fused kernel, each with the same gradients.

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use tch::{Kind, Tensor};
use tch_parity::harness::optimizers::{self, Path, OPTIMIZERS};
use tch_parity::harness::registry::OptionValue;

/// 48 weight matrices, 48 biases and 4 norm scales: 10,023,920 parameters in 100 tensors.
fn model() -> Vec<Tensor> {
    let mut shapes: Vec<Vec<i64>> = Vec::new();
    for layer in 0..48 {
        let (rows, cols) = if layer % 2 == 0 { (512, 384) } else { (384, 512) };
        shapes.push(vec![rows, cols]);
        shapes.push(vec![rows]);
    }
    shapes.extend([vec![1024], vec![1024], vec![512], vec![512]]);
    shapes.iter().map(|s| Tensor::randn(s.as_slice(), (Kind::Float, tch::Device::Cpu))).collect()
}

fn optimizers(c: &mut Criterion) {
    tch::set_num_threads(2);
    let params = model();
    let count: i64 = params.iter().map(Tensor::numel).sum::<usize>() as i64;
    eprintln!("optimizer benchmark: {count} parameters in {} tensors", params.len());
    let grads: Vec<Tensor> = params.iter().map(|p| p.randn_like() * 0.01).collect();
    let group_of = vec![0; params.len()];
    for info in OPTIMIZERS {
        let mut options: Vec<(String, OptionValue)> =
            info.options.iter().map(|s| (s.name.to_owned(), s.default)).collect();
        if info.id == "sgd" {
            // Momentum, so that SGD keeps state as the others do.
            for (k, v) in &mut options {
                if k == "momentum" {
                    *v = OptionValue::Float(0.9);
                }
            }
        }
        let groups = vec![options];
        let mut group = c.benchmark_group(format!("optimizer/{}", info.id));
        group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        let mut hand = optimizers::hand_written(info, &groups, &params, &group_of).unwrap();
        group.bench_function("hand", |b| b.iter(|| hand.step(&grads).unwrap()));
        for &path in optimizers::paths(info, &groups) {
            let mut reference = optimizers::reference(info, path, &groups, &params, &group_of).unwrap();
            group.bench_function(path.name(), |b| b.iter(|| reference.step(&grads).unwrap()));
        }
        group.finish();
    }
    let _ = Path::Cpp;
}

criterion_group!(benches, optimizers);
criterion_main!(benches);
