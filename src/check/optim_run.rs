//! Runs optimizer cases: each optimizer under test against every reference that implements the
//! configuration, in lockstep (every side gets the same gradient) and free-running (each side
//! follows its own trajectory), comparing parameters and every state buffer after every step.
//! [`run_steps`] is the one loop that drives optimizers, shared with the fuzzer.

use super::compare::{compare, compare_element, Comparison};
use super::materialize;
use super::run::{rejection_checks, Check, Row, FIXTURE, REJECTS};
use crate::catalog::objectives::{self, ObjectiveInfo};
use crate::catalog::OptimizerSpec;
use crate::error::catch_panic;
use crate::fixture::{Case, DType, ExpectedTensor, Outcome, Outputs, Tolerance, Trajectory, TRAJECTORY};
use crate::implementation::replay::{Replay, Series};
use crate::implementation::{Evaluation, Implementation, OptimizerRun, Registry, RunGradients};
use crate::optim::{OptimizerOptions, Stepper};
use std::collections::BTreeMap;
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Lockstep,
    FreeRunning,
}

impl Mode {
    /// The modes an optimizer runs in: free only for one that steps with a closure.
    pub fn of(spec: &OptimizerSpec) -> &'static [Mode] {
        if spec.closure {
            &[Mode::FreeRunning]
        } else {
            &[Mode::Lockstep, Mode::FreeRunning]
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Lockstep => "lockstep",
            Mode::FreeRunning => "free-running",
        }
    }
}

/// An optimizer being driven, with its implementation's name.
pub type Side<'a> = (&'a str, Box<dyn Stepper>);

/// The gradients of step `k` at the parameters given.
pub type StepGradients<'a> = dyn FnMut(usize, &[Tensor]) -> crate::Result<Vec<Tensor>> + 'a;

/// Looks at every side after step `k`; an error stops the run.
pub type AfterStep<'a> = dyn FnMut(usize, &[Side]) -> Result<(), String> + 'a;

/// Where each step's gradients come from.
pub enum Gradients<'a> {
    /// Every side gets the same gradients: `f(step, params)` at the parameters of `sides[source]`.
    Lockstep { source: usize, f: &'a mut StepGradients<'a> },
    /// Each side follows its own trajectory: `f(params)` at its own parameters.
    FreeRunning(&'a GradientAt<'a>),
    /// Each side steps with a closure (LBFGS), evaluating `f(params)`, loss and gradients, where
    /// and as often as it chooses.
    Closure(&'a EvaluateAt<'a>),
}

impl<'a> Gradients<'a> {
    /// A free run of `setup`'s optimizer on its objective: with gradients, or with a closure for
    /// an optimizer that takes one.
    pub(crate) fn free(setup: &Setup, gradient: &'a GradientAt<'a>, evaluate: &'a EvaluateAt<'a>) -> Gradients<'a> {
        if setup.spec.closure {
            Gradients::Closure(evaluate)
        } else {
            Gradients::FreeRunning(gradient)
        }
    }
}

/// The objective's gradient, and its loss with the gradient, at given parameters.
type GradientAt<'a> = dyn Fn(&[Tensor]) -> crate::Result<Vec<Tensor>> + 'a;
type EvaluateAt<'a> = dyn Fn(&[Tensor]) -> crate::Result<(f64, Vec<Tensor>)> + 'a;

