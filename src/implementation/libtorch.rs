//! libtorch as implementations: its built-in losses through tch and the shim ([`Libtorch`]), and
//! its optimizers three ways ([`CppOptimizer`], [`TchOptimizer`], [`FusedOptimizer`]).

use super::{evaluate_tensors, Evaluation, Implementation, LossInput, OptimizerRun};
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
    forward_loss_call!(lt, call, {
        C::CtcLoss { log_probs, targets, input_lengths, target_lengths, options, reduction } => {
            Some(lt::ctc_loss(log_probs, targets, input_lengths, target_lengths, options, reduction))
        }
        C::SigmoidFocalLoss { .. }
        | C::GaussianNllLoss { .. }
        | C::MultilabelSoftMarginLoss { .. }
        | C::TripletMarginWithDistanceLoss { .. } => None,
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

/// A stepper over copies of `params` for these groups (`group_of[i]` is the group of `params[i]`).
type Build = fn(groups: &[OptimizerOptions], params: &[Tensor], group_of: &[usize]) -> Built;
type Built = Result<Box<dyn Stepper>>;

/// One of libtorch's optimizer paths: which configurations it runs, and how to build it.
pub struct OptimizerPath {
    name: &'static str,
    title: &'static str,
    supports: fn(&[OptimizerOptions]) -> bool,
    build: Build,
}

/// libtorch's C++ optimizers (`torch::optim::…`), owned by the shim, with their state.
pub const CPP_OPTIMIZER: OptimizerPath = OptimizerPath {
    name: "cpp",
    title: "libtorch's C++ torch::optim",
    supports: Cpp::supports,
    build: |groups, params, group_of| Ok(Box::new(Cpp::new(groups, params, group_of)?)),
};

/// The same C++ optimizers through tch's `COptimizer`, as tch users drive them (parameters only).
pub const TCH_OPTIMIZER: OptimizerPath = OptimizerPath {
    name: "tch",
    title: "tch's COptimizer",
    supports: Tch::supports,
    build: |groups, params, group_of| Ok(Box::new(Tch::new(groups, params, group_of)?)),
};

/// The fused CPU kernels (`_fused_sgd_`, `_fused_adam_`, `_fused_adamw_`, `_fused_adagrad_`).
pub const FUSED_OPTIMIZER: OptimizerPath = OptimizerPath {
    name: "fused",
    title: "libtorch's fused CPU kernel",
    supports: Fused::supports,
    build: |groups, params, group_of| Ok(Box::new(Fused::new(groups, params, group_of)?)),
};

impl Implementation for OptimizerPath {
    fn name(&self) -> &'static str {
        self.name
    }

    fn title(&self) -> &'static str {
        self.title
    }

    fn optimizer(&self, run: &OptimizerRun) -> Option<Result<Box<dyn Stepper>>> {
        (self.supports)(run.groups).then(|| (self.build)(run.groups, run.params, run.group_of))
    }
}
