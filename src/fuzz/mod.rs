//! Randomised differential testing: seeded random cases for every loss and optimizer, drawn by
//! the catalogue's sample generators, each implementation under test against its live
//! reference; loss disagreements shrunk and written out as fixtures.
//!
//! Case k of a run with seed S is generated from `case_seed(S, k)` alone, so `--seed S` replays a
//! run exactly and a time bound only decides how many of its cases are reached.

pub mod training;

use crate::catalog::samples::{self, Rng, Sample, SampleData, Size};
use crate::catalog::{ClipSpec, LossSpec, OptimizerSpec, SchedulerSpec, CLIPPING, LOSSES, OPTIMIZERS, SCHEDULERS};
use crate::check::compare::{compare, default_tolerance};
use crate::check::layouts::{layout_check, Layout};
use crate::check::materialize;
use crate::check::optim_run::{run_steps, Gradients, OtherRoundingOrder};
use crate::check::report::describe_comparison;
use crate::check::run::{derivatives_for, evaluate};
use crate::fixture::{float, Case, CaseKind, DType, InputTensor, Outcome};
use crate::implementation::{
    read, Derivatives, Evaluation, Implementation, LossInput, OptimizerRun, Registry, RunGradients,
};
use crate::optim::{OptimizerOptions, Stepper};
use crate::options::{OptionValue, Values};
use serde_json::Value;
use tch::Tensor;

/// The seed of case `k` of a run with seed `seed`.
pub fn case_seed(seed: u64, k: u64) -> u64 {
    Rng::new(seed ^ k.wrapping_mul(0xd134_2543_de82_ef95)).next_u64()
}

/// An option's value as a fixture writes it (floats exactly, as float64 text).
pub(crate) fn option_json(v: OptionValue) -> Value {
    match v {
        OptionValue::Bool(b) => Value::Bool(b),
        OptionValue::Int(i) => Value::from(i),
        OptionValue::Float(x) => float::to_json(x, DType::Float64),
        OptionValue::None => Value::Null,
    }
}

/// A sample as a fixture case (unnamed, without recorded values).
pub fn sample_case(spec: &LossSpec, sample: &Sample) -> Case {
    let inputs = sample
        .inputs
        .iter()
        .map(|(name, t)| {
            let data = match &t.data {
                SampleData::Float(v) => v.iter().map(|&x| float::to_json(x, DType::Float64)).collect(),
                SampleData::Int(v) => v.iter().map(|&i| Value::from(i)).collect(),
            };
            let tensor = InputTensor { dtype: t.dtype(), shape: t.shape.clone(), data, requires_grad: t.requires_grad };
            ((*name).to_owned(), tensor)
        })
        .collect();
    Case {
        name: String::new(),
        source: String::new(),
        op: spec.id.to_owned(),
        note: None,
        options: sample.options.iter().map(|(k, v)| ((*k).to_owned(), option_json(*v))).collect(),
        dtypes: vec![sample.dtype],
        inputs,
        tolerance: None,
        differences: Vec::new(),
        outcome: Outcome::Values(None),
        kind: CaseKind::Loss,
    }
}

/// The case the catalogue's generator draws for `spec` from `seed` at sizes `size`.
pub fn generate(spec: &LossSpec, seed: u64, size: Size) -> Case {
    let mut sample = (spec.sample)(&mut Rng::new(seed), size);
    // An op not fuzzed in half precision is drawn in float32 or float64 instead.
    if sample.dtype.is_half() && !crate::catalog::losses::fuzzed_in_half(spec) {
        sample.dtype = if sample.dtype == DType::Float16 { DType::Float32 } else { DType::Float64 };
    }
    sample_case(spec, &sample)
}

