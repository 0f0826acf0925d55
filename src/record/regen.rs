//! Recording expected values again from the live references, and saying what changed.

use crate::catalog::{self, LossSpec, Op, OptimizerSpec, Reference};
use crate::check::compare::{compare_element, ulp_distance};
use crate::check::optim_run::{self, RecordedVariants};
use crate::check::run::{reference, tolerance_for};
use crate::fixture::schema::*;
use crate::fixture::write::{to_text, write_atomic};
use crate::implementation::{Evaluation, Registry};
use crate::reference::LIBTORCH_VERSION;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum CaseChange {
    Unchanged,
    /// Values differ in their last bits only, within the case's tolerance: libtorch rounds
    /// differently on this machine (its kernels depend on the CPU's instruction set and core
    /// count). The recorded values are kept, so fixtures do not churn from machine to machine;
    /// `regen --exact` records this machine's bits.
    Rounding {
        values: usize,
        of: usize,
        max_ulp: u64,
    },
    /// Recorded for the first time.
    Recorded,
    /// Some stored values differ from what libtorch gives now.
    Changed {
        values: usize,
        of: usize,
        max_ulp: u64,
    },
    /// The recorded set of outputs changed shape or names, or the libtorch version changed.
    Restructured(String),
}

#[derive(Debug, Clone)]
pub struct FileResult {
    pub path: PathBuf,
    pub cases: Changes,
    /// Whether the file's bytes would change.
    pub rewritten: bool,
}

#[derive(Debug, Clone)]
pub struct RegenProblem {
    pub path: PathBuf,
    /// Empty for a problem with the file itself.
    pub case: String,
    pub message: String,
    /// The file could not be written (as opposed to libtorch disagreeing with the fixture).
    pub io: bool,
}

impl std::fmt::Display for RegenProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.case.as_str() {
            "" => write!(f, "{}: {}", self.path.display(), self.message),
            case => write!(f, "{}: case '{case}': {}", self.path.display(), self.message),
        }
    }
}

/// What changed in each regenerated case, by case name.
pub type Changes = Vec<(String, CaseChange)>;

/// Records the selected cases of `file` (the others are kept as they are) from their live
/// references: libtorch, or PyTorch in Python for the ops libtorch lacks. Returns the new file and
/// what changed in each selected case.
///
/// Values that moved by no more than the case's tolerance are kept as recorded unless `exact`
/// (see [`CaseChange::Rounding`]).
pub fn regenerate(
    registry: &Registry,
    file: &FixtureFile,
    selected: &dyn Fn(&Case) -> bool,
    exact: bool,
) -> Result<(FixtureFile, Changes), Vec<RegenProblem>> {
    let mut problems = Vec::new();
    let mut updated = file.clone();
    let mut changes = Vec::new();
    for case in updated.cases.iter_mut().filter(|c| selected(c)) {
        let result = match catalog::find(&case.op) {
            Some(Op::Loss(spec)) => regenerate_loss_case(registry, spec, case, exact),
            Some(Op::Optimizer(spec)) => regenerate_optimizer_case(registry, spec, case, exact),
            Some(Op::Scheduler(_) | Op::Clip(_)) => regenerate_training_case(registry, case, exact),
            None => unreachable!("fixture validation checks op ids"),
        };
        match result {
            Ok(change) => changes.push((case.name.clone(), change)),
            Err(messages) => problems.extend(messages.into_iter().map(|message| RegenProblem {
                path: file.path.clone(),
                case: case.name.clone(),
                message,
                io: false,
            })),
        }
    }
    if problems.is_empty() {
        Ok((updated, changes))
    } else {
        Err(problems)
    }
}

