//! Sigmoid focal loss (seed §3.3) with torchvision's semantics.

use super::binary::{binary_cross_entropy_with_logits, sigmoid};
use super::Reduction;
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// torchvision's `sigmoid_focal_loss` options.
    pub struct FocalOptions {
        /// Weight of the positives in [0, 1]; −1 switches the weighting off.
        pub alpha: f64 = 0.25,
        /// Exponent of (1 − p_t).
        pub gamma: f64 = 2.0,
    }
}

/// torchvision's `sigmoid_focal_loss`: `ce·(1 − p_t)^γ`, times `α·t + (1 − α)·(1 − t)` when
/// α ≥ 0, with `ce` binary cross entropy on logits, `p = σ(x)` and `p_t = p·t + (1 − p)·(1 − t)`.
/// α goes to the positives (t = 1); α = −1 switches the weighting off. Defaults α = 0.25, γ = 2.
/// Note that torchvision's own default reduction is `none`, not `mean`.
///
/// Lin et al., *Focal Loss for Dense Object Detection*, ICCV 2017.
pub fn sigmoid_focal_loss(
    input: &Tensor,
    target: &Tensor,
    options: FocalOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let FocalOptions { alpha, gamma } = options;
    if !((0.0..=1.0).contains(&alpha) || alpha == -1.0) {
        return invalid!("alpha must be in [0, 1], or -1 to switch the weighting off; got {alpha}");
    }
    let ce = binary_cross_entropy_with_logits(input, target, None, None, Reduction::None)?;
    let p = sigmoid(input)?;
    reduction.apply(focal_from_parts(&ce, &p, target, alpha, gamma)?)
}

/// torchvision's combination of the per-element cross entropy `ce` and probability `p`:
/// `ce·(1 − p_t)^γ`, then `α_t·` that when α ≥ 0.
fn focal_from_parts(ce: &Tensor, p: &Tensor, target: &Tensor, alpha: f64, gamma: f64) -> Result<Tensor> {
    let one_minus_p = p.f_neg()?.f_add_scalar(1.0)?;
    let one_minus_t = target.f_neg()?.f_add_scalar(1.0)?;
    let p_t = p.f_mul(target)?.f_add(&one_minus_p.f_mul(&one_minus_t)?)?;
    let loss = ce.f_mul(&p_t.f_neg()?.f_add_scalar(1.0)?.f_pow_tensor_scalar(gamma)?)?;
    if alpha < 0.0 {
        return Ok(loss);
    }
    let alpha_t = target.f_mul_scalar(alpha)?.f_add(&one_minus_t.f_mul_scalar(1.0 - alpha)?)?;
    Ok(alpha_t.f_mul(&loss)?)
}

#[cfg(test)]
#[path = "focal_tests.rs"]
mod tests;