/// Steps every side through `run`'s steps, each step's gradients without those `run` leaves
/// out (`no_grad`). After step k, `after_step(k, sides)` looks at them (and may stop the run
/// with an error); then the learning rate changes that `run` gives for k. A panic in any side is
/// an error with its message.
pub fn run_steps(
    sides: &mut [Side],
    run: &OptimizerRun,
    mut gradients: Gradients,
    after_step: &mut AfterStep,
) -> Result<(), String> {
    catch_panic(|| -> Result<(), String> {
        for step in 1..=run.steps {
            let shared = match &mut gradients {
                Gradients::Lockstep { source, f } => Some(match sides[*source].1.recorded_gradients(step) {
                    // A replayed run gives the gradients it followed.
                    Some(recorded) => recorded,
                    None => f(step, &sides[*source].1.params()).map_err(|e| e.to_string())?,
                }),
                Gradients::FreeRunning(_) | Gradients::Closure(_) => None,
            };
            // Free-running, each side's gradient at its own parameters, computed once per
            // distinct set of parameters (the objective is a function of them alone, and sides
            // that agree bit for bit share a trajectory); a replay needs none.
            let mut own: Vec<Option<Vec<Tensor>>> = (0..sides.len()).map(|_| None).collect();
            if let Gradients::FreeRunning(f) = &gradients {
                let mut computed: Vec<(Vec<u64>, Vec<Tensor>)> = Vec::new();
                for (k, (_, side)) in sides.iter().enumerate() {
                    if side.replays_a_recording() {
                        continue;
                    }
                    let params = side.params();
                    let key = bits(&params)?;
                    let grads = match computed.iter().find(|(b, _)| *b == key) {
                        Some((_, g)) => g.iter().map(Tensor::shallow_clone).collect(),
                        None => {
                            let g = f(&params).map_err(|e| e.to_string())?;
                            computed.push((key, g.iter().map(Tensor::shallow_clone).collect()));
                            g
                        }
                    };
                    own[k] = Some(grads);
                }
            }
            for ((name, side), own) in sides.iter_mut().zip(own) {
                if let Gradients::Closure(f) = &gradients {
                    let mut closure = |params: &[Tensor]| f(params);
                    side.step_with_closure(&mut closure).map_err(|e| format!("{name}, step {step}: {e}"))?;
                    continue;
                }
                let grads = match (&shared, own) {
                    (Some(g), _) => g.iter().map(Tensor::shallow_clone).collect(),
                    (None, Some(g)) => g,
                    (None, None) => Vec::new(),
                };
                let grads = run.mask(step, grads);
                side.step(&grads).map_err(|e| format!("{name}, step {step}: {e}"))?;
            }
            after_step(step, sides)?;
            for &(k, lr) in run.lr_schedule {
                if k == step {
                    for (_, side) in sides.iter_mut() {
                        side.set_lr(lr).map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        Ok(())
    })
    .and_then(|r| r)
}

/// Every parameter's values as bits (float32 widened exactly): a key that two sides share only
/// when they hold the same parameters bit for bit.
fn bits(params: &[Tensor]) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for p in params {
        let values = values_of(p).map_err(|e| e.to_string())?;
        out.push(values.len() as u64);
        out.extend(values.into_iter().map(f64::to_bits));
    }
    Ok(out)
}

/// Everything a case needs to build its optimizers.
pub struct Setup<'c> {
    pub spec: &'static OptimizerSpec,
    pub objective: &'static ObjectiveInfo,
    pub params: Vec<Tensor>,
    pub data: Vec<Tensor>,
    /// `data` by name, as an out-of-process implementation is sent it.
    pub named_data: Vec<(&'static str, Tensor)>,
    pub groups: Vec<OptimizerOptions>,
    pub group_of: Vec<usize>,
    pub trajectory: Trajectory,
    /// `(i, steps)`: parameter `i` has no gradient at these steps.
    pub no_grad: Vec<(usize, Vec<usize>)>,
    /// What the fixture recorded for this dtype, by variant: the stand-in for a reference that
    /// cannot run here.
    pub recorded: &'c [(String, Outputs)],
    pub dtype: DType,
    /// The scheduler stepped after every optimizer step.
    pub scheduler: Option<crate::catalog::SchedulerConfig>,
    /// The loss scaling around every step.
    pub grad_scaler: Option<crate::train::grad_scaler::GradScalerOptions>,
    /// `(k, i, value)`: the injected gradient values, by parameter index.
    pub inject: Vec<(usize, usize, f64)>,
}

/// A stepper, or why it could not be built.
pub type Built = Result<Box<dyn Stepper>, String>;

/// Recorded outputs by variant, as `regen` stores them for one dtype.
pub type RecordedVariants = Vec<(String, Vec<(String, ExpectedTensor)>)>;

/// The fixture variant that records `reference`'s trajectory: "trajectory" for the first
/// reference, "trajectory-<name>" for the others that are recorded (PyTorch's foreach path).
pub fn variant_of(reference: &str, first: bool) -> String {
    if first {
        TRAJECTORY.to_owned()
    } else {
        format!("{TRAJECTORY}-{reference}")
    }
}

/// The fixture variants of a subject (none) followed by `references`, as [`simulate`] takes them.
pub fn side_variants(references: &[&dyn Implementation]) -> Vec<String> {
    std::iter::once(String::new())
        .chain(references.iter().enumerate().map(|(k, r)| variant_of(r.name(), k == 0)))
        .collect()
}

impl Setup<'_> {
    /// The run every implementation is asked for.
    pub fn run(&self) -> OptimizerRun<'_> {
        OptimizerRun {
            optimizer: self.spec.id,
            groups: &self.groups,
            params: &self.params,
            names: self.objective.params,
            group_of: &self.group_of,
            steps: self.trajectory.steps,
            lr_schedule: &self.trajectory.lr_schedule,
            gradients: RunGradients::Objective { id: self.objective.id, data: &self.named_data },
            no_grad: &self.no_grad,
            scheduler: self.scheduler.as_ref(),
            metrics: &self.trajectory.metrics,
            grad_scaler: self.grad_scaler.as_ref(),
            inject: &self.inject,
        }
    }

    /// `implementation`'s optimizer for this case; one that cannot run here is replayed from the
    /// fixture's recording of it (`variant`; [`stand_in_notes`] says so). `None`: no such
    /// optimizer.
    pub fn build(&self, implementation: &dyn Implementation, variant: &str) -> Option<Built> {
        let name = implementation.name();
        Some(match implementation.optimizer(&self.run())? {
            Ok(stepper) => Ok(stepper),
            Err(crate::Error::Unavailable(why)) => match self.recorded.iter().find(|(v, _)| v == variant) {
                Some((_, outputs)) => {
                    let series: Vec<Series> =
                        outputs.iter().map(|(label, t)| Series { label, shape: &t.shape, values: &t.values }).collect();
                    let replay = Replay::new(
                        self.objective.params,
                        &self.params,
                        &series,
                        self.trajectory.steps,
                        self.dtype.kind(),
                    );
                    replay.map(|r| Box::new(r) as Box<dyn Stepper>).map_err(|e| e.to_string())
                }
                None => Err(format!("{name} not run ({why}), and the fixture has no {variant} recording")),
            },
            Err(e) => Err(format!("{name}: {e}")),
        })
    }
}

/// Options for every group: the case's options for the first, those a further group changes on
/// top of them.
pub fn group_options(
    case: &Case,
    spec: &'static OptimizerSpec,
    trajectory: &Trajectory,
) -> Result<Vec<OptimizerOptions>, String> {
    let specs = spec.option_specs();
    let first = materialize::options(&case.options, &specs)?;
    let mut groups = vec![(spec.configure)(&first)?];
    for g in &trajectory.groups {
        let mut options = first.clone();
        for (name, value) in materialize::options(&g.options, &specs)? {
            options.retain(|(n, _)| *n != name);
            options.push((name, value));
        }
        groups.push((spec.configure)(&options)?);
    }
    Ok(groups)
}

pub fn setup<'c>(case: &'c Case, spec: &'static OptimizerSpec, dtype: DType) -> Result<Setup<'c>, String> {
    let trajectory = case.trajectory().cloned().ok_or("not an optimizer case")?;
    let objective = objectives::find(&trajectory.objective).ok_or("unknown objective")?;
    let inputs = materialize::inputs(case, dtype)?;
    let take = |name: &&str| -> Result<Tensor, String> {
        inputs.iter().find(|(n, _)| n == name).map(|(_, t)| t.detach()).ok_or_else(|| format!("missing input {name}"))
    };
    let params = objective.params.iter().map(take).collect::<Result<Vec<_>, _>>()?;
    let data = objective.data.iter().map(take).collect::<Result<Vec<_>, _>>()?;
    let group_of = objective
        .params
        .iter()
        .map(|p| trajectory.groups.iter().position(|g| g.params.iter().any(|q| q == p)).map_or(0, |k| k + 1))
        .collect();
    let groups = group_options(case, spec, &trajectory)?;
    let named_data = objective.data.iter().copied().zip(data.iter().map(Tensor::shallow_clone)).collect();
    let recorded = case.expected().and_then(|e| e.values.get(&dtype)).map_or(&[][..], Vec::as_slice);
    let no_grad = trajectory
        .no_grad
        .iter()
        .filter_map(|(name, steps)| Some((objective.params.iter().position(|p| p == name)?, steps.clone())))
        .collect();
    let scheduler = trajectory.scheduler.as_ref().map(crate::catalog::schedulers::parse).transpose()?;
    let grad_scaler = trajectory.grad_scaler.as_ref().map(crate::catalog::grad_scaler::configure).transpose()?;
    let mut inject = Vec::new();
    for (k, name, value) in &trajectory.inject {
        let i =
            objective.params.iter().position(|p| p == name).ok_or_else(|| format!("inject: no parameter {name}"))?;
        inject.push((*k, i, *value));
    }
    Ok(Setup {
        spec,
        objective,
        params,
        data,
        named_data,
        groups,
        group_of,
        trajectory,
        no_grad,
        recorded,
        dtype,
        scheduler,
        grad_scaler,
        inject,
    })
}

/// Every parameter and buffer of one side after every step: label ("param.x", "exp_avg.x") to
/// the values of each step it existed at, with the per-step shape.
#[derive(Default, Clone)]
pub struct History {
    pub series: BTreeMap<String, (Vec<i64>, Vec<Vec<f64>>)>,
}

impl History {
    /// The trajectory of `label` as one tensor's values and shape: [steps, …].
    pub fn trajectory(&self, label: &str) -> Option<ExpectedTensor> {
        let (shape, steps) = self.series.get(label)?;
        Some(ExpectedTensor {
            shape: std::iter::once(steps.len() as i64).chain(shape.iter().copied()).collect(),
            values: steps.concat(),
        })
    }
}

/// A history while it is recorded: each tensor's values read into Rust as the step ends (one
/// copy of its bytes, no tensor operation: recording was a quarter of an optimizer check's time
/// when each step copied tensors that were stacked and converted at the end).
#[derive(Default)]
pub(crate) struct Recording {
    history: History,
}

impl Recording {
    pub(crate) fn record(&mut self, side: &dyn Stepper, names: &[&str]) -> Result<(), String> {
        for (i, (param, name)) in side.params().iter().zip(names).enumerate() {
            self.push(format!("param.{name}"), param)?;
            for (buffer, t) in side.buffers(i).map_err(|e| e.to_string())? {
                self.push(format!("{buffer}.{name}"), &t)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, label: String, t: &Tensor) -> Result<(), String> {
        let values = values_of(t).map_err(|e| format!("{label}: {e}"))?;
        let (shape, steps) = self.history.series.entry(label.clone()).or_insert_with(|| (t.size(), Vec::new()));
        if *shape != t.size() {
            return Err(format!("{label} changed shape from {shape:?} to {:?}", t.size()));
        }
        steps.push(values);
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<History, String> {
        Ok(self.history)
    }
}

/// A dense tensor's values as f64 (exact for every dtype here), copied out directly: no tensor
/// operation, which for float16 and bfloat16 (a conversion and a reshape) was a third of the time
/// spent recording.
pub(crate) fn values_of(t: &Tensor) -> Result<Vec<f64>, tch::TchError> {
    fn read<T: tch::kind::Element + Default + Clone>(
        t: &Tensor,
        widen: fn(T) -> f64,
    ) -> Result<Vec<f64>, tch::TchError> {
        let n = t.numel();
        let mut v = vec![T::default(); n];
        t.f_copy_data(&mut v, n)?;
        Ok(v.into_iter().map(widen).collect())
    }
    match t.f_kind()? {
        tch::Kind::Double => read::<f64>(t, |x| x),
        tch::Kind::Float => read::<f32>(t, f64::from),
        tch::Kind::Half => read::<half::f16>(t, f64::from),
        // tch 0.26 gives half::bf16 the element kind Half (tch-rs#995), so its typed copy refuses a bfloat16
        // tensor: the bytes are read instead.
        tch::Kind::BFloat16 => {
            let n = t.numel();
            let mut bytes = vec![0u8; 2 * n];
            t.f_copy_data_u8(&mut bytes, n)?;
            Ok(bytes.chunks_exact(2).map(|b| f64::from(half::bf16::from_le_bytes([b[0], b[1]]))).collect())
        }
        tch::Kind::Int64 => read::<i64>(t, |x| x as f64),
        _ => Vec::<f64>::try_from(&t.f_to_kind(tch::Kind::Double)?.f_reshape([-1])?),
    }
}

/// The references that implement these groups' options, in the registry's order.
pub fn references<'r>(registry: &'r Registry, setup: &Setup) -> Vec<&'r dyn Implementation> {
    registry.references.iter().map(|r| r.as_ref()).filter(|r| r.has_optimizer(&setup.run())).collect()
}

/// What a row says of a reference replayed from the fixture.
fn stand_in_note(name: &str, why: &str) -> String {
    format!("{name} not run ({why}): its trajectory recorded in the fixture stands in")
}

/// The notes of the references that cannot run here and are replayed from the fixture (only
/// one recorded whole can be).
pub fn stand_in_notes(setup: &Setup, references: &[&dyn Implementation]) -> Vec<String> {
    references
        .iter()
        .filter(|r| r.recorded_in_full())
        .filter_map(|r| match r.optimizer(&setup.run()) {
            Some(Err(crate::Error::Unavailable(why))) => Some(stand_in_note(r.name(), &why)),
            _ => None,
        })
        .collect()
}

/// Runs `implementations` over the case's steps, each recording its history; `variants[i]` is
/// where the fixture recorded implementation `i` (its stand-in when it cannot run here).
pub fn simulate(
    setup: &Setup,
    implementations: &[&dyn Implementation],
    variants: &[String],
    mode: Mode,
) -> Result<Vec<History>, String> {
    Ok(simulate_sides(setup, implementations, variants, mode)?.0)
}

/// [`simulate`], and whether the side lockstep takes its gradients from gives recorded ones.
fn simulate_sides(
    setup: &Setup,
    implementations: &[&dyn Implementation],
    variants: &[String],
    mode: Mode,
) -> Result<(Vec<History>, bool), String> {
    let mut sides = Vec::new();
    for (implementation, variant) in implementations.iter().zip(variants) {
        let stepper = setup
            .build(*implementation, variant)
            .ok_or_else(|| format!("{} has no such optimizer", implementation.name()))?;
        sides.push((implementation.name(), stepper?));
    }
    let source = usize::from(sides.len() > 1);
    let source_gives_gradients = (1..=setup.trajectory.steps).any(|k| sides[source].1.recorded_gradients(k).is_some());
    let mut recordings: Vec<Recording> = sides.iter().map(|_| Recording::default()).collect();
    let gradient = |params: &[Tensor]| objectives::gradients(setup.objective, params, &setup.data);
    let evaluate = |params: &[Tensor]| objectives::evaluate(setup.objective, params, &setup.data);
    let mut shared = |_: usize, params: &[Tensor]| gradient(params);
    // In lockstep every side gets the gradient at the first reference's parameters.
    let gradients = match mode {
        Mode::Lockstep => Gradients::Lockstep { source, f: &mut shared },
        Mode::FreeRunning => Gradients::free(setup, &gradient, &evaluate),
    };
    let mut record = |_: usize, sides: &[Side]| -> Result<(), String> {
        for ((_, side), recording) in sides.iter().zip(&mut recordings) {
            recording.record(side.as_ref(), setup.objective.params)?;
        }
        Ok(())
    };
    run_steps(&mut sides, &setup.run(), gradients, &mut record)?;
    let histories = recordings.into_iter().map(Recording::finish).collect::<Result<_, _>>()?;
    Ok((histories, source_gives_gradients))
}

/// The histories of `implementations` in each of `modes`, lockstep first. A free run is only
/// simulated for the sides whose lockstep parameters left the source's: a side that held the
/// source's parameters bit for bit after every lockstep step would, free-running, be given the
/// same gradients at the same parameters at every step (the objective depends on the
/// parameters alone, and the source's free run is its lockstep run), so its free-running
/// history is its lockstep history. That holds when lockstep's gradients are computed here at
/// the source's parameters (a replayed source included), not when the source gives gradients
/// recorded elsewhere (live Python). Most sides agree bit for bit, and free runs were half of
/// an optimizer check's time.
pub fn simulate_modes(
    setup: &Setup,
    implementations: &[&dyn Implementation],
    variants: &[String],
    modes: &[Mode],
) -> Vec<(Mode, Result<Vec<History>, String>)> {
    let mut out: Vec<(Mode, Result<Vec<History>, String>)> = Vec::new();
    let mut lockstep: Option<(Vec<History>, bool)> = None;
    for &mode in modes {
        let histories = match (mode, &lockstep) {
            (Mode::Lockstep, _) => simulate_sides(setup, implementations, variants, mode).map(|(h, given)| {
                lockstep = Some((h.clone(), given));
                h
            }),
            (Mode::FreeRunning, Some((locked, false))) => free_from_lockstep(setup, implementations, variants, locked),
            (Mode::FreeRunning, _) => simulate(setup, implementations, variants, mode),
        };
        out.push((mode, histories));
    }
    out
}

/// The free-running histories, reusing the lockstep history of each side that tracked the source.
fn free_from_lockstep(
    setup: &Setup,
    implementations: &[&dyn Implementation],
    variants: &[String],
    locked: &[History],
) -> Result<Vec<History>, String> {
    let source = usize::from(locked.len() > 1);
    let tracked: Vec<bool> = locked.iter().map(|h| same_params(h, &locked[source])).collect();
    let (again, again_variants): (Vec<&dyn Implementation>, Vec<String>) = implementations
        .iter()
        .zip(variants)
        .zip(&tracked)
        .filter(|(_, t)| !**t)
        .map(|((i, v), _)| (*i, v.clone()))
        .unzip();
    let mut free =
        if again.is_empty() { Vec::new() } else { simulate(setup, &again, &again_variants, Mode::FreeRunning)? }
            .into_iter();
    Ok(locked
        .iter()
        .zip(&tracked)
        .map(|(h, t)| if *t { h.clone() } else { free.next().expect("one free history per side run") })
        .collect())
}

/// Whether two histories held the same parameters after every step, bit for bit (NaN included).
fn same_params(a: &History, b: &History) -> bool {
    fn params(h: &History) -> Vec<&(Vec<i64>, Vec<Vec<f64>>)> {
        h.series.iter().filter(|(l, _)| l.starts_with("param.")).map(|(_, s)| s).collect()
    }
    let (a, b) = (params(a), params(b));
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x.0 == y.0
                && x.1.len() == y.1.len()
                && x.1.iter().flatten().zip(y.1.iter().flatten()).all(|(p, q)| p.to_bits() == q.to_bits())
        })
}

