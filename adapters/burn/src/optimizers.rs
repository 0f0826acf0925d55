//! Optimizers: burn-optim's per-tensor `Optimizer::step`, driven one step at a time with the
//! gradients tch-parity sends (in lockstep, libtorch's at the reference's parameters): SGD,
//! Adam, AdamW, RMSprop, AdaGrad, Adafactor and Muon, with torch.optim's options mapped onto
//! burn's configs.

use crate::tensors::{float_tensor, host_json, Host};
use crate::{unsupported, Answer};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdaGradConfig, AdafactorConfig, AdamConfig, AdamWConfig, AdjustLrFn, MuonConfig, Optimizer, RmsPropConfig,
    SgdConfig,
};
use burn::tensor::{Device, Tensor};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The live optimizers, by handle.
#[derive(Default)]
pub struct Optimizers {
    next: u64,
    live: HashMap<u64, Box<dyn Run>>,
}

/// One optimizer over its parameters.
trait Run {
    fn step(&mut self, grads: &[Option<Host>]) -> Result<Value, String>;
    fn set_lr(&mut self, lr: f64);
}

/// A parameter as a runner holds it: flat (the elementwise optimizers), or as the matrix it is
/// (Muon, and Adafactor, which factors the second moment of a matrix and not of a vector).
enum Slot<O: Optimizer> {
    Flat(Tensor<1>, Option<O::State<1>>),
    Matrix(Tensor<2>, Option<O::State<2>>),
}

/// How a runner holds its parameters.
#[derive(Clone, Copy)]
enum Layout {
    /// Every parameter flat.
    Flat,
    /// Matrices as matrices, the rest flat; higher ranks are not handled.
    Natural,
}