/// Each subject against the live reference for every reduction: `Err` describes the first
/// disagreement. Both sides rejecting is agreement; one rejecting while the other computes is
/// not. A reference that cannot run here checks nothing (`Ok`).
pub fn check_loss(registry: &Registry, case: &Case, spec: &'static LossSpec) -> Result<(), String> {
    let dtype = case.dtypes[0];
    let tolerance = default_tolerance(dtype);
    // Second derivatives too, where libtorch has them, in float64 as gradgradcheck takes them. A
    // random float32 case can land where terms of size 1/eps cancel (cosine distance at a zero
    // vector: norms clamped at 1e-8) and the second derivative left is float32 rounding, summed
    // in each autograd graph's own order (seed 20261129, case 2635: −1.5e-5 against −3.1e-5,
    // 1e-9 in float64); the gate compares float32 on the fixtures' cases, which are not such.
    let derivatives = match derivatives_for(spec, case, dtype) {
        Derivatives::Second if dtype != DType::Float64 => Derivatives::First,
        other => other,
    };
    for &reduction in spec.reductions() {
        let Ok(args) = materialize::loss_args(case, spec, dtype) else { continue };
        let input = LossInput::new(spec, &args, dtype, reduction).with(derivatives);
        let Some((reference, theirs)) = registry.loss_reference(&input) else {
            continue;
        };
        let reference = reference.name();
        for subject in &registry.subjects {
            let name = subject.name();
            match (evaluate(subject.as_ref(), case, spec, dtype, (reduction, derivatives)), &theirs) {
                (_, Evaluation::Unavailable(_)) | (Evaluation::Unsupported, _) => {}
                (Evaluation::Rejected(_), Evaluation::Rejected(_)) => {}
                (Evaluation::Computed(_), Evaluation::Rejected(e)) => {
                    return Err(format!("{dtype} {reduction}: {reference} rejects ({e}) but {name} computes"))
                }
                (Evaluation::Rejected(e), Evaluation::Computed(_)) => {
                    return Err(format!("{dtype} {reduction}: {name} rejects ({e}) but {reference} computes"))
                }
                (Evaluation::Computed(a), Evaluation::Computed(b)) => {
                    for (x, y) in a.iter().zip(b) {
                        let c = compare(&x.values, &x.shape, &y.values, &y.shape, dtype, tolerance);
                        if !c.passed() {
                            let detail = describe_comparison(&c, name, reference, tolerance.rtol, tolerance.atol);
                            return Err(format!("{dtype} {reduction} {}: {detail}", x.name));
                        }
                    }
                }
                (other, _) => return Err(format!("{dtype} {reduction}: {name}: {other:?}")),
            }
            // Layouts: the subject on transposed, strided and expanded inputs gives its
            // contiguous run's values, bit for bit (libtorch's own layout bugs are the checker's).
            if subject.in_process() {
                layouts_agree(subject.as_ref(), spec, &args, (dtype, reduction, derivatives))?;
            }
        }
    }
    Ok(())
}

/// `Err` describes the first layout whose run differs from the contiguous one.
fn layouts_agree(
    subject: &dyn Implementation,
    spec: &'static LossSpec,
    args: &crate::catalog::Args,
    (dtype, reduction, derivatives): (DType, crate::Reduction, crate::implementation::Derivatives),
) -> Result<(), String> {
    for layout in Layout::ALL {
        let Ok(Some((viewed, contiguous))) = layout.apply(args) else { continue };
        let input = |args| LossInput::new(spec, args, dtype, reduction).with(derivatives);
        let exact = crate::fixture::Tolerance { rtol: 0.0, atol: 0.0 };
        let check = layout_check(subject, (&input(&viewed), &input(&contiguous)), exact, dtype);
        if !check.passed {
            let detail = match (&check.comparison, &check.message) {
                (Some(c), message) => format!(
                    "{} of {} values differ, up to {} ulp{}",
                    c.mismatched,
                    c.numel,
                    c.max_ulp,
                    message.as_ref().map(|m| format!(", {m}")).unwrap_or_default()
                ),
                (None, message) => message.clone().unwrap_or_default(),
            };
            return Err(format!(
                "{dtype} {reduction}: {} on {} inputs differs from its contiguous run: {detail}",
                subject.name(),
                layout.name()
            ));
        }
    }
    Ok(())
}

