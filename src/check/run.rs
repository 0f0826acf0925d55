//! Runs fixture cases: every implementation under test against the live reference, and both
//! against the values the fixture recorded, one [`Row`] per case × dtype × variant × output.

use super::calculus;
use super::compare::{compare, default_tolerance, Comparison};
use super::layouts;
use super::materialize;
use super::report::Report;
use super::select::Selection;
use crate::catalog::{self, Args, LossSpec, Op};
use crate::fixture::parse::{output_names, second_order_names};
use crate::fixture::{Case, CaseKind, DType, ExpectedTensor, FixtureFile, Outcome, Tolerance};
use crate::implementation::{Derivatives, Evaluation, Implementation, LossInput, Registry};
use crate::loss::Reduction;
use serde::Serialize;

/// What a rejection check compares against.
pub const REJECTS: &str = "rejects";
/// What a check against the recorded values compares against.
pub const FIXTURE: &str = "fixture";

/// One comparison: `subject` against `against` (an implementation, the fixture), or whether
/// `subject` rejects the input (`against` is [`REJECTS`]).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub subject: String,
    pub against: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// Why it failed when no comparison could be made, or the rejection message seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Check {
    pub fn failed(subject: &str, against: &str, message: String) -> Check {
        Check {
            subject: subject.into(),
            against: against.into(),
            passed: false,
            comparison: None,
            message: Some(message),
        }
    }

    pub fn compared(subject: &str, against: &str, comparison: Comparison) -> Check {
        Check {
            subject: subject.into(),
            against: against.into(),
            passed: comparison.passed(),
            comparison: Some(comparison),
            message: None,
        }
    }

    /// "hand-written vs libtorch", "libtorch vs fixture", "libtorch rejects".
    pub fn label(&self) -> String {
        if self.against == REJECTS {
            format!("{} rejects", self.subject)
        } else {
            format!("{} vs {}", self.subject, self.against)
        }
    }
}

/// One row of the report: a case × dtype × variant × output, for one implementation under test.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub file: String,
    pub case: String,
    pub op: String,
    pub source: String,
    pub dtype: DType,
    /// The reduction of a loss; for an optimizer, the mode and the reference compared
    /// ("lockstep/cpp", "free-running/fused", …).
    pub variant: String,
    /// "output", "grad.<input>", or "rejects" for an error case; for an optimizer, a parameter
    /// or state buffer ("param.x", "exp_avg.x", …).
    pub output: String,
    /// The implementation under test.
    pub subject: String,
    /// The live reference it was compared with, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// For an optimizer: the first step at which this buffer left tolerance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failing_step: Option<usize>,
    pub rtol: f64,
    pub atol: f64,
    /// The case's written reason, when it overrides the default tolerance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_override: Option<String>,
    /// Set when the subject has no such op or option: neither a pass nor a failure.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsupported: bool,
    /// The reason of the case's known difference when the row passes as one: the subject
    /// disagreed here, as the case says it does (its checks keep their comparisons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_difference: Option<String>,
    /// What the row could not check, and why (a reference that could not run here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why a gradient row of a `check --calculus` run has no check against central differences
    /// (every element's difference left out: an infinite logit, a huge term in S).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_against_calculus: Option<String>,
    pub checks: Vec<Check>,
    /// For an optimizer: the worst distance in ulp against the reference after each step (for
    /// the HTML report's charts; JSON has the row's figures).
    #[serde(skip)]
    pub per_step_ulp: Vec<u64>,
}

impl Row {
    /// A row with the tolerance the case gives this variant and output.
    pub fn new(file: &str, case: &Case, dtype: DType, variant: &str, output: &str, subject: &str) -> Row {
        let (tolerance, reason) = tolerance_for(case, dtype, variant, output);
        Row {
            file: file.to_owned(),
            case: case.name.clone(),
            op: case.op.clone(),
            source: case.source.clone(),
            dtype,
            variant: variant.to_owned(),
            output: output.to_owned(),
            subject: subject.to_owned(),
            reference: None,
            first_failing_step: None,
            rtol: tolerance.rtol,
            atol: tolerance.atol,
            tolerance_override: reason,
            unsupported: false,
            known_difference: None,
            note: None,
            not_against_calculus: None,
            checks: Vec::new(),
            per_step_ulp: Vec::new(),
        }
    }

    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The check of this row against `against` (an implementation's name, [`FIXTURE`]).
    pub fn check_against(&self, against: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.against == against)
    }

