//! Adagrad with learning-rate decay, weight decay, an initial accumulator, eps and maximize
//! (Duchi, Hazan & Singer, *Adaptive Subgradient Methods for Online Learning and Stochastic
//! Optimization*, JMLR 2011).

use super::{
    add_product_, add_quotient_, check_non_negative, direction, step_tensor, with_weight_decay, Hyperparameters,
    Optimizer, Rule, SavedBuffers,
};
use crate::error::Result;
use tch::Tensor;

crate::options! {
    /// `torch.optim.Adagrad`'s hyperparameters, with its defaults.
    pub struct AdagradOptions {
        /// Learning rate.
        pub lr: f64 = 1e-2,
        /// lr / (1 + (t − 1)·lr_decay).
        pub lr_decay: f64 = 0.0,
        /// L2 penalty added to the gradient.
        pub weight_decay: f64 = 0.0,
        /// The accumulator's starting value.
        pub initial_accumulator_value: f64 = 0.0,
        /// Added to the denominator.
        pub eps: f64 = 1e-10,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for AdagradOptions {
    super::lr_field!();
    fn validate(&self) -> Result<()> {
        check_non_negative("learning rate", self.lr)?;
        check_non_negative("lr_decay value", self.lr_decay)?;
        check_non_negative("weight_decay value", self.weight_decay)?;
        check_non_negative("initial_accumulator_value value", self.initial_accumulator_value)?;
        check_non_negative("epsilon value", self.eps)
    }
}

/// Adagrad's update, as `torch.optim.Adagrad` computes it, per parameter at step t:
/// `g = ∇ + wd·θ` (negated first when maximizing), `clr = lr / (1 + (t − 1)·lr_decay)`,
/// `s = s + g²` (from `initial_accumulator_value`), `θ −= clr·g / (√s + eps)`.
pub struct AdagradRule;

pub struct AdagradState {
    pub step: i64,
    pub sum: Tensor,
}

impl Rule for AdagradRule {
    type Options = AdagradOptions;
    type State = AdagradState;

    fn init(param: &Tensor, o: &AdagradOptions) -> Result<AdagradState> {
        Ok(AdagradState { step: 0, sum: param.f_full_like(o.initial_accumulator_value)? })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut AdagradState, o: &AdagradOptions) -> Result<()> {
        s.step += 1;
        let g = with_weight_decay(direction(grad, o.maximize)?, param, o.weight_decay)?;
        let clr = o.lr / (1.0 + (s.step - 1) as f64 * o.lr_decay);
        add_product_(&mut s.sum, &g, &g, 1.0)?;
        let mut std = s.sum.f_sqrt()?;
        let _ = std.f_add_scalar_(o.eps)?;
        add_quotient_(param, &g, &std, -clr)
    }

    fn buffers(s: &AdagradState) -> Vec<(&'static str, Tensor)> {
        vec![("step", step_tensor(s.step)), ("sum", s.sum.shallow_clone())]
    }
    fn restore(_: &Tensor, _: &AdagradOptions, saved: &mut SavedBuffers) -> Result<AdagradState> {
        Ok(AdagradState { step: saved.step()?, sum: saved.like_param("sum")? })
    }
    const TORCH_NAME: &'static str = "Adagrad";
}

/// `torch.optim.Adagrad`.
pub type Adagrad = Optimizer<AdagradRule>;