/// Smaller sizes, then default options, then simpler values, for as long as the case still
/// disagrees.
pub fn shrink(registry: &Registry, spec: &'static LossSpec, seed: u64, mut size: Size) -> Case {
    let fails = |c: &Case| check_loss(registry, c, spec).is_err();
    for _ in 0..20 {
        let candidates = [
            Size { batch: size.batch - 1, ..size },
            Size { classes: size.classes - 1, ..size },
            Size { extra: size.extra - 1, ..size },
        ];
        match candidates
            .into_iter()
            .filter(|s| s.batch >= 0 && s.classes >= 1 && s.extra >= 0)
            .find(|s| fails(&generate(spec, seed, *s)))
        {
            Some(smaller) => size = smaller,
            None => break,
        }
    }
    let mut case = generate(spec, seed, size);
    for i in (0..case.options.len()).rev() {
        let mut without = case.clone();
        without.options.remove(i);
        if fails(&without) {
            case = without;
        }
    }
    for i in 0..case.inputs.len() {
        if case.inputs[i].1.dtype != crate::fixture::InputDType::Float {
            continue;
        }
        for simpler in [|x: f64| (x * 10.0).round() / 10.0, |x: f64| x.round()] {
            let mut candidate = case.clone();
            for v in candidate.inputs[i].1.data.iter_mut() {
                if let Ok(x) = float::from_json(v, DType::Float64) {
                    *v = float::to_json(simpler(x), DType::Float64);
                }
            }
            if fails(&candidate) {
                case = candidate;
            }
        }
    }
    case
}

/// Parameters as leaves in `layout`, with the same values.
fn laid_out(params: Vec<Tensor>, layout: Layout) -> Vec<Tensor> {
    params.into_iter().map(|p| layout.parameter(&p).unwrap_or(p)).collect()
}

/// The parameters' names in a drawn optimizer case.
const PARAM_NAMES: [&str; 3] = ["p0", "p1", "p2"];

/// An optimizer case of a run: random valid hyperparameters, one to three matrices and a random
/// gradient sequence, drawn once and announced to the implementations before it is checked.
pub struct OptimizerDraw {
    k: u64,
    spec: &'static OptimizerSpec,
    dtype: DType,
    drawn: Values,
    groups: Vec<OptimizerOptions>,
    params: Vec<Tensor>,
    group_of: Vec<usize>,
    grads: Vec<Vec<Tensor>>,
    /// Now and then the run goes through a GradScaler, with infs and NaNs injected.
    grad_scaler: Option<crate::train::grad_scaler::GradScalerOptions>,
    inject: Vec<(usize, usize, f64)>,
}

