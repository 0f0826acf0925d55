//! NLL and cross entropy (seed §3.1), and the document's label-smoothed `CELoss` (seed §3.2).
//!
//! The normalisations follow libtorch, where reimplementations usually differ:
//! - class-index targets, `Mean`: divide by the summed weight of the targets that are not
//!   ignored (their count without weights); all ignored gives NaN;
//! - probability targets, `Mean`: divide by the number of samples (elements / classes), never by
//!   a weight sum;
//! - label smoothing ε with class-index targets: `(1 − ε)·nll + (ε/C)·Σ_c −w_c·log p_c`, the
//!   second term zeroed at ignored targets and normalised like the first.

use super::scalar_loop::by_float_kind;
use super::softmax::log_softmax;
use super::{check_floating, Reduction};
use crate::error::{invalid, Result};
use tch::{Kind, Tensor};

/// PyTorch's default `ignore_index`.
pub const IGNORE_INDEX: i64 = -100;

crate::options! {
    /// `torch.nn.NLLLoss`'s option.
    pub struct NllOptions {
        /// Class-index targets to skip.
        pub ignore_index: i64 = IGNORE_INDEX,
    }
}

crate::options! {
    /// `torch.nn.CrossEntropyLoss`'s options.
    pub struct CrossEntropyOptions {
        /// Class-index targets to skip (index targets only).
        pub ignore_index: i64 = IGNORE_INDEX,
        /// ε in [0, 1]: the target becomes (1 − ε)·one_hot + ε/C; ≤ 0 is ignored, as in libtorch.
        pub label_smoothing: f64 = 0.0,
    }
}

crate::options! {
    /// The document's `CELoss` (seed §3.2) option.
    pub struct SmoothedTargetOptions {
        /// α in y·(1 − α) + α/K.
        pub label_smooth: f64 = 0.2,
    }
}

/// The class dimension: 1, or 0 for an unbatched `[C]` input.
fn class_dim(input: &Tensor) -> i64 {
    if input.dim() == 1 {
        0
    } else {
        1
    }
}

fn check_class_weight(weight: Option<&Tensor>, classes: i64) -> Result<()> {
    match weight {
        Some(w) if w.dim() != 1 || w.size()[0] != classes => {
            invalid!("weight should have one entry for each of the {classes} classes, but has shape {:?}", w.size())
        }
        Some(w) => check_floating("weight", w),
        None => Ok(()),
    }
}

/// Class-index targets: int64, of the input's shape without the class dimension, each in
/// [0, C) or equal to `ignore_index`.
fn check_class_targets(input: &Tensor, target: &Tensor, ignore_index: i64) -> Result<()> {
    check_class_target_shape(input, target)?;
    check_class_target_range(input, target, ignore_index)
}

/// The dtype and shape half of [`check_class_targets`], for callers whose loop over the targets
/// checks each one's range as it goes (`scalar_loop::nll_rows`, with the same message).
fn check_class_target_shape(input: &Tensor, target: &Tensor) -> Result<()> {
    if !matches!(target.kind(), Kind::Int64 | Kind::Uint8) {
        return invalid!("class-index targets must be int64, got {:?}", target.kind());
    }
    let mut expected = input.size();
    if expected.is_empty() {
        return invalid!("the input needs a class dimension; it is a scalar");
    }
    expected.remove(class_dim(input) as usize);
    if target.size() != expected {
        return invalid!(
            "target shape {:?} does not match the input shape {:?} without its class dimension ({expected:?})",
            target.size(),
            input.size()
        );
    }
    Ok(())
}

