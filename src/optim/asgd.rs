//! ASGD, averaged SGD (Polyak & Juditsky, *Acceleration of Stochastic Approximation by
//! Averaging*, SIAM J. Control Optim. 1992), as `torch.optim.ASGD`.

use super::{
    add_scaled_, check_non_negative, direction, scale_, with_weight_decay, Hyperparameters, Optimizer, Rule,
    SavedBuffers,
};
use crate::error::Result;
use tch::Tensor;

crate::options! {
    /// `torch.optim.ASGD`'s hyperparameters, with its defaults.
    pub struct AsgdOptions {
        /// Learning rate.
        pub lr: f64 = 1e-2,
        /// Decay term λ.
        pub lambd: f64 = 1e-4,
        /// Power α of the step-size decay.
        pub alpha: f64 = 0.75,
        /// The step at which averaging starts.
        pub t0: f64 = 1e6,
        /// L2 penalty added to the gradient.
        pub weight_decay: f64 = 0.0,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for AsgdOptions {
    super::lr_field!();
    fn validate(&self) -> Result<()> {
        check_non_negative("learning rate", self.lr)?;
        check_non_negative("weight_decay value", self.weight_decay)
    }
}

/// ASGD's update, per parameter at step t: `θ ·= 1 − λ·η`, `θ −= η·g`; the average `ax` copies
/// θ while μ = 1 and moves `ax += μ·(θ − ax)` after; then `η = lr/(1 + λ·lr·t)^α` and
/// `μ = 1/max(1, t − t0)`.
///
/// η and μ are float32 scalars whatever the parameter's dtype, as in torch.optim (its scalar
/// state has the default dtype), and η starts as float32(lr): a float64 ASGD's step sizes carry
/// float32 rounding. The learning rate is read only when η is recomputed, so a new `lr` takes
/// effect one step later than in other optimizers.
pub struct AsgdRule;

pub struct AsgdState {
    pub step: i64,
    /// The step size η, rounded to float32 as torch.optim stores it.
    pub eta: f32,
    /// The averaging weight μ, rounded to float32 as torch.optim stores it.
    pub mu: f32,
    /// The running average of the parameter.
    pub ax: Tensor,
}

impl Rule for AsgdRule {
    type Options = AsgdOptions;
    type State = AsgdState;

    fn init(param: &Tensor, o: &AsgdOptions) -> Result<AsgdState> {
        Ok(AsgdState { step: 0, eta: o.lr as f32, mu: 1.0, ax: param.f_zeros_like()? })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut AsgdState, o: &AsgdOptions) -> Result<()> {
        s.step += 1;
        let g = with_weight_decay(direction(grad, o.maximize)?, param, o.weight_decay)?;
        let eta = f64::from(s.eta);
        scale_(param, 1.0 - o.lambd * eta)?;
        add_scaled_(param, &g, -eta)?;
        if s.mu != 1.0 {
            let mut moved = param.f_sub(&s.ax)?;
            scale_(&mut moved, f64::from(s.mu))?;
            let _ = s.ax.f_add_(&moved)?;
        } else {
            s.ax.f_copy_(param)?;
        }
        let step = s.step as f64;
        s.eta = (o.lr / (1.0 + o.lambd * o.lr * step).powf(o.alpha)) as f32;
        s.mu = (1.0 / (step - o.t0).max(1.0)) as f32;
        Ok(())
    }

    fn buffers(s: &AsgdState) -> Vec<(&'static str, Tensor)> {
        vec![
            ("step", super::step_tensor(s.step)),
            ("eta", Tensor::from(s.eta)),
            ("mu", Tensor::from(s.mu)),
            ("ax", s.ax.shallow_clone()),
        ]
    }
    fn restore(_: &Tensor, _: &AsgdOptions, saved: &mut SavedBuffers) -> Result<AsgdState> {
        Ok(AsgdState {
            step: saved.step()?,
            eta: saved.scalar("eta")? as f32,
            mu: saved.scalar("mu")? as f32,
            ax: saved.like_param("ax")?,
        })
    }
    const TORCH_NAME: &'static str = "ASGD";
}

/// `torch.optim.ASGD`.
pub type Asgd = Optimizer<AsgdRule>;
