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

/// `x − max(x)` along `dim` (the maximum detached: the shift cancels out mathematically, so it
/// carries no gradient) and `ln Σ exp(x − max)`: every exponent is ≤ 0, so nothing overflows,
/// and the largest term is exactly 1, so the sum is ≥ 1 and its log never underflows.
fn shifted_and_log_sum_exp(x: &Tensor, dim: i64) -> Result<(Tensor, Tensor)> {
    let max = x.f_amax([dim].as_slice(), true)?.f_detach()?;
    // A row of −inf (or an infinite maximum) would give NaN from inf − inf; libtorch's kernels
    // treat such a maximum as 0, and so does this.
    let max = max.f_where_self(&max.f_isfinite()?, &max.f_zeros_like()?)?;
    let shifted = x.f_sub(&max)?;
    let log_sum = shifted.f_exp()?.f_sum_dim_intlist([dim].as_slice(), true, None)?.f_log()?;
    Ok((shifted, log_sum))
}

/// `exp(x_i) / Σ_j exp(x_j)` along `dim`, as `torch.softmax`.
pub fn softmax(x: &Tensor, dim: i64) -> Result<Tensor> {
    check_floating("input", x)?;
    let dim = resolve_dim(x, dim)?;
    if x.dim() == 0 {
        return Ok(x.f_ones_like()?.f_add(&x.f_mul_scalar(0.0)?)?);
    }
    if let Some(y) = half_kernel(x, dim, false)? {
        return Ok(y);
    }
    let (shifted, log_sum) = shifted_and_log_sum_exp(x, dim)?;
    Ok(shifted.f_sub(&log_sum)?.f_exp()?)
}

/// `x_i − ln Σ_j exp(x_j)` along `dim`, as `torch.log_softmax`, without forming the softmax.
pub fn log_softmax(x: &Tensor, dim: i64) -> Result<Tensor> {
    check_floating("input", x)?;
    let dim = resolve_dim(x, dim)?;
    if x.dim() == 0 {
        return Ok(x.f_mul_scalar(0.0)?);
    }
    if let Some(y) = half_kernel(x, dim, true)? {
        return Ok(y);
    }
    let (shifted, log_sum) = shifted_and_log_sum_exp(x, dim)?;
    Ok(shifted.f_sub(&log_sum)?)
}

/// softmax (or log_softmax) of a float16 or bfloat16 `x` as libtorch's CPU kernels compute it:
/// in float, the output rounded once to `x`'s dtype, and a backward that computes in float from
/// that rounded output `y`: `y·(g − Σ g·y)` for softmax, `g − exp(y)·Σ g` for log_softmax.
/// The backward is carried by a surrogate with exactly that Jacobian and the value 0:
/// `s − detach(s)` for `s = p·(x − Σ p·x)` (softmax) or `s = x − Σ p·x` (log_softmax), with
/// `p` the rounded probabilities held constant. `None` for other dtypes, and for inputs with an
/// infinity, where the surrogate would be NaN: those are computed in float with autograd's
/// backward (exact there: the gradient at −inf is 0 for softmax and g for log_softmax).
fn half_kernel(x: &Tensor, dim: i64, log: bool) -> Result<Option<Tensor>> {
    let kind = x.kind();
    if !matches!(kind, Kind::Half | Kind::BFloat16) {
        return Ok(None);
    }
    let wide = x.f_to_kind(Kind::Float)?;
    let finite = bool::try_from(wide.f_isfinite()?.f_all()?)?;
    // With an infinity, autograd differentiates the float computation itself.
    let (shifted, log_sum) =
        shifted_and_log_sum_exp(&if finite { wide.f_detach()? } else { wide.shallow_clone() }, dim)?;
    let value = if log { shifted.f_sub(&log_sum)? } else { shifted.f_sub(&log_sum)?.f_exp()? };
    if !finite {
        return Ok(Some(value.f_to_kind(kind)?));
    }
    let rounded = value.f_to_kind(kind)?.f_to_kind(Kind::Float)?;
    let p = if log { rounded.f_exp()? } else { rounded.shallow_clone() };
    let mix = p.f_mul(&wide)?.f_sum_dim_intlist([dim].as_slice(), true, None)?;
    let surrogate = if log { wide.f_sub(&mix)? } else { p.f_mul(&wide.f_sub(&mix)?)? };
    let zero = surrogate.f_sub(&surrogate.f_detach()?)?;
    Ok(Some(rounded.f_add(&zero)?.f_to_kind(kind)?))
}

#[cfg(test)]
#[path = "softmax_tests.rs"]
mod tests;