fn check_class_target_range(input: &Tensor, target: &Tensor, ignore_index: i64) -> Result<()> {
    let classes = input.size()[class_dim(input) as usize];
    // One scan in Rust: the tensor-op form (ne, lt, ge, or, and, any) cost more than the loss's
    // forward at 1e6 elements.
    let targets = Vec::<i64>::try_from(target.f_to_kind(Kind::Int64)?.f_reshape([-1])?)?;
    if let Some(first) = targets.iter().find(|&&t| t != ignore_index && !(0..classes).contains(&t)) {
        return invalid!("target {first} is out of bounds for {classes} classes (ignore_index {ignore_index})");
    }
    Ok(())
}

/// Negative log likelihood, as `torch.nn.NLLLoss`: `−w[y]·x[y]` per sample (0 where
/// `y == ignore_index`, by default −100), for inputs `[C]`, `[N, C]` or `[N, C, d1, …]` of
/// log-probabilities. `Mean` divides by the summed weight of the kept targets.
pub fn nll_loss(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    options: NllOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let weight = weight.map(super::row_major).transpose()?;
    let weight = weight.as_ref();
    let ignore_index = options.ignore_index;
    check_floating("input", input)?;
    // A batch of rows with a reduction is checked target by target in its one pass below.
    let rows_in_one_pass = input.dim() == 2 && reduction != Reduction::None;
    check_class_target_shape(input, target)?;
    if !rows_in_one_pass {
        check_class_target_range(input, target, ignore_index)?;
    }
    let dim = class_dim(input);
    check_class_weight(weight, input.size()[dim as usize])?;
    super::check_weight_dtype(weight, input)?;

    let target = target.f_to_kind(Kind::Int64)?;
    let mean = reduction == Reduction::Mean;
    // libtorch's reduction, its cascade of partial sums included, and its backward:
    // −(g / total weight for mean, else g)·w[y] at each kept target, 0 elsewhere. A batch of
    // rows, the usual case, in one Rust pass over the targets.
    let (loss, total, safe_target, kept, target_weight) = if rows_in_one_pass {
        let target = target.f_contiguous()?;
        let rows = by_float_kind!(input.kind(), "nll_loss", |T| {
            super::scalar_loop::nll_rows::<T>(input, &target, weight, ignore_index, mean)
        })?;
        (rows.loss, rows.total, rows.safe_target, rows.kept, rows.target_weight)
    } else {
        let kept = target.f_ne(ignore_index)?;
        let safe_target = target.f_masked_fill(&kept.f_logical_not()?, 0)?;
        let picked = input.f_gather(dim, &safe_target.f_unsqueeze(dim)?, false)?.f_squeeze_dim(dim)?;
        let target_weight = target_weights(weight, &safe_target, &kept, input.kind())?;
        if reduction == Reduction::None {
            // −x·w, and exactly 0 (not −0·x, which is NaN for an infinite x) where ignored.
            let loss = picked.f_neg()?.f_mul(&target_weight)?;
            return Ok(loss.f_where_self(&kept, &loss.f_zeros_like()?)?);
        }
        let weights = weight.map(|_| &target_weight);
        let (loss, total) = super::scalar_loop::nll_reduction(&picked, weights, &kept, mean)?;
        (loss, total, safe_target, kept, target_weight)
    };
    super::with_backward_formula("NllLossBackward", &loss, &[input], move |g, _, inputs| {
        let scale = if reduction == Reduction::Mean { g.f_div(&total)? } else { g.shallow_clone() }.f_neg()?;
        let per_target = target_weight.f_mul(&scale)?;
        let per_target = per_target.f_where_self(&kept, &per_target.f_zeros_like()?)?;
        // In place: an out-of-place scatter would copy the zeros once more. The values are copied
        // into place by a Rust loop unless the gradient must itself be differentiable.
        let mut grad = inputs[0].f_zeros_like()?;
        let (index, src) = (safe_target.f_unsqueeze(dim)?, per_target.f_unsqueeze(dim)?.f_contiguous()?);
        if crate::ffi::grad_enabled() {
            let _ = grad.f_scatter_(dim, &index, &src)?;
        } else {
            super::scalar_loop::scatter_rows_(&mut grad, dim, &index.f_contiguous()?, &src)?;
        }
        Ok(grad)
    })
}