/// How a float16 or bfloat16 run is compared with a reference that rounds in another order than
/// the code the subject follows ([`Implementation::optimizer_code`]). Each hand-written rule
/// follows one reference operation by operation (libtorch's C++ optimizer, or torch.optim's
/// for-loop where there is none) and matches it bit for bit in every dtype. The others cannot
/// all be matched at once in half precision: the fused kernels compute in float32 and round
/// once per buffer, the foreach
/// path and the other language's code apply constants differently (see `optim::Written`), and
/// a difference of one ulp in a 10- or 7-bit mantissa changes the next step's rounding, so the
/// trajectories part for good after a few steps. PyTorch compares its own fused and for-loop
/// paths in these dtypes the same way: over 7 steps (`kIterations` in test_optim.py's
/// `_test_derived_optimizers`), at atol = rtol = 5e-3 (the toleranceOverride on
/// `test_fused_matches_forloop` in common_optimizers.py: "the non-fused kernels have more dtype
/// cast operations").
pub struct OtherRoundingOrder;

impl OtherRoundingOrder {
    /// PyTorch's `kIterations`.
    pub const STEPS: usize = 7;
    /// PyTorch's tolerance for fused against for-loop in float16 and bfloat16.
    pub const TOLERANCE: Tolerance = Tolerance { rtol: 5e-3, atol: 5e-3 };

