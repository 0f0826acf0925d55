//! Runs fixture cases: the hand-written implementation against the live libtorch built-in, and
//! both against the values the fixture recorded.

use super::compare::{compare, default_tolerance, Comparison};
use super::registry::{self, Args, LossFn, LossInfo, OptionValue};
use crate::fixture::load::{option_value, output_names};
use crate::fixture::{float, Case, DType, ExpectedTensor, InputDType, Outcome, Tolerance};
use crate::loss::Reduction;
use serde::Serialize;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Kind, Tensor};

/// One output (value or gradient) of one implementation, read back as f64.
#[derive(Debug, Clone)]
pub struct Computed {
    pub name: String,
    pub shape: Vec<i64>,
    pub values: Vec<f64>,
}

impl From<&Computed> for ExpectedTensor {
    fn from(c: &Computed) -> Self {
        ExpectedTensor { shape: c.shape.clone(), values: c.values.clone() }
    }
}

/// Which two results a check compares, or which rejection it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The hand-written result against the live libtorch built-in.
    HandVsLibtorch,
    /// The hand-written result against the fixture's recorded values.
    HandVsFixture,
    /// The live libtorch against the fixture's recorded values: drift across libtorch versions.
    LibtorchVsFixture,
    /// libtorch rejects the input with the expected message.
    LibtorchRejects,
    /// The hand-written implementation rejects the input.
    HandRejects,
}

impl CheckKind {
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::HandVsLibtorch => "hand-written vs libtorch",
            CheckKind::HandVsFixture => "hand-written vs fixture",
            CheckKind::LibtorchVsFixture => "libtorch vs fixture",
            CheckKind::LibtorchRejects => "libtorch rejects",
            CheckKind::HandRejects => "hand-written rejects",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub kind: CheckKind,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// Why it failed when no comparison could be made, or the rejection message seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Check {
    pub(crate) fn failed(kind: CheckKind, message: String) -> Check {
        Check { kind, passed: false, comparison: None, message: Some(message) }
    }
}

/// One row of the report: a case × dtype × reduction × output.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub file: String,
    pub case: String,
    pub op: String,
    pub source: String,
    pub dtype: DType,
    /// The reduction of a loss; for an optimizer, the mode and the libtorch path compared
    /// ("lockstep/cpp", "free-running/fused", …).
    pub variant: String,
    /// "output", "grad.<input>", or "rejects" for an error case; for an optimizer, a parameter
    /// or state buffer ("param.x", "exp_avg.x", …).
    pub output: String,
    /// For an optimizer: the first step at which this buffer left tolerance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failing_step: Option<usize>,
    pub rtol: f64,
    pub atol: f64,
    /// The case's written reason, when it overrides the default tolerance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_override: Option<String>,
    pub checks: Vec<Check>,
}

impl Row {
    /// A row with the tolerance the case gives this variant and output.
    pub fn new(file: &str, case: &Case, dtype: DType, variant: &str, output: &str, checks: Vec<Check>) -> Row {
        let (tolerance, reason) = tolerance_for(case, dtype, variant, output);
        Row {
            file: file.to_owned(),
            case: case.name.clone(),
            op: case.op.clone(),
            source: case.source.clone(),
            dtype,
            variant: variant.to_owned(),
            output: output.to_owned(),
            first_failing_step: None,
            rtol: tolerance.rtol,
            atol: tolerance.atol,
            tolerance_override: reason,
            checks,
        }
    }

    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    pub fn check(&self, kind: CheckKind) -> Option<&Check> {
        self.checks.iter().find(|c| c.kind == kind)
    }
}

/// Builds the arguments of one call at `dtype`, fresh for each call so that gradients never mix.
pub fn materialize(case: &Case, info: &LossInfo, dtype: DType) -> Result<Args, String> {
    Ok(Args { tensors: materialize_inputs(case, dtype)?, options: materialize_options(case, info)? })
}

/// The case's input tensors at `dtype`, fresh, with `requires_grad` as declared.
pub fn materialize_inputs(case: &Case, dtype: DType) -> Result<Vec<(String, Tensor)>, String> {
    let mut tensors = Vec::new();
    for (name, input) in &case.inputs {
        let t = match input.dtype {
            InputDType::Float => {
                let values =
                    input.data.iter().map(|v| float::from_json(v, dtype)).collect::<Result<Vec<f64>, String>>()?;
                match dtype {
                    DType::Float32 => Tensor::from_slice(&values.iter().map(|&x| x as f32).collect::<Vec<f32>>()),
                    DType::Float64 => Tensor::from_slice(&values),
                }
            }
            InputDType::Int64 => {
                Tensor::from_slice(&input.data.iter().map(|v| v.as_i64().unwrap_or(0)).collect::<Vec<i64>>())
            }
            InputDType::Bool => {
                Tensor::from_slice(&input.data.iter().map(|v| v.as_bool().unwrap_or(false)).collect::<Vec<bool>>())
            }
        };
        let t = t.f_reshape(input.shape.as_slice()).map_err(|e| e.to_string())?;
        tensors.push((name.clone(), t.set_requires_grad(input.requires_grad)));
    }
    Ok(tensors)
}