impl OptimizerDraw {
    pub fn new(spec: &'static OptimizerSpec, seed: u64, k: u64) -> Result<OptimizerDraw, String> {
        let mut rng = Rng::new(seed);
        let dtype = rng.pick(&DType::FUZZED);
        let drawn = (spec.sample)(&mut rng);
        let given: Vec<(String, OptionValue)> = drawn.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        let described = || format!("options {:?}", drawn.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>());
        let groups = vec![(spec.configure)(&given).map_err(|e| format!("{e} ({})", described()))?];
        let shapes: Vec<Vec<i64>> =
            (0..1 + rng.below(2)).map(|_| vec![1 + rng.below(4) as i64, 1 + rng.below(3) as i64]).collect();
        let tensor = |values: Vec<f64>, shape: &[i64]| Tensor::from_slice(&values).view(shape).to_kind(dtype.kind());
        let params: Vec<Tensor> =
            shapes.iter().map(|s| tensor(samples::moderate_values(&mut rng, samples::numel(s)), s)).collect();
        let steps = 1 + rng.below(15) as usize;
        let mut grads_rng = Rng::new(seed ^ 0x5eed);
        let grads = (0..steps)
            .map(|_| {
                shapes
                    .iter()
                    .map(|s| {
                        let zero = grads_rng.chance(0.1);
                        let n = samples::numel(s);
                        let g =
                            tensor(if zero { vec![0.0; n] } else { samples::gradient_values(&mut grads_rng, n) }, s);
                        // By rows, as an embedding's gradient is.
                        if spec.sparse_gradients {
                            g.to_sparse_sparse_dim(1)
                        } else {
                            g
                        }
                    })
                    .collect()
            })
            .collect();
        // Now and then the parameters are laid out otherwise: stored transposed, or every other
        // column of a wider buffer (each reference gets them so: libtorch's paths keep the
        // layout, PyTorch in Python gets the values).
        let mut layout_rng = Rng::new(seed ^ 0x1a70);
        let params = match layout_rng.below(4) {
            0 => laid_out(params, Layout::Transposed),
            1 => laid_out(params, Layout::Strided),
            _ => params,
        };
        let group_of = vec![0; params.len()];
        // A GradScaler for the optimizers stepped with dense gradients, as torch.amp allows.
        let mut scaler_rng = Rng::new(seed ^ 0xa3f);
        let (mut grad_scaler, mut inject) = (None, Vec::new());
        if !spec.closure && !spec.sparse_gradients && scaler_rng.chance(0.25) {
            grad_scaler = Some(crate::train::grad_scaler::GradScalerOptions {
                init_scale: scaler_rng.pick(&[1.0, 256.0, 65536.0, 2f64.powi(100)]),
                growth_factor: scaler_rng.pick(&[2.0, 4.0]),
                backoff_factor: scaler_rng.pick(&[0.5, 0.25]),
                growth_interval: 1 + scaler_rng.below(4) as i64,
                enabled: true,
            });
            for k in 1..=steps {
                if scaler_rng.chance(0.15) {
                    let i = scaler_rng.below(params.len() as u64) as usize;
                    inject.push((k, i, scaler_rng.pick(&[f64::INFINITY, f64::NAN, f64::NEG_INFINITY])));
                }
            }
        }
        Ok(OptimizerDraw { k, spec, dtype, drawn, groups, params, group_of, grads, grad_scaler, inject })
    }

    pub fn run(&self) -> OptimizerRun<'_> {
        OptimizerRun {
            grad_scaler: self.grad_scaler.as_ref(),
            inject: &self.inject,
            ..OptimizerRun::new(
                self.spec.id,
                &self.groups,
                &self.params,
                &PARAM_NAMES[..self.params.len()],
                &self.group_of,
                self.grads.len(),
                RunGradients::Given(&self.grads),
            )
        }
    }

    fn describe(&self) -> String {
        let options = self.drawn.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
        match &self.grad_scaler {
            Some(s) => format!("options {options:?}, grad scaler {s:?}, injected {:?}", self.inject),
            None => format!("options {options:?}"),
        }
    }
}

/// `side` alone over the draw's gradients (or its objective, with a closure), compared with
/// nothing: whether it runs to the end.
fn run_alone(draw: &OptimizerDraw, side: (&str, Box<dyn Stepper>)) -> Result<(), String> {
    let run = draw.run();
    let mut sides = vec![side];
    let mut given = |step: usize, _: &[Tensor]| -> crate::Result<Vec<Tensor>> {
        Ok(draw.grads[step - 1].iter().map(Tensor::shallow_clone).collect())
    };
    let evaluate = |params: &[Tensor]| separable_quadratic(params, &draw.grads);
    let gradients = if draw.spec.closure {
        Gradients::Closure(&evaluate)
    } else {
        Gradients::Lockstep { source: 0, f: &mut given }
    };
    run_steps(&mut sides, &run, gradients, &mut |_, _| Ok(()))
}

/// Lockstep over a random gradient sequence: each subject against its primary reference,
/// parameters and buffers after every step.
pub fn check_optimizer(registry: &Registry, spec: &'static OptimizerSpec, seed: u64) -> Result<(), String> {
    let draw = OptimizerDraw::new(spec, seed, 0)?;
    registry.prepare_optimizers(&[draw.run()]);
    check_optimizer_draw(registry, &draw)
}

