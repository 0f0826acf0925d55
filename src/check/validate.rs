//! A parsed fixture against the catalogue: the op exists, its inputs, options and recorded
//! outputs are the ones it has, an optimizer case's objective, parameters and groups fit. Every
//! problem is an error naming the file, the case and the field, as parsing's are.

use crate::catalog::{self, objectives, LossSpec, Op, OptimizerSpec};
use crate::fixture::parse::{kind_of, output_names, second_order_names, trajectory_outputs, Cx, TRAJECTORY_KEYS};
use crate::fixture::{float, Case, CaseKind, DType, FixtureError, FixtureFile, Outcome, Trajectory, TRAJECTORY};
use crate::options::{NamedValue, OptionSpec, OptionValue};
use serde_json::Value;
use std::path::Path;

type Res<T> = Result<T, FixtureError>;

/// Parses every fixture under `path` (a file or a folder) and validates it against the catalogue.
pub fn load_path(path: &Path) -> Res<Vec<FixtureFile>> {
    let files = crate::fixture::load_path(path)?;
    files.iter().try_for_each(validate_file)?;
    Ok(files)
}

/// Parses and validates one fixture text.
pub fn parse_file(path: &Path, text: &str) -> Res<FixtureFile> {
    let file = crate::fixture::parse_file(path, text)?;
    validate_file(&file)?;
    Ok(file)
}

pub fn validate_file(file: &FixtureFile) -> Res<()> {
    for case in &file.cases {
        let cx = Cx { file: &file.path, case: Some(&case.name) };
        validate_case(&cx, case)?;
    }
    Ok(())
}

pub fn validate_case(cx: &Cx, case: &Case) -> Res<()> {
    let op = catalog::find(&case.op).ok_or_else(|| {
        let known: Vec<&str> = catalog::ids().collect();
        cx.err("op", format!("unknown op '{}' (known: {})", case.op, known.join(", ")))
    })?;
    match (op, &case.kind) {
        (Op::Loss(spec), CaseKind::Loss) => validate_loss(cx, case, spec),
        (Op::Loss(spec), CaseKind::Optimizer(_)) => Err(cx.err(
            TRAJECTORY_KEYS[0],
            format!("only optimizer cases have '{}'; '{}' is a loss", TRAJECTORY_KEYS[0], spec.id),
        )),
        (Op::Optimizer(spec), CaseKind::Optimizer(trajectory)) => validate_optimizer(cx, case, spec, trajectory),
        (Op::Optimizer(_), _) => Err(cx.err("objective", "missing".into())),
        (Op::Loss(spec), _) => Err(cx.err("inputs", format!("'{}' is a loss: give its \"inputs\"", spec.id))),
        (Op::Scheduler(_), CaseKind::Schedule(_)) => validate_schedule(cx, case),
        (Op::Scheduler(spec), _) => {
            Err(cx.err("schedule", format!("'{}' is a scheduler: give its \"schedule\"", spec.id)))
        }
        (Op::Clip(spec), CaseKind::Clip { without_grad }) => validate_clip(cx, case, spec, without_grad),
        (Op::Clip(spec), _) => {
            Err(cx.err("gradients", format!("'{}' clips gradients: give its \"gradients\"", spec.id)))
        }
    }
}

/// A scheduler case: float64 only (the rates are Python floats), a configuration the catalogue
/// reads (unless torch is to reject it), and recorded values for each group.
fn validate_schedule(cx: &Cx, case: &Case) -> Res<()> {
    if case.dtypes != [DType::Float64] {
        return Err(cx.err("dtypes", "a scheduler case runs in float64 only: give \"dtypes\": [\"float64\"]".into()));
    }
    let config = crate::check::train_run::scheduler_json(case);
    let parsed = crate::catalog::schedulers::parse(&config);
    if let (Err(e), Outcome::Values(_)) = (&parsed, &case.outcome) {
        return Err(cx.err("options", e.clone()));
    }
    if let Some(s) = case.schedule() {
        let plateau = case.op == "reduce_lr_on_plateau";
        if plateau && s.metrics.len() != s.steps {
            return Err(
                cx.err("schedule.metrics", format!("ReduceLROnPlateau needs a metric for each of {} steps", s.steps))
            );
        }
    }
    Ok(())
}

/// A clipping case: typed options, float gradients, `without_grad` naming its gradients.
fn validate_clip(cx: &Cx, case: &Case, spec: &crate::catalog::ClipSpec, without_grad: &[String]) -> Res<()> {
    typed_options(cx, spec.id, &(spec.options.specs)(), &case.options, "options")?;
    for name in without_grad {
        if case.input(name).is_none() {
            return Err(cx.err("without_grad", format!("'{name}' is not one of the case's gradients")));
        }
    }
    if let Some((name, _)) = case.inputs.iter().find(|(_, t)| t.dtype != crate::dtype::InputDType::Float) {
        return Err(cx.err(&format!("gradients.{name}"), "a gradient is a float tensor".into()));
    }
    Ok(())
}