/// `w[y]` for each target (1 without weights), 0 where the target is ignored.
fn target_weights(weight: Option<&Tensor>, safe_target: &Tensor, kept: &Tensor, kind: Kind) -> Result<Tensor> {
    let w = match weight {
        Some(w) => w
            .f_to_kind(kind)?
            .f_detach()?
            .f_index_select(0, &safe_target.f_flatten(0, -1)?)?
            .f_view(safe_target.size().as_slice())?,
        None => safe_target.f_ones_like()?.f_to_kind(kind)?,
    };
    Ok(w.f_mul(&kept.f_to_kind(kind)?)?)
}

/// The weight shaped to broadcast along the class dimension of `input`.
fn class_weight_view(weight: &Tensor, input: &Tensor) -> Result<Tensor> {
    let mut shape = vec![1i64; input.dim()];
    shape[class_dim(input) as usize] = -1;
    Ok(weight.f_to_kind(input.kind())?.f_detach()?.f_view(shape.as_slice())?)
}

/// Cross entropy on logits, as `torch.nn.CrossEntropyLoss`: `nll_loss(log_softmax(x), y)` with
/// class-index targets (int64, the input's shape without the class dimension), or
/// `−Σ_c w_c·t_c·log_softmax(x)_c` with class-probability targets (floating, the input's shape).
/// `weight` has one entry per class. Label smoothing ε mixes in the uniform distribution
/// (Szegedy et al., *Rethinking the Inception Architecture*, CVPR 2016). Defaults:
/// `ignore_index` −100, `label_smoothing` 0.
///
/// ```
/// # fn main() -> tch_parity::Result<()> {
/// use tch::{Kind, Tensor};
/// use tch_parity::loss::{cross_entropy, CrossEntropyOptions};
/// use tch_parity::Reduction;
///
/// let logits = Tensor::from_slice(&[2.0f32, 0.5, -1.0, 0.1, 0.2, 3.0]).view([2, 3]).set_requires_grad(true);
/// let labels = Tensor::from_slice(&[0i64, 2]);
/// let options = CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() };
/// let loss = cross_entropy(&logits, &labels, None, options, Reduction::Mean)?;
/// loss.backward();
/// let expected = logits.cross_entropy_loss(&labels, None::<Tensor>, tch::Reduction::Mean, -100, 0.1);
/// assert!((loss.double_value(&[]) - expected.double_value(&[])).abs() < 1e-6);
/// # Ok(()) }
/// ```
pub fn cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    options: CrossEntropyOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let weight = weight.map(super::row_major).transpose()?;
    let weight = weight.as_ref();
    check_floating("input", input)?;
    if input.dim() == 0 {
        return invalid!("the input needs a class dimension; it is a scalar");
    }
    let dim = class_dim(input);
    let classes = input.size()[dim as usize];
    let smoothing = options.label_smoothing;
    if smoothing > 1.0 {
        return invalid!("label_smoothing must be between 0.0 and 1.0, got {smoothing}");
    }
    let smoothing = if smoothing > 0.0 { smoothing } else { 0.0 };

    if target.size() == input.size() {
        if !matches!(target.kind(), Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16) {
            return invalid!("probability targets must be floating, got {:?}", target.kind());
        }
        if options.ignore_index >= 0 {
            return invalid!("ignore_index ({}) cannot be used with probability targets", options.ignore_index);
        }
        check_class_weight(weight, classes)?;
        return probability_cross_entropy(input, target, weight, smoothing, reduction);
    }

    // The targets' range is checked by nll_loss, once.
    check_class_target_shape(input, target)?;
    check_class_weight(weight, classes)?;
    let log_p = log_softmax(input, dim)?;
    let nll = nll_loss(&log_p, target, weight, NllOptions { ignore_index: options.ignore_index }, reduction)?;
    if smoothing == 0.0 {
        return Ok(nll);
    }

    // Σ_c −w_c·log p_c per sample, zeroed where the target is ignored.
    let weighted_log_p = match weight {
        Some(w) => log_p.f_mul(&class_weight_view(w, input)?)?,
        None => log_p.shallow_clone(),
    };
    let smooth = weighted_log_p.f_sum_dim_intlist([dim].as_slice(), false, None)?.f_neg()?;
    let target = target.f_to_kind(Kind::Int64)?;
    let kept = target.f_ne(options.ignore_index)?;
    let smooth = smooth.f_where_self(&kept, &smooth.f_zeros_like()?)?;
    let smooth = match reduction {
        Reduction::None => smooth,
        Reduction::Sum => smooth.f_sum(None)?,
        Reduction::Mean => {
            let safe_target = target.f_masked_fill(&kept.f_logical_not()?, 0)?;
            let total = target_weights(weight, &safe_target, &kept, input.kind())?.f_sum(None)?;
            smooth.f_sum(None)?.f_div(&total)?
        }
    };
    Ok(nll.f_mul_scalar(1.0 - smoothing)?.f_add(&smooth.f_mul_scalar(smoothing / classes as f64)?)?)
}