    /// The rule for `subject` against `reference` at `dtype`, when it applies: in half precision,
    /// unless both say they follow the same code.
    pub fn applies(
        dtype: DType,
        subject: &dyn Implementation,
        reference: &dyn Implementation,
        run: &OptimizerRun,
    ) -> Option<OtherRoundingOrder> {
        let mine = subject.optimizer_code(run);
        let same = mine.is_some() && mine == reference.optimizer_code(run);
        (dtype.is_half() && !same).then_some(OtherRoundingOrder)
    }

    /// Widens the row's tolerance to PyTorch's (never narrows it), with the reason.
    pub fn widen(&self, row: &mut Row) {
        row.rtol = row.rtol.max(Self::TOLERANCE.rtol);
        row.atol = row.atol.max(Self::TOLERANCE.atol);
        let why = format!(
            "{}: a path that rounds in another order than the one the subject follows, compared over the first {} \
             steps at rtol {:e}, atol {:e}, as PyTorch's test_fused_matches_forloop does",
            row.dtype.name(),
            Self::STEPS,
            row.rtol,
            row.atol
        );
        row.tolerance_override = Some(match row.tolerance_override.take() {
            Some(case) => format!("{case}; {why}"),
            None => why,
        });
    }

    /// The first [`Self::STEPS`] steps of a trajectory (steps first).
    pub fn first_steps(t: &ExpectedTensor) -> ExpectedTensor {
        let steps = t.shape.first().copied().unwrap_or(0).max(0) as usize;
        if steps <= Self::STEPS {
            return t.clone();
        }
        let per_step = t.values.len() / steps;
        let mut shape = t.shape.clone();
        shape[0] = Self::STEPS as i64;
        ExpectedTensor { shape, values: t.values[..Self::STEPS * per_step].to_vec() }
    }
}

