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
pub fn nll_loss(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    reduction: Reduction,
) -> Result<Tensor> {
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
pub fn smoothed_target_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    alpha: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    let classes = input.size().get(1).copied().unwrap_or(0);
    let one_hot = if target.size() == input.size() { target.shallow_clone() } else { target.f_one_hot(classes)? };
    let smoothed = one_hot.f_to_kind(input.kind())?.f_mul_scalar(1.0 - alpha)?.f_add_scalar(alpha / classes as f64)?;
    Ok(input.f_cross_entropy_loss(&smoothed, None::<&Tensor>, reduction.into(), -100, 0.0)?)
}

/// torchvision's `sigmoid_focal_loss` algorithm (pure Python there, no libtorch op) composed
/// from libtorch's built-ins, step for step.
pub fn sigmoid_focal_loss(
    input: &Tensor,
    target: &Tensor,
    alpha: f64,
    gamma: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    if !((0.0..=1.0).contains(&alpha) || alpha == -1.0) {
        return Err(crate::Error::InvalidArgument(format!(
            "Invalid alpha value: {alpha}. alpha must be in the range [0,1] or -1 for ignore."
        )));
    }
    let p = input.f_sigmoid()?;
    let ce =
        input.f_binary_cross_entropy_with_logits(target, None::<&Tensor>, None::<&Tensor>, tch::Reduction::None)?;
    let loss = crate::loss::focal::focal_from_parts(&ce, &p, target, alpha, gamma)?;
    reduction.apply(loss)
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

pub fn kl_div(input: &Tensor, target: &Tensor, reduction: Reduction, log_target: bool) -> Result<Tensor> {
    Ok(input.f_kl_div(target, reduction.into(), log_target)?)
}

/// Python's `reduction='batchmean'` on libtorch's op: the sum over the batch size.
pub fn kl_div_batchmean(input: &Tensor, target: &Tensor, log_target: bool) -> Result<Tensor> {
    let batch = input.size().first().copied().unwrap_or(1);
    Ok(input.f_kl_div(target, tch::Reduction::Sum, log_target)?.f_div_scalar(batch as f64)?)
}

pub fn soft_margin_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_soft_margin_loss(target, reduction.into())?)
}

pub fn multilabel_margin_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_multilabel_margin_loss(target, reduction.into())?)
}

pub fn margin_ranking_loss(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    margin: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(Tensor::f_margin_ranking_loss(input1, input2, target, margin, reduction.into())?)
}

pub fn hinge_embedding_loss(input: &Tensor, target: &Tensor, margin: f64, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_hinge_embedding_loss(target, margin, reduction.into())?)
}

pub fn cosine_embedding_loss(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    margin: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(Tensor::f_cosine_embedding_loss(input1, input2, target, margin, reduction.into())?)
}

#[allow(clippy::too_many_arguments)]
pub fn triplet_margin_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    margin: f64,
    p: f64,
    eps: f64,
    swap: bool,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(Tensor::f_triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction.into())?)
}

pub fn poisson_nll_loss(
    input: &Tensor,
    target: &Tensor,
    log_input: bool,
    full: bool,
    eps: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_poisson_nll_loss(target, log_input, full, eps, reduction.into())?)
}

#[allow(clippy::too_many_arguments)]
pub fn ctc_loss(
    log_probs: &Tensor,
    targets: &Tensor,
    input_lengths: &Tensor,
    target_lengths: &Tensor,
    blank: i64,
    reduction: Reduction,
    zero_infinity: bool,
) -> Result<Tensor> {
    Ok(Tensor::f_ctc_loss_tensor(
        log_probs,
        targets,
        input_lengths,
        target_lengths,
        blank,
        reduction.into(),
        zero_infinity,
    )?)
}

pub fn multi_margin_loss(
    input: &Tensor,
    target: &Tensor,
    p: i64,
    margin: f64,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    super::shim::multi_margin_loss(input, target, p, margin, weight, reduction)
}

// PyTorch's Python-only losses, composed from libtorch ops the way torch.nn.functional writes
// them; their fixture values are recorded by PyTorch itself.

/// `F.gaussian_nll_loss`: the variance reshaped as Python does, clamped at `eps` under no_grad.
pub fn gaussian_nll_loss(
    input: &Tensor,
    target: &Tensor,
    var: &Tensor,
    full: bool,
    eps: f64,
    reduction: Reduction,
) -> Result<Tensor> {
    let (x, v) = (input.size(), var.size());
    let var = if v != x && !x.is_empty() && v == x[..x.len() - 1] { var.f_unsqueeze(-1)? } else { var.shallow_clone() };
    if var.size() != x
        && !(var.size().len() == x.len()
            && var.size().last() == Some(&1)
            && var.size()[..x.len() - 1] == x[..x.len() - 1])
    {
        return Err(crate::Error::InvalidArgument("var is of incorrect size".into()));
    }
    if var.numel() > 0 && var.f_min()?.f_double_value(&[])? < 0.0 {
        return Err(crate::Error::InvalidArgument("var has negative entry/entries".into()));
    }
    let vd = var.f_detach()?;
    let clamped = var.f_add(&vd.f_clamp_min(eps)?.f_sub(&vd)?)?;
    let diff = input.f_sub(target)?;
    let mut loss = clamped.f_log()?.f_add(&diff.f_square()?.f_div(&clamped)?)?.f_mul_scalar(0.5)?;
    if full {
        loss = loss.f_add_scalar(0.5 * (2.0 * std::f64::consts::PI).ln())?;
    }
    reduction.apply(loss)
}

/// `F.multilabel_soft_margin_loss`: `−(t·logσ(x) + (1 − t)·logσ(−x))`, weighted, averaged over
/// the last dimension.
pub fn multilabel_soft_margin_loss(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    let t = target;
    let loss = t
        .f_mul(&input.f_log_sigmoid()?)?
        .f_add(&t.f_neg()?.f_add_scalar(1.0)?.f_mul(&input.f_neg()?.f_log_sigmoid()?)?)?
        .f_neg()?;
    let loss = match weight {
        Some(w) => loss.f_mul(w)?,
        None => loss,
    };
    let class_dim = (input.dim() as i64 - 1).max(0);
    let classes = input.size().get(class_dim as usize).copied().unwrap_or(1);
    let loss = loss.f_sum_dim_intlist([class_dim].as_slice(), false, None)?.f_div_scalar(classes as f64)?;
    reduction.apply(loss)
}

/// `F.triplet_margin_with_distance_loss` with `pairwise_distance` (its default) or
/// `1 − cosine_similarity` as the distance.
pub fn triplet_margin_with_distance_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    cosine_distance: bool,
    margin: f64,
    swap: bool,
    reduction: Reduction,
) -> Result<Tensor> {
    if margin <= 0.0 {
        return Err(crate::Error::InvalidArgument(format!("margin must be greater than 0, got {margin:?}")));
    }
    let distance = |x: &Tensor, y: &Tensor| -> Result<Tensor> {
        Ok(if cosine_distance {
            Tensor::f_cosine_similarity(x, y, -1, 1e-8)?.f_neg()?.f_add_scalar(1.0)?
        } else {
            Tensor::f_pairwise_distance(x, y, 2.0, 1e-6, false)?
        })
    };
    let to_positive = distance(anchor, positive)?;
    let mut to_negative = distance(anchor, negative)?;
    if swap {
        to_negative = to_negative.f_minimum(&distance(positive, negative)?)?;
    }
    let loss = to_positive.f_sub(&to_negative)?.f_add_scalar(margin)?.f_clamp_min(0.0)?;
    reduction.apply(loss)
}