/// Reads an option's JSON value with the type of its default.
pub fn option_value(value: &Value, like: OptionValue) -> Result<OptionValue, String> {
    let found = kind_of(value);
    if value.is_null() {
        // Whether the option may be None is its type's to say (`Options::set`).
        return Ok(OptionValue::None);
    }
    match like {
        OptionValue::Bool(_) => {
            value.as_bool().map(OptionValue::Bool).ok_or_else(|| format!("expected a bool, found {found}"))
        }
        OptionValue::Int(_) => {
            value.as_i64().map(OptionValue::Int).ok_or_else(|| format!("expected an integer, found {found}"))
        }
        OptionValue::Float(_) => float::from_json(value, DType::Float64).map(OptionValue::Float),
        // An option whose default is None takes an integer or a float otherwise; which one is
        // its type's to say (an integer is a float too).
        OptionValue::None => match value.as_i64() {
            Some(i) => Ok(OptionValue::Int(i)),
            None => float::from_json(value, DType::Float64).map(OptionValue::Float),
        },
    }
}

/// The options as typed values; an unknown name or a value of the wrong type is an error at
/// `at.<name>`.
pub fn typed_options(
    cx: &Cx,
    op: &str,
    specs: &[OptionSpec],
    given: &[(String, Value)],
    at: &str,
) -> Res<Vec<(String, OptionValue)>> {
    typed(given, specs).map_err(|(name, problem)| {
        let message = match problem {
            Some(problem) => problem,
            None => {
                let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                format!("'{op}' has no option '{name}' (its options: {known})")
            }
        };
        cx.err(&format!("{at}.{name}"), message)
    })
}

/// An option that could not be typed: its name, and what is wrong with its value (`None`: there
/// is no option of that name).
pub type OptionProblem = (String, Option<String>);

/// The given options typed by `specs`; the first failure names the option.
pub fn typed(given: &[(String, Value)], specs: &[OptionSpec]) -> Result<Vec<NamedValue>, OptionProblem> {
    given
        .iter()
        .map(|(name, value)| {
            let spec = specs.iter().find(|s| s.name == name).ok_or_else(|| (name.clone(), None))?;
            let typed = option_value(value, spec.default).map_err(|e| (name.clone(), Some(e)))?;
            Ok((name.clone(), typed))
        })
        .collect()
}

fn validate_loss(cx: &Cx, case: &Case, spec: &LossSpec) -> Res<()> {
    let op = spec.id;
    if !spec.half_kernel && case.dtypes.iter().any(|d| d.is_half()) {
        return Err(cx.err(
            "dtypes",
            format!(
                "libtorch has no float16 or bfloat16 CPU kernel for '{op}': give \"dtypes\": \
                 [\"float32\", \"float64\"] (the checker adds the rows where both sides must reject the half dtypes)"
            ),
        ));
    }
    typed_options(cx, op, &spec.option_specs(), &case.options, "options")?;
    for (name, tensor) in &case.inputs {
        let field = format!("inputs.{name}");
        let input = spec.input_spec(name).ok_or_else(|| {
            let known: Vec<&str> = spec.inputs.iter().map(|s| s.name).collect();
            cx.err(&field, format!("'{op}' takes no input '{name}' (its inputs: {})", known.join(", ")))
        })?;
        if !input.dtypes.contains(&tensor.dtype) {
            let allowed: Vec<&str> = input.dtypes.iter().map(|d| d.name()).collect();
            return Err(cx.err(
                &format!("{field}.dtype"),
                format!("'{op}' takes '{name}' as {}, found {}", allowed.join(" or "), tensor.dtype.name()),
            ));
        }
        if tensor.requires_grad && !input.differentiable {
            return Err(cx.err(&format!("{field}.requires_grad"), format!("'{op}' has no gradient for '{name}'")));
        }
    }
    for input in spec.inputs.iter().filter(|s| s.required) {
        if case.input(input.name).is_none() {
            return Err(cx.err(&format!("inputs.{}", input.name), "missing (a required input)".into()));
        }
    }
    let variants: Vec<&str> = spec.reductions().iter().map(|r| r.name()).collect();
    // Second-order gradients are recorded in float32 and float64 only, where the op has them.
    let second = second_order_names(&case.inputs);
    let double_backward = spec.double_backward;
    let second_order = move |name: &str| double_backward && second.iter().any(|n| n == name);
    validate_expected(cx, case, (&variants, &|_| false), (&output_names(&case.inputs), &second_order), &|_| None)
}