    /// The comparison of the subject with the live reference.
    pub fn reference_check(&self) -> Option<&Check> {
        let reference = self.reference.as_deref()?;
        self.checks.iter().find(|c| c.subject == self.subject && c.against == reference)
    }

    /// The comparison of the live reference with the fixture (drift).
    pub fn drift_check(&self) -> Option<&Check> {
        let reference = self.reference.as_deref()?;
        self.checks.iter().find(|c| c.subject == reference && c.against == FIXTURE)
    }

    pub fn tolerance(&self) -> Tolerance {
        Tolerance { rtol: self.rtol, atol: self.atol }
    }
}

/// The tolerance a row uses, and the case's reason when it is not the default.
pub fn tolerance_for(case: &Case, dtype: DType, variant: &str, output: &str) -> (Tolerance, Option<String>) {
    let scoped = case.tolerance.as_ref().filter(|o| o.applies(variant, output));
    match scoped.and_then(|o| o.per_dtype.get(&dtype).map(|t| (*t, o.reason.clone()))) {
        Some((t, reason)) => (t, Some(reason)),
        None => (default_tolerance(dtype), None),
    }
}

/// Evaluates `implementation` on fresh arguments of the case.
pub fn evaluate(
    implementation: &dyn Implementation,
    case: &Case,
    spec: &'static LossSpec,
    dtype: DType,
    (reduction, derivatives): (Reduction, Derivatives),
) -> Evaluation {
    match materialize::loss_args(case, spec, dtype) {
        Ok(args) => implementation.loss(&LossInput::new(spec, &args, dtype, reduction).with(derivatives)),
        Err(message) => Evaluation::Rejected(format!("the case's inputs: {message}")),
    }
}

/// The live reference of a loss call: its name and evaluation.
pub fn reference(
    registry: &Registry,
    case: &Case,
    spec: &'static LossSpec,
    dtype: DType,
    (reduction, derivatives): (Reduction, Derivatives),
) -> Option<(&'static str, Evaluation)> {
    let args = materialize::loss_args(case, spec, dtype).ok()?;
    let input = LossInput::new(spec, &args, dtype, reduction).with(derivatives);
    registry.loss_reference(&input).map(|(r, evaluation)| (r.name(), evaluation))
}

/// How far a case is differentiated in `dtype`: to second order in float32 and float64 when it
/// has values and an input that requires a gradient (half dtypes stop at the first: libtorch's
/// double backward rounds differently there, and training never takes it), else to the first.
pub fn derivatives_for(spec: &LossSpec, case: &Case, dtype: DType) -> Derivatives {
    let differentiable = case.inputs.iter().any(|(_, t)| t.requires_grad);
    let values = matches!(case.outcome, Outcome::Values(_));
    if differentiable && values && spec.double_backward && !DType::HALF.contains(&dtype) {
        Derivatives::Second
    } else {
        Derivatives::First
    }
}

/// What both sides say, in 2.13, when asked for a second derivative they do not have.
pub const NO_DOUBLE_BACKWARD: &str = "is not implemented";

/// Every row of one case.
pub fn run_case(registry: &Registry, file: &str, case: &Case, selection: &Selection) -> Vec<Row> {
    let dtypes = &selection.dtypes();
    let mut rows = match catalog::find(&case.op) {
        Some(Op::Loss(spec)) if case.kind == CaseKind::Loss => {
            run_loss_case(registry, spec, file, case, (dtypes, selection))
        }
        Some(Op::Optimizer(spec)) => super::optim_run::run_case(registry, spec, file, case, dtypes),
        Some(Op::Scheduler(_) | Op::Clip(_)) => super::train_run::run_case(registry, file, case, dtypes),
        _ => unreachable!("validation matches every case with its op"),
    };
    let pinned: Vec<&str> = registry.subjects.iter().filter(|s| s.pinned_by_fixtures()).map(|s| s.name()).collect();
    pin_known_differences(case, &mut rows, &pinned);
    rows
}

