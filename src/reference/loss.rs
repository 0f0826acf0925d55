//! libtorch's own losses through tch, with the same signatures and option types as the
//! hand-written ones in `crate::loss` (and nothing else from there: a reference computes on its
//! own). Every call goes through tch's fallible `f_` twin, so a C++ exception becomes an `Err`.
//!
//! The losses PyTorch defines only in Python (torchvision's focal loss, Gaussian NLL, multilabel
//! soft margin, triplet margin with distance) have no libtorch op; their reference is PyTorch
//! itself ([`super::python`]).

use crate::error::Result;
use crate::loss::{
    CosineEmbeddingOptions, CrossEntropyOptions, CtcOptions, HingeEmbeddingOptions, HuberOptions, KlDivOptions,
    KlDivReduction, MarginRankingOptions, MultiMarginOptions, NllOptions, PoissonNllOptions, Reduction,
    SmoothL1Options, SmoothedTargetOptions, TripletMarginOptions,
};
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
    options: NllOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_nll_loss_nd(target, weight, reduction.into(), options.ignore_index)?)
}

pub fn cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    options: CrossEntropyOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    let CrossEntropyOptions { ignore_index, label_smoothing } = options;
    Ok(input.f_cross_entropy_loss(target, weight, reduction.into(), ignore_index, label_smoothing)?)
}

/// The document's `CELoss` algorithm (§3.2) on libtorch's own ops: `one_hot` for class indices,
/// the smoothing by hand, then `cross_entropy` with probability targets.
pub fn smoothed_target_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    options: SmoothedTargetOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    let alpha = options.label_smooth;
    let classes = input.size().get(1).copied().unwrap_or(0);
    let one_hot = if target.size() == input.size() { target.shallow_clone() } else { target.f_one_hot(classes)? };
    let smoothed = one_hot.f_to_kind(input.kind())?.f_mul_scalar(1.0 - alpha)?.f_add_scalar(alpha / classes as f64)?;
    Ok(input.f_cross_entropy_loss(&smoothed, None::<&Tensor>, reduction.into(), -100, 0.0)?)
}

pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_l1_loss(target, reduction.into())?)
}

pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_mse_loss(target, reduction.into())?)
}

pub fn smooth_l1_loss(
    input: &Tensor,
    target: &Tensor,
    options: SmoothL1Options,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_smooth_l1_loss(target, reduction.into(), options.beta)?)
}

pub fn huber_loss(input: &Tensor, target: &Tensor, options: HuberOptions, reduction: Reduction) -> Result<Tensor> {
    Ok(input.f_huber_loss(target, reduction.into(), options.delta)?)
}

/// libtorch's op for none, mean and sum; `BatchMean`, which only Python offers, is its sum
/// divided by the batch size, as `F.kl_div` computes it.
pub fn kl_div(
    input: &Tensor,
    target: &Tensor,
    options: KlDivOptions,
    reduction: impl Into<KlDivReduction>,
) -> Result<Tensor> {
    let log_target = options.log_target;
    Ok(match reduction.into() {
        KlDivReduction::None => input.f_kl_div(target, tch::Reduction::None, log_target)?,
        KlDivReduction::Mean => input.f_kl_div(target, tch::Reduction::Mean, log_target)?,
        KlDivReduction::Sum => input.f_kl_div(target, tch::Reduction::Sum, log_target)?,
        KlDivReduction::BatchMean => {
            let batch = input.size().first().copied().unwrap_or(1);
            input.f_kl_div(target, tch::Reduction::Sum, log_target)?.f_div_scalar(batch as f64)?
        }
    })
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
    options: MarginRankingOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(Tensor::f_margin_ranking_loss(input1, input2, target, options.margin, reduction.into())?)
}

pub fn hinge_embedding_loss(
    input: &Tensor,
    target: &Tensor,
    options: HingeEmbeddingOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_hinge_embedding_loss(target, options.margin, reduction.into())?)
}

pub fn cosine_embedding_loss(
    input1: &Tensor,
    input2: &Tensor,
    target: &Tensor,
    options: CosineEmbeddingOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(Tensor::f_cosine_embedding_loss(input1, input2, target, options.margin, reduction.into())?)
}

pub fn triplet_margin_loss(
    anchor: &Tensor,
    positive: &Tensor,
    negative: &Tensor,
    options: TripletMarginOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    let TripletMarginOptions { margin, p, eps, swap } = options;
    Ok(Tensor::f_triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap, reduction.into())?)
}

pub fn poisson_nll_loss(
    input: &Tensor,
    target: &Tensor,
    options: PoissonNllOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    let PoissonNllOptions { log_input, full, eps } = options;
    Ok(input.f_poisson_nll_loss(target, log_input, full, eps, reduction.into())?)
}

/// The lengths as libtorch takes them here: int64 tensors (the hand-written side takes slices).
pub fn ctc_loss(
    log_probs: &Tensor,
    targets: &Tensor,
    input_lengths: &Tensor,
    target_lengths: &Tensor,
    options: CtcOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    let CtcOptions { blank, zero_infinity } = options;
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

/// `at::multi_margin_loss` through the shim (tch does not expose it).
pub fn multi_margin_loss(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    options: MultiMarginOptions,
    reduction: Reduction,
) -> Result<Tensor> {
    let code = match reduction {
        Reduction::None => 0,
        Reduction::Mean => 1,
        Reduction::Sum => 2,
    };
    crate::ffi::multi_margin_loss(input, target, options.p, options.margin, weight, code)
}
