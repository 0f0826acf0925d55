//! One optimizer step on a model-shaped parameter set (about 10 million parameters in 100
//! tensors of mixed shapes): hand-written against libtorch's C++ optimizer, tch's COptimizer and
//! the fused kernel, each with the same gradients.

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use tch::{Kind, Tensor};
use tch_parity::catalog::OPTIMIZERS;
use tch_parity::implementation::{OptimizerRun, Registry, RunGradients};
use tch_parity::options::OptionValue;

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
    let registry = Registry::standard();
    for spec in OPTIMIZERS {
        // Momentum for SGD, so that it keeps state as the others do; LBFGS's step is 4 iterations
        // (its default 20 would time 20 steps of the others).
        let given = match spec.id {
            "sgd" => vec![("momentum".to_owned(), OptionValue::Float(0.9))],
            "lbfgs" => vec![("max_iter".to_owned(), OptionValue::Int(4))],
            _ => Vec::new(),
        };
        let groups = vec![(spec.configure)(&given).unwrap()];
        // Muon takes matrices only: the 48 weight matrices.
        let (params, grads): (Vec<Tensor>, Vec<Tensor>) = if spec.id == "muon" {
            params
                .iter()
                .zip(&grads)
                .filter(|(p, _)| p.dim() == 2)
                .map(|(p, g)| (p.shallow_clone(), g.shallow_clone()))
                .unzip()
        } else {
            params.iter().zip(&grads).map(|(p, g)| (p.shallow_clone(), g.shallow_clone())).unzip()
        };
        // SparseAdam's gradients are sparse: every row present, as the worst case.
        let grads: Vec<Tensor> =
            if spec.sparse_gradients { grads.iter().map(|g| g.to_sparse_sparse_dim(1)).collect() } else { grads };
        let group_of = vec![0; params.len()];
        let mut group = c.benchmark_group(format!("optimizer/{}", spec.id));
        group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
        let run = OptimizerRun::new(spec.id, &groups, &params, &[], &group_of, 0, RunGradients::Given(&[]));
        for implementation in registry.subjects.iter().chain(&registry.references) {
            // PyTorch in Python is timed in Python, by scripts/bench_torch_optim.py.
            if implementation.recorded_in_full() {
                continue;
            }
            let Some(stepper) = implementation.optimizer(&run) else { continue };
            let mut stepper = stepper.unwrap();
            let name = if implementation.name() == "hand-written" { "hand" } else { implementation.name() };
            if spec.closure {
                // ½‖θ‖², whose gradient is θ: the same cheap objective for both sides.
                let mut closure = |p: &[Tensor]| -> tch_parity::Result<(f64, Vec<Tensor>)> {
                    let loss: f64 = p.iter().map(|t| t.square().sum(Kind::Double).double_value(&[])).sum();
                    Ok((0.5 * loss, p.iter().map(Tensor::copy).collect()))
                };
                group.bench_function(name, |b| b.iter(|| stepper.step_with_closure(&mut closure).unwrap()));
            } else {
                group.bench_function(name, |b| b.iter(|| stepper.step(&grads).unwrap()));
            }
        }
        group.finish();
    }
}

criterion_group!(benches, optimizers);
criterion_main!(benches);
