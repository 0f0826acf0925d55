//! Randomised differential testing: seeded random cases for every loss and optimizer, the
//! hand-written side against libtorch's, disagreements shrunk and written out as fixtures.
//!
//! Case k of a run with seed S is generated from `mix(S, k)` alone, so `--seed S` replays a run
//! exactly and a time bound only decides how many of its cases are reached. Regions where
//! libtorch is knowingly the odd one (README, "Known deviations and libtorch quirks") are not
//! generated: each is pinned by a named test instead.

use super::compare::{compare, default_tolerance};
use super::optimizers::{self, Options, Path, OPTIMIZERS};
use super::registry::{self, LossInfo, OptionValue, LOSSES};
use super::run::{evaluate, read};
use crate::fixture::{Case, DType, InputDType, InputTensor, Outcome};
use serde_json::{json, Value};
use tch::Tensor;

/// SplitMix64: tiny, and stable across versions, so seeds stay replayable.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The seed of case `k` of a run with seed `seed`.
pub fn case_seed(seed: u64, k: u64) -> u64 {
    Rng::new(seed ^ k.wrapping_mul(0xd134_2543_de82_ef95)).next_u64()
}

/// Sizes a generator draws shapes from; shrinking lowers them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    pub batch: i64,
    pub classes: i64,
    pub extra: i64,
}

impl Size {
    fn draw(rng: &mut Rng) -> Size {
        Size {
            batch: rng.pick(&[0, 1, 1, 2, 3, 4, 5]),
            classes: 1 + rng.below(6) as i64,
            extra: rng.pick(&[0, 0, 1, 2, 3]),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Regime {
    Moderate,
    Tiny,
    Large,
    Extreme,
    Ties,
}

fn regime(rng: &mut Rng) -> Regime {
    rng.pick(&[Regime::Moderate, Regime::Moderate, Regime::Tiny, Regime::Large, Regime::Extreme, Regime::Ties])
}

/// Short decimals, so a written-out case reads well.
fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 4 - x.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits.clamp(-300, 300));
    (x * scale).round() / scale
}

fn draw_values(rng: &mut Rng, n: usize, r: Regime) -> Vec<f64> {
    let ties = [rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0)];
    (0..n)
        .map(|_| {
            let sign = if rng.chance(0.5) { -1.0 } else { 1.0 };
            round(match r {
                Regime::Moderate => rng.uniform(-3.0, 3.0),
                Regime::Tiny => sign * 10f64.powf(rng.uniform(-30.0, -3.0)),
                Regime::Large => sign * 10f64.powf(rng.uniform(1.0, 3.0)),
                Regime::Extreme => {
                    let moderate = rng.uniform(-3.0, 3.0);
                    rng.pick(&[1e4, -1e4, 100.0, -100.0, 0.0, 88.7, -88.7, moderate])
                }
                Regime::Ties => rng.pick(&ties),
            })
        })
        .collect()
}

fn float_tensor(shape: &[i64], values: Vec<f64>, requires_grad: bool) -> InputTensor {
    InputTensor {
        dtype: InputDType::Float,
        shape: shape.to_vec(),
        data: values.into_iter().map(|x| crate::fixture::float::to_json(x, DType::Float64)).collect(),
        requires_grad,
    }
}

fn int_tensor(shape: &[i64], values: Vec<i64>) -> InputTensor {
    InputTensor {
        dtype: InputDType::Int64,
        shape: shape.to_vec(),
        data: values.into_iter().map(Value::from).collect(),
        requires_grad: false,
    }
}

fn numel(shape: &[i64]) -> usize {
    shape.iter().product::<i64>().max(0) as usize
}

fn random_floats(rng: &mut Rng, shape: &[i64], grad: bool) -> InputTensor {
    let r = regime(rng);
    float_tensor(shape, draw_values(rng, numel(shape), r), grad)
}

fn probabilities(rng: &mut Rng, n: usize, exact_ends: bool) -> Vec<f64> {
    (0..n)
        .map(|_| if exact_ends && rng.chance(0.2) { rng.pick(&[0.0, 1.0]) } else { round(rng.uniform(0.0, 1.0)) })
        .collect()
}