/// Every option of the op: the case's value where it gives one, else the default.
pub fn materialize_options(case: &Case, info: &LossInfo) -> Result<Vec<(String, OptionValue)>, String> {
    info.options
        .iter()
        .map(|spec| {
            let value = match case.options.iter().find(|(n, _)| n == spec.name) {
                Some((_, v)) => option_value(v, spec.default)?,
                None => spec.default,
            };
            Ok((spec.name.to_owned(), value))
        })
        .collect()
}

/// The upstream gradient used for an unreduced output: 0.25, 0.5, 0.75, 1, 0.25, … (exact in
/// binary), so that each element's gradient is checked under its own weight rather than all
/// under 1.
pub fn upstream_gradient(shape: &[i64], kind: Kind) -> Tensor {
    let n: i64 = shape.iter().product();
    Tensor::arange(n, (Kind::Int64, tch::Device::Cpu))
        .remainder(4)
        .g_add_scalar(1)
        .to_kind(kind)
        .g_div_scalar(4.0)
        .reshape(shape)
}

/// Runs one implementation and returns the output followed by the gradients the case asks for.
/// A libtorch exception or a panic becomes an `Err` with its message.
pub fn evaluate(
    f: LossFn,
    case: &Case,
    info: &LossInfo,
    dtype: DType,
    reduction: Reduction,
) -> Result<Vec<Computed>, String> {
    let run = || -> Result<Vec<Computed>, String> {
        let args = materialize(case, info, dtype)?;
        let output = f(&args, reduction).map_err(|e| e.to_string())?;
        let mut computed = vec![read("output", &output)?];
        let wanted: Vec<&Tensor> = args
            .tensors
            .iter()
            .filter(|(name, _)| case.input(name).is_some_and(|i| i.requires_grad))
            .map(|(_, t)| t)
            .collect();
        if !wanted.is_empty() {
            let scalar = if output.dim() == 0 {
                output.shallow_clone()
            } else {
                let upstream = upstream_gradient(&output.size(), output.kind());
                output.f_mul(&upstream).and_then(|t| t.f_sum(None)).map_err(|e| crate::error::torch_message(&e))?
            };
            let grads = Tensor::f_run_backward(&[scalar], &wanted, false, false)
                .map_err(|e| format!("backward failed: {}", crate::error::torch_message(&e)))?;
            let names = output_names(&case.inputs);
            for (name, grad) in names.iter().skip(1).zip(&grads) {
                computed.push(read(name, grad)?);
            }
        }
        Ok(computed)
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(result) => result,
        Err(panic) => Err(format!("panicked: {}", panic_message(&panic))),
    }
}

pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        // tch's panicking methods carry libtorch's whole message, backtrace included.
        s.split("\nException raised from").next().unwrap_or(s).to_owned()
    } else {
        "unknown panic".to_owned()
    }
}

pub(crate) fn read(name: &str, t: &Tensor) -> Result<Computed, String> {
    let flat = t
        .f_detach()
        .and_then(|t| t.f_to_kind(Kind::Double))
        .and_then(|t| t.f_reshape([-1]))
        .map_err(|e| e.to_string())?;
    let values = Vec::<f64>::try_from(&flat).map_err(|e| e.to_string())?;
    Ok(Computed { name: name.to_owned(), shape: t.size(), values })
}

/// The tolerance a row uses, and the case's reason when it is not the default.
pub fn tolerance_for(case: &Case, dtype: DType, variant: &str, output: &str) -> (Tolerance, Option<String>) {
    let scoped = case.tolerance.as_ref().filter(|o| o.applies(variant, output));
    match scoped.and_then(|o| o.per_dtype.get(&dtype).map(|t| (*t, o.reason.clone()))) {
        Some((t, reason)) => (t, Some(reason)),
        None => (default_tolerance(dtype), None),
    }
}

/// Every row of one case.
pub fn run_case(file: &str, case: &Case, dtypes: &[DType]) -> Vec<Row> {
    if case.trajectory.is_some() {
        return super::optim_run::run_case(file, case, dtypes);
    }
    run_case_with(registry::find(&case.op).expect("fixture loading validates op ids"), file, case, dtypes)
}

