//! libtorch as implementations: its built-in losses through tch and the shim ([`Libtorch`]), and
//! its optimizers three ways ([`CppOptimizer`], [`TchOptimizer`], [`FusedOptimizer`]).

use super::{evaluate_tensors, Evaluation, Implementation, LossInput};
use crate::catalog::LossCall;
use crate::error::Result;
use crate::optim::{OptimizerOptions, Stepper};
use crate::reference::loss as lt;
use crate::reference::optim::{Cpp, Fused, Tch};
use tch::Tensor;

/// libtorch's built-in losses.
pub struct Libtorch;

/// libtorch's loss of a call; `None` where libtorch has no op (PyTorch's Python-only losses).
pub fn compute(call: &LossCall) -> Option<Result<Tensor>> {
    use LossCall as C;
    Some(match *call {
        C::Sigmoid { input } => lt::sigmoid(input),
        C::Softmax { input, dim } => lt::softmax(input, dim),
        C::LogSoftmax { input, dim } => lt::log_softmax(input, dim),
        C::BinaryCrossEntropy { input, target, weight, reduction } => {
            lt::binary_cross_entropy(input, target, weight, reduction)
        }
        C::BinaryCrossEntropyWithLogits { input, target, weight, pos_weight, reduction } => {
            lt::binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction)
        }
        C::NllLoss { input, target, weight, options, reduction } => {
            lt::nll_loss(input, target, weight, options, reduction)
        }
        C::CrossEntropy { input, target, weight, options, reduction } => {
            lt::cross_entropy(input, target, weight, options, reduction)
        }
        C::SmoothedTargetCrossEntropy { input, target, options, reduction } => {
            lt::smoothed_target_cross_entropy(input, target, options, reduction)
        }
        C::L1Loss { input, target, reduction } => lt::l1_loss(input, target, reduction),
        C::MseLoss { input, target, reduction } => lt::mse_loss(input, target, reduction),
        C::SmoothL1Loss { input, target, options, reduction } => lt::smooth_l1_loss(input, target, options, reduction),
        C::HuberLoss { input, target, options, reduction } => lt::huber_loss(input, target, options, reduction),
        C::KlDiv { input, target, options, reduction } => lt::kl_div(input, target, options, reduction),
        C::SoftMarginLoss { input, target, reduction } => lt::soft_margin_loss(input, target, reduction),
        C::MultilabelMarginLoss { input, target, reduction } => lt::multilabel_margin_loss(input, target, reduction),
        C::MultiMarginLoss { input, target, weight, options, reduction } => {
            lt::multi_margin_loss(input, target, weight, options, reduction)
        }
        C::MarginRankingLoss { input1, input2, target, options, reduction } => {
            lt::margin_ranking_loss(input1, input2, target, options, reduction)
        }
        C::HingeEmbeddingLoss { input, target, options, reduction } => {
            lt::hinge_embedding_loss(input, target, options, reduction)
        }
        C::CosineEmbeddingLoss { input1, input2, target, options, reduction } => {
            lt::cosine_embedding_loss(input1, input2, target, options, reduction)
        }
        C::TripletMarginLoss { anchor, positive, negative, options, reduction } => {
            lt::triplet_margin_loss(anchor, positive, negative, options, reduction)
        }
        C::PoissonNllLoss { input, target, options, reduction } => {
            lt::poisson_nll_loss(input, target, options, reduction)
        }
        C::CtcLoss { log_probs, targets, input_lengths, target_lengths, options, reduction } => {
            lt::ctc_loss(log_probs, targets, input_lengths, target_lengths, options, reduction)
        }
        C::SigmoidFocalLoss { .. }
        | C::GaussianNllLoss { .. }
        | C::MultilabelSoftMarginLoss { .. }
        | C::TripletMarginWithDistanceLoss { .. } => return None,
    })
}

impl Implementation for Libtorch {
    fn name(&self) -> &'static str {
        "libtorch"
    }

    fn title(&self) -> &'static str {
        "libtorch's built-in"
    }

    fn loss(&self, input: &LossInput) -> Evaluation {
        evaluate_tensors(input, compute)
    }
}

/// libtorch's C++ optimizers (`torch::optim::…`), owned by the shim, with their state.
pub struct CppOptimizer;

impl Implementation for CppOptimizer {
    fn name(&self) -> &'static str {
        "cpp"
    }

    fn title(&self) -> &'static str {
        "libtorch's C++ torch::optim"
    }

    fn optimizer(
        &self,
        groups: &[OptimizerOptions],
        params: &[Tensor],
        group_of: &[usize],
    ) -> Option<Result<Box<dyn Stepper>>> {
        Cpp::supports(groups).then(|| Ok(Box::new(Cpp::new(groups, params, group_of)?) as Box<dyn Stepper>))
    }
}

/// The same C++ optimizers through tch's `COptimizer`, as tch users drive them (parameters only).
pub struct TchOptimizer;

impl Implementation for TchOptimizer {
    fn name(&self) -> &'static str {
        "tch"
    }

    fn title(&self) -> &'static str {
        "tch's COptimizer"
    }

    fn optimizer(
        &self,
        groups: &[OptimizerOptions],
        params: &[Tensor],
        group_of: &[usize],
    ) -> Option<Result<Box<dyn Stepper>>> {
        Tch::supports(groups).then(|| Ok(Box::new(Tch::new(groups, params, group_of)?) as Box<dyn Stepper>))
    }
}

/// The fused CPU kernels (`_fused_sgd_`, `_fused_adam_`, `_fused_adamw_`, `_fused_adagrad_`).
pub struct FusedOptimizer;

impl Implementation for FusedOptimizer {
    fn name(&self) -> &'static str {
        "fused"
    }

    fn title(&self) -> &'static str {
        "libtorch's fused CPU kernel"
    }

    fn optimizer(
        &self,
        groups: &[OptimizerOptions],
        params: &[Tensor],
        group_of: &[usize],
    ) -> Option<Result<Box<dyn Stepper>>> {
        Fused::supports(groups).then(|| Ok(Box::new(Fused::new(groups, params, group_of)?) as Box<dyn Stepper>))
    }
}
