//! One spec per learning-rate scheduler of `torch.optim.lr_scheduler`, and the configuration a
//! case gives one: its typed options, and for `SequentialLR` and `ChainedScheduler` the
//! schedulers they hold. A case writes a configuration as
//! `{"op": "step_lr", "options": {"step_size": 3}, "schedulers": [...]}`; the options take
//! torch's argument names and its defaults (the library's options structs).
//!
//! `LambdaLR` and `MultiplicativeLR` take a function: a case names it from [`NamedLambda`]'s
//! small documented set (scripts/pytorch_reference.py defines the same functions).

use super::rng::Rng;
use crate::train::lr_scheduler::{
    ConstantLROptions, CosineAnnealingLROptions, CosineAnnealingWarmRestartsOptions, CyclicLROptions,
    ExponentialLROptions, LinearLROptions, MultiStepLROptions, OneCycleLROptions, PolynomialLROptions,
    ReduceLROnPlateauOptions, StepLROptions,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// How a scheduler is stepped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stepping {
    /// `step()` once per epoch.
    Epoch,
    /// `step(metric)`: ReduceLROnPlateau.
    Metric,
    /// It steps the schedulers it holds: SequentialLR, ChainedScheduler.
    Composite,
}

pub struct SchedulerSpec {
    /// The catalogue's id, torch's class name in snake case ("cosine_annealing_lr").
    pub id: &'static str,
    /// torch's class name ("CosineAnnealingLR").
    pub torch_name: &'static str,
    pub summary: &'static str,
    /// Whether libtorch's C++ API has it (`torch::optim::StepLR`, `ReduceLROnPlateauScheduler`).
    pub cpp: bool,
    pub stepping: Stepping,
    /// Whether it can cycle the momentum (`cycle_momentum`).
    pub cycles_momentum: bool,
    /// Options a case may leave out, with torch's defaults, and the required ones (`null`).
    pub defaults: fn() -> Value,
    /// Random valid options for `groups` groups over `steps` steps, for the fuzzer.
    pub sample: fn(&mut Rng, usize, usize) -> Value,
    /// Options torch rejects, and text its message contains.
    pub invalid_configs: &'static [InvalidSchedule],
}

impl std::fmt::Debug for SchedulerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.torch_name)
    }
}

impl PartialEq for SchedulerSpec {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// A scheduler configuration torch rejects (`options` as JSON text).
#[derive(Debug, Clone, Copy)]
pub struct InvalidSchedule {
    pub name: &'static str,
    pub options: &'static str,
    pub message: &'static str,
}

/// A function of the epoch for `LambdaLR` (the factor) and `MultiplicativeLR` (the factor per
/// step). In a case: `{"constant": 0.5}`, `{"power": 0.95}`, `{"linear_warmup": 5}`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum NamedLambda {
    /// `λ(e) = c`.
    Constant(f64),
    /// `λ(e) = γ^e` (Python's `gamma ** epoch`).
    Power(f64),
    /// `λ(e) = min(1, (e + 1)/n)`.
    LinearWarmup(i64),
}

impl NamedLambda {
    pub fn at(self, epoch: i64) -> f64 {
        match self {
            NamedLambda::Constant(c) => c,
            NamedLambda::Power(gamma) => gamma.powf(epoch as f64),
            NamedLambda::LinearWarmup(n) => {
                let x = (epoch + 1) as f64 / n as f64;
                if x < 1.0 {
                    x
                } else {
                    1.0
                }
            }
        }
    }
}

/// `LambdaLR`'s and `MultiplicativeLR`'s options: one function, or one per group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaOptions {
    #[serde(deserialize_with = "crate::train::lr_scheduler::one_or_many")]
    pub lr_lambda: Vec<NamedLambda>,
}

/// `SequentialLR`'s options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequentialOptions {
    pub milestones: Vec<i64>,
}

/// The typed options of one scheduler.
#[derive(Debug, Clone, PartialEq)]
pub enum SchedulerOptions {
    Lambda(LambdaOptions),
    Multiplicative(LambdaOptions),
    Step(StepLROptions),
    MultiStep(MultiStepLROptions),
    Constant(ConstantLROptions),
    Linear(LinearLROptions),
    Exponential(ExponentialLROptions),
    Polynomial(PolynomialLROptions),
    CosineAnnealing(CosineAnnealingLROptions),
    CosineAnnealingWarmRestarts(CosineAnnealingWarmRestartsOptions),
    Cyclic(CyclicLROptions),
    OneCycle(OneCycleLROptions),
    ReduceOnPlateau(ReduceLROnPlateauOptions),
    Sequential(SequentialOptions),
    Chained,
}

