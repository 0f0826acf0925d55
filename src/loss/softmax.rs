//! softmax and log_softmax (seed §3.1), stable for any finite logits.

use super::check_floating;
use crate::error::{invalid, Result};
use tch::Tensor;

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
    let (shifted, log_sum) = shifted_and_log_sum_exp(x, dim)?;
    Ok(shifted.f_sub(&log_sum)?)
}

#[cfg(test)]
#[path = "softmax_tests.rs"]
mod tests;
