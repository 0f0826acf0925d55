//! Runs optimizer cases: the hand-written optimizer against every libtorch path for the
//! configuration, in lockstep (every side gets the same gradient) and free-running (each side
//! follows its own trajectory), comparing parameters and every state buffer after every step.

use super::compare::{compare, compare_element, Comparison};
use super::objectives::{self, ObjectiveInfo};
use super::optimizers::{self, OptimizerInfo, Options, Path};
use super::run::{materialize_inputs, panic_message, rejection_checks, tolerance_for, Check, CheckKind, Row};
use crate::builtin::optim::Stepper;
use crate::fixture::load::option_value;
use crate::fixture::{Case, DType, ExpectedTensor, Outcome, Trajectory, TRAJECTORY};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Lockstep,
    FreeRunning,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Lockstep => "lockstep",
            Mode::FreeRunning => "free-running",
        }
    }
}

/// Everything a case needs to build its optimizers.
pub struct Setup {
    pub info: &'static OptimizerInfo,
    pub objective: &'static ObjectiveInfo,
    pub params: Vec<Tensor>,
    pub data: Vec<Tensor>,
    pub groups: Vec<Options>,
    pub group_of: Vec<usize>,
    pub trajectory: Trajectory,
}

/// Options for every group: the case's options (with defaults) for the first, those changed by
/// each further group on top of them.
pub fn group_options(case: &Case, info: &OptimizerInfo) -> Result<Vec<Options>, String> {
    let resolve = |overrides: &[(String, serde_json::Value)], base: Option<&Options>| -> Result<Options, String> {
        info.options
            .iter()
            .map(|spec| {
                let value = match overrides.iter().find(|(n, _)| n == spec.name) {
                    Some((_, v)) => option_value(v, spec.default)?,
                    None => base
                        .and_then(|b| b.iter().find(|(n, _)| n == spec.name).map(|(_, v)| *v))
                        .unwrap_or(spec.default),
                };
                Ok((spec.name.to_owned(), value))
            })
            .collect()
    };
    let first = resolve(&case.options, None)?;
    let mut groups = vec![first.clone()];
    for g in case.trajectory.iter().flat_map(|t| &t.groups) {
        groups.push(resolve(&g.options, Some(&first))?);
    }
    Ok(groups)
}

pub fn setup(case: &Case, dtype: DType) -> Result<Setup, String> {
    let info = optimizers::find(&case.op).ok_or("not an optimizer case")?;
    let trajectory = case.trajectory.clone().ok_or("not an optimizer case")?;
    let objective = objectives::find(&trajectory.objective).ok_or("unknown objective")?;
    let inputs = materialize_inputs(case, dtype)?;
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
    Ok(Setup { info, objective, params, data, groups: group_options(case, info)?, group_of, trajectory })
}

/// Every parameter and buffer of one side after every step: label ("param.x", "exp_avg.x") to
/// the values of each step it existed at, with the per-step shape.
#[derive(Default)]
pub struct History {
    pub series: BTreeMap<String, (Vec<i64>, Vec<Vec<f64>>)>,
}

