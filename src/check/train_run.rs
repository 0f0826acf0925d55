//! Runs learning-rate scheduler and gradient-clipping cases: each implementation under test
//! against every live reference that has the scheduler or function (libtorch's C++
//! `StepLR`, `ReduceLROnPlateauScheduler` and `torch::nn::utils`; PyTorch in Python when live),
//! and against the values PyTorch in Python recorded in the fixture.

use super::materialize;
use super::run::{rejection_checks, value_checks, Check, Row, REJECTS};
use crate::catalog::{self, schedulers, ClipSpec, Op, SchedulerConfig};
use crate::fixture::{Case, CaseKind, DType, Outcome, CLIP, SCHEDULE};
use crate::implementation::{ClipCall, Evaluation, Implementation, Registry, ScheduleRun};
use serde_json::{json, Value};
use tch::Tensor;

/// A scheduler case's configuration as written: its op and options, and what it holds.
pub fn scheduler_json(case: &Case) -> Value {
    let options: serde_json::Map<String, Value> = case.options.iter().cloned().collect();
    let mut config = json!({"op": case.op, "options": options});
    if let Some(s) = case.schedule().filter(|s| !s.schedulers.is_empty()) {
        config["schedulers"] = Value::Array(s.schedulers.clone());
    }
    config
}

/// What an implementation computes for a scheduler or clipping case at `dtype`.
pub fn evaluate(implementation: &dyn Implementation, case: &Case, dtype: DType) -> Evaluation {
    match (catalog::find(&case.op), &case.kind) {
        (Some(Op::Scheduler(_)), CaseKind::Schedule(s)) => {
            let json = scheduler_json(case);
            let config: Result<SchedulerConfig, String> = schedulers::parse(&json);
            let run = ScheduleRun {
                config: config.as_ref().map_err(String::as_str),
                json: &json,
                optimizer: &s.optimizer,
                lrs: &s.lrs,
                steps: s.steps,
                epochs: &s.epochs,
                metrics: &s.metrics,
            };
            implementation.schedule(&run)
        }
        (Some(Op::Clip(spec)), CaseKind::Clip { without_grad }) => {
            match clip_call_parts(case, spec, dtype, without_grad) {
                Ok((options, names, grads)) => {
                    implementation.clip(&ClipCall { spec, options: &options, names: &names, grads: &grads, dtype })
                }
                Err(e) => Evaluation::Rejected(format!("the case's inputs: {e}")),
            }
        }
        _ => Evaluation::Unsupported,
    }
}

type ClipParts = (crate::options::Values, Vec<String>, Vec<Option<Tensor>>);

fn clip_call_parts(case: &Case, spec: &ClipSpec, dtype: DType, without_grad: &[String]) -> Result<ClipParts, String> {
    let given = materialize::options(&case.options, &(spec.options.specs)())?;
    let options = (spec.options.resolve)(&given)?;
    let inputs = materialize::inputs(case, dtype)?;
    let names = inputs.iter().map(|(n, _)| n.clone()).collect();
    let grads = inputs.into_iter().map(|(n, t)| (!without_grad.contains(&n)).then_some(t)).collect();
    Ok((options, names, grads))
}

/// The variant a case's values are recorded under.
pub fn variant(case: &Case) -> &'static str {
    match case.kind {
        CaseKind::Schedule(_) => SCHEDULE,
        _ => CLIP,
    }
}