/// The first step (from 1) at which `actual` leaves tolerance against `expected`.
pub fn first_failing_step(
    actual: &ExpectedTensor,
    expected: &ExpectedTensor,
    dtype: DType,
    tolerance: Tolerance,
) -> Option<usize> {
    let per_step = expected.values.len() / expected.shape.first().copied().unwrap_or(1).max(1) as usize;
    actual
        .values
        .iter()
        .zip(&expected.values)
        .position(|(&a, &b)| !compare_element(a, b, dtype, tolerance).passed)
        .map(|i| i / per_step.max(1) + 1)
}

/// The worst distance in ulp between `actual` and `expected` after each step.
pub fn per_step_ulp(actual: &ExpectedTensor, expected: &ExpectedTensor, dtype: DType) -> Vec<u64> {
    let steps = expected.shape.first().copied().unwrap_or(0).max(0) as usize;
    if steps == 0 || actual.values.len() != expected.values.len() {
        return Vec::new();
    }
    let per = expected.values.len() / steps;
    (0..steps)
        .map(|s| {
            let range = s * per..(s + 1) * per;
            let pairs = actual.values[range.clone()].iter().zip(&expected.values[range]);
            pairs.map(|(&a, &b)| super::compare::ulp_distance(a, b, dtype)).max().unwrap_or(0)
        })
        .collect()
}

