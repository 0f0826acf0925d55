//! Random valid inputs for every loss (PyTorch's `sample_inputs_func`): each spec in
//! [`super::losses`] names its generator here, so a loss without one does not compile.
//!
//! A generator draws only from the [`Rng`] it is given, so a sample depends only on the seed and
//! the [`Size`]; shrinking a failing case redraws it at smaller sizes. Regions where libtorch is
//! knowingly the odd one (README, "Known deviations and libtorch quirks") are not drawn: each is
//! pinned by a named test instead.

pub use super::rng::{Rng, Size};
use crate::dtype::{DType, InputDType};
use crate::options::{OptionValue, Values};

/// A tensor's values as drawn (floats in float64, rounded to short decimals).
#[derive(Debug, Clone, PartialEq)]
pub enum SampleData {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SampleTensor {
    pub shape: Vec<i64>,
    pub data: SampleData,
    pub requires_grad: bool,
}

impl SampleTensor {
    pub fn dtype(&self) -> InputDType {
        match self.data {
            SampleData::Float(_) => InputDType::Float,
            SampleData::Int(_) => InputDType::Int64,
        }
    }
}

/// One drawn call: named inputs, the options it sets (the rest keep their defaults), a dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub inputs: Vec<(&'static str, SampleTensor)>,
    pub options: Vec<(&'static str, OptionValue)>,
    pub dtype: DType,
}

/// How a generator fills a sample.
struct Draw<'r> {
    rng: &'r mut Rng,
    sample: Sample,
}

