//! Hand-written optimizers over tch tensors: SGD, Adam, AdamW, RMSprop and Adagrad.
//!
//! One generic [`Optimizer`] holds the parameter groups (each with its own hyperparameters) and
//! the per-parameter state, created at the first step as torch.optim does; each file defines an
//! update [`Rule`] and its options struct, whose `Default` is torch.optim's defaults. Updates run
//! without autograd tracking, in place, on whatever device the parameters live. Each rule follows
//! libtorch's C++ optimizer step by step (the order of operations decides the last bits);
//! `maximize` follows torch.optim and negates the gradient.
//!
//! ```
//! # fn main() -> tch_parity::Result<()> {
//! use tch::{Kind, Tensor};
//! use tch_parity::optim::{Adam, AdamOptions, ParamGroup};
//!
//! let w = Tensor::from_slice(&[0.5f32, -0.25, 1.0]).set_requires_grad(true);
//! let b = Tensor::from_slice(&[0.0f32]).set_requires_grad(true);
//! let decayed = AdamOptions { weight_decay: 1e-4, ..Default::default() };
//! let mut opt = Adam::with_groups(vec![
//!     ParamGroup { params: vec![w.shallow_clone()], options: decayed },
//!     ParamGroup { params: vec![b.shallow_clone()], options: AdamOptions { lr: 1e-2, ..Default::default() } },
//! ])?;
//! let loss = (&w * &w).sum(Kind::Float) + (&b - 1.0).square().sum(Kind::Float);
//! loss.backward();
//! opt.step()?;
//! opt.zero_grad();
//! opt.set_lr(5e-4);
//! // Adam's first step moves each parameter by about lr against its gradient's sign.
//! assert!((b.double_value(&[0]) - 1e-2).abs() < 1e-6);
//! assert_eq!(opt.state(1, 0)[0].0, "step");
//! # Ok(()) }
//! ```

pub mod adagrad;
pub mod adam;
pub mod rmsprop;
pub mod sgd;

pub use adagrad::{Adagrad, AdagradOptions};
pub use adam::{Adam, AdamOptions, AdamW, AdamWOptions};
pub use rmsprop::{RmsProp, RmsPropOptions};
pub use sgd::{Sgd, SgdOptions};

use crate::error::{invalid, Result};
use tch::Tensor;

/// One of this library's optimizers with its hyperparameters: the typed form a configuration
/// takes between the catalogue, the hand-written optimizers and libtorch's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerOptions {
    Sgd(SgdOptions),
    Adam(AdamOptions),
    AdamW(AdamWOptions),
    RmsProp(RmsPropOptions),
    Adagrad(AdagradOptions),
}

impl OptimizerOptions {
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerOptions::Sgd(o) => o.lr(),
            OptimizerOptions::Adam(o) => o.lr(),
            OptimizerOptions::AdamW(o) => o.lr(),
            OptimizerOptions::RmsProp(o) => o.lr(),
            OptimizerOptions::Adagrad(o) => o.lr(),
        }
    }

    pub fn set_lr(&mut self, lr: f64) {
        match self {
            OptimizerOptions::Sgd(o) => o.set_lr(lr),
            OptimizerOptions::Adam(o) => o.set_lr(lr),
            OptimizerOptions::AdamW(o) => o.set_lr(lr),
            OptimizerOptions::RmsProp(o) => o.set_lr(lr),
            OptimizerOptions::Adagrad(o) => o.set_lr(lr),
        }
    }

    /// Whether it ascends (torch.optim's `maximize`; RMSprop has no such option here).
    pub fn maximize(&self) -> bool {
        match self {
            OptimizerOptions::Sgd(o) => o.maximize,
            OptimizerOptions::Adam(o) => o.maximize,
            OptimizerOptions::AdamW(o) => o.maximize,
            OptimizerOptions::RmsProp(_) => false,
            OptimizerOptions::Adagrad(o) => o.maximize,
        }
    }

    /// Rejects what torch.optim rejects, with its message.
    pub fn validate(&self) -> Result<()> {
        match self {
            OptimizerOptions::Sgd(o) => o.validate(),
            OptimizerOptions::Adam(o) => o.validate(),
            OptimizerOptions::AdamW(o) => o.validate(),
            OptimizerOptions::RmsProp(o) => o.validate(),
            OptimizerOptions::Adagrad(o) => o.validate(),
        }
    }
}

/// An optimizer driven from outside: handed one gradient per parameter (in a fixed order) per
/// step, it exposes its parameters and named state buffers. The checker drives the hand-written
/// optimizers and every libtorch path through it, in lockstep or free-running.
pub trait Stepper {
    fn step(&mut self, grads: &[Tensor]) -> Result<()>;
    /// Sets every group's learning rate.
    fn set_lr(&mut self, lr: f64) -> Result<()>;
    fn params(&self) -> Vec<Tensor>;
    /// Parameter `index`'s state buffers by name; empty where the implementation exposes none.
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>>;
}

/// Hyperparameters every optimizer has.
pub trait Hyperparameters: Clone + std::fmt::Debug {
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    /// Rejects what torch.optim rejects, with its message.
    fn validate(&self) -> Result<()>;
}

/// `lr` and `set_lr` for an options struct with an `lr` field.
macro_rules! lr_field {
    () => {
        fn lr(&self) -> f64 {
            self.lr
        }
        fn set_lr(&mut self, lr: f64) {
            self.lr = lr;
        }
    };
}
pub(crate) use lr_field;