fn signs(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.pick(&[-1.0, 1.0])).collect()
}

/// `[N, C]`, or `[N, C, d]` when `extra` asks for it.
fn class_shape(s: Size, nd: bool) -> Vec<i64> {
    if nd && s.extra > 0 {
        vec![s.batch, s.classes, s.extra]
    } else {
        vec![s.batch, s.classes]
    }
}

fn float_option(x: f64) -> Value {
    crate::fixture::float::to_json(x, DType::Float64)
}

/// A random case for loss `op`, at sizes `s`; `None` for an op this fuzzer does not draw.
pub fn generate_loss(op: &str, rng: &mut Rng, s: Size) -> Option<Case> {
    let mut inputs: Vec<(&str, InputTensor)> = Vec::new();
    let mut options: Vec<(&str, Value)> = Vec::new();
    let (n, c) = (s.batch, s.classes);
    let two_d = [n, c];
    match op {
        "sigmoid" | "softmax" | "log_softmax" => {
            let shape: Vec<i64> = [n.max(1), c, s.extra.max(1)][..1 + rng.below(3) as usize].to_vec();
            if op != "sigmoid" {
                let rank = shape.len() as i64;
                options.push(("dim", json!(rng.below(2 * rank as u64) as i64 - rank)));
            }
            inputs.push(("input", random_floats(rng, &shape, true)));
        }
        "binary_cross_entropy" => {
            // Target gradients only away from x ∈ {0, 1}, where libtorch's is ±inf (a pinned deviation).
            let exact_ends = rng.chance(0.5);
            inputs.push(("input", float_tensor(&two_d, probabilities(rng, numel(&two_d), exact_ends), true)));
            inputs.push((
                "target",
                float_tensor(&two_d, probabilities(rng, numel(&two_d), true), !exact_ends && rng.chance(0.5)),
            ));
            if rng.chance(0.4) {
                inputs.push(("weight", float_tensor(&[c], probabilities(rng, c as usize, true), false)));
            }
        }
        "binary_cross_entropy_with_logits" | "sigmoid_focal_loss" | "multilabel_soft_margin_loss" => {
            inputs.push(("input", random_floats(rng, &two_d, true)));
            inputs.push((
                "target",
                float_tensor(
                    &two_d,
                    probabilities(rng, numel(&two_d), true),
                    op == "binary_cross_entropy_with_logits" && rng.chance(0.3),
                ),
            ));
            if op != "sigmoid_focal_loss" && rng.chance(0.4) {
                inputs.push(("weight", float_tensor(&[c], probabilities(rng, c as usize, true), false)));
            }
            if op == "binary_cross_entropy_with_logits" && rng.chance(0.4) {
                inputs.push((
                    "pos_weight",
                    float_tensor(
                        &[c],
                        draw_values(rng, c as usize, Regime::Moderate).iter().map(|x| x.abs()).collect(),
                        false,
                    ),
                ));
            }
            if op == "sigmoid_focal_loss" {
                options.push(("alpha", float_option(rng.pick(&[0.25, 0.5, 1.0, 0.0, -1.0]))));
                options.push(("gamma", float_option(rng.pick(&[0.0, 1.0, 2.0, 3.0]))));
            }
        }
        "nll_loss" | "cross_entropy" => {
            let shape = class_shape(s, true);
            let ignore = rng.pick(&[-100, 0, c - 1, 1]);
            let probability_target = op == "cross_entropy" && rng.chance(0.3);
            if op == "nll_loss" {
                // NLL takes log-probabilities (≤ 0). Arbitrary values of both signs and large size
                // make its sums cancel, and then two summation orders (libtorch's cascade, a
                // tensor sum) differ by more than rounding says nothing about the loss.
                let r = regime(rng);
                let logp = draw_values(rng, numel(&shape), r).iter().map(|v| -v.abs()).collect();
                inputs.push(("input", float_tensor(&shape, logp, true)));
            } else {
                inputs.push(("input", random_floats(rng, &shape, true)));
            }
            if probability_target {
                inputs.push(("target", float_tensor(&shape, probabilities(rng, numel(&shape), true), rng.chance(0.3))));
            } else {
                let mut target_shape = shape.clone();
                target_shape.remove(1);
                let labels = (0..numel(&target_shape))
                    .map(|_| if rng.chance(0.2) { ignore } else { rng.below(c as u64) as i64 })
                    .collect();
                inputs.push(("target", int_tensor(&target_shape, labels)));
                options.push(("ignore_index", json!(ignore)));
            }
            if rng.chance(0.4) {
                inputs.push(("weight", float_tensor(&[c], probabilities(rng, c as usize, true), false)));
            }
            if op == "cross_entropy" {
                options.push(("label_smoothing", float_option(rng.pick(&[0.0, 0.1, 0.5, 1.0, -0.1]))));
            }
        }
        "smoothed_target_cross_entropy" => {
            inputs.push(("input", random_floats(rng, &two_d, true)));
            inputs.push(("target", int_tensor(&[n], (0..n).map(|_| rng.below(c as u64) as i64).collect())));
            options.push(("label_smooth", float_option(rng.pick(&[0.0, 0.1, 0.2, 0.5]))));
        }
        "l1_loss" | "mse_loss" | "smooth_l1_loss" | "huber_loss" => {
            // Broadcast targets only without a target gradient (libtorch scales it; pinned).
            let broadcast = rng.chance(0.3);
            inputs.push(("input", random_floats(rng, &two_d, true)));
            let target_grad = !broadcast && rng.chance(0.5);
            inputs.push(("target", random_floats(rng, if broadcast { &two_d[1..] } else { &two_d }, target_grad)));
            if op == "smooth_l1_loss" {
                options.push(("beta", float_option(rng.pick(&[0.0, 1e-3, 0.5, 1.0, 2.0]))));
            }
            if op == "huber_loss" {
                options.push(("delta", float_option(rng.pick(&[0.1, 1.0, 2.0]))));
            }
        }
        "kl_div" => {
            let log_target = rng.chance(0.5);
            inputs.push(("input", random_floats(rng, &two_d, true)));
            let target = if log_target {
                draw_values(rng, numel(&two_d), Regime::Moderate)
            } else {
                probabilities(rng, numel(&two_d), true)
            };
            inputs.push(("target", float_tensor(&two_d, target, false)));
            options.push(("log_target", json!(log_target)));
            options.push(("batchmean", json!(rng.chance(0.5))));
        }
        "soft_margin_loss" => {
            // |x| ≤ 80: libtorch's log(1 + exp(z)) overflows beyond (pinned).
            let x = draw_values(rng, numel(&two_d), Regime::Moderate)
                .iter()
                .map(|v| v * rng.uniform(1.0, 25.0))
                .map(round)
                .collect();
            inputs.push(("input", float_tensor(&two_d, x, true)));
            inputs.push(("target", float_tensor(&two_d, signs(rng, numel(&two_d)), false)));
        }
        "margin_ranking_loss" => {
            inputs.push(("input1", random_floats(rng, &[n], true)));
            inputs.push(("input2", random_floats(rng, &[n], true)));
            inputs.push(("target", float_tensor(&[n], signs(rng, n as usize), false)));
            options.push(("margin", float_option(rng.pick(&[0.0, 0.5, 1.0]))));
        }
        "hinge_embedding_loss" => {
            inputs.push(("input", random_floats(rng, &two_d, true)));
            inputs.push(("target", float_tensor(&two_d, signs(rng, numel(&two_d)), false)));
            options.push(("margin", float_option(rng.pick(&[0.5, 1.0, 2.0]))));
        }
        "cosine_embedding_loss" => {
            let shape = [n.max(1), c];
            inputs.push(("input1", random_floats(rng, &shape, true)));
            inputs.push(("input2", random_floats(rng, &shape, true)));
            inputs.push(("target", float_tensor(&[n.max(1)], signs(rng, n.max(1) as usize), false)));
            options.push(("margin", float_option(rng.pick(&[0.0, 0.2, -0.5]))));
        }
        "triplet_margin_loss" | "triplet_margin_with_distance_loss" => {
            let shape = [n.max(1), c];
            for name in ["anchor", "positive", "negative"] {
                inputs.push((name, float_tensor(&shape, draw_values(rng, numel(&shape), Regime::Moderate), true)));
            }
            options.push(("swap", json!(rng.chance(0.5))));
            options.push(("margin", float_option(rng.pick(&[0.5, 1.0, 2.0]))));
            if op == "triplet_margin_loss" {
                options.push(("p", float_option(rng.pick(&[1.0, 2.0, 3.0]))));
            } else {
                options.push(("cosine_distance", json!(rng.chance(0.5))));
            }
        }
        "poisson_nll_loss" => {
            let log_input = rng.chance(0.5);
            let x = if log_input {
                draw_values(rng, numel(&two_d), Regime::Moderate)
            } else {
                probabilities(rng, numel(&two_d), false)
            };
            inputs.push(("input", float_tensor(&two_d, x, true)));
            inputs.push((
                "target",
                float_tensor(&two_d, (0..numel(&two_d)).map(|_| rng.below(6) as f64).collect(), false),
            ));
            options.push(("log_input", json!(log_input)));
            options.push(("full", json!(rng.chance(0.5))));
        }
        "gaussian_nll_loss" => {
            inputs.push(("input", random_floats(rng, &two_d, true)));
            inputs.push(("target", float_tensor(&two_d, draw_values(rng, numel(&two_d), Regime::Moderate), false)));
            let var_shape = if rng.chance(0.5) { two_d.to_vec() } else { vec![n, 1] };
            inputs.push(("var", float_tensor(&var_shape, probabilities(rng, numel(&var_shape), false), true)));
            options.push(("full", json!(rng.chance(0.5))));
        }
        "multilabel_margin_loss" | "multi_margin_loss" => {
            // Not an empty batch: libtorch's mean over one is uninitialised memory (pinned).
            let n = n.max(1);
            let two_d = [n, c];
            inputs.push(("input", random_floats(rng, &two_d, true)));
            if op == "multi_margin_loss" {
                inputs.push(("target", int_tensor(&[n], (0..n).map(|_| rng.below(c as u64) as i64).collect())));
                options.push(("p", json!(rng.pick(&[1, 2]))));
                options.push(("margin", float_option(rng.pick(&[0.5, 1.0, 2.0]))));
                if rng.chance(0.4) {
                    inputs.push(("weight", float_tensor(&[c], probabilities(rng, c as usize, true), false)));
                }
            } else {
                let rows = (0..n).flat_map(|_| {
                    let listed = rng.below(c as u64 + 1) as i64;
                    (0..c).map(move |j| if j < listed { j } else { -1 }).collect::<Vec<_>>()
                });
                inputs.push(("target", int_tensor(&two_d, rows.collect())));
            }
        }
        "ctc_loss" => {
            let (time, batch, classes) = (2 + s.extra * 2, n.max(1), c.max(2));
            let blank = rng.below(classes as u64) as i64;
            let labels: Vec<i64> = (0..classes).filter(|&k| k != blank).collect();
            let mut input_lengths = Vec::new();
            let mut target_lengths = Vec::new();
            let mut targets = Vec::new();
            for _ in 0..batch {
                let len = 1 + rng.below(time as u64) as i64;
                // Short enough to be feasible even with repeats, so the loss is finite.
                let tlen = rng.below((len / 2 + 1) as u64) as i64;
                input_lengths.push(len);
                target_lengths.push(tlen);
                targets.extend((0..tlen).map(|_| rng.pick(&labels)));
            }
            let mut logits = draw_values(rng, (time * batch * classes) as usize, Regime::Moderate);
            for row in logits.chunks_mut(classes as usize) {
                let m = row.iter().cloned().fold(f64::MIN, f64::max);
                let z = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln() + m;
                row.iter_mut().for_each(|v| *v = round(*v - z));
            }
            inputs.push(("log_probs", float_tensor(&[time, batch, classes], logits, true)));
            let total = targets.len() as i64;
            inputs.push(("targets", int_tensor(&[total], targets)));
            inputs.push(("input_lengths", int_tensor(&[batch], input_lengths)));
            inputs.push(("target_lengths", int_tensor(&[batch], target_lengths)));
            options.push(("blank", json!(blank)));
            options.push(("zero_infinity", json!(rng.chance(0.5))));
        }
        _ => return None,
    }
    Some(Case {
        name: String::new(),
        source: String::new(),
        op: op.to_owned(),
        note: None,
        options: options.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        dtypes: vec![rng.pick(&DType::ALL)],
        inputs: inputs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        tolerance: None,
        outcome: Outcome::Values(None),
        trajectory: None,
    })
}

