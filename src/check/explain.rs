//! One case in depth (`tch-parity explain`): its inputs and options, each implementation's
//! outputs beside the fixture's element by element with their distance in ulp, the tolerance
//! applied and why; for an optimizer, the difference after every step as numbers and as a small
//! chart, and the first step that left tolerance.

use super::compare::{compare_element, ulp_distance};
use super::optim_run::{
    first_failing_step, per_step_ulp, references, setup, side_variants, simulate, stand_in_notes, Mode,
};
use super::run::{derivatives_for, evaluate, reference, tolerance_for};
use crate::catalog::{self, LossSpec, Op, OptimizerSpec};
use crate::fixture::parse::{output_names, second_order_names};
use crate::fixture::{float, Case, DType, ExpectedTensor, FixtureFile, Outcome, TRAJECTORY};
use crate::implementation::{Computed, Derivatives, Evaluation, Registry};
use std::fmt::Write;

/// The case `query` names: `op/name`, a name, or a part of one, if exactly one case matches.
/// Otherwise the closest names, best first, for the caller to list.
pub fn find<'f>(files: &'f [FixtureFile], query: &str) -> Result<(&'f FixtureFile, &'f Case), Vec<String>> {
    let all: Vec<(&FixtureFile, &Case)> = files.iter().flat_map(|f| f.cases.iter().map(move |c| (f, c))).collect();
    let full = |c: &Case| format!("{}/{}", c.op, c.name);
    let exact: Vec<_> = all.iter().filter(|(_, c)| full(c) == query || c.name == query).collect();
    let partial: Vec<_> = all.iter().filter(|(_, c)| full(c).contains(query)).collect();
    match (exact.as_slice(), partial.as_slice()) {
        ([one], _) | ([], [one]) => Ok(**one),
        (_, several) if !several.is_empty() => Err(several.iter().map(|(_, c)| full(c)).take(20).collect()),
        _ => {
            let mut ranked: Vec<(usize, String)> =
                all.iter().map(|(_, c)| (distance(query, &full(c)), full(c))).collect();
            ranked.sort();
            Err(ranked.into_iter().take(8).map(|(_, n)| n).collect())
        }
    }
}

/// Edit distance from `query` to the closest stretch of `name` (so a misspelt part scores low).
fn distance(query: &str, name: &str) -> usize {
    let (q, n): (Vec<char>, Vec<char>) = (query.chars().collect(), name.chars().collect());
    let mut previous: Vec<usize> = vec![0; n.len() + 1];
    for (i, qc) in q.iter().enumerate() {
        let mut row = vec![i + 1; n.len() + 1];
        for (j, nc) in n.iter().enumerate() {
            let substitution = previous[j] + usize::from(qc != nc);
            row[j + 1] = substitution.min(previous[j + 1] + 1).min(row[j] + 1);
        }
        previous = row;
    }
    previous.into_iter().min().unwrap_or(q.len())
}

/// The whole explanation of one case, at the given dtypes.
pub fn explain(registry: &Registry, file: &FixtureFile, case: &Case, dtypes: &[DType]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}/{}  (file {}, source {})", case.op, case.name, file.path.display(), case.source);
    if let Some(note) = &case.note {
        let _ = writeln!(out, "  {note}");
    }
    out.push_str("\ninputs:\n");
    for (name, t) in &case.inputs {
        let grad = if t.requires_grad { ", requires_grad" } else { "" };
        let values: Vec<String> = t.data.iter().take(12).map(|v| v.to_string()).collect();
        let more = if t.data.len() > 12 { format!(", … {} in all", t.data.len()) } else { String::new() };
        let _ = writeln!(out, "  {name}: {} {:?}{grad}: [{}{more}]", t.dtype.name(), t.shape, values.join(", "));
    }
    let dtypes: Vec<DType> = case.dtypes.iter().copied().filter(|d| dtypes.contains(d)).collect();
    match catalog::find(&case.op) {
        Some(Op::Loss(spec)) => explain_loss(&mut out, registry, spec, case, &dtypes),
        Some(Op::Optimizer(spec)) => explain_optimizer(&mut out, registry, spec, case, &dtypes),
        Some(Op::Scheduler(_) | Op::Clip(_)) => explain_training(&mut out, registry, case, &dtypes),
        None => unreachable!("validated"),
    }
    out
}

