//! Margin losses: soft margin, margin ranking, hinge embedding, multilabel margin, multi margin
//! and multilabel soft margin.
//!
//! Where libtorch's kernel counts a hinge as active only when strictly positive, the hinge is
//! `relu` (its gradient is 0 at 0); where libtorch composes `clamp_min`, it is `clamp_min`
//! (gradient 1 at 0), so ties give libtorch's gradient.

use super::{check_floating, check_same_shape, weighted, Reduction};
use crate::error::{invalid, Result};
use tch::{Kind, Tensor};

crate::options! {
    /// `torch.nn.MarginRankingLoss`'s option.
    pub struct MarginRankingOptions {
        /// The margin.
        pub margin: f64 = 0.0,
    }
}

crate::options! {
    /// `torch.nn.HingeEmbeddingLoss`'s option.
    pub struct HingeEmbeddingOptions {
        /// The margin.
        pub margin: f64 = 1.0,
    }
}

crate::options! {
    /// `torch.nn.MultiMarginLoss`'s options.
    pub struct MultiMarginOptions {
        /// The hinge's exponent: 1 or 2.
        pub p: i64 = 1,
        /// The margin.
        pub margin: f64 = 1.0,
    }
}

/// `log(1 + exp(−t·x))`, as `torch.nn.SoftMarginLoss`, computed as softplus(−t·x) so that it
/// stays finite where libtorch's `log(1 + exp(…))` overflows to inf (t·x below about −88 in
/// float32); its gradient is libtorch's `−t·σ(−t·x)`.
pub fn soft_margin_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    check_floating("input", input)?;
    check_same_shape("target", target, input)?;
    // libtorch's loss has the input's dtype: a target of another float dtype is cast to it.
    let target = &target.f_to_kind(input.kind())?;
    let z = input.f_detach()?.f_mul(target)?.f_neg()?;
    // softplus(z) = max(z, 0) + log1p(exp(−|z|)); its gradient libtorch's −t·σ(−t·x) (written
    // out: the kink of max and |·| at 0 would give autograd the wrong slope there), computed from
    // the attached input so that it is itself differentiable (t²·σ·(1 − σ), libtorch's double
    // backward).
    let value = z.f_clamp_min(0.0)?.f_add(&z.f_abs()?.f_neg()?.f_exp()?.f_log1p()?)?;
    let numel = value.numel() as i64;
    let loss = reduction.apply(value)?;
    let target = target.f_detach()?;
    super::with_backward_formula("SoftMarginLossBackward", &loss, &[input], move |g, _, inputs| {
        let z = inputs[0].f_mul(&target)?.f_neg()?;
        let local = super::binary::differentiable_sigmoid(&z)?.f_mul(&target)?.f_neg()?;
        super::weight_and_reduce(local.f_mul(g)?, None, reduction, numel)
    })
}

/// `max(0, −t·(x1 − x2) + margin)`, as `torch.nn.MarginRankingLoss`; all three tensors of the
/// same shape (libtorch does not broadcast here). At a tie (exactly 0) libtorch's gradient is
/// the active side's, so this is `clamp_min`, not `relu`. The margin defaults to 0.
pub fn margin_ranking_loss(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    options: MarginRankingOptions,
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
    check_same_shape("target", target, input1)?;
    let loss = target.f_neg()?.f_mul(&input1.f_sub(input2)?)?.f_add_scalar(margin)?.f_clamp_min(0.0)?;
    reduction.apply(loss)
}

/// `x` where t = 1 and `max(0, margin − x)` where t = −1, as `torch.nn.HingeEmbeddingLoss`
/// (libtorch adds both terms for a target that is neither). The margin defaults to 1.
pub fn hinge_embedding_loss(
    input: &Tensor,
    target: &Tensor,
    options: HingeEmbeddingOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let margin = options.margin;
    check_floating("input", input)?;
    let zeros = input.f_zeros_like()?;
    let margin_term = input.f_neg()?.f_add_scalar(margin)?.f_clamp_min(0.0)?;
    let loss =
        margin_term.f_where_self(&target.f_ne(1)?, &zeros)?.f_add(&input.f_where_self(&target.f_ne(-1)?, &zeros)?)?;
    reduction.apply(loss)
}

/// The `[N, C]` view of a `[C]` or `[N, C]` input, and whether it was unbatched.
fn batched(input: &Tensor, name: &str) -> Result<(Tensor, bool)> {
    match input.dim() {
        1 => Ok((input.f_unsqueeze(0)?, true)),
        2 => Ok((input.shallow_clone(), false)),
        d => invalid!("{name} must be [C] or [N, C], got {d} dimensions"),
    }
}

/// Per-sample values back to the input's batching, then reduced.
fn finish(op: &str, per_sample: Tensor, unbatched: bool, reduction: Reduction) -> Result<Tensor> {
    let per_sample = if unbatched { per_sample.f_squeeze_dim(0)? } else { per_sample };
    super::first_order_only(op, reduction.apply(per_sample)?)
}

