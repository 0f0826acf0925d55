//! libtorch as implementations: its built-in losses through tch and the shim ([`Libtorch`]), and
//! its optimizers three ways ([`CppOptimizer`], [`TchOptimizer`], [`FusedOptimizer`]).

use super::{
    evaluate_tensors, ClipCall, Evaluation, Implementation, LossInput, OptimizerCode, OptimizerRun, ScheduleRun,
};
use crate::catalog::schedulers::SchedulerOptions;
use crate::catalog::LossCall;
use crate::error::Result;
use crate::ffi;
use crate::optim::{OptimizerOptions, Stepper};
use crate::reference::loss as lt;
use crate::reference::optim::{Cpp, Fused, Tch};
use crate::train::lr_scheduler::{PlateauMode, ThresholdMode};
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

    /// libtorch's C++ `StepLR` and `ReduceLROnPlateauScheduler`, where they compute what
    /// torch.optim's do (see [`cpp_schedule`]).
    fn schedule(&self, run: &ScheduleRun) -> Evaluation {
        match cpp_schedule(run) {
            None => Evaluation::Unsupported,
            Some(Err(why)) => Evaluation::Unavailable(why),
            Some(Ok(lrs)) => Evaluation::Computed(ScheduleRun::outputs("lr", &lrs)),
        }
    }

    /// `torch::nn::utils::clip_grad_norm_` and `clip_grad_value_`, except where libtorch's C++
    /// computes another norm than PyTorch: for order 0 it counts the parameters that have a
    /// gradient, PyTorch those whose gradient is not all zeros.
    fn clip(&self, call: &ClipCall) -> Evaluation {
        let all_zero = |g: &Option<Tensor>| {
            g.as_ref().is_some_and(|g| g.numel() > 0 && g.count_nonzero(None::<i64>).int64_value(&[]) == 0)
        };
        if call.spec.id == "clip_grad_norm_" && call.float("norm_type") == 0.0 && call.grads.iter().any(all_zero) {
            return Evaluation::Unavailable(
                "libtorch's C++ clip_grad_norm_ counts every parameter with a gradient for order 0, PyTorch only \
                 those not all zeros"
                    .into(),
            );
        }
        if call.spec.id == "clip_grad_value_" && call.grads.iter().all(Option::is_none) {
            return Evaluation::Unavailable(
                "libtorch's C++ clip_grad_value_ accepts parameters without any gradient, torch.nn.utils's refuses them"
                    .into(),
            );
        }
        super::hand_written::evaluation(|| {
            let params = call.parameters().map_err(|e| e.to_string())?;
            let total = match call.spec.id {
                "clip_grad_norm_" => {
                    let (max_norm, norm_type) = (call.float("max_norm"), call.float("norm_type"));
                    let total = ffi::clip_grad_norm(&params, max_norm, norm_type, call.flag("error_if_nonfinite"))
                        .map_err(|e| e.to_string())?;
                    Some(Tensor::from(total))
                }
                _ => {
                    ffi::clip_grad_value(&params, call.float("clip_value")).map_err(|e| e.to_string())?;
                    None
                }
            };
            call.outputs(total.as_ref(), &params)
        })
    }
}

/// Whether `x` is exact in float32 (libtorch's ReduceLROnPlateauScheduler keeps its factor,
/// floors and metrics in float).
fn exact_in_f32(x: f64) -> bool {
    f64::from(x as f32) == x
}