/// The named state buffers of a flat parameter.
type ReadState<O> = fn(&<O as Optimizer>::State<1>) -> Vec<(&'static str, Tensor<1>)>;

struct Runner<O: Optimizer> {
    groups: Vec<(O, f64)>,
    group_of: Vec<usize>,
    slots: Vec<Slot<O>>,
    shapes: Vec<Vec<usize>>,
    /// The state buffers burn makes public, by torch.optim's names (flat parameters).
    read: ReadState<O>,
    device: Device,
}

impl<O: Optimizer> Runner<O> {
    fn new(
        groups: Vec<(O, f64)>,
        group_of: Vec<usize>,
        hosts: &[Host],
        (layout, read): (Layout, ReadState<O>),
        device: Device,
    ) -> Result<Runner<O>, String> {
        let slots = hosts
            .iter()
            .map(|h| match (layout, h.shape.as_slice()) {
                (Layout::Natural, &[rows, cols]) => Ok(Slot::Matrix(float_tensor(h, [rows, cols], &device)?, None)),
                (Layout::Natural, shape) if shape.len() > 2 => Err(format!("a parameter of rank {}", shape.len())),
                _ => Ok(Slot::Flat(float_tensor(h, [h.numel()], &device)?, None)),
            })
            .collect::<Result<_, String>>()?;
        let shapes = hosts.iter().map(|h| h.shape.clone()).collect();
        Ok(Runner { groups, group_of, slots, shapes, read, device })
    }
}

impl<O: Optimizer> Run for Runner<O> {
    fn step(&mut self, grads: &[Option<Host>]) -> Result<Value, String> {
        for (i, grad) in grads.iter().enumerate() {
            let Some(g) = grad else { continue };
            let (optimizer, lr) = &self.groups[self.group_of[i]];
            match &mut self.slots[i] {
                Slot::Flat(p, state) => {
                    let g = float_tensor::<1>(g, [g.numel()], &self.device)?;
                    let (stepped, s) = optimizer.step(*lr, p.clone(), g, state.take());
                    (*p, *state) = (stepped, s);
                }
                Slot::Matrix(p, state) => {
                    let g = float_tensor::<2>(g, p.dims(), &self.device)?;
                    let (stepped, s) = optimizer.step(*lr, p.clone(), g, state.take());
                    (*p, *state) = (stepped, s);
                }
            }
        }
        let mut params = Vec::new();
        let mut state = Vec::new();
        for (slot, shape) in self.slots.iter().zip(&self.shapes) {
            let buffers = match slot {
                Slot::Flat(p, s) => {
                    params.push(host_json(p.clone(), shape));
                    s.as_ref().map(self.read).unwrap_or_default()
                }
                Slot::Matrix(p, _) => {
                    params.push(host_json(p.clone(), shape));
                    Vec::new()
                }
            };
            let buffers = buffers.into_iter().map(|(n, t)| (n.to_owned(), host_json(t, shape)));
            state.push(Value::Object(buffers.collect::<Map<_, _>>()));
        }
        Ok(json!({ "params": params, "state": state }))
    }

    fn set_lr(&mut self, lr: f64) {
        for group in &mut self.groups {
            group.1 = lr;
        }
    }
}

fn opt(group: &Value, name: &str) -> f64 {
    group.get(name).and_then(Value::as_f64).unwrap_or(0.0)
}

fn flag(group: &Value, name: &str) -> bool {
    group.get(name).and_then(Value::as_bool) == Some(true)
}

/// burn's L2 penalty (added to the gradient, as torch.optim's coupled weight decay), if any.
fn weight_decay(group: &Value) -> Option<WeightDecayConfig> {
    let wd = opt(group, "weight_decay");
    (wd != 0.0).then(|| WeightDecayConfig::new(wd as f32))
}

fn no_state<S>(_: &S) -> Vec<(&'static str, Tensor<1>)> {
    Vec::new()
}

impl Optimizers {
    pub fn create(&mut self, r: &Value) -> Result<Answer, String> {
        let id = r["id"].as_str().ok_or("no id")?;
        let groups = r["groups"].as_array().ok_or("no groups")?;
        let group_of: Vec<usize> =
            r["group_of"].as_array().ok_or("no group_of")?.iter().map(|g| g.as_u64().unwrap_or(0) as usize).collect();
        let hosts =
            r["params"].as_array().ok_or("no params")?.iter().map(Host::parse).collect::<Result<Vec<_>, _>>()?;
        let device = crate::device();
        if groups.iter().any(|g| flag(g, "maximize")) {
            unsupported!("burn's optimizers have no maximize");
        }
        macro_rules! runner {
            ($layout:expr, $build:expr, $read:expr) => {{
                let groups = groups.iter().map(|g| ($build(g), opt(g, "lr"))).collect();
                match Runner::new(groups, group_of, &hosts, ($layout, $read), device) {
                    Ok(runner) => Box::new(runner) as Box<dyn Run>,
                    Err(why) => unsupported!("{why}"),
                }
            }};
        }
        let run = match id {
            "sgd" => runner!(
                Layout::Flat,
                |g: &Value| {
                    let momentum = (opt(g, "momentum") != 0.0).then(|| {
                        MomentumConfig::new()
                            .with_momentum(opt(g, "momentum"))
                            .with_dampening(opt(g, "dampening"))
                            .with_nesterov(flag(g, "nesterov"))
                    });
                    SgdConfig::new().with_momentum(momentum).with_weight_decay(weight_decay(g)).build()
                },
                no_state
            ),
            "adam" => {
                if groups.iter().any(|g| flag(g, "decoupled_weight_decay")) {
                    unsupported!("burn's Adam has no decoupled weight decay (use AdamW)");
                }
                runner!(
                    Layout::Flat,
                    |g: &Value| AdamConfig::new()
                        .with_beta_1(opt(g, "beta1") as f32)
                        .with_beta_2(opt(g, "beta2") as f32)
                        .with_epsilon(opt(g, "eps") as f32)
                        .with_amsgrad(flag(g, "amsgrad"))
                        .with_weight_decay(weight_decay(g))
                        .build(),
                    |s: &burn::optim::AdamState<1>| adaptive(&s.momentum)
                )
            }
            "adamw" => runner!(
                Layout::Flat,
                |g: &Value| AdamWConfig::new()
                    .with_beta_1(opt(g, "beta1") as f32)
                    .with_beta_2(opt(g, "beta2") as f32)
                    .with_epsilon(opt(g, "eps") as f32)
                    .with_amsgrad(flag(g, "amsgrad"))
                    .with_weight_decay(opt(g, "weight_decay") as f32)
                    .build(),
                |s: &burn::optim::AdamWState<1>| adaptive(&s.momentum)
            ),
            "rmsprop" => runner!(
                Layout::Flat,
                |g: &Value| RmsPropConfig::new()
                    .with_alpha(opt(g, "alpha") as f32)
                    .with_epsilon(opt(g, "eps") as f32)
                    .with_momentum(opt(g, "momentum") as f32)
                    .with_centered(flag(g, "centered"))
                    .with_weight_decay(weight_decay(g))
                    .build(),
                |s: &burn::optim::RmsPropState<1>| vec![("square_avg", s.square_avg.square_avg.clone())]
            ),
            "adagrad" => {
                if groups.iter().any(|g| opt(g, "initial_accumulator_value") != 0.0) {
                    unsupported!("burn's AdaGrad has no initial_accumulator_value");
                }
                runner!(
                    Layout::Flat,
                    |g: &Value| AdaGradConfig::new()
                        .with_lr_decay(opt(g, "lr_decay"))
                        .with_epsilon(opt(g, "eps") as f32)
                        .with_weight_decay(weight_decay(g))
                        .build(),
                    no_state
                )
            }
            "muon" => {
                if hosts.iter().any(|h| h.shape.len() != 2) {
                    unsupported!("burn's Muon takes 2-d parameters only");
                }
                // torch.optim.Muon's options on burn's MuonConfig, whose defaults mirror torch's
                // (momentum 0.95 with Nesterov, no dampening, the same Newton–Schulz
                // coefficients, eps and steps).
                runner!(
                    Layout::Natural,
                    |g: &Value| {
                        let momentum = MomentumConfig::new()
                            .with_momentum(opt(g, "momentum"))
                            .with_dampening(0.0)
                            .with_nesterov(flag(g, "nesterov"));
                        let adjust =
                            if flag(g, "match_rms_adamw") { AdjustLrFn::MatchRmsAdamW } else { AdjustLrFn::Original };
                        MuonConfig::new()
                            .with_weight_decay(weight_decay(g))
                            .with_momentum(momentum)
                            .with_ns_coefficients((opt(g, "ns_a") as f32, opt(g, "ns_b") as f32, opt(g, "ns_c") as f32))
                            .with_epsilon(opt(g, "eps") as f32)
                            .with_ns_steps(g.get("ns_steps").and_then(Value::as_u64).unwrap_or(5) as usize)
                            .with_adjust_lr_fn(adjust)
                            .build()
                    },
                    no_state
                )
            }
            "adafactor" => {
                // torch.optim.Adafactor is burn's with a relative step min(lr, 1/√t) and the step
                // scaled by max(eps2, RMS(θ)): relative_step and scale_parameter on. Its eps1
                // (None: the dtype's machine epsilon) floors the second moment at eps1²; burn's
                // epsilon_1 is added to g² instead, so it is given eps1².
                let machine_epsilon = match crate::device().settings().float_dtype {
                    burn::tensor::FloatDType::F64 => f64::EPSILON,
                    burn::tensor::FloatDType::F16 => 0.0009765625,
                    burn::tensor::FloatDType::BF16 => 0.0078125,
                    _ => f64::from(f32::EPSILON),
                };
                runner!(
                    Layout::Natural,
                    |g: &Value| AdafactorConfig::new()
                        .with_epsilon_1(g.get("eps1").and_then(Value::as_f64).unwrap_or(machine_epsilon).powi(2) as f32)
                        .with_epsilon_2(opt(g, "eps2") as f32)
                        .with_clip_threshold(opt(g, "d") as f32)
                        .with_decay_rate(opt(g, "beta2_decay"))
                        .with_relative_step(true)
                        .with_scale_parameter(true)
                        .with_weight_decay(opt(g, "weight_decay") as f32)
                        .build(),
                    no_state
                )
            }
            // burn-optim's Adan, Lamb and Lion have no torch.optim counterpart; its LBFGS steps
            // with a closure over a module.
            other => unsupported!("no {other} in this adapter"),
        };
        self.next += 1;
        self.live.insert(self.next, run);
        Ok(Answer::Value(json!({ "handle": self.next })))
    }

    fn run(&mut self, r: &Value) -> Result<&mut Box<dyn Run>, String> {
        let handle = r["handle"].as_u64().ok_or("no handle")?;
        self.live.get_mut(&handle).ok_or_else(|| format!("no optimizer {handle}"))
    }

    pub fn step(&mut self, r: &Value) -> Result<Answer, String> {
        let grads = r["grads"]
            .as_array()
            .ok_or("no grads")?
            .iter()
            .map(|g| if g.is_null() { Ok(None) } else { Host::parse(g).map(Some) })
            .collect::<Result<Vec<_>, _>>()?;
        self.run(r)?.step(&grads).map(Answer::Value)
    }

    pub fn set_lr(&mut self, r: &Value) -> Result<Answer, String> {
        let lr = r["lr"].as_f64().ok_or("no lr")?;
        self.run(r)?.set_lr(lr);
        Ok(Answer::Value(json!({})))
    }

    pub fn drop(&mut self, r: &Value) -> Result<Answer, String> {
        let handle = r["handle"].as_u64().ok_or("no handle")?;
        self.live.remove(&handle);
        Ok(Answer::Value(json!({})))
    }
}

/// Adam's and AdamW's moments, by torch.optim's names.
fn adaptive(m: &burn::optim::AdaptiveMomentumState<1>) -> Vec<(&'static str, Tensor<1>)> {
    let mut out = vec![("exp_avg", m.moment_1.clone()), ("exp_avg_sq", m.moment_2.clone())];
    if let Some(max) = &m.max_moment_2 {
        out.push(("max_exp_avg_sq", max.clone()));
    }
    out
}
