//! Losses on pairs and triplets of embeddings: cosine embedding, triplet margin (with the
//! p-norm distance, as libtorch) and triplet margin with a chosen distance (Python-only).

use super::binary::LOSS_EPSILON;
use super::{check_floating, check_same_shape, Reduction};
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// `torch.nn.CosineEmbeddingLoss`'s option.
    pub struct CosineEmbeddingOptions {
        /// The margin, in [−1, 1].
        pub margin: f64 = 0.0,
    }
}

crate::options! {
    /// `torch.nn.TripletMarginLoss`'s options.
    pub struct TripletMarginOptions {
        /// The margin.
        pub margin: f64 = 1.0,
        /// The norm's degree.
        pub p: f64 = 2.0,
        /// Added to the difference.
        pub eps: f64 = 1e-6,
        /// Use min(d(a, n), d(p, n)).
        pub swap: bool = false,
    }
}

crate::options! {
    /// `torch.nn.TripletMarginWithDistanceLoss`'s options (its distance is one of two here).
    pub struct TripletWithDistanceOptions {
        /// 1 − cosine similarity instead of the pairwise distance.
        pub cosine_distance: bool = false,
        /// The margin; must be positive.
        pub margin: f64 = 1.0,
        /// Use min(d(a, n), d(p, n)).
        pub swap: bool = false,
    }
}

/// `1 − cos(x1, x2)` where t = 1 and `max(0, cos − margin)` where t = −1, as
/// `torch.nn.CosineEmbeddingLoss`; libtorch adds its float `1e-12` to each squared norm. The
/// margin defaults to 0.
pub fn cosine_embedding_loss(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    options: CosineEmbeddingOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input1 = &super::row_major(input1)?;
    let input2 = &super::row_major(input2)?;
    let target = &super::row_major(target)?;
    let margin = options.margin;
    check_floating("input1", input1)?;
    check_same_shape("input2", input2, input1)?;
    let dim = match (target.dim(), input1.dim()) {
        (1, 2) => 1,
        (0, 1) => 0,
        (t, i) => return invalid!("a {t}-D target needs {}-D inputs, found {i}-D", t + 1),
    };
    let dims = [dim as i64];
    let dot = input1.f_mul(input2)?.f_sum_dim_intlist(dims.as_slice(), false, None)?;
    let norm1 = input1.f_mul(input1)?.f_sum_dim_intlist(dims.as_slice(), false, None)?.f_add_scalar(LOSS_EPSILON)?;
    let norm2 = input2.f_mul(input2)?.f_sum_dim_intlist(dims.as_slice(), false, None)?.f_add_scalar(LOSS_EPSILON)?;
    let cos = dot.f_div(&norm1.f_mul(&norm2)?.f_sqrt()?)?;
    let zeros = cos.f_zeros_like()?;
    let positive = cos.f_neg()?.f_add_scalar(1.0)?.f_where_self(&target.f_eq(1)?, &zeros)?;
    let negative = cos.f_sub_scalar(margin)?.f_clamp_min(0.0)?.f_where_self(&target.f_eq(-1)?, &zeros)?;
    reduction.apply(positive.f_add(&negative)?)
}

/// `‖a − b + eps‖_p` over the last dimension, as `torch.pairwise_distance`.
pub fn pairwise_distance(a: &Tensor, b: &Tensor, p: f64, eps: f64) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let a = &super::row_major(a)?;
    let b = &super::row_major(b)?;
    // float16 only: in bfloat16 the fused pass measured slower than libtorch's own `sub` and
    // `add` (3.2 against 2.6 ms for the triplet loss at 1e6), whose rounding is cheaper there.
    if p == 2.0
        && a.kind() == tch::Kind::Half
        && a.kind() == b.kind()
        && a.size() == b.size()
        && a.dim() > 0
        && a.size()[a.dim() - 1] > 0
    {
        return half_difference_norm(a, b, eps);
    }
    vector_norm(&a.f_sub(b)?.f_add_scalar(eps)?, p, -1, false)
}

/// [`pairwise_distance`] for p = 2 in float16 (same-shaped, row-major inputs): the
/// same values and gradients as `vector_norm(a − b + eps)`, bit for bit, without storing the
/// difference or its gradient: one pass over `a` and `b` forward, one backward (where the
/// composition makes four and five).
fn half_difference_norm(a: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let n = a.size()[a.dim() - 1] as usize;
    let norm = super::lanes::difference_norms(&a.f_detach()?, &b.f_detach()?, eps, n)?;
    let saved = norm.shallow_clone();
    let (a_in, b_in) = (a.shallow_clone(), b.shallow_clone());
    crate::ffi::with_backward("LinalgVectorNormBackward", &norm, &[a, b], move |g| {
        let grad_a = if crate::ffi::grad_enabled() {
            // Differentiable, for double backward: the composition's own backward formula.
            let x = a_in.f_sub(&b_in)?.f_add_scalar(eps)?;
            norm_two_gradient(&g.f_unsqueeze(-1)?, &x, &vector_norm(&x, 2.0, -1, true)?)?
        } else {
            let (a, b) = (a_in.f_detach()?, b_in.f_detach()?);
            super::lanes::difference_norm_backward_rows((&a, &b, eps), &g.f_contiguous()?, &saved, n)?
        };
        let grad_b = if b_in.requires_grad() { Some(grad_a.f_neg()?) } else { None };
        Ok(vec![a_in.requires_grad().then_some(grad_a), grad_b])
    })
}