fn comparison(a: &ExpectedTensor, b: &ExpectedTensor, dtype: DType, tolerance: Tolerance) -> Comparison {
    compare(&a.values, &a.shape, &b.values, &b.shape, dtype, tolerance)
}

pub fn run_case(
    registry: &Registry,
    spec: &'static OptimizerSpec,
    file: &str,
    case: &Case,
    dtypes: &[DType],
) -> Vec<Row> {
    let mut rows = Vec::new();
    for &dtype in case.dtypes.iter().filter(|d| dtypes.contains(d)) {
        for subject in &registry.subjects {
            rows.extend(subject_rows(registry, subject.as_ref(), spec, file, case, dtype));
        }
    }
    rows
}

fn subject_rows(
    registry: &Registry,
    subject: &dyn Implementation,
    spec: &'static OptimizerSpec,
    file: &str,
    case: &Case,
    dtype: DType,
) -> Vec<Row> {
    let name = subject.name();
    let row = |variant: &str, output: &str, checks: Vec<Check>| Row {
        checks,
        ..Row::new(file, case, dtype, variant, output, name)
    };
    let setup = match setup(case, spec, dtype) {
        Ok(s) => s,
        Err(e) => return vec![row("setup", "optimizer", vec![Check::failed(name, "setup", e)])],
    };
    if !subject.has_optimizer(&setup.run()) {
        return vec![Row { unsupported: true, ..row("construction", "unsupported", Vec::new()) }];
    }
    let references = references(registry, &setup);
    if let Outcome::Rejects(text) = &case.outcome {
        let built = |i: &dyn Implementation| construction(i, &setup);
        let mut row = row("construction", REJECTS, Vec::new());
        let reference = match references.first() {
            Some(r) => match built(*r) {
                // Only the subject's refusal can be checked here; `regen` and `check --live`
                // check the reference's message.
                Evaluation::Unavailable(why) => {
                    row.note = Some(format!("{} not run ({why}): its refusal is not checked here", r.name()));
                    None
                }
                evaluation => Some((r.name(), evaluation)),
            },
            None => None,
        };
        row.reference = reference.as_ref().map(|(n, _)| (*n).to_owned());
        row.checks =
            rejection_checks(text, (subject.name(), &built(subject)), reference.as_ref().map(|(n, e)| (*n, e)));
        return vec![row];
    }
    let notes = stand_in_notes(&setup, &references);
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    let variants = side_variants(&references);
    // The references that round as the subject does run the whole case; in float16 and
    // bfloat16 the others are compared over their first steps only, so they run only those.
    let (same, other): (Vec<usize>, Vec<usize>) = (0..references.len())
        .partition(|&k| OtherRoundingOrder::applies(dtype, subject, references[k], &setup.run()).is_none());
    let mut setup = setup;
    let mut blocks: Vec<(usize, usize, Vec<Row>)> = Vec::new();
    for (group, short) in [(same, false), (other, true)] {
        if group.is_empty() {
            continue;
        }
        if short {
            setup.trajectory.steps = setup.trajectory.steps.min(OtherRoundingOrder::STEPS);
        }
        let mut sides: Vec<&dyn Implementation> = vec![subject];
        sides.extend(group.iter().map(|&k| references[k]));
        let group_variants: Vec<String> =
            std::iter::once(variants[0].clone()).chain(group.iter().map(|&k| variants[k + 1].clone())).collect();
        for (m, (mode, histories)) in
            simulate_modes(&setup, &sides, &group_variants, Mode::of(spec)).into_iter().enumerate()
        {
            let histories = match histories {
                Ok(h) => h,
                Err(e) => {
                    blocks.push((
                        m,
                        group[0],
                        vec![row(mode.name(), "optimizer", vec![Check::failed(name, "setup", e)])],
                    ));
                    continue;
                }
            };
            for (g, &k) in group.iter().enumerate() {
                let compared = Compared {
                    mine: &histories[0],
                    theirs: &histories[g + 1],
                    reference: references[k],
                    recorded: case.expected().and_then(|e| e.outputs(dtype, &variants[k + 1])),
                    first: k == 0,
                    mode,
                    short,
                };
                blocks.push((m, k, compared.rows(&row, dtype, name, &note)));
            }
        }
    }
    // In the order of a run without groups: by mode, then by reference.
    blocks.sort_by_key(|(m, k, _)| (*m, *k));
    blocks.into_iter().flat_map(|(_, _, rows)| rows).collect()
}