/// A scheduler as a case configures it.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    pub spec: &'static SchedulerSpec,
    pub options: SchedulerOptions,
    /// What `SequentialLR` and `ChainedScheduler` hold, each built on the same groups first.
    pub children: Vec<SchedulerConfig>,
    /// The configuration as written (`{"op", "options", "schedulers"}`), as it goes to Python.
    pub json: Value,
}

impl SchedulerConfig {
    /// Whether it, or a scheduler it holds, cycles the momentum.
    pub fn cycles_momentum(&self) -> bool {
        let own = match &self.options {
            SchedulerOptions::Cyclic(o) => o.cycle_momentum,
            SchedulerOptions::OneCycle(o) => o.cycle_momentum,
            _ => false,
        };
        own || self.children.iter().any(SchedulerConfig::cycles_momentum)
    }
}

/// The scheduler with this id.
pub fn find(id: &str) -> Option<&'static SchedulerSpec> {
    SCHEDULERS.iter().find(|s| s.id == id)
}

/// Parses `{"op": ID, "options": {...}, "schedulers": [...]}`.
pub fn parse(config: &Value) -> Result<SchedulerConfig, String> {
    let obj = config.as_object().ok_or("a scheduler is an object {\"op\", \"options\", \"schedulers\"}")?;
    if let Some(key) = obj.keys().find(|k| !["op", "options", "schedulers"].contains(&k.as_str())) {
        return Err(format!("unknown key {key:?} in a scheduler (op, options, schedulers)"));
    }
    let id = obj.get("op").and_then(Value::as_str).ok_or("a scheduler needs its \"op\"")?;
    let spec = find(id).ok_or_else(|| format!("unknown scheduler {id:?}"))?;
    let options = obj.get("options").cloned().unwrap_or_else(|| json!({}));
    let children = match obj.get("schedulers") {
        None => Vec::new(),
        Some(Value::Array(list)) => list.iter().map(parse).collect::<Result<_, _>>()?,
        Some(_) => return Err("\"schedulers\" is a list".into()),
    };
    match (spec.stepping, children.is_empty()) {
        (Stepping::Composite, true) => return Err(format!("{} needs its \"schedulers\"", spec.torch_name)),
        (Stepping::Composite, false) => {
            if let Some(c) = children.iter().find(|c| c.spec.stepping == Stepping::Metric) {
                return Err(format!(
                    "{} does not support `{}` scheduler as it requires additional kwargs to be specified when \
                     calling `step`",
                    spec.torch_name, c.spec.torch_name
                ));
            }
        }
        (_, false) => return Err(format!("{} holds no schedulers", spec.torch_name)),
        _ => {}
    }
    let options = configure(spec, &options)?;
    Ok(SchedulerConfig { spec, options, children, json: config.clone() })
}

/// The typed options of `spec` from a case's JSON.
pub fn configure(spec: &SchedulerSpec, options: &Value) -> Result<SchedulerOptions, String> {
    fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }
    use SchedulerOptions as O;
    Ok(match spec.id {
        "lambda_lr" => O::Lambda(typed(options)?),
        "multiplicative_lr" => O::Multiplicative(typed(options)?),
        "step_lr" => O::Step(typed(options)?),
        "multi_step_lr" => O::MultiStep(typed(options)?),
        "constant_lr" => O::Constant(typed(options)?),
        "linear_lr" => O::Linear(typed(options)?),
        "exponential_lr" => O::Exponential(typed(options)?),
        "polynomial_lr" => O::Polynomial(typed(options)?),
        "cosine_annealing_lr" => O::CosineAnnealing(typed(options)?),
        "cosine_annealing_warm_restarts" => O::CosineAnnealingWarmRestarts(typed(options)?),
        "cyclic_lr" => O::Cyclic(typed(options)?),
        "one_cycle_lr" => O::OneCycle(typed(options)?),
        "reduce_lr_on_plateau" => O::ReduceOnPlateau(typed(options)?),
        "sequential_lr" => O::Sequential(typed(options)?),
        "chained_scheduler" => match options.as_object() {
            Some(o) if o.is_empty() => O::Chained,
            _ => return Err("ChainedScheduler takes no options".into()),
        },
        other => return Err(format!("no options for {other}")),
    })
}

fn pick_f(rng: &mut Rng, values: &[f64]) -> f64 {
    rng.pick(values)
}