fn options_line(out: &mut String, given: &[(String, serde_json::Value)], resolved: Vec<(&'static str, String)>) {
    if resolved.is_empty() {
        return;
    }
    let shown: Vec<String> = resolved
        .into_iter()
        .map(|(n, v)| {
            let default = if given.iter().any(|(g, _)| g == n) { "" } else { " (default)" };
            format!("{n} = {v}{default}")
        })
        .collect();
    let _ = writeln!(out, "options: {}", shown.join(", "));
}

fn explain_loss(out: &mut String, registry: &Registry, spec: &'static LossSpec, case: &Case, dtypes: &[DType]) {
    let given = super::materialize::options(&case.options, &spec.option_specs()).unwrap_or_default();
    let resolved = (spec.options.resolve)(&given).unwrap_or_default();
    options_line(out, &case.options, resolved.into_iter().map(|(n, v)| (n, v.to_string())).collect());
    for &dtype in dtypes {
        let derivatives = derivatives_for(spec, case, dtype);
        for &reduction in spec.reductions() {
            let _ = writeln!(out, "\n== {dtype} {reduction}");
            let live = reference(registry, case, spec, dtype, (reduction, derivatives));
            let subjects: Vec<(&str, Evaluation)> = registry
                .subjects
                .iter()
                .map(|s| (s.name(), evaluate(s.as_ref(), case, spec, dtype, (reduction, derivatives))))
                .collect();
            if let Outcome::Rejects(text) = &case.outcome {
                let _ = writeln!(out, "expected: the reference rejects, its message containing \"{text}\"");
                for (name, evaluation) in subjects.iter().map(|(n, e)| (*n, e)).chain(live.iter().map(|(n, e)| (*n, e)))
                {
                    let _ = writeln!(out, "  {name}: {}", evaluation.describe());
                }
                continue;
            }
            let recorded = case.expected().and_then(|e| e.outputs(dtype, reduction.name()));
            let second = if derivatives == Derivatives::Second { second_order_names(&case.inputs) } else { vec![] };
            for output in output_names(&case.inputs).into_iter().chain(second) {
                let fixture = recorded.and_then(|o| o.iter().find(|(n, _)| *n == output)).map(|(_, t)| t);
                let (tolerance, reason) = tolerance_for(case, dtype, reduction.name(), &output);
                let why = reason.unwrap_or_else(|| format!("torch.testing.assert_close's default for {dtype}"));
                let _ = writeln!(out, "\n{output}  (rtol {:e}, atol {:e}: {why})", tolerance.rtol, tolerance.atol);
                let mut columns: Vec<(String, Result<Computed, String>)> = Vec::new();
                for (name, evaluation) in subjects.iter().map(|(n, e)| (*n, e)).chain(live.iter().map(|(n, e)| (*n, e)))
                {
                    columns.push((name.to_owned(), evaluation.output(&output).cloned()));
                }
                if let Some(f) = fixture {
                    columns.push((
                        "fixture".into(),
                        Ok(Computed { name: output.clone(), shape: f.shape.clone(), values: f.values.clone() }),
                    ));
                }
                element_table(out, &columns, dtype, tolerance);
            }
        }
    }
}

/// The elements of each column side by side, with the ulp distance of each column from the
/// reference column (the last implementation), the worst element of each marked.
fn element_table(
    out: &mut String,
    columns: &[(String, Result<Computed, String>)],
    dtype: DType,
    tolerance: crate::fixture::Tolerance,
) {
    for (name, column) in columns {
        if let Err(message) = column {
            let _ = writeln!(out, "  {name}: {message}");
        }
    }
    let ok: Vec<(&str, &Computed)> =
        columns.iter().filter_map(|(n, c)| c.as_ref().ok().map(|c| (n.as_str(), c))).collect();
    let Some(&(_, first)) = ok.first() else { return };
    // The reference: the fixture's predecessor, or the last column when there is no fixture.
    let reference = ok.iter().rposition(|(n, _)| *n != "fixture").unwrap_or(0);
    let n = first.values.len();
    let _ = write!(out, "  {:<10}", "element");
    for (name, _) in &ok {
        let _ = write!(out, "  {name:>22}");
    }
    for (k, (name, _)) in ok.iter().enumerate() {
        if k != reference {
            let _ = write!(out, "  {:>12}", format!("ulp {}", short(name)));
        }
    }
    out.push('\n');
    // The worst element of each comparison with the reference, by share of the tolerance.
    let score = |k: usize, i: usize| -> f64 {
        compare_element(ok[k].1.values[i], ok[reference].1.values[i], dtype, tolerance).score
    };
    let worst: Vec<Option<usize>> = (0..ok.len())
        .map(|k| {
            (k != reference && ok[k].1.values.len() == n)
                .then(|| (0..n).max_by(|&a, &b| score(k, a).total_cmp(&score(k, b))))
                .flatten()
        })
        .collect();
    let shown: Vec<usize> = {
        let mut shown: Vec<usize> = (0..n.min(16)).collect();
        shown.extend(worst.iter().flatten().copied().filter(|i| *i >= 16));
        shown.sort();
        shown.dedup();
        shown
    };
    for i in shown {
        let index = crate::check::compare::unravel(i, &first.shape);
        let _ = write!(out, "  {:<10}", format!("{index:?}"));
        for (_, c) in &ok {
            let v = c.values.get(i).copied().unwrap_or(f64::NAN);
            let _ = write!(out, "  {:>22}", float::to_json(v, dtype).to_string().trim_matches('"'));
        }
        for (k, (_, c)) in ok.iter().enumerate() {
            if k == reference {
                continue;
            }
            let (a, b) = (c.values.get(i).copied().unwrap_or(f64::NAN), ok[reference].1.values[i]);
            let passed = compare_element(a, b, dtype, tolerance).passed;
            let mark = match (passed, worst[k] == Some(i) && a != b) {
                (false, _) => " FAIL",
                (true, true) => " <worst",
                _ => "",
            };
            let _ = write!(out, "  {:>12}{mark}", ulp_text(ulp_distance(a, b, dtype)));
        }
        out.push('\n');
    }
    if n > 16 {
        let _ = writeln!(out, "  ({n} elements; the first 16 and each column's worst are shown)");
    }
}

fn short(name: &str) -> &str {
    name.split('-').next().unwrap_or(name)
}

fn ulp_text(u: u64) -> String {
    if u == u64::MAX {
        "nan".into()
    } else {
        u.to_string()
    }
}

/// ▁▂▃▄▅▆▇█ for 0, 1, 2–3, 4–15, … ulp: one character per step, on a log scale.
pub fn sparkline(per_step: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    per_step
        .iter()
        .map(|&u| {
            let level = if u == 0 { 0 } else { ((u as f64).log2() / 3.0).floor() as usize + 1 };
            BARS[level.min(7)]
        })
        .collect()
}

fn explain_optimizer(
    out: &mut String,
    registry: &Registry,
    spec: &'static OptimizerSpec,
    case: &Case,
    dtypes: &[DType],
) {
    let given = super::materialize::options(&case.options, &spec.option_specs()).unwrap_or_default();
    if let Ok(options) = (spec.configure)(&given) {
        let _ = writeln!(out, "options: {options:?}");
    }
    if let Some(t) = case.trajectory() {
        let _ = writeln!(
            out,
            "objective {}, {} steps, lr schedule {:?}, {} further groups",
            t.objective,
            t.steps,
            t.lr_schedule,
            t.groups.len()
        );
        if let Some(scheduler) = &t.scheduler {
            let metrics = if t.metrics.is_empty() { String::new() } else { format!(", {} metrics", t.metrics.len()) };
            let _ = writeln!(out, "scheduler {scheduler}{metrics}, stepped after every step");
        }
    }
    for &dtype in dtypes {
        let _ = writeln!(out, "\n== {dtype}");
        let setup = match setup(case, spec, dtype) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(out, "cannot set up: {e}");
                continue;
            }
        };
        let refs = references(registry, &setup);
        if let Outcome::Rejects(text) = &case.outcome {
            let _ = writeln!(out, "expected: construction fails, the message containing \"{text}\"");
            for implementation in registry.subjects.iter().map(|s| s.as_ref()).chain(refs.iter().copied()) {
                let said = match implementation.optimizer(&setup.run()) {
                    Some(Err(e)) => format!("rejects: {e}"),
                    Some(Ok(_)) => "accepts it".into(),
                    None => "unsupported".into(),
                };
                let _ = writeln!(out, "  {}: {said}", implementation.name());
            }
            continue;
        }
        let recorded = case.expected().and_then(|e| e.outputs(dtype, TRAJECTORY));
        for note in stand_in_notes(&setup, &refs) {
            let _ = writeln!(out, "note: {note}");
        }
        for subject in &registry.subjects {
            for &mode in Mode::of(spec) {
                let mut sides = vec![subject.as_ref()];
                sides.extend(refs.iter().copied());
                let histories = match simulate(&setup, &sides, &side_variants(&refs), mode) {
                    Ok(h) => h,
                    Err(e) => {
                        let _ = writeln!(out, "{}: {e}", mode.name());
                        continue;
                    }
                };
                for (k, reference) in refs.iter().enumerate() {
                    let variant = format!("{}/{}", mode.name(), reference.name());
                    let _ = writeln!(
                        out,
                        "\n{variant}: {} against {}, difference in ulp after each step",
                        subject.name(),
                        reference.name()
                    );
                    for label in histories[0].series.keys() {
                        let (Some(a), Some(b)) = (histories[0].trajectory(label), histories[k + 1].trajectory(label))
                        else {
                            continue;
                        };
                        let (tolerance, _) = tolerance_for(case, dtype, &variant, label);
                        trajectory_line(out, label, &a, &b, dtype, tolerance);
                    }
                    if mode == Mode::FreeRunning && k == 0 {
                        for (label, stored) in recorded.into_iter().flatten() {
                            if let Some(b) = histories[k + 1].trajectory(label) {
                                let (tolerance, _) = tolerance_for(case, dtype, &variant, label);
                                trajectory_line(
                                    out,
                                    &format!("{label} ({} vs fixture)", reference.name()),
                                    &b,
                                    stored,
                                    dtype,
                                    tolerance,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One buffer's worst difference per step: a chart, the numbers, and the first step out of
/// tolerance.
fn trajectory_line(
    out: &mut String,
    label: &str,
    a: &ExpectedTensor,
    b: &ExpectedTensor,
    dtype: DType,
    tolerance: crate::fixture::Tolerance,
) {
    let steps = b.shape.first().copied().unwrap_or(0).max(0) as usize;
    if steps == 0 || a.values.len() != b.values.len() {
        let _ = writeln!(out, "  {label:<24} shapes differ: {:?} against {:?}", a.shape, b.shape);
        return;
    }
    let worst = per_step_ulp(a, b, dtype);
    let verdict = match first_failing_step(a, b, dtype, tolerance) {
        Some(s) => format!("left tolerance at step {s}"),
        None => "within tolerance at every step".into(),
    };
    let numbers: Vec<String> = worst.iter().map(|&u| ulp_text(u)).collect();
    let _ = writeln!(
        out,
        "  {label:<24} {}  max {}  {verdict}",
        sparkline(&worst),
        ulp_text(*worst.iter().max().unwrap_or(&0))
    );
    let _ = writeln!(out, "  {:<24} [{}]", "", numbers.join(" "));
}

/// A scheduler or clipping case: each implementation's values next to the recorded ones.
fn explain_training(out: &mut String, registry: &Registry, case: &Case, dtypes: &[DType]) {
    use super::train_run;
    if let Some(s) = case.schedule() {
        let _ = writeln!(out, "schedule: {}", train_run::scheduler_json(case));
        let _ = writeln!(out, "  over {} group(s) of {} at {:?}, {} steps", s.lrs.len(), s.optimizer, s.lrs, s.steps);
    }
    for &dtype in dtypes {
        let _ = writeln!(out, "\n{dtype}:");
        let implementations = registry.subjects.iter().chain(&registry.references);
        for implementation in implementations {
            match train_run::evaluate(implementation.as_ref(), case, dtype) {
                crate::implementation::Evaluation::Unsupported => {}
                crate::implementation::Evaluation::Computed(outputs) => {
                    for c in outputs {
                        let shown: Vec<String> = c.values.iter().take(8).map(|v| format!("{v:e}")).collect();
                        let _ = writeln!(
                            out,
                            "  {:<14} {:<12} [{}{}]",
                            implementation.name(),
                            c.name,
                            shown.join(", "),
                            if c.values.len() > 8 { ", …" } else { "" }
                        );
                    }
                }
                other => {
                    let _ = writeln!(out, "  {:<14} {}", implementation.name(), other.describe());
                }
            }
        }
        if let Some(e) = case.expected() {
            for (name, t) in e.outputs(dtype, train_run::variant(case)).into_iter().flatten() {
                let shown: Vec<String> = t.values.iter().take(8).map(|v| format!("{v:e}")).collect();
                let _ = writeln!(
                    out,
                    "  {:<14} {:<12} [{}{}]",
                    "fixture",
                    name,
                    shown.join(", "),
                    if t.values.len() > 8 { ", …" } else { "" }
                );
            }
        }
    }
}