/// Applies the case's known differences. In a row one covers, the subject's failed checks
/// pass as that difference; a difference that shows in none of the rows it covers (in the
/// dtypes run) fails its first row, saying that it is gone.
pub fn pin_known_differences(case: &Case, rows: &mut [Row], subjects: &[&str]) {
    for known in &case.differences {
        let covered: Vec<usize> = (0..rows.len())
            .filter(|&i| subjects.contains(&rows[i].subject.as_str()))
            .filter(|&i| known.applies(rows[i].dtype, &rows[i].variant, &rows[i].output))
            .collect();
        let mut shown = false;
        for &i in &covered {
            let row = &mut rows[i];
            let subject = row.subject.clone();
            for check in row.checks.iter_mut().filter(|c| c.subject == subject && c.against != REJECTS && !c.passed) {
                check.passed = true;
                row.known_difference = Some(known.reason.clone());
                shown = true;
            }
        }
        if let (false, Some(&first)) = (shown, covered.first()) {
            let row = &mut rows[first];
            let message =
                format!("the case expects a difference here ({}), and there is none: remove it", known.reason);
            row.checks.push(Check::failed(&row.subject.clone(), "known difference", message));
        }
    }
}

fn run_loss_case(
    registry: &Registry,
    spec: &'static LossSpec,
    file: &str,
    case: &Case,
    (dtypes, selection): (&[DType], &Selection),
) -> Vec<Row> {
    let mut rows = Vec::new();
    let values = matches!(case.outcome, Outcome::Values(_));
    let differentiable = case.inputs.iter().any(|(_, t)| t.requires_grad);
    for &dtype in case.dtypes.iter().filter(|d| dtypes.contains(d)) {
        let derivatives = derivatives_for(spec, case, dtype);
        for &reduction in spec.reductions() {
            let reference = reference(registry, case, spec, dtype, (reduction, derivatives));
            for subject in &registry.subjects {
                let derivatives = derivatives.min(subject.derivatives());
                let evaluation = evaluate(subject.as_ref(), case, spec, dtype, (reduction, derivatives));
                let call = (reduction, derivatives);
                let mut subject_rows =
                    loss_rows(file, case, dtype, call, subject.name(), &evaluation, reference.as_ref());
                if selection.calculus && dtype == DType::Float64 && values {
                    let order = if derivatives == Derivatives::Second { 2 } else { 1 };
                    calculus_checks(registry, subject.as_ref(), case, spec, (reduction, order), &mut subject_rows);
                }
                rows.extend(subject_rows);
                if let (true, true, Ok(args)) = (selection.layouts, values, materialize::loss_args(case, spec, dtype)) {
                    let reference = loss_reference_of(registry, case, spec, dtype, reduction);
                    let call = (dtype, reduction, derivatives);
                    rows.extend(layouts::rows(file, case, spec, &args, call, subject.as_ref(), reference));
                }
            }
        }
        // An op without double backward: both sides refuse a second backward pass, with
        // libtorch's words, rather than return a silent zero.
        if !spec.double_backward && differentiable && values && !DType::HALF.contains(&dtype) {
            let refusal = Refusal { output: "grad2", derivatives: Derivatives::Second, text: NO_DOUBLE_BACKWARD };
            rows.extend(refusal_rows(registry, (file, case, spec), dtype, refusal));
        }
    }
    // A loss libtorch has no half kernel for: in those dtypes every case must be rejected by
    // both sides (its cases list float32 and float64 only; validation sees to that).
    if !spec.half_kernel && values {
        for &dtype in DType::HALF.iter().filter(|d| dtypes.contains(d)) {
            let text = format!("not implemented for '{}'", c10_name(dtype));
            let refusal = Refusal { output: REJECTS, derivatives: Derivatives::First, text: &text };
            let mut refusals = refusal_rows(registry, (file, case, spec), dtype, refusal);
            refusals.retain(|row| {
                let subject = registry.subjects.iter().find(|s| s.name() == row.subject);
                subject.is_none_or(|s| s.refuses_where_libtorch_cannot())
            });
            rows.extend(refusals);
        }
    }
    rows
}

/// A call both sides must refuse, in every reduction: its row's output, how far it
/// differentiates, and what the reference's message must contain.
struct Refusal<'a> {
    output: &'a str,
    derivatives: Derivatives,
    text: &'a str,
}

