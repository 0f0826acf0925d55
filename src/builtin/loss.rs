//! libtorch's own losses, with the same signatures as the hand-written ones in `crate::loss`.

use crate::error::Result;
use crate::loss::Reduction;
use tch::Tensor;

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_sigmoid()?)
}

pub fn binary_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_binary_cross_entropy(target, weight, reduction.into())?)
}

pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_binary_cross_entropy_with_logits(target, weight, pos_weight, reduction.into())?)
}

pub fn softmax(x: &Tensor, dim: i64) -> Result<Tensor> {
    Ok(x.f_softmax(dim, x.kind())?)
}

pub fn log_softmax(x: &Tensor, dim: i64) -> Result<Tensor> {
    Ok(x.f_log_softmax(dim, x.kind())?)
}

/// `nll_loss_nd`: libtorch's entry point for `[C]`, `[N, C]` and `[N, C, d1, …]` inputs.
pub fn nll_loss(input: &Tensor, target: &Tensor, weight: Option<&Tensor>, ignore_index: i64, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_nll_loss_nd(target, weight, reduction.into(), ignore_index)?)
}

pub fn cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_cross_entropy_loss(target, weight, reduction.into(), ignore_index, label_smoothing)?)
}

/// The document's `CELoss` algorithm (§3.2) on libtorch's own ops: `one_hot` for class indices,
/// the smoothing by hand, then `cross_entropy` with probability targets.
pub fn smoothed_target_cross_entropy(input: &Tensor, target: &Tensor, alpha: f64, reduction: Reduction) -> Result<Tensor> {
    let classes = input.size().get(1).copied().unwrap_or(0);
    let one_hot = if target.size() == input.size() { target.shallow_clone() } else { target.f_one_hot(classes)? };
    let smoothed = one_hot.f_to_kind(input.kind())?.f_mul_scalar(1.0 - alpha)?.f_add_scalar(alpha / classes as f64)?;
    Ok(input.f_cross_entropy_loss(&smoothed, None::<&Tensor>, reduction.into(), -100, 0.0)?)
}

/// torchvision's `sigmoid_focal_loss` algorithm (pure Python there, no libtorch op) composed
/// from libtorch's built-ins, step for step.
pub fn sigmoid_focal_loss(input: &Tensor, target: &Tensor, alpha: f64, gamma: f64, reduction: Reduction) -> Result<Tensor> {
    if !((0.0..=1.0).contains(&alpha) || alpha == -1.0) {
        return Err(crate::Error::InvalidArgument(format!(
            "Invalid alpha value: {alpha}. alpha must be in the range [0,1] or -1 for ignore."
        )));
    }
    let p = input.f_sigmoid()?;
    let ce = input.f_binary_cross_entropy_with_logits(target, None::<&Tensor>, None::<&Tensor>, tch::Reduction::None)?;
    let loss = crate::loss::focal::focal_from_parts(&ce, &p, target, alpha, gamma)?;
    Ok(match reduction {
        Reduction::None => loss,
        Reduction::Mean => loss.f_mean(None)?,
        Reduction::Sum => loss.f_sum(None)?,
    })
}

pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_l1_loss(target, reduction.into())?)
}

pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_mse_loss(target, reduction.into())?)
}

pub fn smooth_l1_loss(input: &Tensor, target: &Tensor, beta: f64, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_smooth_l1_loss(target, reduction.into(), beta)?)
}

pub fn huber_loss(input: &Tensor, target: &Tensor, delta: f64, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_huber_loss(target, reduction.into(), delta)?)
}