/// Records a loss case's values in every dtype and reduction (or checks that its reference still
/// rejects it).
fn regenerate_loss_case(
    registry: &Registry,
    spec: &'static LossSpec,
    case: &mut Case,
    exact: bool,
) -> Result<CaseChange, Vec<String>> {
    let mut problems = Vec::new();
    let mut values = BTreeMap::new();
    for &dtype in &case.dtypes {
        let mut by_reduction = Vec::new();
        // Second-order gradients are recorded where the checker compares them.
        let derivatives = crate::check::run::derivatives_for(spec, case, dtype);
        for &reduction in spec.reductions() {
            let at = format!("{dtype} {reduction}");
            let evaluation = reference(registry, case, spec, dtype, (reduction, derivatives));
            match (&case.outcome, evaluation) {
                (_, None) => problems.push(format!("{at}: no reference implements {}", spec.id)),
                (_, Some((name, Evaluation::Unavailable(why)))) => {
                    problems.push(format!("{at}: {name} is unavailable: {why}"))
                }
                (Outcome::Rejects(text), Some((name, Evaluation::Rejected(message)))) => {
                    if !message.contains(text.as_str()) {
                        problems.push(format!("{at}: {name}'s message no longer contains \"{text}\": {message}"));
                    }
                }
                (Outcome::Rejects(_), Some((name, _))) => problems.push(format!("{at}: {name} now accepts this input")),
                (Outcome::Values(_), Some((_, Evaluation::Computed(outputs)))) => by_reduction.push((
                    reduction.name().to_owned(),
                    outputs
                        .iter()
                        .map(|c| (c.name.clone(), ExpectedTensor { shape: c.shape.clone(), values: c.values.clone() }))
                        .collect(),
                )),
                (Outcome::Values(_), Some((name, other))) => problems.push(format!("{at}: {name} failed: {other:?}")),
            }
        }
        values.insert(dtype, by_reduction);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if let Outcome::Rejects(_) = case.outcome {
        return Ok(CaseChange::Unchanged);
    }
    let (libtorch, recorded_by) = provenance(registry, spec);
    Ok(update(case, Expected { libtorch, recorded_by, values }, exact))
}

/// Records a scheduler or clipping case from PyTorch in Python (or checks that it still refuses).
fn regenerate_training_case(registry: &Registry, case: &mut Case, exact: bool) -> Result<CaseChange, Vec<String>> {
    let (recorded_by, values) =
        record_each_dtype(&case.dtypes, |dtype| crate::check::train_run::record(registry, case, dtype))?;
    if let Outcome::Rejects(_) = case.outcome {
        return Ok(CaseChange::Unchanged);
    }
    let (torch, _) = python_versions(registry);
    Ok(update(case, Expected { libtorch: torch, recorded_by, values }, exact))
}

/// Recorded variants, by dtype.
type ByDType = BTreeMap<DType, RecordedVariants>;

/// `record(dtype)` for each dtype: what recorded them and the values by dtype, or every
/// dtype's problem.
fn record_each_dtype(
    dtypes: &[DType],
    mut record: impl FnMut(DType) -> Result<(String, RecordedVariants), String>,
) -> Result<(Option<String>, ByDType), Vec<String>> {
    let mut values = BTreeMap::new();
    let mut recorded_by = None;
    let mut problems = Vec::new();
    for &dtype in dtypes {
        match record(dtype) {
            Ok((by, variants)) => {
                recorded_by = Some(by);
                values.insert(dtype, variants);
            }
            Err(message) => problems.push(format!("{dtype}: {message}")),
        }
    }
    if problems.is_empty() {
        Ok((recorded_by, values))
    } else {
        Err(problems)
    }
}

/// The torch version Python reports ("2.13.0+cu130", libtorch's when none answered), and every
/// version it reported ("torch 2.13.0+cu130, torchvision 0.28.0+cu130").
fn python_versions(registry: &Registry) -> (String, String) {
    let versions = registry.references.iter().find_map(|r| r.provenance()).unwrap_or_default();
    let torch = versions.split(", ").find_map(|v| v.strip_prefix("torch ")).unwrap_or(LIBTORCH_VERSION);
    (torch.to_owned(), versions)
}

/// Puts `new` in the case, unless it differs from the recorded values by rounding only.
fn update(case: &mut Case, new: Expected, exact: bool) -> CaseChange {
    let change = describe_change(case, &new);
    if exact || !matches!(change, CaseChange::Rounding { .. }) {
        case.outcome = Outcome::Values(Some(new));
    }
    change
}

/// Which libtorch recorded a loss's values, and what recorded them when it was not libtorch
/// through tch: "torchvision.ops.sigmoid_focal_loss (torch 2.13.0+cu130, torchvision 0.28.0+cu130)".
fn provenance(registry: &Registry, spec: &LossSpec) -> (String, Option<String>) {
    let Reference::Python(function) = spec.reference else { return (LIBTORCH_VERSION.to_owned(), None) };
    let (torch, versions) = python_versions(registry);
    (torch, Some(format!("{function} ({versions})")))
}

/// Records an optimizer case's trajectories (or checks that libtorch still rejects it).
fn regenerate_optimizer_case(
    registry: &Registry,
    spec: &'static OptimizerSpec,
    case: &mut Case,
    exact: bool,
) -> Result<CaseChange, Vec<String>> {
    if let Outcome::Rejects(text) = &case.outcome {
        let problems: Vec<String> = case
            .dtypes
            .iter()
            .filter_map(|&dtype| {
                optim_run::still_rejected(registry, spec, case, dtype, text).err().map(|e| format!("{dtype}: {e}"))
            })
            .collect();
        return if problems.is_empty() { Ok(CaseChange::Unchanged) } else { Err(problems) };
    }
    let (recorded_by, values) =
        record_each_dtype(&case.dtypes, |dtype| optim_run::record(registry, spec, case, dtype))?;
    Ok(update(case, Expected { libtorch: LIBTORCH_VERSION.to_owned(), recorded_by, values }, exact))
}

/// How `new` differs from what `case` recorded; values within the case's tolerance (for the
/// variant and output, as `check` applies it) count as rounding.
fn describe_change(case: &Case, new: &Expected) -> CaseChange {
    let Some(old) = case.expected() else { return CaseChange::Recorded };
    if old.libtorch != new.libtorch {
        return CaseChange::Restructured(format!("libtorch {} -> {}", old.libtorch, new.libtorch));
    }
    let (mut changed, mut total, mut max_ulp, mut beyond) = (0usize, 0usize, 0u64, 0usize);
    for (dtype, by_reduction) in &new.values {
        for (reduction, outputs) in by_reduction {
            let old_outputs = old.outputs(*dtype, reduction);
            for (name, tensor) in outputs {
                let Some((_, before)) = old_outputs.and_then(|o| o.iter().find(|(n, _)| n == name)) else {
                    return CaseChange::Restructured(format!("{dtype} {reduction} {name} is new"));
                };
                if before.shape != tensor.shape {
                    return CaseChange::Restructured(format!(
                        "{dtype} {reduction} {name}: shape {:?} -> {:?}",
                        before.shape, tensor.shape
                    ));
                }
                let (tolerance, _) = tolerance_for(case, *dtype, reduction, name);
                for (&a, &b) in before.values.iter().zip(&tensor.values) {
                    total += 1;
                    let same_bits = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                    if !same_bits {
                        changed += 1;
                        max_ulp = max_ulp.max(ulp_distance(a, b, *dtype));
                        beyond += usize::from(!compare_element(b, a, *dtype, tolerance).passed);
                    }
                }
            }
        }
    }
    match (changed, beyond) {
        (0, _) => CaseChange::Unchanged,
        (_, 0) => CaseChange::Rounding { values: changed, of: total, max_ulp },
        _ => CaseChange::Changed { values: changed, of: total, max_ulp },
    }
}

/// Regenerates the selected cases of `file` and, unless `dry_run`, writes it atomically when its
/// bytes change. Nothing is written when any case has a problem.
pub fn regen_file(
    registry: &Registry,
    file: &FixtureFile,
    selected: &dyn Fn(&Case) -> bool,
    dry_run: bool,
    exact: bool,
) -> Result<FileResult, Vec<RegenProblem>> {
    let (updated, cases) = regenerate(registry, file, selected, exact)?;
    let text = to_text(&updated);
    let current = std::fs::read_to_string(&file.path).unwrap_or_default();
    let rewritten = text != current;
    if rewritten && !dry_run {
        write_atomic(&file.path, &text).map_err(|e| {
            vec![RegenProblem {
                path: file.path.clone(),
                case: String::new(),
                message: format!("cannot write: {e}"),
                io: true,
            }]
        })?;
    }
    Ok(FileResult { path: file.path.clone(), cases, rewritten })
}
