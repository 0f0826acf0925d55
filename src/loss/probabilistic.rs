//! Losses on distributions: KL divergence, Poisson NLL and Gaussian NLL.

use super::{check_floating, check_same_shape, Reduction};
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// `torch.nn.KLDivLoss`'s option (its reduction is a [`KlDivReduction`]).
    pub struct KlDivOptions {
        /// The target is given as log-probabilities.
        pub log_target: bool = false,
    }
}

/// KL divergence's reductions: the three of every loss, and `BatchMean`, the sum over the batch
/// size, which PyTorch recommends for KL divergence (and offers for it alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KlDivReduction {
    None,
    /// The mean over every element (PyTorch's default, and a warning in Python).
    #[default]
    Mean,
    Sum,
    /// `Σ / input.size(0)`: the KL divergence per sample, as the mathematics defines it.
    BatchMean,
}

impl From<Reduction> for KlDivReduction {
    fn from(reduction: Reduction) -> Self {
        match reduction {
            Reduction::None => KlDivReduction::None,
            Reduction::Mean => KlDivReduction::Mean,
            Reduction::Sum => KlDivReduction::Sum,
        }
    }
}

crate::options! {
    /// `torch.nn.PoissonNLLLoss`'s options.
    pub struct PoissonNllOptions {
        /// The input is the log of the rate.
        pub log_input: bool = true,
        /// Add Stirling's approximation where t > 1.
        pub full: bool = false,
        /// Added inside the log when not log_input.
        pub eps: f64 = 1e-8,
    }
}

crate::options! {
    /// `torch.nn.GaussianNLLLoss`'s options.
    pub struct GaussianNllOptions {
        /// Add ½·log(2π).
        pub full: bool = false,
        /// The variance's lower clamp.
        pub eps: f64 = 1e-6,
    }
}

/// `KL(target ‖ exp(input))` per element, as `torch.nn.KLDivLoss` (Kullback & Leibler, *On
/// Information and Sufficiency*, 1951): `t·(log t − x)` (0 where t = 0), or `exp(t)·(t − x)` with
/// `log_target`. `input` holds log-probabilities. `KlDivReduction::BatchMean` is the sum over the
/// batch size (the input's first dimension), the reduction PyTorch recommends; `Mean` is the
/// element mean.
pub fn kl_div(
    input: &Tensor,
    target: &Tensor,
    options: KlDivOptions,
    reduction: impl Into<KlDivReduction>,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let elements = kl_div_elements(input, target, options.log_target)?;
    match reduction.into() {
        KlDivReduction::None => Ok(elements),
        KlDivReduction::Mean => Ok(elements.f_mean(None)?),
        KlDivReduction::Sum => Ok(elements.f_sum(None)?),
        KlDivReduction::BatchMean => {
            let batch = input.size().first().copied().unwrap_or(1);
            Ok(elements.f_sum(None)?.f_div_scalar(batch as f64)?)
        }
    }
}

/// PyTorch's `reduction='batchmean'`.
#[deprecated(since = "0.2.0", note = "use `kl_div(input, target, options, KlDivReduction::BatchMean)`")]
pub fn kl_div_batchmean(input: &Tensor, target: &Tensor, log_target: bool) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    kl_div(input, target, KlDivOptions { log_target }, KlDivReduction::BatchMean)
}

fn kl_div_elements(input: &Tensor, target: &Tensor, log_target: bool) -> Result<Tensor> {
    check_floating("input", input)?;
    check_floating("target", target)?;
    if log_target {
        return Ok(target.f_exp()?.f_mul(&target.f_sub(input)?)?);
    }
    // xlogy(t, t) − t·x, libtorch's composite, each operation rounded in the dtype as there
    // (t·log t rounds twice in float16). xlogy is 0 where t = 0.
    let (x, t) = (input.f_detach()?, target.f_detach()?);
    let zero = t.f_eq(0.0)?;
    let safe = t.f_where_self(&zero.f_logical_not()?, &t.f_ones_like()?)?;
    let xlogy = t.f_mul(&safe.f_log()?)?.f_masked_fill(&zero, 0.0)?;
    let value = xlogy.f_sub(&t.f_mul(&x)?)?;
    // Autograd's gradients of that composite, in the order libtorch's engine sums them: for the
    // input −g·t; for the target (xlogy(g, t) + g·t/t) − g·x, where xlogy's own backward is 0 at
    // t = 0 and g·t/t is 0/0 = NaN there, as in libtorch.
    super::with_backward_formula("KlDivBackward", &value, &[input, target], |g, i, inputs| {
        let (x, t) = (&inputs[0], &inputs[1]);
        if i == 0 {
            return Ok(g.f_neg()?.f_mul(t)?);
        }
        let g_log_t = g.f_mul(&t.f_log()?)?.f_masked_fill(&g.f_eq(0.0)?, 0.0)?;
        let g_log_t = g_log_t.f_where_self(&t.f_isnan()?.f_logical_not()?, t)?.f_masked_fill(&t.f_eq(0.0)?, 0.0)?;
        Ok(g_log_t.f_add(&g.f_mul(t)?.f_div(t)?)?.f_sub(&g.f_mul(x)?)?)
    })
}