/// `(Σ |x|^p)^(1/p)` over `dim` (the maximum of |x| for p = ∞, the sum of |x| for p = 1), as
/// `torch.linalg.vector_norm`: float16 and bfloat16 accumulate in float32 and round once. Its
/// gradient is libtorch's `norm_backward`, in the input's dtype: `g·(x/‖x‖)` for p = 2 (0 where
/// the norm is 0), `sgn(x)·g` for p = 1, `sgn(x)·|x|^(p−1)·g/‖x‖^(p−1)` otherwise (as
/// `x·|x|^(p−2)` above 2, and `·g·‖x‖^(1−p)` below 1), and for p = ∞ the gradient shared among
/// the maxima.
pub(crate) fn vector_norm(x: &Tensor, p: f64, dim: i64, keepdim: bool) -> Result<Tensor> {
    if p <= 0.0 || p.is_nan() {
        return invalid!("vector_norm: p must be positive, got {p}");
    }
    let kind = x.kind();
    let last = dim == -1 || dim == x.dim() as i64 - 1;
    let half = matches!(kind, tch::Kind::Half | tch::Kind::BFloat16);
    let dims = [dim];
    let norm = if p == 2.0 && last && half && x.dim() > 0 && x.size()[x.dim() - 1] > 0 {
        // One pass per row, without a float32 copy.
        let row_length = x.size()[x.dim() - 1] as usize;
        super::lanes::half_row_norms(&x.f_detach()?.f_contiguous()?, row_length, keepdim)?
    } else {
        let wide = if half { x.f_detach()?.f_to_kind(tch::Kind::Float)? } else { x.f_detach()? };
        if p == 2.0 {
            wide.f_mul(&wide)?.f_sum_dim_intlist(dims.as_slice(), keepdim, None)?.f_sqrt()?
        } else if p == 1.0 {
            wide.f_abs()?.f_sum_dim_intlist(dims.as_slice(), keepdim, None)?
        } else if p.is_infinite() {
            wide.f_abs()?.f_amax(dims.as_slice(), keepdim)?
        } else {
            let sum = wide.f_abs()?.f_pow_tensor_scalar(p)?.f_sum_dim_intlist(dims.as_slice(), keepdim, None)?;
            sum.f_pow_tensor_scalar(1.0 / p)?
        }
        .f_to_kind(kind)?
    };
    let saved = norm.shallow_clone();
    super::with_backward_formula("LinalgVectorNormBackward", &norm, &[x], move |g, _, inputs| {
        let x = &inputs[0];
        let last = dim == -1 || dim == x.dim() as i64 - 1;
        if p == 2.0 && last && x.dim() > 0 && !crate::ffi::grad_enabled() && g.kind() == kind {
            // One pass per row; the same operations.
            let row_length = x.size()[x.dim() - 1] as usize;
            let (x, g, norm) = (x.f_detach()?.f_contiguous()?, g.f_contiguous()?, saved.f_contiguous()?);
            return super::lanes::norm_two_backward_rows(&x, &g, &norm, row_length);
        }
        let norm = if crate::ffi::grad_enabled() { vector_norm(x, p, dim, keepdim)? } else { saved.shallow_clone() };
        let (g, norm) = if keepdim { (g.shallow_clone(), norm) } else { (g.f_unsqueeze(dim)?, norm.f_unsqueeze(dim)?) };
        Ok(if p == 2.0 {
            norm_two_gradient(&g, x, &norm)?
        } else if p == 1.0 {
            x.f_sgn()?.f_mul(&g)?
        } else if p.is_infinite() {
            let magnitude = x.f_abs()?;
            let maxima = magnitude.f_eq_tensor(&norm)?.f_logical_or(&magnitude.f_isnan()?)?;
            let count = maxima.f_sum_dim_intlist(dims.as_slice(), true, None)?;
            x.f_sgn()?.f_mul(&g.f_div(&count)?.f_mul(&maxima)?)?
        } else if p < 1.0 {
            let scaled =
                x.f_sgn()?.f_mul(&x.f_abs()?.f_pow_tensor_scalar(p - 1.0)?.f_masked_fill(&x.f_eq(0.0)?, 0.0)?)?;
            scaled.f_mul(&g)?.f_mul(&norm.f_pow_tensor_scalar(1.0 - p)?)?
        } else {
            let scaled = if p < 2.0 {
                x.f_sgn()?.f_mul(&x.f_abs()?.f_pow_tensor_scalar(p - 1.0)?)?
            } else {
                x.f_mul(&x.f_abs()?.f_pow_tensor_scalar(p - 2.0)?)?
            };
            let scale = g.f_div(&norm.f_pow_tensor_scalar(p - 1.0)?)?.f_masked_fill(&norm.f_eq(0.0)?, 0.0)?;
            scaled.f_mul(&scale)?
        })
    })
}