/// The subject's history beside a reference's, in one mode; `short` when the reference
/// rounds in another order (compared over [`OtherRoundingOrder::STEPS`]).
struct Compared<'h> {
    mine: &'h History,
    theirs: &'h History,
    reference: &'h dyn Implementation,
    /// What the fixture recorded of the reference at this dtype, if anything.
    recorded: Option<&'h Outputs>,
    /// Whether it is the first reference, whose free-running parameters the fixture records.
    first: bool,
    mode: Mode,
    short: bool,
}

impl Compared<'_> {
    /// One row per series both record: the subject (`name`) against the reference, and
    /// free-running both against the fixture's recording of it.
    fn rows(
        &self,
        row: &dyn Fn(&str, &str, Vec<Check>) -> Row,
        dtype: DType,
        name: &str,
        note: &Option<String>,
    ) -> Vec<Row> {
        let reference = self.reference.name();
        let variant = format!("{}/{}", self.mode.name(), reference);
        let mut rows = Vec::new();
        for label in self.mine.series.keys().filter(|l| self.theirs.series.contains_key(*l)) {
            let mut row = row(&variant, label, Vec::new());
            row.reference = Some(reference.to_owned());
            row.note = note.clone();
            if self.short {
                OtherRoundingOrder.widen(&mut row);
            }
            let tolerance = row.tolerance();
            let (a, b) = (self.mine.trajectory(label).expect("listed"), self.theirs.trajectory(label).expect("listed"));
            row.first_failing_step = first_failing_step(&a, &b, dtype, tolerance);
            row.per_step_ulp = per_step_ulp(&a, &b, dtype);
            row.checks.push(Check::compared(name, reference, comparison(&a, &b, dtype, tolerance)));
            // The fixture records the first reference's free-running parameters, and every
            // buffer of each PyTorch path; a short run is compared with its first steps.
            let stored = self.recorded.and_then(|outs| outs.iter().find(|(n, _)| n == label)).map(|(_, t)| t);
            let stored = stored.map(|t| match self.short {
                true => std::borrow::Cow::Owned(OtherRoundingOrder::first_steps(t)),
                false => std::borrow::Cow::Borrowed(t),
            });
            let kept = label.starts_with("param.") || stored.is_some();
            if self.mode == Mode::FreeRunning && kept && (self.first || self.recorded.is_some()) {
                for (who, actual) in [(name, &a), (reference, &b)] {
                    row.checks.push(match &stored {
                        Some(s) => Check::compared(who, FIXTURE, comparison(actual, s, dtype, tolerance)),
                        None => Check::failed(
                            who,
                            FIXTURE,
                            "the fixture has no recorded trajectory: run `tch-parity regen`".into(),
                        ),
                    });
                }
            }
            rows.push(row);
        }
        rows
    }
}