fn check_optimizer_draw(registry: &Registry, draw: &OptimizerDraw) -> Result<(), String> {
    let tolerance = default_tolerance(draw.dtype);
    let run = draw.run();
    let build = |i: &dyn Implementation| i.optimizer(&run);
    for subject in &registry.subjects {
        let Some(mine) = build(subject.as_ref()) else { continue };
        let mut sides: Vec<(&str, Box<dyn Stepper>)> = vec![(subject.name(), mine.map_err(|e| e.to_string())?)];
        // Against its primary reference: the first that runs the configuration (libtorch's C++
        // optimizer, or torch.optim's for-loop path). The other paths of the same library
        // (fused kernels, foreach) round differently by design; the fixtures compare them all,
        // with tolerances that say so where needed. In float16 and bfloat16 only a reference
        // that follows the subject's code can be matched step by step for the whole run.
        let follows =
            |r: &dyn Implementation| OtherRoundingOrder::applies(draw.dtype, subject.as_ref(), r, &run).is_none();
        for reference in &registry.references {
            match build(reference.as_ref()) {
                // Python that cannot run here is not a finding; the fixtures cover that case.
                Some(Err(crate::Error::Unavailable(_))) | None => {}
                // A reference that refuses the run (float16 gradients to a GradScaler) agrees
                // with a subject that refuses it too.
                Some(Err(refusal)) => {
                    return match run_alone(draw, sides.remove(0)) {
                        Err(_) => Ok(()),
                        Ok(()) => Err(format!(
                            "{}: {refusal}, but {} runs ({})",
                            reference.name(),
                            subject.name(),
                            draw.describe()
                        )),
                    };
                }
                Some(Ok(stepper)) if follows(reference.as_ref()) => {
                    sides.push((reference.name(), stepper));
                    break;
                }
                Some(Ok(_)) => {}
            }
        }
        let mut gradients = |step: usize, _: &[Tensor]| -> crate::Result<Vec<Tensor>> {
            Ok(draw.grads[step - 1].iter().map(Tensor::shallow_clone).collect())
        };
        let mut compare_sides = |step: usize, sides: &[(&str, Box<dyn Stepper>)]| -> Result<(), String> {
            let (mine, others) = sides.split_first().expect("the subject");
            for (name, side) in others {
                for i in 0..draw.params.len() {
                    let theirs = side.buffers(i).map_err(|e| e.to_string())?;
                    let mut pairs = vec![(
                        "param".to_owned(),
                        mine.1.params()[i].shallow_clone(),
                        side.params()[i].shallow_clone(),
                    )];
                    for (buffer, t) in mine.1.buffers(i).map_err(|e| e.to_string())? {
                        if let Some((_, other)) = theirs.iter().find(|(n, _)| *n == buffer) {
                            pairs.push((buffer, t, other.shallow_clone()));
                        }
                    }
                    for (label, a, b) in pairs {
                        let (a, b) = (read(&label, &a)?, read(&label, &b)?);
                        let c = compare(&a.values, &a.shape, &b.values, &b.shape, draw.dtype, tolerance);
                        if !c.passed() {
                            let (k, n, rel) = (c.mismatched, c.numel, c.max_rel);
                            let at = format!("{} step {step}, param {i}, {label} against {name}", draw.dtype);
                            return Err(format!("{at}: {k} of {n} mismatched, max rel {rel:.2e}"));
                        }
                    }
                }
            }
            Ok(())
        };
        // An optimizer with a closure (LBFGS) minimises ½·Σ(w·θ − c)² instead, w and c drawn
        // from the gradient sequence, each side evaluating it where it chooses.
        let evaluate = |params: &[Tensor]| separable_quadratic(params, &draw.grads);
        let gradients = if draw.spec.closure {
            Gradients::Closure(&evaluate)
        } else {
            Gradients::Lockstep { source: 0, f: &mut gradients }
        };
        if let Err(e) = run_steps(&mut sides, &run, gradients, &mut compare_sides) {
            // Both sides failing on their own (LBFGS's line search overflowing float16) is
            // agreement.
            let fails_alone = |name: &str| {
                let implementation = std::iter::once(subject).chain(&registry.references).find(|i| i.name() == name);
                match implementation.and_then(|i| build(i.as_ref())) {
                    Some(Ok(stepper)) => run_alone(draw, (name, stepper)).is_err(),
                    _ => true,
                }
            };
            let names: Vec<&str> = sides.iter().map(|(n, _)| *n).collect();
            if names.len() < 2 || !names.iter().all(|n| fails_alone(n)) {
                return Err(format!("{e} ({})", draw.describe()));
            }
        }
    }
    Ok(())
}