/// One row per reduction and subject checking that the subject and the live reference refuse.
fn refusal_rows(
    registry: &Registry,
    (file, case, spec): (&str, &Case, &'static LossSpec),
    dtype: DType,
    refusal: Refusal,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for &reduction in spec.reductions() {
        let call = (reduction, refusal.derivatives);
        let reference = reference(registry, case, spec, dtype, call);
        let live = reference.as_ref().filter(|(_, e)| !matches!(e, Evaluation::Unavailable(_)));
        for subject in registry.subjects.iter().filter(|s| s.derivatives() >= refusal.derivatives) {
            let evaluation = evaluate(subject.as_ref(), case, spec, dtype, call);
            let mut row = Row::new(file, case, dtype, reduction.name(), refusal.output, subject.name());
            if let Evaluation::Unsupported = evaluation {
                rows.push(Row { unsupported: true, ..row });
                continue;
            }
            row.reference = live.map(|(n, _)| (*n).to_owned());
            row.checks = rejection_checks(refusal.text, (subject.name(), &evaluation), live.map(|(n, e)| (*n, e)));
            rows.push(row);
        }
    }
    rows
}

/// Adds to the rows of "grad.x" (and "grad2.x", up to `order`) the subject's and the live
/// reference's check against central differences of their own forward ([`calculus`]). A
/// reference out of process (PyTorch in Python) is not differenced: thousands of calls.
fn calculus_checks(
    registry: &Registry,
    subject: &dyn Implementation,
    case: &Case,
    spec: &'static LossSpec,
    (reduction, order): (Reduction, usize),
    rows: &mut [Row],
) {
    let reference = loss_reference_of(registry, case, spec, DType::Float64, reduction);
    let sides = std::iter::once(subject).chain(reference.filter(|r| r.in_process()));
    for side in sides {
        for order in 1..=order {
            let Some(result) = calculus::check(side, case, spec, reduction, order) else { continue };
            let prefix = if order == 1 { "grad." } else { "grad2." };
            match result {
                Ok(found) => {
                    for (output, comparison) in found.compared {
                        let Some(row) = rows.iter_mut().find(|r| r.output == output) else { continue };
                        let Some(comparison) = comparison else {
                            row.not_against_calculus = Some(found.note.clone());
                            continue;
                        };
                        let mut check = Check::compared(side.name(), calculus::CALCULUS, comparison);
                        check.message = (!found.note.is_empty()).then(|| found.note.clone());
                        row.checks.push(check);
                    }
                }
                // Not a failure: where S is not finite at the case's inputs (an infinite logit, every
                // target ignored) there is no derivative to take, and the row says so.
                Err(message) => {
                    for row in rows.iter_mut().filter(|r| r.output.starts_with(prefix)) {
                        row.not_against_calculus = Some(format!("{}: {message}", side.name()));
                    }
                }
            }
        }
    }
}

/// The reference a loss call is checked against: the first that implements it.
fn loss_reference_of<'r>(
    registry: &'r Registry,
    case: &Case,
    spec: &'static LossSpec,
    dtype: DType,
    reduction: Reduction,
) -> Option<&'r dyn Implementation> {
    let args = materialize::loss_args(case, spec, dtype).ok()?;
    let input = LossInput::new(spec, &args, dtype, reduction).with(Derivatives::None);
    registry.loss_reference(&input).map(|(r, _)| r)
}

/// The name libtorch's messages give a dtype ("not implemented for 'Half'").
pub fn c10_name(dtype: DType) -> &'static str {
    match dtype {
        DType::Float32 => "Float",
        DType::Float64 => "Double",
        DType::Float16 => "Half",
        DType::BFloat16 => "BFloat16",
    }
}