/// One optimizer's update: its state per parameter and how a step changes both.
pub trait Rule {
    type Options: Hyperparameters;
    type State;
    /// The state of a parameter before its first step.
    fn init(param: &Tensor, options: &Self::Options) -> Result<Self::State>;
    /// One step for one parameter, in place, with autograd off.
    fn update(param: &mut Tensor, grad: &Tensor, state: &mut Self::State, options: &Self::Options) -> Result<()>;
    /// The state's buffers by name (`step` as a scalar), sharing storage with the state.
    fn buffers(state: &Self::State) -> Vec<(&'static str, Tensor)>;
}

/// Parameters that share hyperparameters.
#[derive(Debug)]
pub struct ParamGroup<O> {
    pub params: Vec<Tensor>,
    pub options: O,
}

pub struct Optimizer<R: Rule> {
    groups: Vec<ParamGroup<R::Options>>,
    state: Vec<Vec<Option<R::State>>>,
}

impl<R: Rule> Optimizer<R> {
    /// One group of parameters with the same hyperparameters.
    pub fn new(params: Vec<Tensor>, options: R::Options) -> Result<Self> {
        Self::with_groups(vec![ParamGroup { params, options }])
    }

    pub fn with_groups(groups: Vec<ParamGroup<R::Options>>) -> Result<Self> {
        if groups.is_empty() {
            return invalid!("optimizer got an empty parameter list");
        }
        for group in &groups {
            group.options.validate()?;
        }
        let state = groups.iter().map(|g| g.params.iter().map(|_| None).collect()).collect();
        Ok(Optimizer { groups, state })
    }

    pub fn groups(&self) -> &[ParamGroup<R::Options>] {
        &self.groups
    }

    /// Changes every group's learning rate; the next step uses it.
    pub fn set_lr(&mut self, lr: f64) {
        for group in &mut self.groups {
            group.options.set_lr(lr);
        }
    }

    pub fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        let n = self.groups.len();
        match self.groups.get_mut(group) {
            Some(g) => {
                g.options.set_lr(lr);
                Ok(())
            }
            None => invalid!("there is no parameter group {group} (there are {n})"),
        }
    }

    /// One update of every parameter that has a gradient; the others are left alone.
    pub fn step(&mut self) -> Result<()> {
        tch::no_grad(|| {
            for (group, states) in self.groups.iter().zip(&mut self.state) {
                for (param, state) in group.params.iter().zip(states.iter_mut()) {
                    let grad = param.grad();
                    if !grad.defined() {
                        continue;
                    }
                    if state.is_none() {
                        *state = Some(R::init(param, &group.options)?);
                    }
                    let state = state.as_mut().expect("initialised above");
                    R::update(&mut param.shallow_clone(), &grad, state, &group.options)?;
                }
            }
            Ok(())
        })
    }

    /// Zeroes every parameter's gradient.
    pub fn zero_grad(&mut self) {
        for param in self.groups.iter().flat_map(|g| &g.params) {
            let mut grad = param.grad();
            if grad.defined() {
                let _ = grad.f_zero_();
            }
        }
    }

    /// The named state buffers of parameter `index` of `group`; empty before its first step.
    pub fn state(&self, group: usize, index: usize) -> Vec<(&'static str, Tensor)> {
        self.state.get(group).and_then(|g| g.get(index)).and_then(Option::as_ref).map(R::buffers).unwrap_or_default()
    }
}

/// `param · (1 − …)`-style helpers shared by the rules, as libtorch's C++ optimizers write them.
pub(crate) fn check_non_negative(name: &str, value: f64) -> Result<()> {
    if value >= 0.0 {
        Ok(())
    } else {
        invalid!("Invalid {name}: {value}")
    }
}

/// `g + wd·p` (libtorch's `grad.add(p, weight_decay)`), or `g` when `wd` is 0.
pub(crate) fn with_weight_decay(grad: Tensor, param: &Tensor, weight_decay: f64) -> Result<Tensor> {
    if weight_decay == 0.0 {
        return Ok(grad);
    }
    crate::ffi::add_scaled(&grad, param, weight_decay)
}

// libtorch's `add_(x, alpha)`, `addcmul_(a, b, value)` and `addcdiv_(a, b, value)`, with their
// scalars (tch's generated bindings drop them; the crate's shim binds them). Each rounds once
// where a multiply followed by an add would round twice, so the updates match libtorch's
// optimizers bit for bit, without a temporary for the scaled operand.
pub(crate) use crate::ffi::{add_scaled_, addcdiv_ as add_quotient_, addcmul_ as add_product_};

/// The gradient to follow: negated when maximizing.
pub(crate) fn direction(grad: &Tensor, maximize: bool) -> Result<Tensor> {
    Ok(if maximize { grad.f_neg()? } else { grad.shallow_clone() })
}

/// Fresh leaf copies of `params`, each able to hold a gradient: what an optimizer driven from
/// outside (a [`Stepper`]) updates, apart from the caller's tensors.
pub fn leaves(params: &[Tensor]) -> Result<Vec<Tensor>> {
    params.iter().map(|p| Ok(p.f_detach_copy()?.set_requires_grad(true))).collect()
}

/// `step` as a scalar tensor, for `buffers`.
pub(crate) fn step_tensor(step: i64) -> Tensor {
    Tensor::from(step)
}

#[cfg(test)]
#[path = "optim_tests.rs"]
mod tests;