fn probability_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    smoothing: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    let dim = class_dim(input);
    let classes = input.size()[dim as usize];
    let log_p = log_softmax(input, dim)?;
    let target = if smoothing > 0.0 {
        target.f_mul_scalar(1.0 - smoothing)?.f_add_scalar(smoothing / classes as f64)?
    } else {
        target.shallow_clone()
    };
    // libtorch's order: input·target, then ·weight.
    let mut terms = log_p.f_mul(&target)?;
    if let Some(w) = weight {
        terms = terms.f_mul(&class_weight_view(w, input)?)?;
    }
    match reduction {
        Reduction::None => Ok(terms.f_sum_dim_intlist([dim].as_slice(), false, None)?.f_neg()?),
        Reduction::Sum => Ok(terms.f_sum(None)?.f_neg()?),
        Reduction::Mean => {
            // The number of samples; an empty input gives NaN, as 0/0.
            let samples = (input.numel() as i64 / classes.max(1)) as f64;
            Ok(terms.f_sum(None)?.f_neg()?.f_div_scalar(samples)?)
        }
    }
}

/// The document's `CELoss` (§3.2): class indices become one-hot rows, the target is smoothed by
/// hand to `(1 − α)·y + α/K`, and the loss is probability-target cross entropy. Accepts class
/// indices or one-hot targets; with indices it equals `cross_entropy` with
/// `label_smoothing = α` (without class weights). α defaults to the document's 0.2.
pub fn smoothed_target_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    options: SmoothedTargetOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let alpha = options.label_smooth;
    check_floating("input", input)?;
    if input.dim() != 2 {
        return invalid!("the input must be [N, C], got shape {:?}", input.size());
    }
    if target.dim() == 0 || target.size()[0] != input.size()[0] {
        return invalid!("target batch size {:?} differs from the input's {}", target.size().first(), input.size()[0]);
    }
    let classes = input.size()[1];
    let one_hot = if target.size() == input.size() {
        target.f_to_kind(input.kind())?
    } else {
        check_class_targets(input, target, i64::MIN)?;
        let classes_row = Tensor::f_arange(classes, (Kind::Int64, input.device()))?;
        target.f_unsqueeze(1)?.f_eq_tensor(&classes_row)?.f_to_kind(input.kind())?
    };
    let smoothed = one_hot.f_mul_scalar(1.0 - alpha)?.f_add_scalar(alpha / classes as f64)?;
    cross_entropy(input, &smoothed, None, CrossEntropyOptions::default(), reduction)
}

#[cfg(test)]
#[path = "cross_entropy_tests.rs"]
mod tests;