impl<'r> Draw<'r> {
    fn new(rng: &'r mut Rng) -> Self {
        Draw { rng, sample: Sample { inputs: Vec::new(), options: Vec::new(), dtype: DType::Float32 } }
    }
    fn input(&mut self, name: &'static str, t: SampleTensor) {
        self.sample.inputs.push((name, t));
    }
    fn option(&mut self, name: &'static str, value: OptionValue) {
        self.sample.options.push((name, value));
    }
    fn float_option(&mut self, name: &'static str, choices: &[f64]) {
        let x = self.rng.pick(choices);
        self.option(name, OptionValue::Float(x));
    }
    fn flag(&mut self, name: &'static str, p: f64) {
        let b = self.rng.chance(p);
        self.option(name, OptionValue::Bool(b));
    }
    /// The sample, at a dtype drawn last (so the draws before it do not depend on it).
    fn finish(self) -> Sample {
        let mut sample = self.sample;
        sample.dtype = self.rng.pick(&DType::FUZZED);
        sample
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
pub fn round(x: f64) -> f64 {
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

/// Random values for an optimizer's parameters or gradients: moderate, tiny, or ties.
pub fn gradient_values(rng: &mut Rng, n: usize) -> Vec<f64> {
    let r = rng.pick(&[Regime::Moderate, Regime::Moderate, Regime::Tiny, Regime::Ties]);
    draw_values(rng, n, r)
}

/// Moderate values, for an optimizer's initial parameters.
pub fn moderate_values(rng: &mut Rng, n: usize) -> Vec<f64> {
    draw_values(rng, n, Regime::Moderate)
}

pub fn float_tensor(shape: &[i64], values: Vec<f64>, requires_grad: bool) -> SampleTensor {
    SampleTensor { shape: shape.to_vec(), data: SampleData::Float(values), requires_grad }
}

pub fn int_tensor(shape: &[i64], values: Vec<i64>) -> SampleTensor {
    SampleTensor { shape: shape.to_vec(), data: SampleData::Int(values), requires_grad: false }
}

pub fn numel(shape: &[i64]) -> usize {
    shape.iter().product::<i64>().max(0) as usize
}

fn random_floats(rng: &mut Rng, shape: &[i64], grad: bool) -> SampleTensor {
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

/// An input of rank 1 to 3 (the `dim` option of softmax and log_softmax ranges over it).
fn elementwise(rng: &mut Rng, s: Size, with_dim: bool) -> Sample {
    let mut d = Draw::new(rng);
    let shape: Vec<i64> = [s.batch.max(1), s.classes, s.extra.max(1)][..1 + d.rng.below(3) as usize].to_vec();
    if with_dim {
        let rank = shape.len() as i64;
        let dim = d.rng.below(2 * rank as u64) as i64 - rank;
        d.option("dim", OptionValue::Int(dim));
    }
    let input = random_floats(d.rng, &shape, true);
    d.input("input", input);
    d.finish()
}

pub fn sigmoid(rng: &mut Rng, s: Size) -> Sample {
    elementwise(rng, s, false)
}

pub fn softmax(rng: &mut Rng, s: Size) -> Sample {
    elementwise(rng, s, true)
}

pub fn binary_cross_entropy(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let two_d = [s.batch, s.classes];
    // Target gradients only away from x ∈ {0, 1}, where libtorch's is ±inf (a pinned deviation).
    let exact_ends = d.rng.chance(0.5);
    let x = probabilities(d.rng, numel(&two_d), exact_ends);
    d.input("input", float_tensor(&two_d, x, true));
    let t = probabilities(d.rng, numel(&two_d), true);
    let target_grad = !exact_ends && d.rng.chance(0.5);
    d.input("target", float_tensor(&two_d, t, target_grad));
    class_weight(&mut d, s.classes, 0.4);
    d.finish()
}

/// A `[C]` weight of probabilities with chance `p`.
fn class_weight(d: &mut Draw, classes: i64, p: f64) {
    if d.rng.chance(p) {
        let w = probabilities(d.rng, classes as usize, true);
        d.input("weight", float_tensor(&[classes], w, false));
    }
}

/// Logits against probability targets: BCE with logits, focal loss, multilabel soft margin.
#[derive(Clone, Copy, PartialEq)]
enum OnLogits {
    BceWithLogits,
    Focal,
    MultilabelSoftMargin,
}

fn on_logits(rng: &mut Rng, s: Size, op: OnLogits) -> Sample {
    let mut d = Draw::new(rng);
    let (n, c) = (s.batch, s.classes);
    let two_d = [n, c];
    let input = random_floats(d.rng, &two_d, true);
    d.input("input", input);
    let t = probabilities(d.rng, numel(&two_d), true);
    let target_grad = op == OnLogits::BceWithLogits && d.rng.chance(0.3);
    d.input("target", float_tensor(&two_d, t, target_grad));
    if op != OnLogits::Focal {
        class_weight(&mut d, c, 0.4);
    }
    if op == OnLogits::BceWithLogits && d.rng.chance(0.4) {
        let p = draw_values(d.rng, c as usize, Regime::Moderate).iter().map(|x| x.abs()).collect();
        d.input("pos_weight", float_tensor(&[c], p, false));
    }
    if op == OnLogits::Focal {
        d.float_option("alpha", &[0.25, 0.5, 1.0, 0.0, -1.0]);
        d.float_option("gamma", &[0.0, 1.0, 2.0, 3.0]);
    }
    d.finish()
}

pub fn binary_cross_entropy_with_logits(rng: &mut Rng, s: Size) -> Sample {
    on_logits(rng, s, OnLogits::BceWithLogits)
}

pub fn sigmoid_focal_loss(rng: &mut Rng, s: Size) -> Sample {
    on_logits(rng, s, OnLogits::Focal)
}

pub fn multilabel_soft_margin_loss(rng: &mut Rng, s: Size) -> Sample {
    on_logits(rng, s, OnLogits::MultilabelSoftMargin)
}

/// Class-index or (cross entropy only) probability targets, ignored targets, class weights.
fn classification(rng: &mut Rng, s: Size, cross_entropy: bool) -> Sample {
    let mut d = Draw::new(rng);
    let c = s.classes;
    let shape = class_shape(s, true);
    let ignore = d.rng.pick(&[-100, 0, c - 1, 1]);
    let probability_target = cross_entropy && d.rng.chance(0.3);
    if cross_entropy {
        let input = random_floats(d.rng, &shape, true);
        d.input("input", input);
    } else {
        // NLL takes log-probabilities (≤ 0). Arbitrary values of both signs and large size make
        // its sums cancel, and then two summation orders (libtorch's cascade, a tensor sum)
        // differ by more than rounding says nothing about the loss.
        let r = regime(d.rng);
        let logp = draw_values(d.rng, numel(&shape), r).iter().map(|v| -v.abs()).collect();
        d.input("input", float_tensor(&shape, logp, true));
    }
    if probability_target {
        let t = probabilities(d.rng, numel(&shape), true);
        let grad = d.rng.chance(0.3);
        d.input("target", float_tensor(&shape, t, grad));
    } else {
        let mut target_shape = shape.clone();
        target_shape.remove(1);
        let labels = (0..numel(&target_shape))
            .map(|_| if d.rng.chance(0.2) { ignore } else { d.rng.below(c as u64) as i64 })
            .collect();
        d.input("target", int_tensor(&target_shape, labels));
        d.option("ignore_index", OptionValue::Int(ignore));
    }
    class_weight(&mut d, c, 0.4);
    if cross_entropy {
        d.float_option("label_smoothing", &[0.0, 0.1, 0.5, 1.0, -0.1]);
    }
    d.finish()
}

pub fn nll_loss(rng: &mut Rng, s: Size) -> Sample {
    classification(rng, s, false)
}

pub fn cross_entropy(rng: &mut Rng, s: Size) -> Sample {
    classification(rng, s, true)
}

pub fn smoothed_target_cross_entropy(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let (n, c) = (s.batch, s.classes);
    let input = random_floats(d.rng, &[n, c], true);
    d.input("input", input);
    let labels = (0..n).map(|_| d.rng.below(c as u64) as i64).collect();
    d.input("target", int_tensor(&[n], labels));
    d.float_option("label_smooth", &[0.0, 0.1, 0.2, 0.5]);
    d.finish()
}

/// Input against a target of the same shape or a broadcast row, with a knee option.
fn regression(rng: &mut Rng, s: Size, knee: Option<(&'static str, &[f64])>) -> Sample {
    let mut d = Draw::new(rng);
    let two_d = [s.batch, s.classes];
    // Broadcast targets only without a target gradient (libtorch scales it; pinned).
    let broadcast = d.rng.chance(0.3);
    let input = random_floats(d.rng, &two_d, true);
    d.input("input", input);
    let target_grad = !broadcast && d.rng.chance(0.5);
    let target = random_floats(d.rng, if broadcast { &two_d[1..] } else { &two_d }, target_grad);
    d.input("target", target);
    if let Some((name, choices)) = knee {
        d.float_option(name, choices);
    }
    d.finish()
}

pub fn l1_loss(rng: &mut Rng, s: Size) -> Sample {
    regression(rng, s, None)
}

pub fn mse_loss(rng: &mut Rng, s: Size) -> Sample {
    regression(rng, s, None)
}

pub fn smooth_l1_loss(rng: &mut Rng, s: Size) -> Sample {
    regression(rng, s, Some(("beta", &[0.0, 1e-3, 0.5, 1.0, 2.0])))
}

pub fn huber_loss(rng: &mut Rng, s: Size) -> Sample {
    regression(rng, s, Some(("delta", &[0.1, 1.0, 2.0])))
}

pub fn kl_div(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let two_d = [s.batch, s.classes];
    let log_target = d.rng.chance(0.5);
    let input = random_floats(d.rng, &two_d, true);
    d.input("input", input);
    let target = if log_target {
        draw_values(d.rng, numel(&two_d), Regime::Moderate)
    } else {
        probabilities(d.rng, numel(&two_d), true)
    };
    d.input("target", float_tensor(&two_d, target, false));
    d.option("log_target", OptionValue::Bool(log_target));
    d.flag("batchmean", 0.5);
    d.finish()
}

pub fn soft_margin_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let two_d = [s.batch, s.classes];
    // |x| ≤ 80: libtorch's log(1 + exp(z)) overflows beyond (pinned).
    let x = draw_values(d.rng, numel(&two_d), Regime::Moderate)
        .iter()
        .map(|v| v * d.rng.uniform(1.0, 25.0))
        .map(round)
        .collect();
    d.input("input", float_tensor(&two_d, x, true));
    let t = signs(d.rng, numel(&two_d));
    d.input("target", float_tensor(&two_d, t, false));
    d.finish()
}

pub fn margin_ranking_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let n = s.batch;
    let (x1, x2) = (random_floats(d.rng, &[n], true), random_floats(d.rng, &[n], true));
    d.input("input1", x1);
    d.input("input2", x2);
    let t = signs(d.rng, n as usize);
    d.input("target", float_tensor(&[n], t, false));
    d.float_option("margin", &[0.0, 0.5, 1.0]);
    d.finish()
}

pub fn hinge_embedding_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let two_d = [s.batch, s.classes];
    let input = random_floats(d.rng, &two_d, true);
    d.input("input", input);
    let t = signs(d.rng, numel(&two_d));
    d.input("target", float_tensor(&two_d, t, false));
    d.float_option("margin", &[0.5, 1.0, 2.0]);
    d.finish()
}

pub fn cosine_embedding_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let n = s.batch.max(1);
    let shape = [n, s.classes];
    let (x1, x2) = (random_floats(d.rng, &shape, true), random_floats(d.rng, &shape, true));
    d.input("input1", x1);
    d.input("input2", x2);
    let t = signs(d.rng, n as usize);
    d.input("target", float_tensor(&[n], t, false));
    d.float_option("margin", &[0.0, 0.2, -0.5]);
    d.finish()
}

fn triplet(rng: &mut Rng, s: Size, with_distance: bool) -> Sample {
    let mut d = Draw::new(rng);
    let shape = [s.batch.max(1), s.classes];
    for name in ["anchor", "positive", "negative"] {
        let values = draw_values(d.rng, numel(&shape), Regime::Moderate);
        d.input(name, float_tensor(&shape, values, true));
    }
    d.flag("swap", 0.5);
    d.float_option("margin", &[0.5, 1.0, 2.0]);
    if with_distance {
        d.flag("cosine_distance", 0.5);
    } else {
        d.float_option("p", &[1.0, 2.0, 3.0]);
    }
    d.finish()
}

pub fn triplet_margin_loss(rng: &mut Rng, s: Size) -> Sample {
    triplet(rng, s, false)
}

pub fn triplet_margin_with_distance_loss(rng: &mut Rng, s: Size) -> Sample {
    triplet(rng, s, true)
}

pub fn poisson_nll_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let two_d = [s.batch, s.classes];
    let log_input = d.rng.chance(0.5);
    let x = if log_input {
        draw_values(d.rng, numel(&two_d), Regime::Moderate)
    } else {
        probabilities(d.rng, numel(&two_d), false)
    };
    d.input("input", float_tensor(&two_d, x, true));
    let t = (0..numel(&two_d)).map(|_| d.rng.below(6) as f64).collect();
    d.input("target", float_tensor(&two_d, t, false));
    d.option("log_input", OptionValue::Bool(log_input));
    d.flag("full", 0.5);
    d.finish()
}

