//! The accuracy audit: agreeing with libtorch says nothing of who is right when both are off.
//! For every loss row below float64, the same case (its inputs as the row's dtype holds them,
//! exactly in float64) is evaluated by the reference in float64; that result, rounded to the
//! row's dtype, is the truth each side's output is measured against, in ulps of the row's dtype.
//! A subject more than 4× the reference's error and more than 2 ulp off is flagged (and the
//! reverse is noted: where libtorch is the less accurate side).

use super::materialize;
use super::select::Selection;
use crate::catalog::{self, Args, Op};
use crate::check::compare::ulp_distance;
use crate::fixture::{Case, DType, FixtureFile, Outcome};
use crate::implementation::{Computed, Evaluation, LossInput, Registry};
use serde::Serialize;
use std::fmt::Write;
use tch::Kind;

/// One output of one call: each side's error against float64, in ulps of the row's dtype.
#[derive(Debug, Clone, Serialize)]
pub struct AccuracyRow {
    pub case: String,
    pub op: String,
    pub dtype: DType,
    /// The reduction.
    pub variant: String,
    pub output: String,
    pub subject: String,
    pub reference: String,
    pub subject_ulp: u64,
    pub reference_ulp: u64,
}

impl AccuracyRow {
    /// The subject is clearly the less accurate side: more than 4× the reference's error and more
    /// than 2 ulp.
    pub fn subject_worse(&self) -> bool {
        self.subject_ulp > 2 && self.subject_ulp > self.reference_ulp.saturating_mul(4)
    }

    /// The reference is clearly the less accurate side.
    pub fn reference_worse(&self) -> bool {
        self.reference_ulp > 2 && self.reference_ulp > self.subject_ulp.saturating_mul(4)
    }
}

/// `args` with every float tensor in float64 (the same values, exactly), gradients kept.
fn widened(args: &Args) -> Args {
    let tensors = args
        .tensors
        .iter()
        .map(|(name, t)| {
            let wide = if t.is_floating_point() {
                t.detach().to_kind(Kind::Double).set_requires_grad(t.requires_grad())
            } else {
                t.shallow_clone()
            };
            (name.clone(), wide)
        })
        .collect();
    Args { tensors, options: args.options.clone() }
}

fn computed(evaluation: Evaluation) -> Option<Vec<Computed>> {
    match evaluation {
        Evaluation::Computed(outputs) => Some(outputs),
        _ => None,
    }
}

/// The worst distance, in ulps of `dtype`, between `values` and `truth` rounded to `dtype`.
fn error(values: &[f64], truth: &[f64], dtype: DType) -> Option<u64> {
    if values.len() != truth.len() {
        return None;
    }
    let round = |x: f64| dtype.round(x);
    values.iter().zip(truth).map(|(&v, &t)| ulp_distance(v, round(t), dtype)).max()
}

/// Audits every selected loss case below float64. The registry's references must run live (a
/// reference whose recordings stand in has no float64 result at the row's inputs, and its rows
/// are left out): [`Registry::live`].
pub fn audit(registry: &Registry, files: &[FixtureFile], selection: &Selection) -> Vec<AccuracyRow> {
    let dtypes = selection.dtypes();
    let cases: Vec<&Case> = files.iter().flat_map(|f| &f.cases).filter(|c| selection.selects(c)).collect();
    let mut rows = Vec::new();
    for case in cases {
        let Some(Op::Loss(spec)) = catalog::find(&case.op) else { continue };
        if !matches!(case.outcome, Outcome::Values(_)) {
            continue;
        }
        for &dtype in case.dtypes.iter().filter(|&&d| d != DType::Float64 && dtypes.contains(&d)) {
            let Ok(low) = materialize::loss_args(case, spec, dtype) else { continue };
            let high = widened(&low);
            for &reduction in spec.reductions() {
                let input = |args, dtype| LossInput::new(spec, args, dtype, reduction);
                let Some((reference, truth)) = registry.loss_reference(&input(&high, DType::Float64)) else { continue };
                let Some(truth) = computed(truth) else { continue };
                let Some(theirs) = registry.loss_reference(&input(&low, dtype)).and_then(|(_, e)| computed(e)) else {
                    continue;
                };
                for subject in &registry.subjects {
                    let Some(mine) = computed(subject.loss(&input(&low, dtype))) else { continue };
                    for t in &truth {
                        let find = |outs: &[Computed]| outs.iter().find(|c| c.name == t.name).cloned();
                        let (Some(m), Some(r)) = (find(&mine), find(&theirs)) else { continue };
                        let (Some(subject_ulp), Some(reference_ulp)) =
                            (error(&m.values, &t.values, dtype), error(&r.values, &t.values, dtype))
                        else {
                            continue;
                        };
                        rows.push(AccuracyRow {
                            case: case.name.clone(),
                            op: case.op.clone(),
                            dtype,
                            variant: reduction.name().to_owned(),
                            output: t.name.clone(),
                            subject: subject.name().to_owned(),
                            reference: reference.name().to_owned(),
                            subject_ulp,
                            reference_ulp,
                        });
                    }
                }
            }
        }
    }
    rows
}

/// One line per op: rows audited, each side's worst error, and the rows where one side is
/// clearly the less accurate; then every row where the subject is.
pub fn table(rows: &[AccuracyRow]) -> String {
    let mut ops: Vec<&str> = rows.iter().map(|r| r.op.as_str()).collect();
    ops.dedup();
    let mut out = String::from("\naccuracy against float64 (ulps of the row's dtype):\n");
    let _ = writeln!(
        out,
        "{:<34} {:>5} {:>10} {:>13} {:>13} {:>16}",
        "op", "rows", "hand err", "libtorch err", "hand worse", "libtorch worse"
    );
    let mut seen = std::collections::BTreeSet::new();
    for op in ops.into_iter().filter(|op| seen.insert(*op)) {
        let of: Vec<&AccuracyRow> = rows.iter().filter(|r| r.op == op).collect();
        let worst = |f: fn(&AccuracyRow) -> u64| of.iter().map(|r| f(r)).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<34} {:>5} {:>10} {:>13} {:>13} {:>16}",
            op,
            of.len(),
            super::report::ulps(worst(|r| r.subject_ulp)),
            super::report::ulps(worst(|r| r.reference_ulp)),
            of.iter().filter(|r| r.subject_worse()).count(),
            of.iter().filter(|r| r.reference_worse()).count()
        );
    }
    for r in rows.iter().filter(|r| r.subject_worse()) {
        let _ = writeln!(
            out,
            "  {} worse: {}/{} {} {} {}: {} ulp against {}'s {}",
            r.subject, r.op, r.case, r.dtype, r.variant, r.output, r.subject_ulp, r.reference, r.reference_ulp
        );
    }
    out
}