/// Hand-written against libtorch for every reduction: `Err` describes the first disagreement.
/// Both sides rejecting is agreement; one rejecting while the other computes is not.
pub fn check_loss(case: &Case, info: &LossInfo) -> Result<(), String> {
    let dtype = case.dtypes[0];
    let tolerance = default_tolerance(dtype);
    for &reduction in info.reductions() {
        let hand = evaluate(info.hand_written, case, info, dtype, reduction);
        let torch = evaluate(info.builtin, case, info, dtype, reduction);
        match (hand, torch) {
            (Err(_), Err(_)) => {}
            (Ok(_), Err(e)) => {
                return Err(format!("{dtype} {reduction}: libtorch rejects ({e}) but the hand-written side computes"))
            }
            (Err(e), Ok(_)) => {
                return Err(format!("{dtype} {reduction}: the hand-written side rejects ({e}) but libtorch computes"))
            }
            (Ok(a), Ok(b)) => {
                for (x, y) in a.iter().zip(&b) {
                    let c = compare(&x.values, &x.shape, &y.values, &y.shape, dtype, tolerance);
                    if !c.passed() {
                        let detail = super::report::describe_comparison(
                            &c,
                            super::run::CheckKind::HandVsLibtorch,
                            tolerance.rtol,
                            tolerance.atol,
                        );
                        return Err(format!("{dtype} {reduction} {}: {detail}", x.name));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Smaller sizes, then default options, then simpler values, for as long as the case still
/// disagrees.
pub fn shrink(op: &str, seed: u64, mut size: Size, info: &LossInfo) -> Case {
    let regenerate = |s: Size| generate_loss(op, &mut Rng::new(seed), s).expect("the op generated before");
    let fails = |c: &Case| check_loss(c, info).is_err();
    for _ in 0..20 {
        let candidates = [
            Size { batch: size.batch - 1, ..size },
            Size { classes: size.classes - 1, ..size },
            Size { extra: size.extra - 1, ..size },
        ];
        match candidates
            .into_iter()
            .filter(|s| s.batch >= 0 && s.classes >= 1 && s.extra >= 0)
            .find(|s| fails(&regenerate(*s)))
        {
            Some(smaller) => size = smaller,
            None => break,
        }
    }
    let mut case = regenerate(size);
    for i in (0..case.options.len()).rev() {
        let mut without = case.clone();
        without.options.remove(i);
        if fails(&without) {
            case = without;
        }
    }
    for i in 0..case.inputs.len() {
        if case.inputs[i].1.dtype != InputDType::Float {
            continue;
        }
        for simpler in [|x: f64| (x * 10.0).round() / 10.0, |x: f64| x.round()] {
            let mut candidate = case.clone();
            let data = &mut candidate.inputs[i].1.data;
            for v in data.iter_mut() {
                if let Ok(x) = crate::fixture::float::from_json(v, DType::Float64) {
                    *v = float_option(simpler(x));
                }
            }
            if fails(&candidate) {
                case = candidate;
            }
        }
    }
    case
}

/// A random optimizer configuration within the valid ranges.
fn optimizer_options(info: &optimizers::OptimizerInfo, rng: &mut Rng) -> Options {
    info.options
        .iter()
        .map(|spec| {
            let v = match (spec.name, spec.default) {
                ("lr", _) => OptionValue::Float(rng.pick(&[1e-3, 1e-2, 0.1, 0.5])),
                ("momentum", _) => OptionValue::Float(rng.pick(&[0.0, 0.5, 0.9])),
                ("dampening", _) => OptionValue::Float(rng.pick(&[0.0, 0.0, 0.1, 0.5])),
                ("weight_decay", _) => OptionValue::Float(rng.pick(&[0.0, 0.01, 0.1])),
                ("beta1", _) => OptionValue::Float(rng.pick(&[0.0, 0.5, 0.9, 0.99])),
                ("beta2", _) => OptionValue::Float(rng.pick(&[0.5, 0.9, 0.999, 0.9999])),
                ("eps", _) => OptionValue::Float(rng.pick(&[1e-10, 1e-8, 1e-6, 1e-3])),
                ("alpha", _) => OptionValue::Float(rng.pick(&[0.5, 0.9, 0.99])),
                ("lr_decay", _) => OptionValue::Float(rng.pick(&[0.0, 0.01, 0.1])),
                ("initial_accumulator_value", _) => OptionValue::Float(rng.pick(&[0.0, 0.1, 1.0])),
                (_, OptionValue::Bool(_)) => OptionValue::Bool(rng.chance(0.4)),
                (_, default) => default,
            };
            (spec.name.to_owned(), v)
        })
        .collect()
}

/// Nesterov needs momentum and no dampening: an invalid draw is made valid rather than skipped,
/// so every draw exercises an update.
fn make_valid(mut o: Options) -> Options {
    let get = |o: &Options, n: &str| o.iter().find(|(k, _)| k == n).map(|(_, v)| *v);
    if get(&o, "nesterov") == Some(OptionValue::Bool(true)) {
        for (k, v) in &mut o {
            match k.as_str() {
                "momentum" if *v == OptionValue::Float(0.0) => *v = OptionValue::Float(0.9),
                "dampening" => *v = OptionValue::Float(0.0),
                _ => {}
            }
        }
    }
    o
}

/// Lockstep over a random gradient sequence: the hand-written optimizer against every libtorch
/// path, parameters and buffers after every step.
pub fn check_optimizer(info: &optimizers::OptimizerInfo, seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let dtype = rng.pick(&DType::ALL);
    let groups = vec![make_valid(optimizer_options(info, &mut rng))];
    let shapes: Vec<Vec<i64>> =
        (0..1 + rng.below(2)).map(|_| vec![1 + rng.below(4) as i64, 1 + rng.below(3) as i64]).collect();
    let params: Vec<Tensor> = shapes
        .iter()
        .map(|s| {
            Tensor::from_slice(&draw_values(&mut rng, numel(s), Regime::Moderate))
                .view(s.as_slice())
                .to_kind(dtype.kind())
        })
        .collect();
    let group_of = vec![0; params.len()];
    let steps = 1 + rng.below(15);
    let run = || -> Result<(), String> {
        let mut hand = optimizers::hand_written(info, &groups, &params, &group_of).map_err(|e| e.to_string())?;
        let paths: Vec<Path> = optimizers::paths(info, &groups).to_vec();
        let mut refs = paths
            .iter()
            .map(|&p| optimizers::reference(info, p, &groups, &params, &group_of))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let tolerance = default_tolerance(dtype);
        let mut rng = Rng::new(seed ^ 0x5eed);
        for step in 1..=steps {
            let r = rng.pick(&[Regime::Moderate, Regime::Moderate, Regime::Tiny, Regime::Ties]);
            let grads: Vec<Tensor> = shapes
                .iter()
                .map(|s| {
                    let zero = rng.chance(0.1);
                    let v = if zero { vec![0.0; numel(s)] } else { draw_values(&mut rng, numel(s), r) };
                    Tensor::from_slice(&v).view(s.as_slice()).to_kind(dtype.kind())
                })
                .collect();
            hand.step(&grads).map_err(|e| e.to_string())?;
            for (path, side) in paths.iter().zip(&mut refs) {
                side.step(&grads).map_err(|e| format!("{}: {e}", path.name()))?;
                for i in 0..params.len() {
                    let mut pairs =
                        vec![("param".to_owned(), hand.params()[i].shallow_clone(), side.params()[i].shallow_clone())];
                    let theirs = side.buffers(i).map_err(|e| e.to_string())?;
                    for (name, mine) in hand.buffers(i).map_err(|e| e.to_string())? {
                        if let Some((_, other)) = theirs.iter().find(|(n, _)| *n == name) {
                            pairs.push((name, mine, other.shallow_clone()));
                        }
                    }
                    for (name, a, b) in pairs {
                        let (a, b) = (read(&name, &a)?, read(&name, &b)?);
                        let c = compare(&a.values, &a.shape, &b.values, &b.shape, dtype, tolerance);
                        if !c.passed() {
                            return Err(format!("{dtype} step {step}, param {i}, {name} against {}: {} of {} mismatched, max rel {:.2e}", path.name(), c.mismatched, c.numel, c.max_rel));
                        }
                    }
                }
            }
        }
        Ok(())
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(r) => r.map_err(|e| {
            format!("{e} (options {:?})", groups[0].iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>())
        }),
        Err(p) => Err(format!("panicked: {}", super::run::panic_message(&p))),
    }
}

/// One disagreement found by a run.
pub struct Finding {
    pub op: String,
    pub case_index: u64,
    pub message: String,
    /// The shrunk case (losses only).
    pub case: Option<Case>,
}

pub struct Summary {
    pub cases: u64,
    pub per_op: Vec<(String, u64)>,
    pub findings: Vec<Finding>,
}

/// Runs case 0, 1, 2, … of `seed` over the selected ops until `cases` cases or `deadline`.
pub fn run(seed: u64, cases: u64, deadline: std::time::Instant, ops: &[String]) -> Summary {
    let wanted = |id: &str| ops.is_empty() || ops.iter().any(|o| o == id);
    let loss_ops: Vec<&'static LossInfo> = LOSSES.iter().filter(|l| wanted(l.id)).collect();
    let optimizer_ops: Vec<&'static optimizers::OptimizerInfo> = OPTIMIZERS.iter().filter(|o| wanted(o.id)).collect();
    let total_ops = (loss_ops.len() + optimizer_ops.len()) as u64;
    let mut summary = Summary { cases: 0, per_op: Vec::new(), findings: Vec::new() };
    if total_ops == 0 {
        return summary;
    }
    let mut counts = vec![0u64; total_ops as usize];
    for k in 0..cases {
        if std::time::Instant::now() >= deadline {
            break;
        }
        let seed_k = case_seed(seed, k);
        let which = (k % total_ops) as usize;
        counts[which] += 1;
        summary.cases += 1;
        if let Some(info) = loss_ops.get(which) {
            let mut rng = Rng::new(seed_k);
            let size = Size::draw(&mut rng);
            let case_seed_value = rng.next_u64();
            let Some(case) = generate_loss(info.id, &mut Rng::new(case_seed_value), size) else { continue };
            if let Err(message) = check_loss(&case, info) {
                let mut small = shrink(info.id, case_seed_value, size, info);
                small.name = format!("fuzz-{seed}-{k}");
                small.source = format!("tch-parity fuzz --seed {seed}, case {k}");
                small.note = Some(format!("Found by the fuzzer: {message}"));
                summary.findings.push(Finding { op: info.id.to_owned(), case_index: k, message, case: Some(small) });
            }
        } else {
            let info = optimizer_ops[which - loss_ops.len()];
            if let Err(message) = check_optimizer(info, seed_k) {
                summary.findings.push(Finding { op: info.id.to_owned(), case_index: k, message, case: None });
            }
        }
    }
    let ids = loss_ops.iter().map(|l| l.id).chain(optimizer_ops.iter().map(|o| o.id));
    summary.per_op = ids.zip(counts).map(|(id, n)| (id.to_owned(), n)).collect();
    summary
}

/// Whether a loss op is drawn by `generate_loss` (every registered one should be).
pub fn draws(op: &str) -> bool {
    generate_loss(op, &mut Rng::new(1), Size { batch: 2, classes: 3, extra: 1 }).is_some()
        && registry::find(op).is_some()
}
