//! Every loss, hand-written against its libtorch built-in, forward and forward plus backward,
//! float32, at 1e3 to 1e7 elements (mean reduction); cross entropy also at N×C = 4096×1000 and
//! 64×32000. `TCH_PARITY_BENCH_SIZES=1000000` limits the sizes, `TCH_PARITY_BENCH_OPS=a,b`
//! the losses.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use tch::{Kind, Tensor};
use tch_parity::catalog::{Args, LossCall, LossSpec, LOSSES};
use tch_parity::implementation::{hand_written, libtorch};
use tch_parity::Reduction;

type Compute = fn(&LossCall) -> Option<tch_parity::Result<Tensor>>;

const FLOAT: (Kind, tch::Device) = (Kind::Float, tch::Device::Cpu);

fn randn(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, FLOAT)
}

fn signs(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, FLOAT).sign()
}

fn labels(shape: &[i64], classes: i64) -> Tensor {
    Tensor::randint(classes, shape, (Kind::Int64, tch::Device::Cpu))
}

/// Inputs of about `n` elements for `op`, and the number of elements actually used.
fn inputs(op: &str, n: i64, shape: Option<(i64, i64)>) -> Vec<(&'static str, Tensor)> {
    let (rows, c) = shape.unwrap_or(((n / 100).max(1), 100));
    let two = [rows, c];
    match op {
        "sigmoid" | "softmax" | "log_softmax" => vec![("input", randn(&two))],
        "binary_cross_entropy" => {
            vec![("input", Tensor::rand(two, FLOAT) * 0.98 + 0.01), ("target", Tensor::rand(two, FLOAT))]
        }
        "binary_cross_entropy_with_logits" | "sigmoid_focal_loss" | "multilabel_soft_margin_loss" => {
            vec![("input", randn(&two)), ("target", Tensor::rand(two, FLOAT).round())]
        }
        "nll_loss" => vec![("input", randn(&two).log_softmax(1, Kind::Float)), ("target", labels(&[rows], c))],
        "cross_entropy" | "smoothed_target_cross_entropy" | "multi_margin_loss" => {
            vec![("input", randn(&two)), ("target", labels(&[rows], c))]
        }
        "l1_loss" | "mse_loss" | "smooth_l1_loss" | "huber_loss" | "poisson_nll_loss" => {
            vec![("input", randn(&two)), ("target", randn(&two).abs())]
        }
        "kl_div" => {
            vec![("input", randn(&two).log_softmax(1, Kind::Float)), ("target", randn(&two).softmax(1, Kind::Float))]
        }
        "soft_margin_loss" | "hinge_embedding_loss" => vec![("input", randn(&two)), ("target", signs(&two))],
        "multilabel_margin_loss" => {
            // 10 classes (libtorch's cost grows with targets × classes, the hand-written's with classes²).
            let rows = (n / 10).max(1);
            let t = labels(&[rows, 10], 10);
            let t = t.masked_fill(&Tensor::arange(10, (Kind::Int64, tch::Device::Cpu)).ge(3), -1);
            vec![("input", randn(&[rows, 10])), ("target", t)]
        }
        "margin_ranking_loss" => vec![("input1", randn(&[n])), ("input2", randn(&[n])), ("target", signs(&[n]))],
        "cosine_embedding_loss" => vec![("input1", randn(&two)), ("input2", randn(&two)), ("target", signs(&[rows]))],
        "triplet_margin_loss" | "triplet_margin_with_distance_loss" => {
            vec![("anchor", randn(&two)), ("positive", randn(&two)), ("negative", randn(&two))]
        }
        "gaussian_nll_loss" => {
            vec![("input", randn(&two)), ("target", randn(&two)), ("var", Tensor::rand(two, FLOAT) + 0.1)]
        }
        "ctc_loss" => {
            let (time, classes, label_len) = (50, 20, 10);
            let batch = (n / (time * classes)).max(1);
            vec![
                ("log_probs", randn(&[time, batch, classes]).log_softmax(2, Kind::Float)),
                ("targets", Tensor::randint_low(1, classes, [batch, label_len], (Kind::Int64, tch::Device::Cpu))),
                ("input_lengths", Tensor::full([batch], time, (Kind::Int64, tch::Device::Cpu))),
                ("target_lengths", Tensor::full([batch], label_len, (Kind::Int64, tch::Device::Cpu))),
            ]
        }
        other => panic!("no benchmark inputs for {other}"),
    }
}

