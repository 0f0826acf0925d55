//! The optimizer registry: one entry per optimizer with its options (torch.optim's defaults),
//! and the libtorch paths a configuration can be checked against.

use super::registry::{OptionSpec, OptionValue};
use crate::builtin::optim::{Cpp, Fused, GroupHyper, Stepper, Tch};
use crate::builtin::shim::{self, Hyper};
use crate::error::{invalid, Result};
use crate::optim::{self, AdagradOptions, AdamOptions, Optimizer, ParamGroup, RmsPropOptions, Rule, SgdOptions};
use tch::Tensor;

/// A libtorch implementation of an optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// libtorch's C++ optimizer (`torch::optim::…`), through the shim, with its state.
    Cpp,
    /// The same C++ optimizer through tch's `COptimizer`, parameters only.
    Tch,
    /// The fused CPU kernel (`_fused_sgd_`, `_fused_adam_`, `_fused_adamw_`, `_fused_adagrad_`).
    Fused,
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Path::Cpp => "cpp",
            Path::Tch => "tch",
            Path::Fused => "fused",
        }
    }
}

pub struct OptimizerInfo {
    pub id: &'static str,
    pub summary: &'static str,
    pub options: &'static [OptionSpec],
    /// The paths libtorch has for this optimizer, without `maximize` and with it.
    pub paths: &'static [Path],
    pub paths_maximizing: &'static [Path],
}

const fn float(name: &'static str, default: f64, doc: &'static str) -> OptionSpec {
    OptionSpec { name, default: OptionValue::Float(default), doc }
}
const fn flag(name: &'static str, doc: &'static str) -> OptionSpec {
    OptionSpec { name, default: OptionValue::Bool(false), doc }
}
const MAXIMIZE: OptionSpec = flag("maximize", "ascend instead of descend (the gradient is negated)");
/// Adam's and AdamW's options, which differ only in weight decay (its default and its meaning).
const fn adam_specs(weight_decay: OptionSpec) -> [OptionSpec; 7] {
    [
        float("lr", 1e-3, "learning rate"),
        float("beta1", 0.9, "decay of the first moment"),
        float("beta2", 0.999, "decay of the second moment"),
        float("eps", 1e-8, "added to the denominator"),
        weight_decay,
        flag("amsgrad", "divide by the running maximum of the second moment"),
        MAXIMIZE,
    ]
}
const ADAM_OPTIONS: [OptionSpec; 7] = adam_specs(float("weight_decay", 0.0, "L2 penalty added to the gradient"));
const ADAMW_OPTIONS: [OptionSpec; 7] = adam_specs(float("weight_decay", 1e-2, "decoupled decay: θ ·= 1 − lr·wd"));

pub static OPTIMIZERS: &[OptimizerInfo] = &[
    OptimizerInfo {
        id: "sgd",
        summary: "SGD with momentum, dampening, Nesterov, weight decay (seed §5.2)",
        options: &[
            float("lr", 1e-2, "learning rate (torch.optim requires one; this is the suite's)"),
            float("momentum", 0.0, "momentum factor"),
            float("dampening", 0.0, "dampening of the momentum"),
            float("weight_decay", 0.0, "L2 penalty added to the gradient"),
            flag("nesterov", "Nesterov momentum"),
            MAXIMIZE,
        ],
        paths: &[Path::Cpp, Path::Tch, Path::Fused],
        paths_maximizing: &[Path::Fused],
    },
    OptimizerInfo {
        id: "adam",
        summary: "Adam, L2 weight decay added to the gradient (seed §5.1)",
        options: &ADAM_OPTIONS,
        paths: &[Path::Cpp, Path::Tch, Path::Fused],
        paths_maximizing: &[Path::Fused],
    },
    OptimizerInfo {
        id: "adamw",
        summary: "AdamW, decoupled weight decay (seed §5)",
        options: &ADAMW_OPTIONS,
        paths: &[Path::Cpp, Path::Tch, Path::Fused],
        paths_maximizing: &[Path::Fused],
    },
    OptimizerInfo {
        id: "rmsprop",
        summary: "RMSprop with momentum and centering",
        options: &[
            float("lr", 1e-2, "learning rate"),
            float("alpha", 0.99, "decay of the squared-gradient average"),
            float("eps", 1e-8, "added to the denominator"),
            float("weight_decay", 0.0, "L2 penalty added to the gradient"),
            float("momentum", 0.0, "momentum factor"),
            flag("centered", "normalise by the variance estimate"),
        ],
        paths: &[Path::Cpp, Path::Tch],
        paths_maximizing: &[],
    },
    OptimizerInfo {
        id: "adagrad",
        summary: "Adagrad with learning-rate decay (seed §5.2)",
        options: &[
            float("lr", 1e-2, "learning rate"),
            float("lr_decay", 0.0, "lr / (1 + (t − 1)·lr_decay)"),
            float("weight_decay", 0.0, "L2 penalty added to the gradient"),
            float("initial_accumulator_value", 0.0, "the accumulator's starting value"),
            float("eps", 1e-10, "added to the denominator"),
            MAXIMIZE,
        ],
        paths: &[Path::Cpp, Path::Fused],
        paths_maximizing: &[Path::Fused],
    },
];