fn validate_optimizer(cx: &Cx, case: &Case, spec: &OptimizerSpec, trajectory: &Trajectory) -> Res<()> {
    let op = spec.id;
    let specs = spec.option_specs();
    typed_options(cx, op, &specs, &case.options, "options")?;
    let objective = objectives::find(&trajectory.objective).ok_or_else(|| {
        let known: Vec<&str> = objectives::OBJECTIVES.iter().map(|o| o.id).collect();
        cx.err("objective", format!("unknown objective '{}' (known: {})", trajectory.objective, known.join(", ")))
    })?;
    let objective_id = objective.id;
    for (input, tensor) in &case.inputs {
        let field = format!("inputs.{input}");
        let is_param = objective.params.contains(&input.as_str());
        if !is_param && !objective.data.contains(&input.as_str()) {
            let known: Vec<&str> = objective.params.iter().chain(objective.data).copied().collect();
            return Err(cx.err(
                &field,
                format!("objective '{objective_id}' takes no input '{input}' (its inputs: {})", known.join(", ")),
            ));
        }
        if tensor.requires_grad != is_param {
            let why = if is_param {
                "a parameter needs \"requires_grad\": true"
            } else {
                "data is not optimised: leave out requires_grad"
            };
            return Err(cx.err(&format!("{field}.requires_grad"), why.into()));
        }
    }
    for required in objective.params.iter().chain(objective.data) {
        if case.input(required).is_none() {
            return Err(cx.err(&format!("inputs.{required}"), format!("missing (objective '{objective_id}' needs it)")));
        }
    }
    if spec.closure && !trajectory.no_grad.is_empty() {
        return Err(cx.err("no_grad", format!("'{op}' evaluates the objective itself, every gradient included")));
    }
    if let Some((param, _)) = trajectory.no_grad.iter().find(|(p, _)| !objective.params.contains(&p.as_str())) {
        return Err(cx.err(
            &format!("no_grad.{param}"),
            format!("expected parameter names of '{objective_id}': {:?}", objective.params),
        ));
    }
    for (i, group) in trajectory.groups.iter().enumerate() {
        let at = format!("groups[{i}]");
        if !group.params.iter().all(|p| objective.params.contains(&p.as_str())) {
            return Err(cx.err(
                &format!("{at}.params"),
                format!("expected parameter names of '{objective_id}': {:?}", objective.params),
            ));
        }
        let options = typed_options(cx, op, &specs, &group.options, &format!("{at}.options"))?;
        if let Some((key, _)) = options.iter().find(|(k, _)| k != "lr" && k != "weight_decay") {
            return Err(
                cx.err(&format!("{at}.options.{key}"), "a further group may change lr and weight_decay only".into())
            );
        }
    }
    let steps = trajectory.steps as i64;
    let shape_of = |output: &str| -> Option<Vec<i64>> {
        let param = output.strip_prefix("param.")?;
        let tensor = case.input(param)?;
        Some(std::iter::once(steps).chain(tensor.shape.iter().copied()).collect())
    };
    // Beside the first reference's "trajectory", another recorded reference's
    // ("trajectory-pytorch-foreach"); beside each parameter, its state buffers ("exp_avg.x").
    let other_reference = |variant: &str| variant.starts_with(&format!("{TRAJECTORY}-"));
    let buffer = |output: &str| objective.params.iter().any(|p| output.ends_with(&format!(".{p}")));
    let outputs = trajectory_outputs(objective.params);
    validate_expected(cx, case, (&[TRAJECTORY], &other_reference), (&outputs, &buffer), &shape_of)
}

/// Recorded values: every variant of every dtype, every output, each of the shape it must have
/// where that is known in advance.
/// What else may be there beside what is required.
type Allowed = dyn Fn(&str) -> bool;

/// `variants` and `outputs` each list what is required, and say what else may be there.
fn validate_expected(
    cx: &Cx,
    case: &Case,
    (variants, other_variant): (&[&str], &Allowed),
    (outputs, other_output): (&[String], &Allowed),
    shape_of: &dyn Fn(&str) -> Option<Vec<i64>>,
) -> Res<()> {
    let Outcome::Values(Some(expected)) = &case.outcome else { return Ok(()) };
    for (dtype, by_variant) in &expected.values {
        let at = format!("expected.{dtype}");
        if let Some((variant, _)) =
            by_variant.iter().find(|(v, _)| !variants.contains(&v.as_str()) && !other_variant(v))
        {
            return Err(
                cx.err(&format!("{at}.{variant}"), format!("unknown field (expected one of: {})", variants.join(", ")))
            );
        }
        for variant in variants {
            let at = format!("{at}.{variant}");
            let recorded = by_variant.iter().find(|(v, _)| v == variant).map(|(_, o)| o).ok_or_else(|| {
                cx.err(&at, "missing: every reduction needs recorded values (run `tch-parity regen`)".into())
            })?;
            if let Some((name, _)) = recorded.iter().find(|(n, _)| !outputs.contains(n) && !other_output(n)) {
                return Err(
                    cx.err(&format!("{at}.{name}"), format!("unknown field (expected one of: {})", outputs.join(", ")))
                );
            }
            for name in outputs {
                let field = format!("{at}.{name}");
                let (_, tensor) =
                    recorded.iter().find(|(n, _)| n == name).ok_or_else(|| cx.err(&field, "missing".into()))?;
                if let Some(shape) = shape_of(name).filter(|s| *s != tensor.shape) {
                    return Err(cx.err(
                        &format!("{field}.shape"),
                        format!("{:?}, expected {shape:?} (steps, then the parameter's shape)", tensor.shape),
                    ));
                }
            }
        }
    }
    Ok(())
}
