//! The rest of the training step around a loss and an optimizer: learning-rate schedulers
//! ([`lr_scheduler`], torch.optim.lr_scheduler), gradient clipping ([`clip_grad`],
//! torch.nn.utils) and checkpoints in PyTorch's `state_dict()` layout ([`checkpoint`]). Each
//! works with every optimizer of [`crate::optim`] through [`ParamGroups`].

pub mod checkpoint;
pub mod clip_grad;
pub mod grad_scaler;
pub mod lr_scheduler;

use crate::error::{invalid, Result};
use crate::optim::{Hyperparameters, Lbfgs, Optimizer, Rule};

/// What a scheduler reads and sets of an optimizer: each parameter group's learning rate, the
/// rate it had when a scheduler was first attached (torch's `group["initial_lr"]`), and the
/// momentum `CyclicLR` and `OneCycleLR` cycle (`momentum`, or β₁ for the Adam family).
pub trait ParamGroups {
    fn group_count(&self) -> usize;
    fn group_lr(&self, group: usize) -> f64;
    fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()>;
    fn initial_lr(&self, group: usize) -> Option<f64>;
    fn set_initial_lr(&mut self, group: usize, lr: f64);
    /// `None` when the optimizer has no momentum to cycle.
    fn momentum(&self, group: usize) -> Option<f64>;
    fn set_momentum(&mut self, group: usize, value: f64) -> Result<()>;
    /// Every group's learning rate.
    fn lrs(&self) -> Vec<f64> {
        (0..self.group_count()).map(|g| self.group_lr(g)).collect()
    }
}

impl<R: Rule> ParamGroups for Optimizer<R> {
    fn group_count(&self) -> usize {
        self.groups().len()
    }
    fn group_lr(&self, group: usize) -> f64 {
        self.groups()[group].options.lr()
    }
    fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        Optimizer::set_group_lr(self, group, lr)
    }
    fn initial_lr(&self, group: usize) -> Option<f64> {
        Optimizer::initial_lr(self, group)
    }
    fn set_initial_lr(&mut self, group: usize, lr: f64) {
        Optimizer::set_initial_lr(self, group, lr)
    }
    fn momentum(&self, group: usize) -> Option<f64> {
        self.groups()[group].options.cycled_momentum()
    }
    fn set_momentum(&mut self, group: usize, value: f64) -> Result<()> {
        match self.group_options_mut(group) {
            Some(options) if options.cycled_momentum().is_some() => {
                options.set_cycled_momentum(value);
                Ok(())
            }
            Some(_) => invalid!("optimizer must support momentum or beta1 with `cycle_momentum` option enabled"),
            None => invalid!("there is no parameter group {group}"),
        }
    }
}

impl ParamGroups for Lbfgs {
    fn group_count(&self) -> usize {
        1
    }
    fn group_lr(&self, _: usize) -> f64 {
        self.options().lr
    }
    fn set_group_lr(&mut self, _: usize, lr: f64) -> Result<()> {
        self.set_lr(lr);
        Ok(())
    }
    fn initial_lr(&self, _: usize) -> Option<f64> {
        Lbfgs::initial_lr(self)
    }
    fn set_initial_lr(&mut self, _: usize, lr: f64) {
        Lbfgs::set_initial_lr(self, lr)
    }
    fn momentum(&self, _: usize) -> Option<f64> {
        None
    }
    fn set_momentum(&mut self, _: usize, _: f64) -> Result<()> {
        invalid!("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
    }
}

/// Parameter groups without parameters: a learning rate (and optionally a momentum) per group,
/// to run a schedule on its own (to plot it, or to check it against PyTorch's).
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    pub lrs: Vec<f64>,
    /// Each group's momentum, for a schedule that cycles it; `None`: the optimizer has none.
    pub momentums: Option<Vec<f64>>,
    pub initial_lrs: Vec<Option<f64>>,
}

impl Rates {
    pub fn new(lrs: Vec<f64>, momentums: Option<Vec<f64>>) -> Rates {
        let initial_lrs = vec![None; lrs.len()];
        Rates { lrs, momentums, initial_lrs }
    }
}

impl ParamGroups for Rates {
    fn group_count(&self) -> usize {
        self.lrs.len()
    }
    fn group_lr(&self, group: usize) -> f64 {
        self.lrs[group]
    }
    fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        match self.lrs.get_mut(group) {
            Some(slot) => {
                *slot = lr;
                Ok(())
            }
            None => invalid!("there is no parameter group {group}"),
        }
    }
    fn initial_lr(&self, group: usize) -> Option<f64> {
        self.initial_lrs.get(group).copied().flatten()
    }
    fn set_initial_lr(&mut self, group: usize, lr: f64) {
        if let Some(slot) = self.initial_lrs.get_mut(group) {
            *slot = Some(lr);
        }
    }
    fn momentum(&self, group: usize) -> Option<f64> {
        self.momentums.as_ref().map(|m| m[group])
    }
    fn set_momentum(&mut self, group: usize, value: f64) -> Result<()> {
        match self.momentums.as_mut().and_then(|m| m.get_mut(group)) {
            Some(slot) => {
                *slot = value;
                Ok(())
            }
            None => invalid!("optimizer must support momentum or beta1 with `cycle_momentum` option enabled"),
        }
    }
}
