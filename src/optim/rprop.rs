//! Rprop, resilient backpropagation (Riedmiller & Braun, *A Direct Adaptive Method for Faster
//! Backpropagation Learning: The RPROP Algorithm*, ICNN 1993), as `torch.optim.Rprop`.

use super::{add_product_, check_non_negative, direction, Hyperparameters, Optimizer, Rule, SavedBuffers};
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// `torch.optim.Rprop`'s hyperparameters, with its defaults (torch's `etas` is
    /// `(etaminus, etaplus)` and `step_sizes` is `(step_size_min, step_size_max)`).
    pub struct RpropOptions {
        /// Learning rate: every element's first step size.
        pub lr: f64 = 1e-2,
        /// Factor for a step size whose gradient changed sign, in (0, 1).
        pub etaminus: f64 = 0.5,
        /// Factor for a step size whose gradient kept its sign, > 1.
        pub etaplus: f64 = 1.2,
        /// Smallest step size.
        pub step_size_min: f64 = 1e-6,
        /// Largest step size.
        pub step_size_max: f64 = 50.0,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for RpropOptions {
    super::lr_field!();
    fn validate(&self) -> Result<()> {
        check_non_negative("learning rate", self.lr)?;
        if !(0.0 < self.etaminus && self.etaminus < 1.0 && 1.0 < self.etaplus) {
            return invalid!("Invalid eta values: {}, {}", self.etaminus, self.etaplus);
        }
        Ok(())
    }
}

/// Rprop's update, per element: where `g·g_prev > 0` the step size grows by `etaplus`, where
/// `< 0` it shrinks by `etaminus` and that element's gradient counts as 0 (no step, and no
/// sign to compare next time), else it stays; clamped to `[step_size_min, step_size_max]`;
/// then `θ −= sign(g)·step_size`. Only the magnitude of the gradient's sign is used.
///
/// Step sizes start at `lr` and are never read from it again: changing the learning rate after
/// the first step has no effect (as in torch.optim).
pub struct RpropRule;

pub struct RpropState {
    pub step: i64,
    /// The gradient of the previous step (0 where its sign changed).
    pub prev: Tensor,
    pub step_size: Tensor,
}

impl Rule for RpropRule {
    type Options = RpropOptions;
    type State = RpropState;

    fn init(param: &Tensor, o: &RpropOptions) -> Result<RpropState> {
        Ok(RpropState { step: 0, prev: param.f_zeros_like()?, step_size: param.f_full_like(o.lr)? })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut RpropState, o: &RpropOptions) -> Result<()> {
        s.step += 1;
        let g = direction(grad, o.maximize)?;
        // The factor per element, written into the sign tensor in torch.optim's order (so the
        // factors have the parameter's dtype and the comparison below sees the same values).
        let mut factor = g.f_mul(&s.prev)?.f_sign()?;
        let (grew, shrank) = (factor.f_gt(0.0)?, factor.f_lt(0.0)?);
        let kept = factor.f_eq(0.0)?;
        let _ =
            factor.f_masked_fill_(&grew, o.etaplus)?.f_masked_fill_(&shrank, o.etaminus)?.f_masked_fill_(&kept, 1.0)?;
        let _ = s.step_size.f_mul_(&factor)?.f_clamp_(o.step_size_min, o.step_size_max)?;
        let g = g.f_masked_fill(&factor.f_eq(o.etaminus)?, 0.0)?;
        add_product_(param, &g.f_sign()?, &s.step_size, -1.0)?;
        s.prev.f_copy_(&g)?;
        Ok(())
    }

    fn buffers(s: &RpropState) -> Vec<(&'static str, Tensor)> {
        vec![
            ("step", super::step_tensor(s.step)),
            ("prev", s.prev.shallow_clone()),
            ("step_size", s.step_size.shallow_clone()),
        ]
    }
    fn restore(_: &Tensor, _: &RpropOptions, saved: &mut SavedBuffers) -> Result<RpropState> {
        Ok(RpropState {
            step: saved.step()?,
            prev: saved.like_param("prev")?,
            step_size: saved.like_param("step_size")?,
        })
    }
    const TORCH_NAME: &'static str = "Rprop";
}

/// `torch.optim.Rprop`.
pub type Rprop = Optimizer<RpropRule>;