impl History {
    fn record(&mut self, side: &dyn Stepper, names: &[&str]) -> Result<(), String> {
        for (i, (param, name)) in side.params().iter().zip(names).enumerate() {
            self.push(format!("param.{name}"), param)?;
            for (buffer, t) in side.buffers(i).map_err(|e| e.to_string())? {
                self.push(format!("{buffer}.{name}"), &t)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, label: String, t: &Tensor) -> Result<(), String> {
        let super::run::Computed { shape, values, .. } = super::run::read(&label, t)?;
        self.series.entry(label).or_insert_with(|| (shape, Vec::new())).1.push(values);
        Ok(())
    }

    /// The trajectory of `label` as one tensor's values and shape: [steps, …].
    pub fn trajectory(&self, label: &str) -> Option<ExpectedTensor> {
        let (shape, steps) = self.series.get(label)?;
        Some(ExpectedTensor {
            shape: std::iter::once(steps.len() as i64).chain(shape.iter().copied()).collect(),
            values: steps.concat(),
        })
    }
}

/// Runs the hand-written optimizer (index 0 of the result) and `paths` for the case's steps.
pub fn simulate(setup: &Setup, paths: &[Path], mode: Mode) -> Result<Vec<History>, String> {
    let run = || -> Result<Vec<History>, String> {
        let s = setup;
        let mut sides: Vec<Box<dyn Stepper>> =
            vec![optimizers::hand_written(s.info, &s.groups, &s.params, &s.group_of).map_err(|e| e.to_string())?];
        for &path in paths {
            sides.push(
                optimizers::reference(s.info, path, &s.groups, &s.params, &s.group_of)
                    .map_err(|e| format!("{}: {e}", path.name()))?,
            );
        }
        let mut histories: Vec<History> = sides.iter().map(|_| History::default()).collect();
        // In lockstep every side gets the gradient at the first libtorch path's parameters.
        let source = if sides.len() > 1 { 1 } else { 0 };
        for step in 1..=s.trajectory.steps {
            let shared = match mode {
                Mode::Lockstep => Some(
                    objectives::gradients(s.objective, &sides[source].params(), &s.data).map_err(|e| e.to_string())?,
                ),
                Mode::FreeRunning => None,
            };
            for (side, name) in
                sides.iter_mut().zip(std::iter::once("hand-written").chain(paths.iter().map(|p| p.name())))
            {
                let grads = match &shared {
                    Some(g) => g.iter().map(Tensor::shallow_clone).collect(),
                    None => objectives::gradients(s.objective, &side.params(), &s.data).map_err(|e| e.to_string())?,
                };
                side.step(&grads).map_err(|e| format!("{name}, step {step}: {e}"))?;
            }
            for (side, history) in sides.iter().zip(&mut histories) {
                history.record(side.as_ref(), s.objective.params)?;
            }
            for &(k, lr) in &s.trajectory.lr_schedule {
                if k == step {
                    for side in &mut sides {
                        side.set_lr(lr).map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        Ok(histories)
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(result) => result,
        Err(panic) => Err(format!("panicked: {}", panic_message(&panic))),
    }
}

/// The first step (from 1) at which `actual` leaves tolerance against `expected`.
fn first_failing_step(
    actual: &ExpectedTensor,
    expected: &ExpectedTensor,
    dtype: DType,
    tolerance: crate::fixture::Tolerance,
) -> Option<usize> {
    let per_step = expected.values.len() / expected.shape.first().copied().unwrap_or(1).max(1) as usize;
    actual
        .values
        .iter()
        .zip(&expected.values)
        .position(|(&a, &b)| !compare_element(a, b, dtype, tolerance).passed)
        .map(|i| i / per_step.max(1) + 1)
}

fn comparison(
    a: &ExpectedTensor,
    b: &ExpectedTensor,
    dtype: DType,
    tolerance: crate::fixture::Tolerance,
) -> Comparison {
    compare(&a.values, &a.shape, &b.values, &b.shape, dtype, tolerance)
}

pub fn run_case(file: &str, case: &Case, dtypes: &[DType]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &dtype in case.dtypes.iter().filter(|d| dtypes.contains(d)) {
        let row = |variant: String, output: String, checks: Vec<Check>, first: Option<usize>| Row {
            first_failing_step: first,
            ..Row::new(file, case, dtype, &variant, &output, checks)
        };
        let setup = match setup(case, dtype) {
            Ok(s) => s,
            Err(e) => {
                rows.push(row(
                    "setup".into(),
                    "optimizer".into(),
                    vec![Check::failed(CheckKind::HandVsLibtorch, e)],
                    None,
                ));
                continue;
            }
        };
        if let Outcome::Rejects(text) = &case.outcome {
            rows.push(row("construction".into(), "rejects".into(), optimizer_rejection_checks(&setup, text), None));
            continue;
        }
        let paths = optimizers::paths(setup.info, &setup.groups);
        let recorded = case.expected().and_then(|e| e.outputs(dtype, TRAJECTORY));
        for mode in [Mode::Lockstep, Mode::FreeRunning] {
            let histories = match simulate(&setup, paths, mode) {
                Ok(h) => h,
                Err(e) => {
                    rows.push(row(
                        mode.name().into(),
                        "optimizer".into(),
                        vec![Check::failed(CheckKind::HandVsLibtorch, e)],
                        None,
                    ));
                    continue;
                }
            };
            let hand = &histories[0];
            for (k, path) in paths.iter().enumerate() {
                let reference = &histories[k + 1];
                let variant = format!("{}/{}", mode.name(), path.name());
                for label in hand.series.keys().filter(|l| reference.series.contains_key(*l)) {
                    let (tolerance, _) = tolerance_for(case, dtype, &variant, label);
                    let (a, b) =
                        (hand.trajectory(label).expect("listed"), reference.trajectory(label).expect("listed"));
                    let c = comparison(&a, &b, dtype, tolerance);
                    let first = first_failing_step(&a, &b, dtype, tolerance);
                    let mut checks = vec![Check {
                        kind: CheckKind::HandVsLibtorch,
                        passed: c.passed(),
                        comparison: Some(c),
                        message: None,
                    }];
                    // The fixture records the first path's free-running parameters.
                    if mode == Mode::FreeRunning && k == 0 && label.starts_with("param.") {
                        let stored = recorded.and_then(|outs| outs.iter().find(|(n, _)| n == label)).map(|(_, t)| t);
                        for (kind, actual) in [(CheckKind::HandVsFixture, &a), (CheckKind::LibtorchVsFixture, &b)] {
                            checks.push(match stored {
                                Some(s) => {
                                    let c = comparison(actual, s, dtype, tolerance);
                                    Check { kind, passed: c.passed(), comparison: Some(c), message: None }
                                }
                                None => Check::failed(
                                    kind,
                                    "the fixture has no recorded trajectory: run `tch-parity regen`".into(),
                                ),
                            });
                        }
                    }
                    rows.push(row(variant.clone(), label.clone(), checks, first));
                }
            }
        }
    }
    rows
}

/// An invalid configuration: the hand-written optimizer and libtorch's C++ one both refuse it.
fn optimizer_rejection_checks(setup: &Setup, text: &str) -> Vec<Check> {
    let hand = setup
        .groups
        .iter()
        .try_for_each(|g| optimizers::validate_hand_written(setup.info, g))
        .map_err(|e| e.to_string());
    let torch = optimizers::reference(setup.info, Path::Cpp, &setup.groups, &setup.params, &setup.group_of)
        .map(|_| ())
        .map_err(|e| e.to_string());
    rejection_checks(text, hand, torch)
}

/// What `regen` stores for an optimizer case: the first libtorch path's free-running
/// parameters after every step, and which path that was.
pub fn record(case: &Case, dtype: DType) -> Result<(String, Vec<(String, ExpectedTensor)>), String> {
    let setup = setup(case, dtype)?;
    let paths = optimizers::paths(setup.info, &setup.groups);
    let path = *paths.first().ok_or("libtorch has no path for this configuration")?;
    let histories = simulate(&setup, &[path], Mode::FreeRunning)?;
    let outputs = setup
        .objective
        .params
        .iter()
        .map(|p| {
            let label = format!("param.{p}");
            let t = histories[1].trajectory(&label).ok_or_else(|| format!("no trajectory for {label}"))?;
            Ok((label, t))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let by = match path {
        Path::Cpp => format!("libtorch's C++ torch::optim ({})", setup.info.id),
        Path::Tch => format!("tch's COptimizer ({})", setup.info.id),
        Path::Fused => format!("libtorch's fused CPU kernel ({})", setup.info.id),
    };
    Ok((by, outputs))
}