/// The rows of one subject's evaluation of one call.
fn loss_rows(
    file: &str,
    case: &Case,
    dtype: DType,
    (reduction, derivatives): (Reduction, Derivatives),
    subject: &str,
    evaluation: &Evaluation,
    reference: Option<&(&'static str, Evaluation)>,
) -> Vec<Row> {
    let recorded = match &case.outcome {
        Outcome::Values(expected) => expected.as_ref().and_then(|e| e.outputs(dtype, reduction.name())),
        Outcome::Rejects(_) => None,
    };
    let row = |output: &str| {
        let mut row = Row::new(file, case, dtype, reduction.name(), output, subject);
        match reference {
            // A reference that is not run here (PyTorch in Python outside `check --live`) is
            // stood in for by the values the fixture recorded from it, as its optimizer runs are
            // replayed: `regen --check` holds those recordings to Python itself.
            Some((name, Evaluation::Unavailable(why))) if recorded.is_some() => {
                row.reference = Some((*name).to_owned());
                row.note = Some(format!("{name} not run ({why}): the values the fixture recorded from it stand in"));
            }
            Some((_, Evaluation::Unavailable(why))) => row.note = Some(format!("live reference unavailable: {why}")),
            Some((name, _)) => row.reference = Some((*name).to_owned()),
            None => row.note = Some("no live reference implements this op".into()),
        }
        row
    };
    if let Evaluation::Unsupported = evaluation {
        return vec![Row { unsupported: true, ..row("unsupported") }];
    }
    let live = reference.filter(|(_, e)| !matches!(e, Evaluation::Unavailable(_)));
    match &case.outcome {
        Outcome::Rejects(text) => {
            let mut row = row(REJECTS);
            row.checks = rejection_checks(text, (subject, evaluation), live.map(|(n, e)| (*n, e)));
            vec![row]
        }
        Outcome::Values(_) => {
            let second = if derivatives == Derivatives::Second { second_order_names(&case.inputs) } else { vec![] };
            output_names(&case.inputs)
                .into_iter()
                .chain(second)
                .map(|name| {
                    let mut row = row(&name);
                    let fixture = recorded.and_then(|outs| outs.iter().find(|(n, _)| *n == name)).map(|(_, t)| t);
                    row.checks = value_checks(
                        &name,
                        (subject, evaluation),
                        live.map(|(n, e)| (*n, e)),
                        fixture,
                        dtype,
                        row.tolerance(),
                    );
                    // A stood-in reference: the subject against the values recorded from it.
                    if let (Some(stand_in), None) = (&row.reference, live) {
                        let recorded = row.checks.iter().find(|c| c.against == FIXTURE).cloned();
                        row.checks.extend(recorded.map(|c| Check { against: stand_in.clone(), ..c }));
                    }
                    row
                })
                .collect()
        }
    }
}

/// An error case's checks: the reference rejects with a message containing `text`, and the
/// subject rejects too (with an error, not a panic).
pub fn rejection_checks(
    text: &str,
    (subject, evaluation): (&str, &Evaluation),
    reference: Option<(&str, &Evaluation)>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some((name, reference)) = reference {
        checks.push(match reference {
            Evaluation::Rejected(message) if message.contains(text) => Check {
                subject: name.into(),
                against: REJECTS.into(),
                passed: true,
                comparison: None,
                message: Some(message.clone()),
            },
            Evaluation::Rejected(message) => Check::failed(
                name,
                REJECTS,
                format!("{name} rejected the input, but its message does not contain \"{text}\": {message}"),
            ),
            _ => Check::failed(name, REJECTS, format!("{name} accepted the input")),
        });
    }
    checks.push(match evaluation {
        Evaluation::Rejected(message) if !message.starts_with("panicked") => Check {
            subject: subject.into(),
            against: REJECTS.into(),
            passed: true,
            comparison: None,
            message: Some(message.clone()),
        },
        Evaluation::Rejected(message) => Check::failed(subject, REJECTS, message.clone()),
        _ => Check::failed(subject, REJECTS, format!("the {subject} implementation accepted the input")),
    });
    checks
}

/// One output of a call: subject against the reference and the fixture, reference against the
/// fixture.
pub(super) fn value_checks(
    name: &str,
    (subject, evaluation): (&str, &Evaluation),
    reference: Option<(&str, &Evaluation)>,
    fixture: Option<&ExpectedTensor>,
    dtype: DType,
    tolerance: Tolerance,
) -> Vec<Check> {
    fn output<'e>(evaluation: &'e Evaluation, name: &str, who: &str) -> Result<(&'e [f64], &'e [i64]), String> {
        evaluation.output(name).map(|c| (c.values.as_slice(), c.shape.as_slice())).map_err(|e| format!("{who}: {e}"))
    }
    let recorded = fixture
        .map(|f| (f.values.as_slice(), f.shape.as_slice()))
        .ok_or_else(|| "the fixture has no recorded value: run `tch-parity regen`".to_owned());
    let check = |who: &str,
                 against: &str,
                 actual: &Result<(&[f64], &[i64]), String>,
                 expected: &Result<(&[f64], &[i64]), String>| {
        match (actual, expected) {
            (Ok((a, a_shape)), Ok((b, b_shape))) => {
                Check::compared(who, against, compare(a, a_shape, b, b_shape, dtype, tolerance))
            }
            (Err(e), _) | (_, Err(e)) => Check::failed(who, against, e.clone()),
        }
    };
    let actual = output(evaluation, name, subject);
    let live = reference.map(|(who, e)| (who, output(e, name, who)));
    let mut checks = Vec::new();
    if let Some((who, theirs)) = &live {
        checks.push(check(subject, who, &actual, theirs));
    }
    checks.push(check(subject, FIXTURE, &actual, &recorded));
    if let Some((who, theirs)) = &live {
        checks.push(check(who, FIXTURE, theirs, &recorded));
    }
    checks
}