fn args(info: &LossSpec, tensors: &[(&'static str, Tensor)], grad: bool) -> Args {
    let differentiable = |name: &str| info.input_spec(name).is_some_and(|s| s.differentiable) && name != "target";
    Args {
        tensors: tensors
            .iter()
            .map(|(n, t)| (n.to_string(), t.detach().set_requires_grad(grad && differentiable(n))))
            .collect(),
        options: Vec::new(),
    }
}

fn run(spec: &LossSpec, f: Compute, a: &Args, backward: bool) {
    let call = (spec.bind)(a, Reduction::Mean).expect("benchmark inputs bind");
    let out = f(&call).expect("implemented").expect("benchmark inputs are valid");
    let out = if out.dim() == 0 { out } else { out.mean(Kind::Float) };
    if backward {
        out.backward();
    }
}

/// Label, element count, and an explicit (batch, classes) split where the size alone is ambiguous.
type Shape = (String, i64, Option<(i64, i64)>);

fn env_list(name: &str) -> Option<Vec<String>> {
    std::env::var(name).ok().map(|v| v.split(',').map(str::to_owned).collect())
}

fn losses(c: &mut Criterion) {
    tch::set_num_threads(2);
    let sizes: Vec<i64> = env_list("TCH_PARITY_BENCH_SIZES")
        .map(|v| v.iter().filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000, 1_000_000, 10_000_000]);
    let ops = env_list("TCH_PARITY_BENCH_OPS");
    for info in LOSSES.iter().filter(|i| ops.as_ref().is_none_or(|o| o.iter().any(|x| x == i.id))) {
        let mut shapes: Vec<Shape> = sizes.iter().map(|&n| (n.to_string(), n, None)).collect();
        if info.id == "cross_entropy" {
            shapes.push(("4096x1000".into(), 4096 * 1000, Some((4096, 1000))));
            shapes.push(("64x32000".into(), 64 * 32000, Some((64, 32000))));
        }
        let mut group = c.benchmark_group(format!("loss/{}", info.id));
        group.sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_millis(600));
        // float16 and bfloat16 at 1e6 elements ("1000000/float16"), where libtorch has a kernel.
        let mut runs: Vec<(String, Vec<(&'static str, Tensor)>)> =
            shapes.iter().map(|(label, n, shape)| (label.clone(), inputs(info.id, *n, *shape))).collect();
        if sizes.contains(&1_000_000) {
            for (kind, name) in [(Kind::Half, "float16"), (Kind::BFloat16, "bfloat16")] {
                let tensors = inputs(info.id, 1_000_000, None)
                    .into_iter()
                    .map(|(n, t)| (n, if t.is_floating_point() { t.to_kind(kind) } else { t }))
                    .collect();
                runs.push((format!("1000000/{name}"), tensors));
            }
        }
        for (label, tensors) in &runs {
            // The losses PyTorch defines only in Python have no libtorch op to time against, and
            // the ops without a half kernel reject those dtypes on both sides.
            let sides: Vec<(&str, Compute)> =
                [("hand", hand_written::compute as Compute), ("libtorch", libtorch::compute)]
                    .into_iter()
                    .filter(|(_, f)| {
                        matches!(f(&(info.bind)(&args(info, tensors, false), Reduction::Mean).unwrap()), Some(Ok(_)))
                    })
                    .collect();
            for (side, f) in sides {
                let forward = args(info, tensors, false);
                group.bench_function(BenchmarkId::new(format!("{side}/forward"), label), |b| {
                    b.iter(|| run(info, f, &forward, false))
                });
                let both = args(info, tensors, true);
                group.bench_function(BenchmarkId::new(format!("{side}/forward+backward"), label), |b| {
                    b.iter(|| {
                        run(info, f, &both, true);
                        for (_, t) in &both.tensors {
                            let mut g = t.grad();
                            if g.defined() {
                                let _ = g.zero_();
                            }
                        }
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, losses);
criterion_main!(benches);