/// `torch.nn.PoissonNLLLoss`: `exp(x) − t·x` with `log_input`, else `x − t·log(x + eps)`; with
/// `full`, Stirling's term `t·log t − t + ½·log(2πt)` where t > 1. Defaults: `log_input` true,
/// `full` false, `eps` 1e-8.
pub fn poisson_nll_loss(
    input: &Tensor,
    target: &Tensor,
    options: PoissonNllOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let PoissonNllOptions { log_input, full, eps } = options;
    check_floating("input", input)?;
    let mut loss = if log_input {
        input.f_exp()?.f_sub(&target.f_mul(input)?)?
    } else {
        input.f_sub(&target.f_mul(&input.f_add_scalar(eps)?.f_log()?)?)?
    };
    if full {
        let t = target.f_detach()?;
        let above_one = t.f_gt(1.0)?;
        let safe = t.f_where_self(&above_one, &t.f_ones_like()?)?;
        let stirling = safe
            .f_mul(&safe.f_log()?)?
            .f_sub(&safe)?
            .f_add(&safe.f_mul_scalar(2.0 * std::f64::consts::PI)?.f_log()?.f_mul_scalar(0.5)?)?;
        loss = loss.f_add(&stirling.f_where_self(&above_one, &stirling.f_zeros_like()?)?)?;
    }
    reduction.apply(loss)
}

/// `torch.nn.GaussianNLLLoss` (Python-only in PyTorch): `½·(log v + (x − t)²/v)` with the
/// variance `v` clamped at `eps` (the clamp does not block its gradient, as PyTorch clamps
/// under `no_grad`), plus `½·log(2π)` when `full`. `var` has the input's shape, or that shape
/// without its last dimension, or with a last dimension of 1 (one variance per sample).
/// Defaults: `full` false, `eps` 1e-6 (Nix & Weigend, *Estimating the mean and variance of the
/// target probability distribution*, 1994).
pub fn gaussian_nll_loss(
    input: &Tensor,
    target: &Tensor,
    var: &Tensor,
    options: GaussianNllOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let var = &super::row_major(var)?;
    let GaussianNllOptions { full, eps } = options;
    check_floating("input", input)?;
    check_same_shape("target", target, input)?;
    let (x_shape, v_shape) = (input.size(), var.size());
    let var = if v_shape == x_shape {
        var.shallow_clone()
    } else if !x_shape.is_empty() && v_shape == x_shape[..x_shape.len() - 1] {
        var.f_unsqueeze(-1)?
    } else if !x_shape.is_empty()
        && v_shape.len() == x_shape.len()
        && v_shape[..v_shape.len() - 1] == x_shape[..x_shape.len() - 1]
        && v_shape.last() == Some(&1)
    {
        var.shallow_clone()
    } else {
        return invalid!("var of shape {v_shape:?} does not fit the input's {x_shape:?}");
    };
    if var.numel() > 0 && var.f_min()?.f_double_value(&[])? < 0.0 {
        return invalid!("var has negative entry/entries");
    }
    let vd = var.f_detach()?;
    let clamped = var.f_add(&vd.f_clamp_min(eps)?.f_sub(&vd)?)?;
    let diff = input.f_sub(target)?;
    let mut loss = clamped.f_log()?.f_add(&diff.f_mul(&diff)?.f_div(&clamped)?)?.f_mul_scalar(0.5)?;
    if full {
        loss = loss.f_add_scalar(0.5 * (2.0 * std::f64::consts::PI).ln())?;
    }
    reduction.apply(loss)
}