/// What `implementation` made of an error case: its optimizer refused to be built, or a step
/// failed (Adafactor on an empty parameter, SparseAdam given a dense gradient), or it ran.
pub fn construction(implementation: &dyn Implementation, setup: &Setup) -> Evaluation {
    match implementation.optimizer(&setup.run()) {
        Some(Ok(stepper)) => {
            let gradient = |params: &[Tensor]| objectives::gradients(setup.objective, params, &setup.data);
            let evaluate = |params: &[Tensor]| objectives::evaluate(setup.objective, params, &setup.data);
            let mut sides = vec![(implementation.name(), stepper)];
            let free = Gradients::free(setup, &gradient, &evaluate);
            match run_steps(&mut sides, &setup.run(), free, &mut |_, _| Ok(())) {
                Ok(()) => Evaluation::Computed(Vec::new()),
                Err(message) => Evaluation::Rejected(message),
            }
        }
        Some(Err(crate::Error::Unavailable(why))) => Evaluation::Unavailable(why),
        Some(Err(e)) => Evaluation::Rejected(e.to_string()),
        None => Evaluation::Unsupported,
    }
}

/// What `regen` stores for an optimizer case, by variant: the first reference's free-running
/// parameters after every step, and every buffer too for a reference that may be unavailable
/// elsewhere (PyTorch in Python), whose recording then stands in for it; each further such
/// reference (PyTorch's foreach path) under its own variant. And a description of the first.
pub fn record(
    registry: &Registry,
    spec: &'static OptimizerSpec,
    case: &Case,
    dtype: DType,
) -> Result<(String, RecordedVariants), String> {
    let setup = setup(case, spec, dtype)?;
    let references = references(registry, &setup);
    let first = *references.first().ok_or("no reference has this configuration")?;
    let mut variants = Vec::new();
    for (k, reference) in references.iter().enumerate() {
        let whole = reference.recorded_in_full();
        if k > 0 && !whole {
            continue;
        }
        if let Some(Err(crate::Error::Unavailable(why))) = reference.optimizer(&setup.run()) {
            return Err(format!("{} cannot run here, so it cannot be recorded: {why}", reference.name()));
        }
        let variant = variant_of(reference.name(), k == 0);
        let history = simulate(&setup, &[*reference], std::slice::from_ref(&variant), Mode::FreeRunning)?.remove(0);
        let outputs = history
            .series
            .keys()
            .filter(|label| if whole { !label.starts_with("grad.") } else { label.starts_with("param.") })
            .map(|label| (label.clone(), history.trajectory(label).expect("listed")))
            .collect();
        variants.push((variant, outputs));
    }
    // "PyTorch in Python (nadam; torch 2.13.0+cu130, ...)": the versions that answered, when
    // the values come from another process.
    let provenance = first.provenance().map(|v| format!("; {v}")).unwrap_or_default();
    Ok((format!("{} ({}{provenance})", first.title(), spec.id), variants))
}

/// Whether the references still refuse an invalid configuration (for `regen`).
pub fn still_rejected(
    registry: &Registry,
    spec: &'static OptimizerSpec,
    case: &Case,
    dtype: DType,
    text: &str,
) -> Result<(), String> {
    let setup = setup(case, spec, dtype)?;
    let reference = *references(registry, &setup).first().ok_or("libtorch has no path for this configuration")?;
    match reference.optimizer(&setup.run()) {
        Some(Err(e)) if e.to_string().contains(text) => Ok(()),
        Some(Err(e)) => Err(format!("{}'s message no longer contains \"{text}\": {e}", reference.name())),
        _ => Err(format!("{} now accepts this configuration", reference.name())),
    }
}