fn int(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    lo + rng.below((hi - lo + 1) as u64) as i64
}

fn lambda(rng: &mut Rng) -> Value {
    match rng.below(3) {
        0 => json!({"constant": pick_f(rng, &[0.5, 0.9, 1.0, 0.1])}),
        1 => json!({"power": pick_f(rng, &[0.9, 0.95, 0.99, 1.01])}),
        _ => json!({"linear_warmup": int(rng, 1, 20)}),
    }
}

/// A child of a composite: one of the epoch schedulers, with sampled options.
fn child(rng: &mut Rng, groups: usize, steps: usize) -> Value {
    let simple: Vec<&SchedulerSpec> =
        SCHEDULERS.iter().filter(|s| s.stepping == Stepping::Epoch && s.id != "one_cycle_lr").collect();
    let spec = simple[rng.below(simple.len() as u64) as usize];
    json!({"op": spec.id, "options": (spec.sample)(rng, groups, steps)})
}

/// Every scheduler of `torch.optim.lr_scheduler` (torch 2.13).
pub static SCHEDULERS: &[SchedulerSpec] = &[
    SchedulerSpec {
        id: "lambda_lr",
        torch_name: "LambdaLR",
        summary: "initial_lr times a function of the epoch",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"lr_lambda": null}),
        sample: |rng, groups, _| {
            if groups > 1 && rng.chance(0.5) {
                json!({"lr_lambda": (0..groups).map(|_| lambda(rng)).collect::<Vec<_>>()})
            } else {
                json!({"lr_lambda": lambda(rng)})
            }
        },
        invalid_configs: &[],
    },
    SchedulerSpec {
        id: "multiplicative_lr",
        torch_name: "MultiplicativeLR",
        summary: "the rate times a function of the epoch, every epoch",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"lr_lambda": null}),
        sample: |rng, _, _| json!({"lr_lambda": lambda(rng)}),
        invalid_configs: &[],
    },
    SchedulerSpec {
        id: "step_lr",
        torch_name: "StepLR",
        summary: "times gamma every step_size epochs",
        cpp: true,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"step_size": null, "gamma": 0.1}),
        sample: |rng, _, steps| {
            let step_size = int(rng, 1, (steps as i64 / 3).max(1));
            json!({"step_size": step_size, "gamma": pick_f(rng, &[0.1, 0.5, 0.9, 0.3])})
        },
        invalid_configs: &[],
    },
    SchedulerSpec {
        id: "multi_step_lr",
        torch_name: "MultiStepLR",
        summary: "times gamma at each milestone (a repeated one counts each time)",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"milestones": null, "gamma": 0.1}),
        sample: |rng, _, steps| {
            let n = int(rng, 1, 4);
            let milestones: Vec<i64> = (0..n).map(|_| int(rng, 1, steps as i64)).collect();
            json!({"milestones": milestones, "gamma": pick_f(rng, &[0.1, 0.5, 0.9])})
        },
        invalid_configs: &[],
    },
    SchedulerSpec {
        id: "constant_lr",
        torch_name: "ConstantLR",
        summary: "times factor until total_iters",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"factor": 1.0 / 3.0, "total_iters": 5}),
        sample: |rng, _, steps| {
            let factor = pick_f(rng, &[1.0 / 3.0, 0.5, 0.1, 1.0, 0.0]);
            json!({"factor": factor, "total_iters": int(rng, 0, steps as i64)})
        },
        invalid_configs: &[InvalidSchedule {
            name: "factor-above-one",
            options: r#"{"factor": 1.5}"#,
            message: "Constant multiplicative factor expected to be between 0 and 1.",
        }],
    },
    SchedulerSpec {
        id: "linear_lr",
        torch_name: "LinearLR",
        summary: "a factor moving linearly from start_factor to end_factor over total_iters",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"start_factor": 1.0 / 3.0, "end_factor": 1.0, "total_iters": 5}),
        sample: |rng, _, steps| {
            json!({
                "start_factor": pick_f(rng, &[1.0 / 3.0, 0.1, 0.5, 1.0]),
                "end_factor": pick_f(rng, &[1.0, 0.5, 0.0, 0.25]),
                "total_iters": int(rng, 1, steps as i64),
            })
        },
        invalid_configs: &[
            InvalidSchedule {
                name: "zero-start-factor",
                options: r#"{"start_factor": 0.0}"#,
                message: "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.",
            },
            InvalidSchedule {
                name: "end-factor-above-one",
                options: r#"{"end_factor": 1.5}"#,
                message: "Ending multiplicative factor expected to be between 0 and 1.",
            },
        ],
    },
    SchedulerSpec {
        id: "exponential_lr",
        torch_name: "ExponentialLR",
        summary: "times gamma every epoch",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"gamma": null}),
        sample: |rng, _, _| json!({"gamma": pick_f(rng, &[0.9, 0.95, 0.99, 0.5])}),
        invalid_configs: &[],
    },
    SchedulerSpec {
        id: "polynomial_lr",
        torch_name: "PolynomialLR",
        summary: "(1 − epoch/total_iters)^power, then 0",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"total_iters": 5, "power": 1.0}),
        sample: |rng, _, steps| {
            let total_iters = int(rng, 1, steps as i64);
            json!({"total_iters": total_iters, "power": pick_f(rng, &[1.0, 2.0, 0.5, 0.9])})
        },
        invalid_configs: &[],
    },
    SchedulerSpec {
        id: "cosine_annealing_lr",
        torch_name: "CosineAnnealingLR",
        summary: "a cosine from initial_lr down to eta_min over T_max epochs (recursive form)",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"T_max": null, "eta_min": 0.0}),
        sample: |rng, _, steps| {
            let t_max = int(rng, 1, steps as i64);
            json!({"T_max": t_max, "eta_min": pick_f(rng, &[0.0, 1e-4, 0.001])})
        },
        invalid_configs: &[],
    },
    SchedulerSpec {
        id: "cosine_annealing_warm_restarts",
        torch_name: "CosineAnnealingWarmRestarts",
        summary: "cosine annealing restarted every T_i epochs, T_i growing by T_mult (SGDR)",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: false,
        defaults: || json!({"T_0": null, "T_mult": 1, "eta_min": 0.0}),
        sample: |rng, _, steps| {
            json!({
                "T_0": int(rng, 1, (steps as i64 / 4).max(1)),
                "T_mult": int(rng, 1, 3),
                "eta_min": pick_f(rng, &[0.0, 1e-4]),
            })
        },
        invalid_configs: &[
            InvalidSchedule { name: "zero-t0", options: r#"{"T_0": 0}"#, message: "Expected positive integer T_0" },
            InvalidSchedule {
                name: "zero-t-mult",
                options: r#"{"T_0": 5, "T_mult": 0}"#,
                message: "Expected integer T_mult >= 1",
            },
        ],
    },
    SchedulerSpec {
        id: "cyclic_lr",
        torch_name: "CyclicLR",
        summary: "a triangle wave between base_lr and max_lr (triangular, triangular2, exp_range), momentum against it",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: true,
        defaults: || {
            json!({"base_lr": null, "max_lr": null, "step_size_up": 2000, "step_size_down": null,
                   "mode": "triangular", "gamma": 1.0, "cycle_momentum": true,
                   "base_momentum": 0.8, "max_momentum": 0.9})
        },
        sample: |rng, _, steps| {
            let up = int(rng, 1, (steps as i64 / 2).max(1));
            let mut o = Map::new();
            o.insert("base_lr".into(), json!(pick_f(rng, &[0.001, 0.01, 1e-4])));
            o.insert("max_lr".into(), json!(pick_f(rng, &[0.1, 0.05, 0.006])));
            o.insert("step_size_up".into(), json!(up));
            if rng.chance(0.5) {
                o.insert("step_size_down".into(), json!(int(rng, 1, (steps as i64 / 2).max(1))));
            }
            o.insert("mode".into(), json!(rng.pick(&["triangular", "triangular2", "exp_range"])));
            o.insert("gamma".into(), json!(pick_f(rng, &[1.0, 0.99, 0.999])));
            o.insert("cycle_momentum".into(), json!(rng.chance(0.7)));
            Value::Object(o)
        },
        invalid_configs: &[InvalidSchedule {
            name: "unknown-mode",
            options: r#"{"base_lr": 0.01, "max_lr": 0.1, "mode": "square"}"#,
            message: "mode is invalid and scale_fn is None",
        }],
    },
    SchedulerSpec {
        id: "one_cycle_lr",
        torch_name: "OneCycleLR",
        summary: "the 1cycle policy: up to max_lr, then annealed far below (cos or linear, two or three phases)",
        cpp: false,
        stepping: Stepping::Epoch,
        cycles_momentum: true,
        defaults: || {
            json!({"max_lr": null, "total_steps": null, "epochs": null, "steps_per_epoch": null, "pct_start": 0.3,
                   "anneal_strategy": "cos", "cycle_momentum": true, "base_momentum": 0.85, "max_momentum": 0.95,
                   "div_factor": 25.0, "final_div_factor": 1e4, "three_phase": false})
        },
        sample: |rng, _, steps| {
            json!({
                "max_lr": pick_f(rng, &[0.1, 0.01, 1.0]),
                "total_steps": steps as i64 + int(rng, 0, 5),
                "pct_start": pick_f(rng, &[0.3, 0.25, 0.5, 0.1]),
                "anneal_strategy": rng.pick(&["cos", "linear"]),
                "cycle_momentum": rng.chance(0.7),
                "three_phase": rng.chance(0.5),
            })
        },
        invalid_configs: &[
            InvalidSchedule {
                name: "no-total-steps",
                options: r#"{"max_lr": 0.1}"#,
                message: "You must define either total_steps OR (epochs AND steps_per_epoch)",
            },
            InvalidSchedule {
                name: "pct-start-above-one",
                options: r#"{"max_lr": 0.1, "total_steps": 10, "pct_start": 1.5}"#,
                message: "Expected float between 0 and 1 pct_start",
            },
            InvalidSchedule {
                name: "unknown-anneal-strategy",
                options: r#"{"max_lr": 0.1, "total_steps": 10, "anneal_strategy": "step"}"#,
                message: "anneal_strategy must be one of 'cos' or 'linear'",
            },
        ],
    },
    SchedulerSpec {
        id: "reduce_lr_on_plateau",
        torch_name: "ReduceLROnPlateau",
        summary: "times factor once a metric stops improving for patience epochs",
        cpp: true,
        stepping: Stepping::Metric,
        cycles_momentum: false,
        defaults: || {
            json!({"mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4, "threshold_mode": "rel",
                   "cooldown": 0, "min_lr": 0.0, "eps": 1e-8})
        },
        sample: |rng, groups, _| {
            let mut o = Map::new();
            o.insert("mode".into(), json!(rng.pick(&["min", "max"])));
            // Exact in float32, as libtorch's C++ scheduler keeps it.
            o.insert("factor".into(), json!(pick_f(rng, &[0.5, 0.25, 0.75, 0.125])));
            o.insert("patience".into(), json!(int(rng, 0, 5)));
            o.insert("threshold".into(), json!(pick_f(rng, &[1e-4, 0.01, 0.0, 0.1])));
            o.insert("threshold_mode".into(), json!(rng.pick(&["rel", "abs"])));
            o.insert("cooldown".into(), json!(int(rng, 0, 3)));
            if rng.chance(0.5) {
                let floors: Vec<f64> = (0..groups).map(|_| pick_f(rng, &[0.0, 0.0009765625, 0.00048828125])).collect();
                o.insert("min_lr".into(), json!(floors));
            }
            Value::Object(o)
        },
        invalid_configs: &[
            InvalidSchedule { name: "factor-one", options: r#"{"factor": 1.0}"#, message: "Factor should be < 1.0." },
            InvalidSchedule {
                name: "unknown-mode",
                options: r#"{"mode": "median"}"#,
                message: "mode median is unknown!",
            },
            InvalidSchedule {
                name: "unknown-threshold-mode",
                options: r#"{"threshold_mode": "ratio"}"#,
                message: "threshold mode ratio is unknown!",
            },
        ],
    },
    SchedulerSpec {
        id: "sequential_lr",
        torch_name: "SequentialLR",
        summary: "its schedulers one after another, switching at the milestones",
        cpp: false,
        stepping: Stepping::Composite,
        cycles_momentum: false,
        defaults: || json!({"milestones": null}),
        sample: |rng, _, steps| json!({"milestones": [int(rng, 1, steps as i64)]}),
        invalid_configs: &[],
    },
    SchedulerSpec {
        id: "chained_scheduler",
        torch_name: "ChainedScheduler",
        summary: "its schedulers all stepped every epoch, each scaling the last one's rate",
        cpp: false,
        stepping: Stepping::Composite,
        cycles_momentum: false,
        defaults: || json!({}),
        sample: |_, _, _| json!({}),
        invalid_configs: &[],
    },
];

/// A random configuration of `spec` (a composite holds two sampled schedulers).
pub fn sample(spec: &'static SchedulerSpec, rng: &mut Rng, groups: usize, steps: usize) -> Value {
    let mut config = json!({"op": spec.id, "options": (spec.sample)(rng, groups, steps)});
    if spec.stepping == Stepping::Composite {
        config["schedulers"] = json!([child(rng, groups, steps), child(rng, groups, steps)]);
    }
    config
}