/// libtorch's `norm_backward` for p = 2, `g·(x/‖x‖)` with `x/‖x‖` taken as 0 where the norm is
/// 0, from `g` and the norm with the reduced dimension kept.
fn norm_two_gradient(g: &Tensor, x: &Tensor, norm: &Tensor) -> Result<Tensor> {
    Ok(g.f_mul(&x.f_div(norm)?.f_masked_fill(&norm.f_eq(0.0)?, 0.0)?)?)
}

/// `max(0, margin + d(a, p) − d(a, n))` with the p-norm distance, as `torch.nn.TripletMarginLoss`;
/// with `swap`, `d(a, n)` becomes `min(d(a, n), d(p, n))` (Balntas et al., *Learning local feature
/// descriptors with triplets and shallow convolutional neural networks*, BMVC 2016). Defaults:
/// margin 1, p 2, eps 1e-6, no swap.
pub fn triplet_margin_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    options: TripletMarginOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let anchor = &super::row_major(anchor)?;
    let positive = &super::row_major(positive)?;
    let negative = &super::row_major(negative)?;
    let TripletMarginOptions { margin, p, eps, swap } = options;
    check_triplet(anchor, positive, negative)?;
    let distance = |x: &Tensor, y: &Tensor| pairwise_distance(x, y, p, eps);
    triplet(anchor, positive, negative, margin, swap, &distance, reduction)
}

/// `torch.nn.TripletMarginWithDistanceLoss` with the Euclidean pairwise distance (its default)
/// or, with `cosine_distance`, `1 − cos(x, y)`: `max(0, margin + d(a, p) − d(a, n))`. The margin
/// must be positive. Defaults: pairwise distance, margin 1, no swap.
pub fn triplet_margin_with_distance_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    options: TripletWithDistanceOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let anchor = &super::row_major(anchor)?;
    let positive = &super::row_major(positive)?;
    let negative = &super::row_major(negative)?;
    let TripletWithDistanceOptions { cosine_distance, margin, swap } = options;
    if margin.is_nan() || margin <= 0.0 {
        return invalid!("the margin must be greater than 0, got {margin}");
    }
    check_triplet(anchor, positive, negative)?;
    let distance = |x: &Tensor, y: &Tensor| -> Result<Tensor> {
        if cosine_distance {
            Ok(cosine_similarity(x, y, 1e-8)?.f_neg()?.f_add_scalar(1.0)?)
        } else {
            pairwise_distance(x, y, 2.0, 1e-6)
        }
    };
    triplet(anchor, positive, negative, margin, swap, &distance, reduction)
}

/// `Σ (x/‖x‖)·(y/‖y‖)` over the last dimension, as `torch.cosine_similarity` computes it: each
/// vector normalised first, its norm clamped at `eps` without blocking the gradient (libtorch
/// clamps under no_grad).
pub fn cosine_similarity(x: &Tensor, y: &Tensor, eps: f64) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let x = &super::row_major(x)?;
    let y = &super::row_major(y)?;
    let last = [-1i64];
    let normalised = |t: &Tensor| -> Result<Tensor> {
        let norm = vector_norm(t, 2.0, -1, true)?;
        let nd = norm.f_detach()?;
        let clamped = norm.f_add(&nd.f_clamp_min(eps)?.f_sub(&nd)?)?;
        Ok(t.f_div(&clamped)?)
    };
    Ok(normalised(x)?.f_mul(&normalised(y)?)?.f_sum_dim_intlist(last.as_slice(), false, None)?)
}

fn check_triplet(anchor: &Tensor, positive: &Tensor, negative: &Tensor) -> Result<()> {
    check_floating("anchor", anchor)?;
    if positive.dim() != anchor.dim() || negative.dim() != anchor.dim() {
        return invalid!(
            "anchor, positive and negative must have the same number of dimensions, got {}, {} and {}",
            anchor.dim(),
            positive.dim(),
            negative.dim()
        );
    }
    Ok(())
}

fn triplet(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    margin: f64,
    swap: bool,
    distance: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    let to_positive = distance(anchor, positive)?;
    let mut to_negative = distance(anchor, negative)?;
    if swap {
        to_negative = to_negative.f_minimum(&distance(positive, negative)?)?;
    }
    // margin + d(a, p) − d(a, n), in that order (each step rounds in the half dtypes).
    reduction.apply(to_positive.f_add_scalar(margin)?.f_sub(&to_negative)?.f_clamp_min(0.0)?)
}