/// Every row of a scheduler or clipping case.
pub fn run_case(registry: &Registry, file: &str, case: &Case, dtypes: &[DType]) -> Vec<Row> {
    let variant = variant(case);
    let mut rows = Vec::new();
    for &dtype in case.dtypes.iter().filter(|d| dtypes.contains(d)) {
        let references: Vec<(&str, Evaluation)> = registry
            .references
            .iter()
            .map(|r| (r.name(), evaluate(r.as_ref(), case, dtype)))
            .filter(|(_, e)| !matches!(e, Evaluation::Unsupported))
            .collect();
        let unavailable: Vec<String> = references
            .iter()
            .filter_map(|(n, e)| match e {
                Evaluation::Unavailable(why) => Some(format!("{n} not run ({why})")),
                _ => None,
            })
            .collect();
        let live: Vec<(&str, &Evaluation)> =
            references.iter().filter(|(_, e)| !matches!(e, Evaluation::Unavailable(_))).map(|(n, e)| (*n, e)).collect();
        // Said when no live reference ran: the row was checked against the fixture alone.
        let note = (live.is_empty() && !unavailable.is_empty()).then(|| unavailable.join("; "));
        for subject in &registry.subjects {
            let name = subject.name();
            let evaluation = evaluate(subject.as_ref(), case, dtype);
            let row = |output: &str| {
                let mut row = Row::new(file, case, dtype, variant, output, name);
                row.reference = live.first().map(|(n, _)| (*n).to_owned());
                row.note = note.clone();
                row
            };
            if let Evaluation::Unsupported = evaluation {
                rows.push(Row { unsupported: true, ..row("unsupported") });
                continue;
            }
            match &case.outcome {
                Outcome::Rejects(text) => {
                    let mut r = row(REJECTS);
                    r.checks = rejection_checks(text, (name, &evaluation), live.first().copied());
                    rows.push(r);
                }
                Outcome::Values(expected) => {
                    let recorded = expected.as_ref().and_then(|e| e.outputs(dtype, variant));
                    let names: Vec<String> = match (recorded, &evaluation) {
                        (Some(outs), _) => outs.iter().map(|(n, _)| n.clone()).collect(),
                        (None, Evaluation::Computed(outs)) => outs.iter().map(|c| c.name.clone()).collect(),
                        (None, _) => vec!["output".into()],
                    };
                    for output in names {
                        let mut r = row(&output);
                        let fixture = recorded.and_then(|outs| outs.iter().find(|(n, _)| *n == output)).map(|(_, t)| t);
                        let tolerance = r.tolerance();
                        let mut checks: Vec<Check> = Vec::new();
                        // The subject against each live reference and the fixture; each live
                        // reference against the fixture.
                        for (k, (who, theirs)) in live.iter().enumerate() {
                            let all = value_checks(
                                &output,
                                (name, &evaluation),
                                Some((who, theirs)),
                                fixture,
                                dtype,
                                tolerance,
                            );
                            // value_checks gives [subject vs ref, subject vs fixture, ref vs fixture].
                            for (i, check) in all.into_iter().enumerate() {
                                if i != 1 || k == 0 {
                                    checks.push(check);
                                }
                            }
                        }
                        if live.is_empty() {
                            checks = value_checks(&output, (name, &evaluation), None, fixture, dtype, tolerance);
                        }
                        r.checks = checks;
                        rows.push(r);
                    }
                }
            }
        }
    }
    rows
}

/// What `regen` records for a scheduler or clipping case at `dtype`: PyTorch in Python's values
/// (the reference recorded in full), with its description; or, for an error case, a check that
/// it still refuses with `text`.
pub fn record(
    registry: &Registry,
    case: &Case,
    dtype: DType,
) -> Result<(String, Vec<(String, crate::fixture::Outputs)>), String> {
    let reference = registry
        .references
        .iter()
        .find(|r| r.recorded_in_full() && !matches!(evaluate(r.as_ref(), case, dtype), Evaluation::Unsupported))
        .ok_or("no reference records this case")?;
    let name = reference.name();
    match (evaluate(reference.as_ref(), case, dtype), &case.outcome) {
        (Evaluation::Rejected(message), Outcome::Rejects(text)) if message.contains(text.as_str()) => {
            Ok((String::new(), Vec::new()))
        }
        (Evaluation::Rejected(message), Outcome::Rejects(text)) => {
            Err(format!("{name}'s message no longer contains \"{text}\": {message}"))
        }
        (Evaluation::Computed(_), Outcome::Rejects(_)) => Err(format!("{name} now accepts this case")),
        (Evaluation::Computed(outputs), Outcome::Values(_)) => {
            let outputs = outputs
                .into_iter()
                .map(|c| (c.name, crate::fixture::ExpectedTensor { shape: c.shape, values: c.values }))
                .collect();
            let what = match catalog::find(&case.op) {
                Some(Op::Scheduler(spec)) => format!("torch.optim.lr_scheduler.{}", spec.torch_name),
                Some(Op::Clip(spec)) => spec.torch_name.to_owned(),
                _ => case.op.clone(),
            };
            let versions = reference.provenance().unwrap_or_default();
            Ok((format!("{what} ({versions})"), vec![(variant(case).to_owned(), outputs)]))
        }
        (other, _) => Err(format!("{name}: {}", other.describe())),
    }
}
