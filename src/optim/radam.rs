//! RAdam, rectified Adam (Liu et al., *On the Variance of the Adaptive Learning Rate and Beyond*,
//! ICLR 2020), as `torch.optim.RAdam`.

use super::{
    add_scaled_, check_adam_family, decay, python_moments_, scale_, Hyperparameters, Optimizer, Rule, SavedBuffers,
    Written,
};
use crate::error::Result;
use tch::Tensor;

crate::options! {
    /// `torch.optim.RAdam`'s hyperparameters, with its defaults (torch's `betas` is
    /// `(beta1, beta2)`).
    pub struct RAdamOptions {
        /// Learning rate.
        pub lr: f64 = 1e-3,
        /// Decay of the first moment, in [0, 1).
        pub beta1: f64 = 0.9,
        /// Decay of the second moment, in [0, 1).
        pub beta2: f64 = 0.999,
        /// Added to the denominator.
        pub eps: f64 = 1e-8,
        /// L2 penalty added to the gradient (decoupled with decoupled_weight_decay).
        pub weight_decay: f64 = 0.0,
        /// Decay the parameter itself (θ ·= 1 − lr·wd), as AdamW does.
        pub decoupled_weight_decay: bool = false,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for RAdamOptions {
    super::lr_field!();
    super::cycled_momentum!(beta1);
    fn validate(&self) -> Result<()> {
        check_adam_family(self.lr, self.eps, (self.beta1, self.beta2), self.weight_decay)
    }
}

/// RAdam's update, per parameter at step t: `m = lerp(m, g, 1 − β₁)`,
/// `v = β₂·v + (1 − β₂)·g²`, `ρ∞ = 2/(1 − β₂) − 1`, `ρₜ = ρ∞ − 2t·β₂ᵗ/(1 − β₂ᵗ)`. While
/// `ρₜ ≤ 5` the variance is not yet tractable and the step is SGD with momentum,
/// `θ −= lr·m/(1 − β₁ᵗ)`; after, `θ −= lr·m/(1 − β₁ᵗ) · √(1 − β₂ᵗ)/(√v + eps) · r`, with the
/// rectification `r = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ))`. With the default β₂ the
/// switch happens at step 6.
pub struct RAdamRule;

pub struct RAdamState {
    pub step: i64,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

impl Rule for RAdamRule {
    type Options = RAdamOptions;
    type State = RAdamState;

    fn init(param: &Tensor, _: &RAdamOptions) -> Result<RAdamState> {
        Ok(RAdamState { step: 0, exp_avg: param.f_zeros_like()?, exp_avg_sq: param.f_zeros_like()? })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut RAdamState, o: &RAdamOptions) -> Result<()> {
        s.step += 1;
        let step = s.step as f64;
        let (beta1, beta2) = (o.beta1, o.beta2);
        let g = decay(param, grad, o.maximize, (o.lr, o.weight_decay, o.decoupled_weight_decay), Written::Python)?;
        python_moments_(&mut s.exp_avg, &mut s.exp_avg_sq, &g, (beta1, beta2))?;

        let bias_correction1 = 1.0 - beta1.powf(step);
        let bias_correction2 = 1.0 - beta2.powf(step);
        // torch.optim's products, in the same order, in place in one temporary (the same
        // roundings without three more allocations of the parameter's size).
        let mut update = s.exp_avg.f_div_scalar(bias_correction1)?;
        scale_(&mut update, o.lr)?;
        let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * step * beta2.powf(step) / bias_correction2;
        if rho_t > 5.0 {
            let rect =
                ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)).powf(0.5);
            // torch.optim writes `√bc₂ / (√v + eps)`: Python's scalar / tensor is
            // `tensor.reciprocal() * scalar`, which rounds twice; so does this.
            let mut adaptive = s.exp_avg_sq.f_sqrt()?;
            let _ = adaptive.f_add_scalar_(o.eps)?.f_reciprocal_()?;
            scale_(&mut adaptive, bias_correction2.powf(0.5))?;
            let _ = update.f_mul_(&adaptive)?;
            scale_(&mut update, rect)?;
        }
        add_scaled_(param, &update, -1.0)
    }

    fn buffers(s: &RAdamState) -> Vec<(&'static str, Tensor)> {
        vec![
            ("step", super::step_tensor(s.step)),
            ("exp_avg", s.exp_avg.shallow_clone()),
            ("exp_avg_sq", s.exp_avg_sq.shallow_clone()),
        ]
    }
    fn restore(_: &Tensor, _: &RAdamOptions, saved: &mut SavedBuffers) -> Result<RAdamState> {
        Ok(RAdamState {
            step: saved.step()?,
            exp_avg: saved.like_param("exp_avg")?,
            exp_avg_sq: saved.like_param("exp_avg_sq")?,
        })
    }
    const TORCH_NAME: &'static str = "RAdam";
}

/// `torch.optim.RAdam`.
pub type RAdam = Optimizer<RAdamRule>;