pub fn gaussian_nll_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let (n, c) = (s.batch, s.classes);
    let two_d = [n, c];
    let input = random_floats(d.rng, &two_d, true);
    d.input("input", input);
    let t = draw_values(d.rng, numel(&two_d), Regime::Moderate);
    d.input("target", float_tensor(&two_d, t, false));
    let var_shape = if d.rng.chance(0.5) { two_d.to_vec() } else { vec![n, 1] };
    let v = probabilities(d.rng, numel(&var_shape), false);
    d.input("var", float_tensor(&var_shape, v, true));
    d.flag("full", 0.5);
    d.finish()
}

pub fn multilabel_margin_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    // Not an empty batch: libtorch's mean over one is uninitialised memory (pinned).
    let (n, c) = (s.batch.max(1), s.classes);
    let input = random_floats(d.rng, &[n, c], true);
    d.input("input", input);
    let rows: Vec<i64> = (0..n)
        .flat_map(|_| {
            let listed = d.rng.below(c as u64 + 1) as i64;
            (0..c).map(move |j| if j < listed { j } else { -1 })
        })
        .collect();
    d.input("target", int_tensor(&[n, c], rows));
    d.finish()
}

pub fn multi_margin_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    // Not an empty batch: libtorch's mean over one is uninitialised memory (pinned).
    let (n, c) = (s.batch.max(1), s.classes);
    let input = random_floats(d.rng, &[n, c], true);
    d.input("input", input);
    let labels = (0..n).map(|_| d.rng.below(c as u64) as i64).collect();
    d.input("target", int_tensor(&[n], labels));
    let p = d.rng.pick(&[1, 2]);
    d.option("p", OptionValue::Int(p));
    d.float_option("margin", &[0.5, 1.0, 2.0]);
    class_weight(&mut d, c, 0.4);
    d.finish()
}

