//! NAdam, Adam with Nesterov momentum (Dozat, *Incorporating Nesterov Momentum into Adam*, ICLR
//! 2016 workshop), with its momentum decay schedule, as `torch.optim.NAdam`.

use super::{
    add_quotient_, check_adam_family, check_non_negative, decay, python_moments_, scale_, Hyperparameters, Optimizer,
    Rule, SavedBuffers, Written,
};
use crate::error::Result;
use tch::{Kind, Tensor};

crate::options! {
    /// `torch.optim.NAdam`'s hyperparameters, with its defaults (torch's `betas` is
    /// `(beta1, beta2)`).
    pub struct NAdamOptions {
        /// Learning rate.
        pub lr: f64 = 2e-3,
        /// Decay of the first moment, in [0, 1).
        pub beta1: f64 = 0.9,
        /// Decay of the second moment, in [0, 1).
        pub beta2: f64 = 0.999,
        /// Added to the denominator.
        pub eps: f64 = 1e-8,
        /// L2 penalty added to the gradient (decoupled with decoupled_weight_decay).
        pub weight_decay: f64 = 0.0,
        /// ψ in the momentum schedule μₜ = β₁·(1 − ½·0.96^(t·ψ)).
        pub momentum_decay: f64 = 4e-3,
        /// Decay the parameter itself (θ ·= 1 − lr·wd), as AdamW does.
        pub decoupled_weight_decay: bool = false,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for NAdamOptions {
    super::lr_field!();
    super::cycled_momentum!(beta1);
    fn validate(&self) -> Result<()> {
        check_adam_family(self.lr, self.eps, (self.beta1, self.beta2), self.weight_decay)?;
        check_non_negative("momentum_decay value", self.momentum_decay)
    }
}

/// NAdam's update, per parameter at step t: `μₜ = β₁·(1 − ½·0.96^(t·ψ))`, `Πₜ = Πₜ₋₁·μₜ`,
/// `m = lerp(m, g, 1 − β₁)`, `v = β₂·v + (1 − β₂)·g²`, `d = √(v/(1 − β₂ᵗ)) + eps`,
/// `θ −= lr·(1 − μₜ)/(1 − Πₜ) · g/d + lr·μₜ₊₁/(1 − Πₜ·μₜ₊₁) · m/d`.
///
/// Π (`mu_product`) is a float32 scalar whatever the parameter's dtype, as in torch.optim
/// (its scalar state has the default dtype): a float64 NAdam's step sizes carry float32 rounding.
pub struct NAdamRule;

pub struct NAdamState {
    pub step: i64,
    /// Π of the μ so far: a float32 scalar tensor, as torch.optim keeps it.
    pub mu_product: Tensor,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

impl Rule for NAdamRule {
    type Options = NAdamOptions;
    type State = NAdamState;

    fn init(param: &Tensor, _: &NAdamOptions) -> Result<NAdamState> {
        Ok(NAdamState {
            step: 0,
            mu_product: Tensor::f_ones([], (Kind::Float, param.device()))?,
            exp_avg: param.f_zeros_like()?,
            exp_avg_sq: param.f_zeros_like()?,
        })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut NAdamState, o: &NAdamOptions) -> Result<()> {
        s.step += 1;
        let step = s.step as f64;
        let (beta1, beta2) = (o.beta1, o.beta2);
        let bias_correction2 = 1.0 - beta2.powf(step);
        let g = decay(param, grad, o.maximize, (o.lr, o.weight_decay, o.decoupled_weight_decay), Written::Python)?;
        let mu = beta1 * (1.0 - 0.5 * 0.96f64.powf(step * o.momentum_decay));
        let mu_next = beta1 * (1.0 - 0.5 * 0.96f64.powf((step + 1.0) * o.momentum_decay));
        scale_(&mut s.mu_product, mu)?;
        let mu_product = s.mu_product.f_double_value(&[])?;

        python_moments_(&mut s.exp_avg, &mut s.exp_avg_sq, &g, (beta1, beta2))?;
        let denom = s.exp_avg_sq.f_div_scalar(bias_correction2)?.f_sqrt()?.f_add_scalar_(o.eps)?;
        let mu_product_next = mu_product * mu_next;
        add_quotient_(param, &g, &denom, -o.lr * (1.0 - mu) / (1.0 - mu_product))?;
        add_quotient_(param, &s.exp_avg, &denom, (-o.lr * mu_next) / (1.0 - mu_product_next))
    }

    fn buffers(s: &NAdamState) -> Vec<(&'static str, Tensor)> {
        vec![
            ("step", super::step_tensor(s.step)),
            ("mu_product", s.mu_product.shallow_clone()),
            ("exp_avg", s.exp_avg.shallow_clone()),
            ("exp_avg_sq", s.exp_avg_sq.shallow_clone()),
        ]
    }
    fn restore(param: &Tensor, _: &NAdamOptions, saved: &mut SavedBuffers) -> Result<NAdamState> {
        let mu_product = Tensor::f_from_slice(&[saved.scalar("mu_product")? as f32])?.f_reshape([])?;
        Ok(NAdamState {
            step: saved.step()?,
            mu_product: mu_product.f_to_device(param.device())?,
            exp_avg: saved.like_param("exp_avg")?,
            exp_avg_sq: saved.like_param("exp_avg_sq")?,
        })
    }
    const TORCH_NAME: &'static str = "NAdam";
}

/// `torch.optim.NAdam`.
pub type NAdam = Optimizer<NAdamRule>;