pub fn find(id: &str) -> Option<&'static OptimizerInfo> {
    OPTIMIZERS.iter().find(|o| o.id == id)
}

/// One group's options by name, every option present (defaults filled in).
pub type Options = Vec<(String, OptionValue)>;

fn get(o: &Options, name: &str) -> f64 {
    match o.iter().find(|(n, _)| n == name).map(|(_, v)| *v) {
        Some(OptionValue::Float(x)) => x,
        Some(OptionValue::Int(i)) => i as f64,
        Some(OptionValue::Bool(b)) => f64::from(u8::from(b)),
        None => 0.0,
    }
}

fn on(o: &Options, name: &str) -> bool {
    get(o, name) != 0.0
}

pub fn group_hyper(o: &Options) -> GroupHyper {
    GroupHyper {
        hyper: Hyper {
            lr: get(o, "lr"),
            momentum: get(o, "momentum"),
            dampening: get(o, "dampening"),
            weight_decay: get(o, "weight_decay"),
            beta1: get(o, "beta1"),
            beta2: get(o, "beta2"),
            eps: get(o, "eps"),
            alpha: get(o, "alpha"),
            lr_decay: get(o, "lr_decay"),
            initial_accumulator_value: get(o, "initial_accumulator_value"),
            nesterov: on(o, "nesterov").into(),
            amsgrad: on(o, "amsgrad").into(),
            centered: on(o, "centered").into(),
        },
        maximize: on(o, "maximize"),
    }
}

/// The paths that implement these groups' options (maximize rules most of them out).
pub fn paths(info: &OptimizerInfo, groups: &[Options]) -> &'static [Path] {
    if groups.iter().any(|g| on(g, "maximize")) {
        info.paths_maximizing
    } else {
        info.paths
    }
}

/// A libtorch path as a stepper over copies of `params`.
pub fn reference(
    info: &OptimizerInfo,
    path: Path,
    groups: &[Options],
    params: &[Tensor],
    group_of: &[usize],
) -> Result<Box<dyn Stepper>> {
    let hypers: Vec<GroupHyper> = groups.iter().map(group_hyper).collect();
    Ok(match path {
        Path::Cpp => Box::new(Cpp::new(info.id, &hypers, params, group_of)?),
        Path::Tch => Box::new(Tch::new(info.id, &hypers, params, group_of)?),
        Path::Fused => Box::new(Fused::new(info.id, &hypers, params, group_of)?),
    })
}

fn sgd_options(o: &Options) -> SgdOptions {
    SgdOptions {
        lr: get(o, "lr"),
        momentum: get(o, "momentum"),
        dampening: get(o, "dampening"),
        weight_decay: get(o, "weight_decay"),
        nesterov: on(o, "nesterov"),
        maximize: on(o, "maximize"),
    }
}

fn adam_options(o: &Options, decoupled: bool) -> AdamOptions {
    AdamOptions {
        lr: get(o, "lr"),
        betas: (get(o, "beta1"), get(o, "beta2")),
        eps: get(o, "eps"),
        weight_decay: get(o, "weight_decay"),
        amsgrad: on(o, "amsgrad"),
        maximize: on(o, "maximize"),
        decoupled_weight_decay: decoupled,
    }
}

