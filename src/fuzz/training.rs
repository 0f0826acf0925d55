//! Random scheduler and clipping cases: a scheduler's sampled options over random groups,
//! steps, step(epoch)s and plateau metrics; random gradients (some parameters without one)
//! under sampled clipping options. Each implementation under test against every live reference.

use crate::catalog::clipping::{self, ClipSpec};
use crate::catalog::samples::Rng;
use crate::catalog::schedulers::{self, SchedulerSpec, Stepping};
use crate::check::compare::{compare, default_tolerance};
use crate::check::train_run::evaluate;
use crate::fixture::{Case, CaseKind, DType, InputTensor, Outcome, Schedule};
use crate::implementation::{Evaluation, Registry};
use serde_json::Value;

/// A random scheduler case: 1–3 groups of one kind of optimizer, 1–300 steps.
pub fn schedule_case(spec: &'static SchedulerSpec, seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let groups = 1 + rng.below(3) as usize;
    let steps = 1 + rng.below(300) as usize;
    let config = schedulers::sample(spec, &mut rng, groups, steps);
    let optimizer = rng.pick(&["sgd", "sgd", "adam", "adagrad"]).to_owned();
    let lrs = (0..groups).map(|_| rng.pick(&[0.1, 0.01, 1.0, 0.05, 3e-4])).collect();
    // Whole or fractional epochs for warm restarts now and then; torch's deprecated step(epoch)
    // elsewhere (the closed forms).
    let mut epochs = Vec::new();
    if spec.stepping == Stepping::Epoch && rng.chance(0.2) {
        let fractional = spec.id == "cosine_annealing_warm_restarts";
        for k in 1..=steps {
            if rng.chance(0.3) {
                let e = rng.below(2 * steps as u64) as f64;
                epochs.push((k, if fractional { e * 0.25 } else { e }));
            }
        }
    }
    // Metrics exact in float32 (libtorch's C++ plateau scheduler takes floats): a noisy walk.
    let mut metrics = Vec::new();
    if spec.stepping == Stepping::Metric {
        let mut m = 1.0f64;
        for _ in 0..steps {
            m += (rng.below(9) as f64 - 5.0) / 64.0;
            metrics.push(m);
        }
    }
    let options = config["options"].as_object().cloned().unwrap_or_default().into_iter().collect();
    let children = config.get("schedulers").and_then(Value::as_array).cloned().unwrap_or_default();
    fuzz_case(seed, spec.id, options, DType::Float64, Vec::new(), {
        CaseKind::Schedule(Schedule { optimizer, lrs, steps, epochs, metrics, schedulers: children })
    })
}

/// A drawn case of `op`, named after its seed, without recorded values.
fn fuzz_case(
    seed: u64,
    op: &str,
    options: Vec<(String, Value)>,
    dtype: DType,
    inputs: Vec<(String, InputTensor)>,
    kind: CaseKind,
) -> Case {
    Case {
        name: format!("fuzz-{seed}"),
        source: "tch-parity fuzz".into(),
        op: op.into(),
        note: None,
        options,
        dtypes: vec![dtype],
        inputs,
        tolerance: None,
        differences: Vec::new(),
        outcome: Outcome::Values(None),
        kind,
    }
}

/// A random clipping case: 1–4 gradients, some parameters without one, float32 or float64.
pub fn clip_case(spec: &'static ClipSpec, seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let dtype = rng.pick(&DType::FULL);
    let inputs: Vec<(String, InputTensor)> = clipping::sample_gradients(&mut rng)
        .into_iter()
        .map(|(name, t)| {
            let values = match t.data {
                crate::catalog::samples::SampleData::Float(v) => v,
                crate::catalog::samples::SampleData::Int(v) => v.into_iter().map(|i| i as f64).collect(),
            };
            let data = values.iter().map(|&x| crate::fixture::float::to_json(x, DType::Float64)).collect();
            (name, InputTensor { dtype: crate::dtype::InputDType::Float, shape: t.shape, data, requires_grad: false })
        })
        .collect();
    let without_grad = inputs.iter().filter(|_| rng.chance(0.2)).map(|(n, _)| n.clone()).collect();
    let options =
        (spec.sample_options)(&mut rng).into_iter().map(|(n, v)| (n.to_owned(), super::option_json(v))).collect();
    fuzz_case(seed, spec.id, options, dtype, inputs, CaseKind::Clip { without_grad })
}

/// Each subject against every live reference: the same values within the dtype's default
/// tolerance, or both refusing.
pub fn check(registry: &Registry, case: &Case) -> Result<(), String> {
    let dtype = case.dtypes[0];
    let tolerance = default_tolerance(dtype);
    let describe = || match case.schedule() {
        Some(s) => format!(
            "{} over {:?} ({}), {} steps, epochs {:?}",
            crate::check::train_run::scheduler_json(case),
            s.lrs,
            s.optimizer,
            s.steps,
            s.epochs
        ),
        None => format!("{} {:?}, {dtype}", case.op, case.options),
    };
    for subject in &registry.subjects {
        let mine = evaluate(subject.as_ref(), case, dtype);
        for reference in &registry.references {
            let theirs = evaluate(reference.as_ref(), case, dtype);
            let who = reference.name();
            match (&mine, &theirs) {
                (_, Evaluation::Unsupported | Evaluation::Unavailable(_)) | (Evaluation::Unsupported, _) => {}
                (Evaluation::Rejected(_), Evaluation::Rejected(_)) => {}
                (Evaluation::Rejected(e), _) => {
                    return Err(format!("{} rejects, {who} does not: {e} ({})", subject.name(), describe()))
                }
                (_, Evaluation::Rejected(e)) => {
                    return Err(format!("{who} rejects, {} does not: {e} ({})", subject.name(), describe()))
                }
                (Evaluation::Computed(a), Evaluation::Computed(b)) => {
                    for x in a {
                        let Some(y) = b.iter().find(|y| y.name == x.name) else {
                            return Err(format!("{who} has no {} ({})", x.name, describe()));
                        };
                        let c = compare(&x.values, &x.shape, &y.values, &y.shape, dtype, tolerance);
                        if !c.passed() {
                            let (k, n, rel) = (c.mismatched, c.numel, c.max_rel);
                            return Err(format!(
                                "{} against {who}: {k} of {n} mismatched, max rel {rel:.2e} ({})",
                                x.name,
                                describe()
                            ));
                        }
                    }
                }
                (Evaluation::Unavailable(_), _) => {}
            }
        }
    }
    Ok(())
}
