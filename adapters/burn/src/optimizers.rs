//! Optimizers: burn-optim's per-tensor `Optimizer::step`, driven one step at a time with the
//! gradients tch-parity sends (in lockstep, libtorch's at the reference's parameters).

use crate::tensors::{float_tensor, host_json, Host};
use crate::{unsupported, Answer};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdaGradConfig, AdamConfig, AdamWConfig, Optimizer, RmsPropConfig, SgdConfig};
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

/// Parameters are kept flat: every optimizer here is elementwise.
struct Runner<O: Optimizer> {
    groups: Vec<(O, f64)>,
    group_of: Vec<usize>,
    params: Vec<Tensor<1>>,
    shapes: Vec<Vec<usize>>,
    states: Vec<Option<O::State<1>>>,
    /// The state buffers burn makes public, by torch.optim's names.
    read: fn(&O::State<1>) -> Vec<(&'static str, Tensor<1>)>,
    device: Device,
}

impl<O: Optimizer> Run for Runner<O> {
    fn step(&mut self, grads: &[Option<Host>]) -> Result<Value, String> {
        for (i, grad) in grads.iter().enumerate() {
            let Some(g) = grad else { continue };
            let g = float_tensor::<1>(g, [g.numel()], &self.device)?;
            let (optimizer, lr) = &self.groups[self.group_of[i]];
            let (p, s) = optimizer.step(*lr, self.params[i].clone(), g, self.states[i].take());
            self.params[i] = p;
            self.states[i] = s;
        }
        let params: Vec<Value> = self.params.iter().zip(&self.shapes).map(|(p, s)| host_json(p.clone(), s)).collect();
        let state: Vec<Value> = self
            .states
            .iter()
            .zip(&self.shapes)
            .map(|(state, shape)| {
                let buffers = state.as_ref().map(self.read).unwrap_or_default();
                Value::Object(
                    buffers.into_iter().map(|(n, t)| (n.to_owned(), host_json(t, shape))).collect::<Map<_, _>>(),
                )
            })
            .collect();
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
        let params = hosts.iter().map(|h| float_tensor::<1>(h, [h.numel()], &device)).collect::<Result<Vec<_>, _>>()?;
        let shapes = hosts.iter().map(|h| h.shape.clone()).collect();
        if groups.iter().any(|g| flag(g, "maximize")) {
            unsupported!("burn's optimizers have no maximize");
        }
        macro_rules! runner {
            ($build:expr, $read:expr) => {{
                let groups = groups.iter().map(|g| ($build(g), opt(g, "lr"))).collect();
                let states = vec![None; params.len()];
                Box::new(Runner { groups, group_of, params, shapes, states, read: $read, device }) as Box<dyn Run>
            }};
        }
        let run = match id {
            "sgd" => runner!(
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
                    |g: &Value| AdaGradConfig::new()
                        .with_lr_decay(opt(g, "lr_decay"))
                        .with_epsilon(opt(g, "eps") as f32)
                        .with_weight_decay(weight_decay(g))
                        .build(),
                    no_state
                )
            }
            // burn-optim's Adan, Lamb and Lion have no torch.optim counterpart; its LBFGS steps
            // with a closure over a module; Adafactor and Muon are not adapted yet.
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