pub fn ctc_loss(rng: &mut Rng, s: Size) -> Sample {
    let mut d = Draw::new(rng);
    let (time, batch, classes) = (2 + s.extra * 2, s.batch.max(1), s.classes.max(2));
    let blank = d.rng.below(classes as u64) as i64;
    let labels: Vec<i64> = (0..classes).filter(|&k| k != blank).collect();
    let (mut input_lengths, mut target_lengths, mut targets) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..batch {
        let len = 1 + d.rng.below(time as u64) as i64;
        // Short enough to be feasible even with repeats, so the loss is finite.
        let tlen = d.rng.below((len / 2 + 1) as u64) as i64;
        input_lengths.push(len);
        target_lengths.push(tlen);
        targets.extend((0..tlen).map(|_| d.rng.pick(&labels)));
    }
    let mut logits = draw_values(d.rng, (time * batch * classes) as usize, Regime::Moderate);
    for row in logits.chunks_mut(classes as usize) {
        let m = row.iter().cloned().fold(f64::MIN, f64::max);
        let z = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln() + m;
        row.iter_mut().for_each(|v| *v = round(*v - z));
    }
    d.input("log_probs", float_tensor(&[time, batch, classes], logits, true));
    let total = targets.len() as i64;
    d.input("targets", int_tensor(&[total], targets));
    d.input("input_lengths", int_tensor(&[batch], input_lengths));
    d.input("target_lengths", int_tensor(&[batch], target_lengths));
    d.option("blank", OptionValue::Int(blank));
    d.flag("zero_infinity", 0.5);
    d.finish()
}