/// Every row of one case, with the implementations of `info` (which may differ from the
/// registry's, to prove that the harness catches a broken one).
pub fn run_case_with(info: &LossInfo, file: &str, case: &Case, dtypes: &[DType]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &dtype in case.dtypes.iter().filter(|d| dtypes.contains(d)) {
        for &reduction in info.reductions() {
            let row = |output: &str, checks: Vec<Check>| Row::new(file, case, dtype, reduction.name(), output, checks);
            let hand = evaluate(info.hand_written, case, info, dtype, reduction);
            let torch = evaluate(info.builtin, case, info, dtype, reduction);
            match &case.outcome {
                Outcome::Rejects(text) => {
                    let (hand, torch) = (hand.map(|_| ()), torch.map(|_| ()));
                    rows.push(row("rejects", rejection_checks(text, hand, torch)))
                }
                Outcome::Values(expected) => {
                    let recorded = expected.as_ref().and_then(|e| e.outputs(dtype, reduction.name()));
                    for name in output_names(&case.inputs) {
                        let fixture = recorded.and_then(|outs| outs.iter().find(|(n, _)| *n == name)).map(|(_, t)| t);
                        let (tolerance, _) = tolerance_for(case, dtype, reduction.name(), &name);
                        rows.push(row(&name, value_checks(&name, &hand, &torch, fixture, dtype, tolerance)));
                    }
                }
            }
        }
    }
    rows
}

/// An error case's checks: libtorch rejects with a message containing `text`, and the
/// hand-written side rejects too (with an error, not a panic).
pub fn rejection_checks(text: &str, hand: Result<(), String>, torch: Result<(), String>) -> Vec<Check> {
    let torch_check = match torch {
        Err(message) if message.contains(text) => {
            Check { kind: CheckKind::LibtorchRejects, passed: true, comparison: None, message: Some(message) }
        }
        Err(message) => Check::failed(
            CheckKind::LibtorchRejects,
            format!("libtorch rejected the input, but its message does not contain \"{text}\": {message}"),
        ),
        Ok(()) => Check::failed(CheckKind::LibtorchRejects, "libtorch accepted the input".into()),
    };
    let hand_check = match hand {
        Err(message) if !message.starts_with("panicked") => {
            Check { kind: CheckKind::HandRejects, passed: true, comparison: None, message: Some(message) }
        }
        Err(message) => Check::failed(CheckKind::HandRejects, message),
        Ok(()) => Check::failed(CheckKind::HandRejects, "the hand-written implementation accepted the input".into()),
    };
    vec![torch_check, hand_check]
}

fn value_checks(
    name: &str,
    hand: &Result<Vec<Computed>, String>,
    torch: &Result<Vec<Computed>, String>,
    fixture: Option<&ExpectedTensor>,
    dtype: DType,
    tolerance: Tolerance,
) -> Vec<Check> {
    let pick = |side: &Result<Vec<Computed>, String>, who: &str| -> Result<Computed, String> {
        match side {
            Err(e) => Err(format!("{who} failed: {e}")),
            Ok(outs) => {
                outs.iter().find(|c| c.name == name).cloned().ok_or_else(|| format!("{who} produced no {name}"))
            }
        }
    };
    let hand = pick(hand, "hand-written");
    let torch = pick(torch, "libtorch");
    let fixture: Result<ExpectedTensor, String> =
        fixture.cloned().ok_or_else(|| "the fixture has no recorded value: run `tch-parity regen`".to_owned());
    let check =
        |kind: CheckKind, actual: &Result<Computed, String>, reference: Result<ExpectedTensor, String>| -> Check {
            match (actual, reference) {
                (Ok(a), Ok(b)) => {
                    let comparison = compare(&a.values, &a.shape, &b.values, &b.shape, dtype, tolerance);
                    Check { kind, passed: comparison.passed(), comparison: Some(comparison), message: None }
                }
                (Err(e), _) => Check::failed(kind, e.clone()),
                (_, Err(e)) => Check::failed(kind, e),
            }
        };
    vec![
        check(CheckKind::HandVsLibtorch, &hand, torch.as_ref().map(ExpectedTensor::from).map_err(Clone::clone)),
        check(CheckKind::HandVsFixture, &hand, fixture.clone()),
        check(CheckKind::LibtorchVsFixture, &torch, fixture),
    ]
}

/// Runs every selected case of `files` into one report.
pub fn check(files: &[crate::fixture::FixtureFile], selection: &super::select::Selection) -> super::report::Report {
    let dtypes = selection.dtypes();
    let mut rows = Vec::new();
    for file in files {
        let name = file.path.display().to_string();
        for case in file.cases.iter().filter(|c| selection.selects(c)) {
            rows.extend(run_case(&name, case, &dtypes));
        }
    }
    super::report::Report { libtorch: crate::fixture::regen::LIBTORCH_VERSION.to_owned(), rows }
}