/// ½·Σ(w·θ − c)² over the parameters, with c the first drawn gradient and w = |last| + ½; its
/// value and gradient.
fn separable_quadratic(params: &[Tensor], grads: &[Vec<Tensor>]) -> crate::Result<(f64, Vec<Tensor>)> {
    tch::with_grad(|| {
        let leaves = crate::optim::leaves(params)?;
        let (targets, last) = (&grads[0], &grads[grads.len() - 1]);
        let mut terms = Vec::new();
        for ((p, c), w) in leaves.iter().zip(targets).zip(last) {
            let w = w.f_abs()?.f_add_scalar(0.5)?;
            terms.push(p.f_mul(&w)?.f_sub(c)?.f_square()?.f_sum(None)?.f_mul_scalar(0.5)?);
        }
        let loss = Tensor::f_stack(&terms, 0)?.f_sum(None)?;
        let grads = Tensor::f_run_backward(&[&loss], &leaves, false, false)?;
        Ok((loss.f_double_value(&[])?, grads))
    })
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

/// Cases are drawn and announced to the implementations in chunks this long, so that one that
/// runs out of process (PyTorch in Python) gets them as a batch.
const CHUNK: u64 = 256;

/// A loss case of a run: drawn once, announced to the implementations, then checked.
struct LossDraw {
    k: u64,
    spec: &'static LossSpec,
    size: Size,
    sample_seed: u64,
    case: Case,
}

/// An optimizer case of a chunk, or the case index and why it could not be drawn.
type DrawnOptimizer = Result<OptimizerDraw, (u64, String)>;

/// Cases `first..first + CHUNK` of `seed` (case k is op `k % total_ops`), told to the
/// implementations at once (every reduction of each loss; each optimizer's whole run).
fn draw_chunk(
    registry: &Registry,
    (losses, optimizers): (&[&'static LossSpec], &[&'static OptimizerSpec]),
    total_ops: u64,
    seed: u64,
    first: u64,
    cases: u64,
) -> (Vec<LossDraw>, Vec<DrawnOptimizer>) {
    let draws: Vec<LossDraw> = (first..cases.min(first + CHUNK))
        .filter_map(|k| {
            let spec = *losses.get((k % total_ops) as usize)?;
            let mut rng = Rng::new(case_seed(seed, k));
            let size = Size::draw(&mut rng);
            let sample_seed = rng.next_u64();
            Some(LossDraw { k, spec, size, sample_seed, case: generate(spec, sample_seed, size) })
        })
        .collect();
    let calls: Vec<(&LossDraw, crate::catalog::Args)> = draws
        .iter()
        .filter_map(|d| Some((d, materialize::loss_args(&d.case, d.spec, d.case.dtypes[0]).ok()?)))
        .collect();
    let inputs: Vec<LossInput> =
        calls.iter().map(|(d, args)| LossInput::new(d.spec, args, d.case.dtypes[0], d.spec.reductions()[0])).collect();
    registry.prepare(&inputs);
    let optimizer_draws: Vec<DrawnOptimizer> = (first..cases.min(first + CHUNK))
        .filter_map(|k| {
            let which = (k % total_ops) as usize;
            let spec = *optimizers.get(which.checked_sub(losses.len())?)?;
            Some(OptimizerDraw::new(spec, case_seed(seed, k), k).map_err(|e| (k, e)))
        })
        .collect();
    let runs: Vec<OptimizerRun> = optimizer_draws.iter().flatten().map(OptimizerDraw::run).collect();
    registry.prepare_optimizers(&runs);
    (draws, optimizer_draws)
}

/// Runs case 0, 1, 2, … of `seed` over the selected ops until `cases` cases or `deadline`,
/// calling `progress` with the number of cases done after each one.
pub fn run(
    registry: &Registry,
    seed: u64,
    cases: u64,
    deadline: std::time::Instant,
    ops: &[String],
    progress: &mut dyn FnMut(u64),
) -> Summary {
    let wanted = |id: &str| ops.is_empty() || ops.iter().any(|o| o == id);
    let losses: Vec<&'static LossSpec> = LOSSES.iter().filter(|l| wanted(l.id)).collect();
    let optimizers: Vec<&'static OptimizerSpec> = OPTIMIZERS.iter().filter(|o| wanted(o.id)).collect();
    let schedulers: Vec<&'static SchedulerSpec> = SCHEDULERS.iter().filter(|s| wanted(s.id)).collect();
    let clipping: Vec<&'static ClipSpec> = CLIPPING.iter().filter(|c| wanted(c.id)).collect();
    let total_ops = (losses.len() + optimizers.len() + schedulers.len() + clipping.len()) as u64;
    let drawn_ops = losses.len() + optimizers.len();
    let mut summary = Summary { cases: 0, per_op: Vec::new(), findings: Vec::new() };
    if total_ops == 0 {
        return summary;
    }
    let mut counts = vec![0u64; total_ops as usize];
    let ops = (losses.as_slice(), optimizers.as_slice());
    let mut next = draw_chunk(registry, ops, total_ops, seed, 0, cases);
    let mut first = 0;
    'run: while first < cases {
        // The next chunk goes out now, so that Python works on it while this one runs.
        let (current, current_optimizers) =
            std::mem::replace(&mut next, draw_chunk(registry, ops, total_ops, seed, first + CHUNK, cases));
        let mut draws = current.into_iter().peekable();
        let mut optimizer_draws = current_optimizers.into_iter();
        for k in first..cases.min(first + CHUNK) {
            if std::time::Instant::now() >= deadline {
                break 'run;
            }
            let which = (k % total_ops) as usize;
            counts[which] += 1;
            summary.cases += 1;
            progress(summary.cases);
            if which >= drawn_ops {
                // A scheduler or clipping case, drawn here: each is quick, in process or in Python.
                let (op, case) = match schedulers.get(which - drawn_ops) {
                    Some(spec) => (spec.id, training::schedule_case(spec, case_seed(seed, k))),
                    None => {
                        let spec = clipping[which - drawn_ops - schedulers.len()];
                        (spec.id, training::clip_case(spec, case_seed(seed, k)))
                    }
                };
                if let Err(message) = training::check(registry, &case) {
                    summary.findings.push(Finding { op: op.to_owned(), case_index: k, message, case: None });
                }
            } else if let Some(d) = draws.next_if(|d| d.k == k) {
                if let Err(message) = check_loss(registry, &d.case, d.spec) {
                    let mut small = shrink(registry, d.spec, d.sample_seed, d.size);
                    small.name = format!("fuzz-{seed}-{k}");
                    small.source = format!("tch-parity fuzz --seed {seed}, case {k}");
                    small.note = Some(format!("Found by the fuzzer: {message}"));
                    let op = d.spec.id.to_owned();
                    summary.findings.push(Finding { op, case_index: k, message, case: Some(small) });
                }
            } else {
                let spec = optimizers[which - losses.len()];
                let checked = match optimizer_draws.next() {
                    Some(Ok(draw)) if draw.k == k => check_optimizer_draw(registry, &draw),
                    Some(Err((drawn_k, message))) if drawn_k == k => Err(message),
                    _ => unreachable!("every optimizer case of the chunk was drawn"),
                };
                if let Err(message) = checked {
                    summary.findings.push(Finding { op: spec.id.to_owned(), case_index: k, message, case: None });
                }
            }
        }
        first += CHUNK;
    }
    let ids = losses
        .iter()
        .map(|l| l.id)
        .chain(optimizers.iter().map(|o| o.id))
        .chain(schedulers.iter().map(|s| s.id))
        .chain(clipping.iter().map(|c| c.id));
    summary.per_op = ids.zip(counts).map(|(id, n)| (id.to_owned(), n)).collect();
    summary
}