/// Random hyperparameters within their valid ranges, by name (every optimizer here shares these
/// names and their meaning).
pub fn hyperparameters(specs: &[crate::options::OptionSpec], rng: &mut Rng) -> Values {
    specs
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
                ("rho", _) => OptionValue::Float(rng.pick(&[0.5, 0.9, 0.95])),
                ("lambd", _) => OptionValue::Float(rng.pick(&[1e-4, 1e-2, 0.1])),
                // Averaging from the start, from step 3, or never within a run.
                ("t0", _) => OptionValue::Float(rng.pick(&[0.0, 3.0, 1e6])),
                ("momentum_decay", _) => OptionValue::Float(rng.pick(&[4e-3, 0.05, 0.5])),
                ("etaminus", _) => OptionValue::Float(rng.pick(&[0.3, 0.5, 0.9])),
                ("etaplus", _) => OptionValue::Float(rng.pick(&[1.1, 1.2, 2.0])),
                ("step_size_min", _) => OptionValue::Float(rng.pick(&[1e-6, 1e-3])),
                ("step_size_max", _) => OptionValue::Float(rng.pick(&[1.0, 50.0])),
                ("beta2_decay", _) => OptionValue::Float(rng.pick(&[-0.8, -0.5, 0.0])),
                ("eps1", _) => rng.pick(&[OptionValue::None, OptionValue::Float(1e-30), OptionValue::Float(1e-3)]),
                ("eps2", _) => OptionValue::Float(rng.pick(&[1e-3, 1e-2])),
                ("d", _) => OptionValue::Float(rng.pick(&[1.0, 2.0])),
                ("ns_steps", _) => OptionValue::Int(rng.pick(&[1, 3, 5])),
                (_, OptionValue::Bool(_)) => OptionValue::Bool(rng.chance(0.4)),
                (_, default) => default,
            };
            (spec.name, v)
        })
        .collect()
}

/// LBFGS's: short steps (a few iterations, a short history), with and without the line search.
pub fn lbfgs_hyperparameters(rng: &mut Rng) -> Values {
    vec![
        ("lr", OptionValue::Float(rng.pick(&[0.1, 0.5, 1.0]))),
        ("max_iter", OptionValue::Int(rng.pick(&[1, 3, 5]))),
        ("max_eval", rng.pick(&[OptionValue::None, OptionValue::Int(4)])),
        ("tolerance_grad", OptionValue::Float(1e-7)),
        ("tolerance_change", OptionValue::Float(1e-9)),
        ("history_size", OptionValue::Int(rng.pick(&[2, 5, 100]))),
        ("strong_wolfe", OptionValue::Bool(rng.chance(0.5))),
    ]
}

/// SGD's, where Nesterov needs momentum and no dampening: an invalid draw is made valid rather
/// than skipped, so every draw exercises an update.
pub fn sgd_hyperparameters(rng: &mut Rng) -> Values {
    use crate::options::Options;
    let mut o = hyperparameters(&crate::optim::SgdOptions::specs(), rng);
    if o.iter().any(|&(k, v)| k == "nesterov" && v == OptionValue::Bool(true)) {
        for (k, v) in &mut o {
            match *k {
                "momentum" if *v == OptionValue::Float(0.0) => *v = OptionValue::Float(0.9),
                "dampening" => *v = OptionValue::Float(0.0),
                _ => {}
            }
        }
    }
    o
}