/// Announces every loss call and optimizer run of the selected cases, so that implementations
/// that batch (PyTorch in Python) can start at once: `check`, and `regen` before it records.
pub fn prepare(registry: &Registry, files: &[FixtureFile], selection: &Selection, dtypes: &[DType]) {
    let mut calls: Vec<(&'static LossSpec, Args, DType, Reduction)> = Vec::new();
    for case in files.iter().flat_map(|f| &f.cases).filter(|c| selection.selects(c) && c.kind == CaseKind::Loss) {
        let Some(Op::Loss(spec)) = catalog::find(&case.op) else { continue };
        for &dtype in case.dtypes.iter().filter(|d| dtypes.contains(d)) {
            if let Ok(args) = materialize::loss_args(case, spec, dtype) {
                // One call per case and dtype: an implementation that batches asks for every
                // reduction at once.
                calls.push((spec, args, dtype, spec.reductions()[0]));
            }
        }
    }
    let inputs: Vec<LossInput> =
        calls.iter().map(|(spec, args, dtype, reduction)| LossInput::new(spec, args, *dtype, *reduction)).collect();
    registry.prepare(&inputs);
    let setups: Vec<super::optim_run::Setup> = files
        .iter()
        .flat_map(|f| &f.cases)
        .filter(|c| selection.selects(c) && c.trajectory().is_some() && matches!(c.outcome, Outcome::Values(_)))
        .filter_map(|case| match catalog::find(&case.op) {
            Some(Op::Optimizer(spec)) => Some((case, spec)),
            _ => None,
        })
        .flat_map(|(case, spec)| {
            let wanted = case.dtypes.iter().filter(|d| dtypes.contains(d));
            wanted.filter_map(move |&dtype| super::optim_run::setup(case, spec, dtype).ok())
        })
        .collect();
    let runs: Vec<_> = setups.iter().map(super::optim_run::Setup::run).collect();
    registry.prepare_optimizers(&runs);
}

/// Runs every selected case of `files` into one report, rows in the files' order.
pub fn check(registry: &Registry, files: &[FixtureFile], selection: &Selection) -> Report {
    let dtypes = selection.dtypes();
    prepare(registry, files, selection, &dtypes);
    let cases: Vec<(String, &Case)> = files
        .iter()
        .flat_map(|f| f.cases.iter().filter(|c| selection.selects(c)).map(move |c| (f.path.display().to_string(), c)))
        .collect();
    // Cases whose reference runs in Python go last: Python, sent all of them by `prepare`, starts
    // (a second or two of importing torch) and answers while the rest runs.
    let in_python = |case: &Case| match catalog::find(&case.op) {
        Some(Op::Loss(spec)) => matches!(spec.reference, catalog::Reference::Python(_)),
        Some(Op::Optimizer(spec)) => spec.python_only,
        Some(Op::Scheduler(_) | Op::Clip(_)) | None => false,
    };
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_key(|&i| in_python(cases[i].1));
    // Cases are independent: each core takes the next one (libtorch's own threads are left to
    // the caller; the CLI runs each op on one).
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(order.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: std::sync::Mutex<Vec<Vec<Row>>> = std::sync::Mutex::new(vec![Vec::new(); cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&i) = order.get(k) else { break };
                let (file, case) = &cases[i];
                let case_rows = run_case(registry, file, case, selection);
                done.lock().unwrap_or_else(|e| e.into_inner())[i] = case_rows;
            });
        }
    });
    let rows = done.into_inner().unwrap_or_else(|e| e.into_inner());
    Report {
        libtorch: crate::reference::LIBTORCH_VERSION.to_owned(),
        rows: rows.into_iter().flatten().collect(),
        accuracy: Vec::new(),
    }
}
