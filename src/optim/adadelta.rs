//! Adadelta (Zeiler, *ADADELTA: An Adaptive Learning Rate Method*, 2012), as `torch.optim.Adadelta`.

use super::{
    add_product_, add_scaled_, check_non_negative, direction, scale_, with_weight_decay, Hyperparameters, Optimizer,
    Rule, SavedBuffers,
};
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// `torch.optim.Adadelta`'s hyperparameters, with its defaults.
    pub struct AdadeltaOptions {
        /// Learning rate: scales the delta (Zeiler's method has none; PyTorch's default is 1).
        pub lr: f64 = 1.0,
        /// Decay of both running averages, in [0, 1].
        pub rho: f64 = 0.9,
        /// Added inside both square roots.
        pub eps: f64 = 1e-6,
        /// L2 penalty added to the gradient.
        pub weight_decay: f64 = 0.0,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for AdadeltaOptions {
    super::lr_field!();
    fn validate(&self) -> Result<()> {
        check_non_negative("learning rate", self.lr)?;
        if !(0.0..=1.0).contains(&self.rho) {
            return invalid!("Invalid rho value: {}", self.rho);
        }
        check_non_negative("epsilon value", self.eps)?;
        check_non_negative("weight_decay value", self.weight_decay)
    }
}

/// Adadelta's update, per parameter: `g = ∇ + wd·θ`, `v = ρ·v + (1 − ρ)·g²`,
/// `Δ = √(u + eps) / √(v + eps) · g`, `u = ρ·u + (1 − ρ)·Δ²`, `θ −= lr·Δ`
/// (v is `square_avg`, u is `acc_delta`).
pub struct AdadeltaRule;

pub struct AdadeltaState {
    pub step: i64,
    pub square_avg: Tensor,
    pub acc_delta: Tensor,
}

impl Rule for AdadeltaRule {
    type Options = AdadeltaOptions;
    type State = AdadeltaState;

    fn init(param: &Tensor, _: &AdadeltaOptions) -> Result<AdadeltaState> {
        Ok(AdadeltaState { step: 0, square_avg: param.f_zeros_like()?, acc_delta: param.f_zeros_like()? })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut AdadeltaState, o: &AdadeltaOptions) -> Result<()> {
        s.step += 1;
        let g = with_weight_decay(direction(grad, o.maximize)?, param, o.weight_decay)?;
        scale_(&mut s.square_avg, o.rho)?;
        add_product_(&mut s.square_avg, &g, &g, 1.0 - o.rho)?;
        let std = s.square_avg.f_add_scalar(o.eps)?.f_sqrt_()?;
        let mut delta = s.acc_delta.f_add_scalar(o.eps)?.f_sqrt_()?;
        let _ = delta.f_div_(&std)?.f_mul_(&g)?;
        scale_(&mut s.acc_delta, o.rho)?;
        add_product_(&mut s.acc_delta, &delta, &delta, 1.0 - o.rho)?;
        add_scaled_(param, &delta, -o.lr)
    }

    fn buffers(s: &AdadeltaState) -> Vec<(&'static str, Tensor)> {
        vec![
            ("step", super::step_tensor(s.step)),
            ("square_avg", s.square_avg.shallow_clone()),
            ("acc_delta", s.acc_delta.shallow_clone()),
        ]
    }
    fn restore(_: &Tensor, _: &AdadeltaOptions, saved: &mut SavedBuffers) -> Result<AdadeltaState> {
        Ok(AdadeltaState {
            step: saved.step()?,
            square_avg: saved.like_param("square_avg")?,
            acc_delta: saved.like_param("acc_delta")?,
        })
    }
    const TORCH_NAME: &'static str = "Adadelta";
}

/// `torch.optim.Adadelta`.
pub type Adadelta = Optimizer<AdadeltaRule>;
