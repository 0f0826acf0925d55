//! SparseAdam, Adam for sparse gradients (Kingma & Ba, *Adam*, ICLR 2015, with lazy moment
//! updates), as `torch.optim.SparseAdam`: only the rows (or elements) present in the gradient
//! move, and only their moments decay.

use super::{add_scaled_, direction, scale_, Hyperparameters, Optimizer, Rule, SavedBuffers};
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// `torch.optim.SparseAdam`'s hyperparameters, with its defaults (torch's `betas` is
    /// `(beta1, beta2)`).
    pub struct SparseAdamOptions {
        /// Learning rate (> 0).
        pub lr: f64 = 1e-3,
        /// Decay of the first moment, in [0, 1).
        pub beta1: f64 = 0.9,
        /// Decay of the second moment, in [0, 1).
        pub beta2: f64 = 0.999,
        /// Added to the denominator (> 0).
        pub eps: f64 = 1e-8,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for SparseAdamOptions {
    super::lr_field!();
    super::cycled_momentum!(beta1);
    // SparseAdam alone requires lr and eps strictly positive.
    fn validate(&self) -> Result<()> {
        if self.lr.is_nan() || self.lr <= 0.0 {
            return invalid!("Invalid learning rate: {}", self.lr);
        }
        if self.eps.is_nan() || self.eps <= 0.0 {
            return invalid!("Invalid epsilon value: {}", self.eps);
        }
        super::check_adam_family(self.lr, self.eps, (self.beta1, self.beta2), 0.0)
    }
}

/// SparseAdam's update at step t, over the entries I present in the coalesced gradient g only:
/// `m[I] += (1 − β₁)·(g − m[I])`, `v[I] += (1 − β₂)·(g² − v[I])`, then
/// `θ[I] −= lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m[I]/(√v[I] + eps)`. Entries outside I keep their moments
/// unchanged (not decayed, unlike Adam's). A dense gradient is an error, with torch.optim's
/// message; an empty one still counts a step.
pub struct SparseAdamRule;

pub struct SparseAdamState {
    pub step: i64,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

impl Rule for SparseAdamRule {
    type Options = SparseAdamOptions;
    type State = SparseAdamState;

    fn check_param(param: &Tensor) -> Result<()> {
        if param.is_sparse() {
            return invalid!("Sparse params: SparseAdam requires dense parameter tensors");
        }
        Ok(())
    }

    fn init(param: &Tensor, _: &SparseAdamOptions) -> Result<SparseAdamState> {
        Ok(SparseAdamState { step: 0, exp_avg: param.f_zeros_like()?, exp_avg_sq: param.f_zeros_like()? })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut SparseAdamState, o: &SparseAdamOptions) -> Result<()> {
        if !grad.is_sparse() {
            return invalid!("SparseAdam does not support dense gradients, please consider Adam instead");
        }
        s.step += 1;
        // The update is not linear in g: repeated indices must be summed first.
        let g = direction(grad, o.maximize)?.f_coalesce()?;
        let (indices, values) = (g.f_internal_indices()?, g.f_internal_values()?);
        if values.numel() == 0 {
            return Ok(());
        }
        let size = g.size();
        let sparse = |values: &Tensor| -> Result<Tensor> {
            Ok(Tensor::f_sparse_coo_tensor_indices_size(
                &indices,
                values,
                &size,
                (values.kind(), values.device()),
                false,
            )?)
        };
        let old_exp_avg = s.exp_avg.f_sparse_mask(&g)?.f_internal_values()?;
        let mut exp_avg_update = values.f_sub(&old_exp_avg)?;
        scale_(&mut exp_avg_update, 1.0 - o.beta1)?;
        let _ = s.exp_avg.f_add_(&sparse(&exp_avg_update)?)?;
        let old_exp_avg_sq = s.exp_avg_sq.f_sparse_mask(&g)?.f_internal_values()?;
        let mut exp_avg_sq_update = values.f_pow_tensor_scalar(2)?;
        let _ = exp_avg_sq_update.f_sub_(&old_exp_avg_sq)?;
        scale_(&mut exp_avg_sq_update, 1.0 - o.beta2)?;
        let _ = s.exp_avg_sq.f_add_(&sparse(&exp_avg_sq_update)?)?;

        let mut numer = exp_avg_update;
        let _ = numer.f_add_(&old_exp_avg)?;
        let _ = exp_avg_sq_update.f_add_(&old_exp_avg_sq)?;
        let denom = exp_avg_sq_update.f_sqrt_()?.f_add_scalar_(o.eps)?;
        let step = s.step as f64;
        let (bias_correction1, bias_correction2) = (1.0 - o.beta1.powf(step), 1.0 - o.beta2.powf(step));
        let step_size = o.lr * bias_correction2.sqrt() / bias_correction1;
        let update = numer.f_div_(&denom)?.f_mul_scalar(-step_size)?;
        add_scaled_(param, &sparse(&update)?, 1.0)
    }

    fn buffers(s: &SparseAdamState) -> Vec<(&'static str, Tensor)> {
        vec![
            ("step", super::step_tensor(s.step)),
            ("exp_avg", s.exp_avg.shallow_clone()),
            ("exp_avg_sq", s.exp_avg_sq.shallow_clone()),
        ]
    }
    fn restore(_: &Tensor, _: &SparseAdamOptions, saved: &mut SavedBuffers) -> Result<SparseAdamState> {
        Ok(SparseAdamState {
            step: saved.step()?,
            exp_avg: saved.like_param("exp_avg")?,
            exp_avg_sq: saved.like_param("exp_avg_sq")?,
        })
    }
    const STEP_IS_INT: bool = true;
    const TORCH_NAME: &'static str = "SparseAdam";
}

/// `torch.optim.SparseAdam`.
pub type SparseAdam = Optimizer<SparseAdamRule>;