/// `torch.nn.MultiLabelMarginLoss`: each row's targets are the class indices before its first
/// −1; the loss is `Σ_j Σ_{i ∉ targets} max(0, 1 − (x[y_j] − x[i])) / C`.
pub fn multilabel_margin_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    check_floating("input", input)?;
    super::refuse_half("multilabel_margin_loss", "input", input)?;
    if target.kind() != Kind::Int64 {
        return invalid!("multilabel margin targets must be int64 class indices, got {:?}", target.kind());
    }
    check_same_shape("target", target, input)?;
    let (x, unbatched) = batched(input, "input")?;
    let (t, _) = batched(target, "target")?;
    let classes = x.size()[1];
    if t.numel() > 0 {
        let (lo, hi) = (t.f_min()?.f_int64_value(&[])?, t.f_max()?.f_int64_value(&[])?);
        if lo < -1 || hi >= classes {
            return invalid!("multilabel targets must lie in [-1, {classes}), found values in [{lo}, {hi}]");
        }
    }
    // Targets count until the first −1 of each row.
    let listed = t.f_ne(-1)?.f_to_kind(Kind::Int64)?.f_cumprod(1, Kind::Int64)?.f_to_kind(Kind::Bool)?;
    let safe = t.f_clamp_min(0)?;
    // Added, not scattered: an unlisted slot (index 0 after clamping) must not unmark class 0.
    let is_target = t.f_zeros_like()?.f_scatter_add(1, &safe, &listed.f_to_kind(Kind::Int64)?)?.f_gt(0)?;
    // x[y_j] for every listed target j, against every class i.
    let x_target = x.f_gather(1, &safe, false)?;
    let hinge = x_target.f_unsqueeze(2)?.f_neg()?.f_add(&x.f_unsqueeze(1)?)?.f_add_scalar(1.0)?.f_relu()?;
    let counted = listed.f_unsqueeze(2)?.f_logical_and(&is_target.f_logical_not()?.f_unsqueeze(1)?)?;
    let per_sample = hinge
        .f_mul(&counted.f_to_kind(x.kind())?)?
        .f_sum_dim_intlist([1i64, 2].as_slice(), false, None)?
        .f_div_scalar(classes as f64)?;
    finish("multilabel_margin_loss", per_sample, unbatched, reduction)
}

/// `torch.nn.MultiMarginLoss`: `Σ_{i ≠ y} w[y]·max(0, margin − x[y] + x[i])^p / C` per sample,
/// p ∈ {1, 2} (default 1), margin 1 by default.
pub fn multi_margin_loss(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    options: MultiMarginOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let weight = weight.map(super::row_major).transpose()?;
    let weight = weight.as_ref();
    let MultiMarginOptions { p, margin } = options;
    check_floating("input", input)?;
    super::refuse_half("multi_margin_loss", "input", input)?;
    if p != 1 && p != 2 {
        return invalid!("only p = 1 and p = 2 are supported, got {p}");
    }
    if target.kind() != Kind::Int64 {
        return invalid!("multi margin targets must be int64 class indices, got {:?}", target.kind());
    }
    let (x, unbatched) = batched(input, "input")?;
    let classes = x.size()[1];
    let t = if unbatched { target.f_reshape([1])? } else { target.shallow_clone() };
    if t.size() != [x.size()[0]] {
        return invalid!("target shape {:?} does not match the input's batch of {}", target.size(), x.size()[0]);
    }
    if t.numel() > 0 {
        let (lo, hi) = (t.f_min()?.f_int64_value(&[])?, t.f_max()?.f_int64_value(&[])?);
        if lo < 0 || hi >= classes {
            return invalid!("target {} is out of range for {classes} classes", if lo < 0 { lo } else { hi });
        }
    }
    super::check_weight_dtype(weight, input)?;
    if let Some(w) = weight {
        if w.size() != [classes] {
            return invalid!(
                "weight should have one entry for each of the {classes} classes, but has shape {:?}",
                w.size()
            );
        }
    }
    let index = t.f_unsqueeze(1)?;
    let x_target = x.f_gather(1, &index, false)?;
    let mut hinge = x.f_sub(&x_target)?.f_add_scalar(margin)?.f_relu()?;
    if p == 2 {
        hinge = hinge.f_mul(&hinge)?;
    }
    let not_target = Tensor::f_arange(classes, (Kind::Int64, x.device()))?.f_unsqueeze(0)?.f_ne_tensor(&index)?;
    let hinge = hinge.f_mul(&not_target.f_to_kind(x.kind())?)?;
    let hinge = match weight {
        Some(w) => hinge.f_mul(&w.f_to_kind(x.kind())?.f_index_select(0, &t)?.f_unsqueeze(1)?)?,
        None => hinge,
    };
    let per_sample = hinge.f_sum_dim_intlist([1i64].as_slice(), false, None)?.f_div_scalar(classes as f64)?;
    finish("multi_margin_loss", per_sample, unbatched, reduction)
}

/// `torch.nn.MultiLabelSoftMarginLoss` (Python-only in PyTorch): per sample, the mean over
/// classes of `−w·(t·log σ(x) + (1 − t)·log σ(−x))`.
pub fn multilabel_soft_margin_loss(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let weight = weight.map(super::row_major).transpose()?;
    let weight = weight.as_ref();
    check_floating("input", input)?;
    check_same_shape("target", target, input)?;
    // Python's form, −(t·log σ(x) + (1 − t)·log σ(−x)), with the hand-written log σ (stable, and
    // with log σ's own gradient 1 − σ).
    let t = target;
    let loss = t
        .f_mul(&super::binary::log_sigmoid(input)?)?
        .f_add(&t.f_neg()?.f_add_scalar(1.0)?.f_mul(&super::binary::log_sigmoid(&input.f_neg()?)?)?)?
        .f_neg()?;
    let loss = weighted(loss, weight)?;
    // Python averages over the last dimension.
    let class_dim = (input.dim() as i64 - 1).max(0);
    let classes = input.size().get(class_dim as usize).copied().unwrap_or(1);
    let per_sample = loss.f_sum_dim_intlist([class_dim].as_slice(), false, None)?.f_div_scalar(classes as f64)?;
    reduction.apply(per_sample)
}
