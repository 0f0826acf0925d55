//! NLL and cross entropy (seed §3.1), and the document's label-smoothed `CELoss` (seed §3.2).
//!
//! The normalisations follow libtorch, where reimplementations usually differ:
//! - class-index targets, `Mean`: divide by the summed weight of the targets that are not
//!   ignored (their count without weights); all ignored gives NaN;
//! - probability targets, `Mean`: divide by the number of samples (elements / classes), never by
//!   a weight sum;
//! - label smoothing ε with class-index targets: `(1 − ε)·nll + (ε/C)·Σ_c −w_c·log p_c`, the
//!   second term zeroed at ignored targets and normalised like the first.

use super::softmax::log_softmax;
use super::{check_floating, Reduction};
use crate::error::{invalid, Result};
use tch::{Kind, Tensor};

/// PyTorch's default `ignore_index`.
pub const IGNORE_INDEX: i64 = -100;

/// Cross entropy's options, with PyTorch's defaults.
#[derive(Debug, Clone, Copy)]
pub struct CrossEntropy<'a> {
    /// A weight per class, shape `[C]`.
    pub weight: Option<&'a Tensor>,
    /// Class-index targets equal to this contribute nothing (index targets only).
    pub ignore_index: i64,
    /// ε in [0, 1]: the target becomes `(1 − ε)·one_hot + ε/C`. libtorch ignores ε ≤ 0 (and
    /// NaN) rather than rejecting it, and so does this.
    pub label_smoothing: f64,
}

impl Default for CrossEntropy<'_> {
    fn default() -> Self {
        CrossEntropy { weight: None, ignore_index: IGNORE_INDEX, label_smoothing: 0.0 }
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
    let classes = input.size()[class_dim(input) as usize];
    let bad = target.f_ne(ignore_index)?.f_logical_and(&target.f_lt(0)?.f_logical_or(&target.f_ge(classes)?)?)?;
    if bad.f_any()?.f_int64_value(&[])? != 0 {
        let first = target.f_masked_select(&bad)?.f_int64_value(&[0])?;
        return invalid!("target {first} is out of bounds for {classes} classes (ignore_index {ignore_index})");
    }
    Ok(())
}

/// Negative log likelihood, as `torch.nn.NLLLoss`: `−w[y]·x[y]` per sample (0 where
/// `y == ignore_index`), for inputs `[C]`, `[N, C]` or `[N, C, d1, …]` of log-probabilities.
pub fn nll_loss(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    reduction: Reduction,
) -> Result<Tensor> {
    check_floating("input", input)?;
    check_class_targets(input, target, ignore_index)?;
    let dim = class_dim(input);
    check_class_weight(weight, input.size()[dim as usize])?;

    let target = target.f_to_kind(Kind::Int64)?;
    let kept = target.f_ne(ignore_index)?;
    let safe_target = target.f_masked_fill(&kept.f_logical_not()?, 0)?;
    let picked = input.f_gather(dim, &safe_target.f_unsqueeze(dim)?, false)?.f_squeeze_dim(dim)?;
    let target_weight = target_weights(weight, &safe_target, &kept, input.kind())?;
    // −x·w, and exactly 0 (not −0·x, which is NaN for an infinite x) where ignored.
    let loss = picked.f_neg()?.f_mul(&target_weight)?;
    let loss = loss.f_where_self(&kept, &loss.f_zeros_like()?)?;
    match reduction {
        Reduction::None => Ok(loss),
        Reduction::Sum => Ok(loss.f_sum(None)?),
        Reduction::Mean => Ok(loss.f_sum(None)?.f_div(&target_weight.f_sum(None)?)?),
    }
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

/// Cross entropy on logits, as `torch.nn.CrossEntropyLoss`. A target of the input's shape is
/// read as class probabilities (floating); otherwise it holds class indices (int64).
pub fn cross_entropy(input: &Tensor, target: &Tensor, options: &CrossEntropy, reduction: Reduction) -> Result<Tensor> {
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
        check_class_weight(options.weight, classes)?;
        return probability_cross_entropy(input, target, options.weight, smoothing, reduction);
    }

    check_class_targets(input, target, options.ignore_index)?;
    check_class_weight(options.weight, classes)?;
    let log_p = log_softmax(input, dim)?;
    let nll = nll_loss(&log_p, target, options.weight, options.ignore_index, reduction)?;
    if smoothing == 0.0 {
        return Ok(nll);
    }

    // Σ_c −w_c·log p_c per sample, zeroed where the target is ignored.
    let weighted_log_p = match options.weight {
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
            let total = target_weights(options.weight, &safe_target, &kept, input.kind())?.f_sum(None)?;
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
/// `label_smoothing = α` (without class weights).
pub fn smoothed_target_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    alpha: f64,
    reduction: Reduction,
) -> Result<Tensor> {
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
    cross_entropy(input, &smoothed, &CrossEntropy::default(), reduction)
}

#[cfg(test)]
#[path = "cross_entropy_tests.rs"]
mod tests;
