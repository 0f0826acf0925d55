//! softmax and log_softmax (seed §3.1), stable for any finite logits.

use super::check_floating;
use crate::error::{invalid, Result};
use tch::{Kind, Tensor};

/// `dim` as an index into `t`'s dimensions, accepting negative values as PyTorch does.
pub(crate) fn resolve_dim(t: &Tensor, dim: i64) -> Result<i64> {
    let rank = t.dim().max(1) as i64;
    let resolved = if dim < 0 { dim + rank } else { dim };
    if !(0..rank).contains(&resolved) {
        return invalid!("dim {dim} is out of range for a tensor of {} dimensions", t.dim());
    }
    Ok(resolved)
}

/// softmax or log_softmax along `dim` of a detached `x`, as libtorch 2.13's CPU kernels compute
/// them: `x − max` (the maximum of a row of −inf, or an infinite one, taken as 0, as the kernels
/// do, so that inf − inf gives no NaN), `e = exp(x − max)`, `s = Σ e`; softmax `e / s`,
/// log_softmax `(x − max) − ln s`. Every exponent is ≤ 0, so nothing overflows, and the largest
/// term is 1, so `s ≥ 1` and its log never underflows.
///
/// Along the last dimension, one Rust pass per row that follows libtorch's `lastdim` kernel to the
/// bit in every dtype (`lanes::softmax_forward_lastdim`). Along another one, tensor ops: float16
/// and bfloat16 computed in float32 and rounded once, except that softmax rounds `e` for the
/// inner positions the kernel's scalar loop takes (those past the last whole vector of
/// `vector_bytes / 2` elements), as measured against libtorch 2.13 on every layout. That covers
/// every shape the fixtures and the fuzzer draw. Along a dimension with a wide inner size
/// libtorch sums in its vector lanes' order (a few elements in a hundred move by one rounding),
/// and with a single outer row it rounds `e` in more positions (shape [37, 40] along dim 0: 259 of
/// 1 480 elements one float16 ulp apart); neither is reproduced here.
fn forward(x: &Tensor, dim: i64, log: bool) -> Result<Tensor> {
    if dim == x.dim() as i64 - 1 {
        return super::lanes::softmax_forward_lastdim(&x.f_contiguous()?, x.size()[dim as usize] as usize, log);
    }
    let kind = x.kind();
    let half = matches!(kind, Kind::Half | Kind::BFloat16);
    let round = |t: &Tensor| -> Result<Tensor> { Ok(t.f_to_kind(kind)?.f_to_kind(Kind::Float)?) };
    let x = if half { x.f_to_kind(Kind::Float)? } else { x.shallow_clone() };
    let max = x.f_amax([dim].as_slice(), true)?;
    let max = max.f_where_self(&max.f_isfinite()?, &max.f_zeros_like()?)?;
    let shifted = x.f_sub(&max)?;
    let mut e = shifted.f_exp()?;
    let sum = e.f_sum_dim_intlist([dim].as_slice(), true, None)?;
    let value = if log {
        shifted.f_sub(&sum.f_log()?)?
    } else {
        if half {
            let sizes = x.size();
            let inner_sizes = &sizes[dim as usize + 1..];
            let inner: i64 = inner_sizes.iter().product();
            let vector = (crate::ffi::vector_bytes() / 2) as i64;
            let vectorized = inner / vector * vector;
            if vectorized < inner {
                let position = Tensor::f_arange(inner, (Kind::Int64, x.device()))?.f_reshape(inner_sizes)?;
                e = round(&e)?.f_where_self(&position.f_ge(vectorized)?, &e)?;
            }
        }
        e.f_div(&sum)?
    };
    Ok(value.f_to_kind(kind)?)
}

/// `exp(x_i) / Σ_j exp(x_j)` along `dim`, as `torch.softmax`. Its gradient is libtorch's
/// `softmax_backward_data`, `y·(g − Σ g·y)` from the output `y`.
pub fn softmax(x: &Tensor, dim: i64) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let x = &super::row_major(x)?;
    softmax_or_log(x, dim, false)
}

/// `x_i − ln Σ_j exp(x_j)` along `dim`, as `torch.log_softmax`, without forming the softmax. Its
/// gradient is libtorch's `log_softmax_backward_data`, `g − exp(y)·Σ g` from the output `y`.
pub fn log_softmax(x: &Tensor, dim: i64) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let x = &super::row_major(x)?;
    softmax_or_log(x, dim, true)
}

/// Both, as libtorch's CPU kernels compute them: float16 and bfloat16 in float32, the output
/// rounded once; the backward from that rounded output, in float32 as well (its sum included),
/// rounded once.
fn softmax_or_log(x: &Tensor, dim: i64, log: bool) -> Result<Tensor> {
    check_floating("input", x)?;
    let dim = resolve_dim(x, dim)?;
    if x.dim() == 0 {
        return Ok(if log { x.f_mul_scalar(0.0)? } else { x.f_ones_like()?.f_add(&x.f_mul_scalar(0.0)?)? });
    }
    let kind = x.kind();
    let half = matches!(kind, Kind::Half | Kind::BFloat16);
    let widen = move |t: &Tensor| if half { t.f_to_kind(Kind::Float) } else { Ok(t.shallow_clone()) };
    let value = forward(&x.f_detach()?, dim, log)?;
    let saved = value.shallow_clone();
    let name = if log { "LogSoftmaxBackward" } else { "SoftmaxBackward" };
    super::with_backward_formula(name, &value, &[x], move |g, _, inputs| {
        // The output recomputed from the attached input when the gradient must be differentiable.
        let y = if crate::ffi::grad_enabled() { softmax_or_log(&inputs[0], dim, log)? } else { saved.shallow_clone() };
        let sizes = y.size();
        if !crate::ffi::grad_enabled() && dim as usize == sizes.len() - 1 {
            // Along the last dimension, where libtorch runs its `lastdim` kernel: one Rust pass
            // over each row, its sums in the kernel's lane order (`lanes`).
            let (y, g) = (y.f_contiguous()?, g.f_contiguous()?);
            return super::lanes::softmax_backward_lastdim(&g, &y, log, sizes[dim as usize] as usize);
        }
        // Contiguous first, as libtorch's backward kernels take it: a reduced loss hands down an
        // expanded (stride-0) gradient, on which every pass would take the slow strided loop.
        let (y, g) = (widen(&y)?, widen(&g.f_contiguous()?)?);
        let grad = if log {
            g.f_sub(&y.f_exp()?.f_mul(&g.f_sum_dim_intlist([dim].as_slice(), true, None)?)?)?
        } else {
            let mix = g.f_mul(&y)?.f_sum_dim_intlist([dim].as_slice(), true, None)?;
            y.f_mul(&g.f_sub(&mix)?)?
        };
        Ok(grad.f_to_kind(kind)?)
    })
}

#[cfg(test)]
#[path = "softmax_tests.rs"]
mod tests;
