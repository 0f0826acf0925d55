//! Adamax, Adam under the infinity norm (Kingma & Ba, *Adam*, ICLR 2015, §7.1), as
//! `torch.optim.Adamax`.

use super::{
    add_quotient_, check_adam_family, direction, scale_, with_weight_decay, Hyperparameters, Optimizer, Rule,
    SavedBuffers,
};
use crate::error::Result;
use tch::Tensor;

crate::options! {
    /// `torch.optim.Adamax`'s hyperparameters, with its defaults (torch's `betas` is
    /// `(beta1, beta2)`).
    pub struct AdamaxOptions {
        /// Learning rate.
        pub lr: f64 = 2e-3,
        /// Decay of the first moment, in [0, 1).
        pub beta1: f64 = 0.9,
        /// Decay of the infinity norm, in [0, 1).
        pub beta2: f64 = 0.999,
        /// Added to |g| before the maximum.
        pub eps: f64 = 1e-8,
        /// L2 penalty added to the gradient.
        pub weight_decay: f64 = 0.0,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for AdamaxOptions {
    super::lr_field!();
    super::cycled_momentum!(beta1);
    fn validate(&self) -> Result<()> {
        check_adam_family(self.lr, self.eps, (self.beta1, self.beta2), self.weight_decay)
    }
}

/// Adamax's update, per parameter at step t: `g = ∇ + wd·θ`, `m = lerp(m, g, 1 − β₁)`,
/// `u = max(β₂·u, |g| + eps)`, `θ −= lr/(1 − β₁ᵗ) · m/u` (u is `exp_inf`).
pub struct AdamaxRule;

pub struct AdamaxState {
    pub step: i64,
    pub exp_avg: Tensor,
    pub exp_inf: Tensor,
}

impl Rule for AdamaxRule {
    type Options = AdamaxOptions;
    type State = AdamaxState;

    fn init(param: &Tensor, _: &AdamaxOptions) -> Result<AdamaxState> {
        Ok(AdamaxState { step: 0, exp_avg: param.f_zeros_like()?, exp_inf: param.f_zeros_like()? })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut AdamaxState, o: &AdamaxOptions) -> Result<()> {
        s.step += 1;
        let g = with_weight_decay(direction(grad, o.maximize)?, param, o.weight_decay)?;
        let _ = s.exp_avg.f_lerp_(&g, 1.0 - o.beta1)?;
        scale_(&mut s.exp_inf, o.beta2)?;
        let bound = g.f_abs()?.f_add_scalar_(o.eps)?;
        s.exp_inf.f_copy_(&s.exp_inf.f_maximum(&bound)?)?;
        let bias_correction = 1.0 - o.beta1.powf(s.step as f64);
        add_quotient_(param, &s.exp_avg, &s.exp_inf, -(o.lr / bias_correction))
    }

    fn buffers(s: &AdamaxState) -> Vec<(&'static str, Tensor)> {
        vec![
            ("step", super::step_tensor(s.step)),
            ("exp_avg", s.exp_avg.shallow_clone()),
            ("exp_inf", s.exp_inf.shallow_clone()),
        ]
    }
    fn restore(_: &Tensor, _: &AdamaxOptions, saved: &mut SavedBuffers) -> Result<AdamaxState> {
        Ok(AdamaxState {
            step: saved.step()?,
            exp_avg: saved.like_param("exp_avg")?,
            exp_inf: saved.like_param("exp_inf")?,
        })
    }
    const TORCH_NAME: &'static str = "Adamax";
}

/// `torch.optim.Adamax`.
pub type Adamax = Optimizer<AdamaxRule>;
