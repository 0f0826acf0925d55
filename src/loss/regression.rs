//! L1, MSE, smooth L1 and Huber (seed §4). Input and target broadcast against each other, as in
//! libtorch's C++ API.

use super::{check_floating, with_local_gradients, Reduction};
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// `torch.nn.SmoothL1Loss`'s option.
    pub struct SmoothL1Options {
        /// Where the quadratic part ends; ≥ 0 (0 is L1).
        pub beta: f64 = 1.0,
    }
}

crate::options! {
    /// `torch.nn.HuberLoss`'s option.
    pub struct HuberOptions {
        /// Where the quadratic part ends; > 0.
        pub delta: f64 = 1.0,
    }
}

/// `x − t`, broadcast and type-promoted as libtorch does (float32 against float64 is float64).
fn difference(input: &Tensor, target: &Tensor) -> Result<Tensor> {
    check_floating("input", input)?;
    check_floating("target", target)?;
    let (a, b) = (input.size(), target.size());
    let broadcasts = a.iter().rev().zip(b.iter().rev()).all(|(&x, &y)| x == y || x == 1 || y == 1);
    if !broadcasts {
        return invalid!("target shape {b:?} does not broadcast with the input shape {a:?}");
    }
    Ok(input.f_sub(target)?)
}

/// `|x − t|`, as `torch.nn.L1Loss`; its gradient is `sign(x − t)` (0 where equal).
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    reduction.apply(difference(input, target)?.f_abs()?)
}

/// `(x − t)²`, as `torch.nn.MSELoss` (the document's "L2").
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    let d = difference(input, target)?;
    reduction.apply(d.f_mul(&d)?)
}

/// With `m = min(z, knee)`: `(z − m/2)·m`, which is `½z²` below the knee and `knee·(z − knee/2)`
/// above it, in libtorch's own operations and order (Huber's kernel), so the same bits, with no
/// `where` (which costs about ten elementwise passes here). With `scale` (SmoothL1's β) the result
/// is divided by it: as `·(m/β)`, exact above the knee and for β = 1.
fn piecewise_quadratic(z: &Tensor, knee: f64, scale: Option<f64>) -> Result<Tensor> {
    let m = z.f_clamp_max(knee)?;
    let mut value = z.shallow_clone().f_sub(&m.f_mul_scalar(0.5)?)?;
    match scale {
        Some(beta) if beta != 1.0 => {
            // β at z's dtype, as libtorch's kernel holds it: in float16 β = 1e-6 is the
            // subnormal 1.0133e-6, and dividing the clamped m by the unrounded β would scale
            // every linear-zone element by 1.0133. (In float32 and float64 the scalar is
            // rounded to the dtype anyway.)
            let beta = Tensor::from(beta).f_to_kind(z.kind())?;
            let _ = value.f_mul_(&m.f_div(&beta)?)?;
        }
        _ => {
            let _ = value.f_mul_(&m)?;
        }
    }
    Ok(value)
}

/// A value with libtorch's gradients attached: `slope(x − t)` for the input and `slope(t − x)`
/// for the target (libtorch evaluates the target's with the arguments swapped, which matters
/// only where the slope is not odd: SmoothL1 with β = 0 at a tie). `d` is `x − t`, detached.
fn piecewise(
    name: &str,
    input: &Tensor,
    target: &Tensor,
    d: Tensor,
    value: Tensor,
    slope: impl Fn(&Tensor) -> Result<Tensor> + Send + 'static,
) -> Result<Tensor> {
    with_local_gradients(name, &value, &[input, target], move |i, inputs| {
        // Differentiable only when the backward pass creates a graph.
        let d = if crate::ffi::grad_enabled() { inputs[0].f_sub(&inputs[1])? } else { d.shallow_clone() };
        if i == 0 {
            slope(&d)
        } else {
            slope(&d.f_neg()?)
        }
    })
}

/// With `z = |x − t|`: `0.5·z²/β` where `z < β`, else `z − 0.5·β`, as `torch.nn.SmoothL1Loss`
/// (Girshick, *Fast R-CNN*, 2015); a negative β is rejected. β defaults to 1.
///
/// β = 0 is L1 in value. Its gradient is libtorch's smooth-L1 backward at β = 0, which is −1
/// (not 0) at a tie x = t, for the input and the target alike; Python's `F.smooth_l1_loss`
/// switches to `l1_loss` for β = 0 and gives 0 there.
pub fn smooth_l1_loss(
    input: &Tensor,
    target: &Tensor,
    options: SmoothL1Options,
    reduction: Reduction,
) -> Result<Tensor> {
    let beta = options.beta;
    if beta < 0.0 {
        return invalid!("beta must not be negative, got {beta}");
    }
    let d = difference(input, target)?.f_detach()?;
    let z = d.f_abs()?;
    let value = if beta == 0.0 { z } else { piecewise_quadratic(&z, beta, Some(beta))? };
    // libtorch's backward: −1 for x ≤ −β, 1 for x ≥ β, x/β between. Written out, because
    // autograd through the unused branch multiplies 0 by z/β, which overflows for tiny β.
    let slope = move |x: &Tensor| -> Result<Tensor> {
        if beta == 0.0 {
            let one = x.f_ones_like()?;
            Ok(one.f_where_self(&x.f_gt(0.0)?, &one.f_neg()?)?)
        } else {
            Ok(x.f_div_scalar(beta)?.f_clamp(-1.0, 1.0)?)
        }
    };
    reduction.apply(piecewise("SmoothL1LossBackward", input, target, d, value, slope)?)
}

/// With `z = |x − t|`: `0.5·z²` where `z < δ`, else `δ·(z − 0.5·δ)`, as `torch.nn.HuberLoss`;
/// equal to δ·SmoothL1(β = δ) (Huber, *Robust Estimation of a Location Parameter*, 1964). δ
/// defaults to 1; δ ≤ 0 is rejected.
pub fn huber_loss(input: &Tensor, target: &Tensor, options: HuberOptions, reduction: Reduction) -> Result<Tensor> {
    let delta = options.delta;
    if delta.is_nan() || delta <= 0.0 {
        return invalid!("delta must be positive, got {delta}");
    }
    // libtorch's Huber loss has the input's dtype (MSE, L1 and smooth L1 promote instead): a
    // target of another float dtype is cast to it.
    check_floating("target", target)?;
    let target = &target.f_to_kind(input.kind())?;
    let d = difference(input, target)?.f_detach()?;
    let value = piecewise_quadratic(&d.f_abs()?, delta, None)?;
    let slope = move |x: &Tensor| -> Result<Tensor> { Ok(x.f_clamp(-delta, delta)?) };
    reduction.apply(piecewise("HuberLossBackward", input, target, d, value, slope)?)
}

#[cfg(test)]
#[path = "regression_tests.rs"]
mod tests;