/// libtorch's C++ schedule of `run`: `None` for a scheduler libtorch has not; `Err(why)` where
/// its C++ scheduler is known to differ from torch.optim's, so that it is no reference there.
/// libtorch's constructor takes no step, unlike torch.optim's: the run steps once right after
/// construction to stand for it (else every StepLR decay comes a step later; the crate's tests
/// pin that).
fn cpp_schedule(run: &ScheduleRun) -> Option<std::result::Result<Vec<Vec<f64>>, String>> {
    let torch = |r: Result<Vec<Vec<f64>>>| r.map_err(|e| e.to_string());
    match &run.config.ok()?.options {
        SchedulerOptions::Step(o) => Some(if !run.epochs.is_empty() {
            Err("libtorch's C++ StepLR has no step(epoch)".into())
        } else if o.step_size <= 0 {
            Err("libtorch's C++ StepLR takes an unsigned step_size".into())
        } else {
            torch(ffi::step_lr(run.lrs, o.step_size, o.gamma, true, run.steps))
        }),
        SchedulerOptions::ReduceOnPlateau(o) => {
            let floats = std::iter::once(o.factor).chain(o.min_lr.iter().copied()).chain(run.metrics.iter().copied());
            let why = if o.mode == PlateauMode::Max && o.threshold_mode == ThresholdMode::Abs {
                Some("libtorch's C++ ReduceLROnPlateauScheduler compares `a > best * threshold` in max/abs mode")
            } else if o.mode == PlateauMode::Max && run.metrics.iter().any(|&m| m <= f64::from(f32::MIN_POSITIVE)) {
                Some("libtorch's C++ ReduceLROnPlateauScheduler starts max mode from FLT_MIN, not -inf")
            } else if !floats.clone().all(exact_in_f32) {
                Some("libtorch's C++ ReduceLROnPlateauScheduler rounds factor, min_lr and metrics to float")
            } else if run.metrics.len() != run.steps {
                Some("a plateau run needs a metric per step")
            } else {
                None
            };
            if let Some(why) = why {
                return Some(Err(why.into()));
            }
            let floors = match o.min_lr.len() {
                1 => vec![o.min_lr[0]; run.lrs.len()],
                _ => o.min_lr.clone(),
            };
            let args = ffi::PlateauArgs {
                max_mode: o.mode == PlateauMode::Max,
                factor: o.factor,
                patience: o.patience,
                threshold: o.threshold,
                abs_threshold: o.threshold_mode == ThresholdMode::Abs,
                cooldown: o.cooldown,
                min_lrs: Some(&floors),
                eps: o.eps,
            };
            Some(torch(ffi::reduce_on_plateau(run.lrs, &args, run.metrics)))
        }
        _ => None,
    }
}

/// A stepper over copies of `params` for these groups (`group_of[i]` is the group of `params[i]`).
type Build = fn(groups: &[OptimizerOptions], params: &[Tensor], group_of: &[usize]) -> Built;
type Built = Result<Box<dyn Stepper>>;

/// One of libtorch's optimizer paths: which configurations it runs, and how to build it.
pub struct OptimizerPath {
    name: &'static str,
    title: &'static str,
    code: OptimizerCode,
    supports: fn(&[OptimizerOptions]) -> bool,
    build: Build,
}

/// libtorch's C++ optimizers (`torch::optim::…`), owned by the shim, with their state.
pub const CPP_OPTIMIZER: OptimizerPath = OptimizerPath {
    name: "cpp",
    code: OptimizerCode::LibtorchCpp,
    title: "libtorch's C++ torch::optim",
    supports: Cpp::supports,
    build: |groups, params, group_of| Ok(Box::new(Cpp::new(groups, params, group_of)?)),
};

/// The same C++ optimizers through tch's `COptimizer`, as tch users drive them (parameters only).
pub const TCH_OPTIMIZER: OptimizerPath = OptimizerPath {
    name: "tch",
    code: OptimizerCode::LibtorchCpp,
    title: "tch's COptimizer",
    supports: Tch::supports,
    build: |groups, params, group_of| Ok(Box::new(Tch::new(groups, params, group_of)?)),
};

/// The fused CPU kernels (`_fused_sgd_`, `_fused_adam_`, `_fused_adamw_`, `_fused_adagrad_`).
pub const FUSED_OPTIMIZER: OptimizerPath = OptimizerPath {
    name: "fused",
    code: OptimizerCode::FusedKernel,
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

    fn optimizer_code(&self, _: &OptimizerRun) -> Option<OptimizerCode> {
        Some(self.code)
    }

    fn optimizer(&self, run: &OptimizerRun) -> Option<Result<Box<dyn Stepper>>> {
        // A scheduled or loss-scaled run is checked against torch.optim with
        // torch.optim.lr_scheduler and torch.amp.GradScaler.
        let scheduled = run.scheduler.is_some() || run.grad_scaler.is_some();
        ((self.supports)(run.groups) && !scheduled).then(|| (self.build)(run.groups, run.params, run.group_of))
    }
}