fn rmsprop_options(o: &Options) -> RmsPropOptions {
    RmsPropOptions {
        lr: get(o, "lr"),
        alpha: get(o, "alpha"),
        eps: get(o, "eps"),
        weight_decay: get(o, "weight_decay"),
        momentum: get(o, "momentum"),
        centered: on(o, "centered"),
    }
}

fn adagrad_options(o: &Options) -> AdagradOptions {
    AdagradOptions {
        lr: get(o, "lr"),
        lr_decay: get(o, "lr_decay"),
        weight_decay: get(o, "weight_decay"),
        initial_accumulator_value: get(o, "initial_accumulator_value"),
        eps: get(o, "eps"),
        maximize: on(o, "maximize"),
    }
}

/// The hand-written optimizer as a stepper over copies of `params`.
pub fn hand_written(
    info: &OptimizerInfo,
    groups: &[Options],
    params: &[Tensor],
    group_of: &[usize],
) -> Result<Box<dyn Stepper>> {
    fn build<R: Rule + 'static>(
        groups: Vec<R::Options>,
        params: &[Tensor],
        group_of: &[usize],
    ) -> Result<Box<dyn Stepper>>
    where
        R::State: 'static,
    {
        let leaves: Vec<Tensor> =
            params.iter().map(|p| Ok(p.f_detach_copy()?.set_requires_grad(true))).collect::<Result<_>>()?;
        let mut slots = Vec::new();
        let param_groups = groups
            .into_iter()
            .enumerate()
            .map(|(g, options)| {
                let members: Vec<usize> = (0..leaves.len()).filter(|&i| group_of[i] == g).collect();
                for (k, &i) in members.iter().enumerate() {
                    slots.push((i, g, k));
                }
                ParamGroup { params: members.iter().map(|&i| leaves[i].shallow_clone()).collect(), options }
            })
            .collect();
        slots.sort();
        let optimizer = Optimizer::<R>::with_groups(param_groups)?;
        Ok(Box::new(Hand { optimizer, leaves, slots: slots.into_iter().map(|(_, g, k)| (g, k)).collect() }))
    }
    match info.id {
        "sgd" => build::<optim::sgd::SgdRule>(groups.iter().map(sgd_options).collect(), params, group_of),
        "adam" => {
            build::<optim::adam::AdamRule>(groups.iter().map(|o| adam_options(o, false)).collect(), params, group_of)
        }
        "adamw" => {
            build::<optim::adam::AdamRule>(groups.iter().map(|o| adam_options(o, true)).collect(), params, group_of)
        }
        "rmsprop" => {
            build::<optim::rmsprop::RmsPropRule>(groups.iter().map(rmsprop_options).collect(), params, group_of)
        }
        "adagrad" => {
            build::<optim::adagrad::AdagradRule>(groups.iter().map(adagrad_options).collect(), params, group_of)
        }
        other => invalid!("no hand-written optimizer {other}"),
    }
}

/// Validates the options the way the hand-written optimizer does (for error cases).
pub fn validate_hand_written(info: &OptimizerInfo, o: &Options) -> Result<()> {
    use optim::Hyperparameters;
    match info.id {
        "sgd" => sgd_options(o).validate(),
        "adam" => adam_options(o, false).validate(),
        "adamw" => adam_options(o, true).validate(),
        "rmsprop" => rmsprop_options(o).validate(),
        "adagrad" => adagrad_options(o).validate(),
        other => invalid!("no hand-written optimizer {other}"),
    }
}

struct Hand<R: Rule> {
    optimizer: Optimizer<R>,
    leaves: Vec<Tensor>,
    /// For each parameter in the case's order: (group, index in group).
    slots: Vec<(usize, usize)>,
}

impl<R: Rule> Stepper for Hand<R> {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        for (p, g) in self.leaves.iter().zip(grads) {
            shim::set_grad(p, g)?;
        }
        self.optimizer.step()
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.optimizer.set_lr(lr);
        Ok(())
    }
    fn params(&self) -> Vec<Tensor> {
        self.leaves.iter().map(Tensor::detach).collect()
    }
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>> {
        let (g, k) = self.slots[index];
        Ok(self.optimizer.state(g, k).into_iter().map(|(n, t)| (n.to_owned(), t)).collect())
    }
}
