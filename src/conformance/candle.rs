//! candle (candle-core and candle-nn 0.11.1, CPU) as a [`Subject`]: every loss candle-nn's
//! `loss` module has, its `softmax`, `log_softmax` and `sigmoid`, and its `SGD` and `AdamW`
//! optimizers, with gradients from candle's own backprop.
//!
//! What candle's API cannot express is unsupported, not failed: its losses take the mean only
//! (no `none` or `sum`), no class weights, no `ignore_index`, no label smoothing, class indices
//! as `u32` of a 2-d input only, and no broadcasting between input and target; its SGD has
//! neither momentum nor weight decay; its optimizers have one learning rate for every
//! parameter. Its optimizers keep their state private, so only parameters are compared.

use super::{Answer, Finding, HostTensor, LossCase, LossOutput, OptimizerSetup, OptimizerUnderTest, Subject};
use crate::dtype::DType;
use crate::loss::Reduction;
use crate::optim::OptimizerOptions;
use candle_core::{backprop::GradStore, DType as CDType, Device, Tensor, Var};
use candle_nn::Optimizer;

/// The candle crates this adapter is built against.
pub const VERSION: &str = "candle-nn 0.11.1";

pub struct Candle;

const HALF: &[DType] = &DType::HALF;

/// Where candle 0.11.1 differs from PyTorch 2.13, pinned: `conform candle` passes while exactly
/// these show, and fails on a new disagreement or on one of these going away (the README's
/// findings explain each).
pub static FINDINGS: &[Finding] = &[
    Finding {
        upstream: Some("huggingface/candle#2561"),
        ..Finding::new(
            "binary_cross_entropy_with_logits",
            &["large-logits"],
            "candle takes log(sigmoid(x)) and log(1 − sigmoid(x)), which are −inf once sigmoid rounds to 0 or 1: \
             the loss is NaN at logits of ±100 in every dtype, where PyTorch's log-sum-exp form gives 718.76",
        )
    },
    Finding::new(
        "huber_loss",
        &["extreme"],
        "float16: candle's gradient is NaN where the error is large (the squared branch, unselected, \
         overflows to inf), where PyTorch's is finite",
    )
    .dtypes(&[DType::Float16]),
    Finding::new("sigmoid", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new("softmax", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new("log_softmax", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new("cross_entropy", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new("binary_cross_entropy_with_logits", &["moderate-soft-targets"], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new(
        "adamw",
        &["no-grad-at-some-steps"],
        "candle's AdamW keeps one step count for all parameters and advances it even for a parameter \
         without a gradient, so that parameter's bias corrections run ahead of PyTorch's per-parameter \
         `step` from the first step it is skipped",
    ),
    Finding::new(
        "adamw",
        &["empty-parameter"],
        "candle's AdamW fails on a parameter with no elements (\"cannot set a variable to a tensor that is \
         derived from its value\"), where PyTorch steps the others and leaves it empty",
    ),
    Finding::new(
        "adamw",
        &["defaults", "weight-decay"],
        "float16 and bfloat16: candle's AdamW rounds after every operation, so it leaves PyTorch's fused \
         kernel (float32 inside, rounded once) within the first 7 steps",
    )
    .dtypes(HALF)
    .variants(&["lockstep/fused", "free-running/fused"]),
    Finding::new("sgd", &["negative-lr"], UNVALIDATED).outputs(&["rejects"]),
    Finding::new("adamw", &["beta1-one", "beta2-negative", "negative-weight-decay"], UNVALIDATED).outputs(&["rejects"]),
    Finding::new(
        "huber_loss",
        &["zero-delta", "negative-delta"],
        "candle's huber accepts delta ≤ 0, which PyTorch rejects (\"huber_loss does not support non-positive \
         values for delta\")",
    )
    .outputs(&["rejects"]),
];

const HALF_OP_BY_OP: &str = "float16 and bfloat16: candle computes in the half dtype operation by operation, where \
     PyTorch's CPU kernels compute in float32 and round once, so some elements differ by more than the dtype's \
     tolerance";

const UNVALIDATED: &str =
    "candle's optimizers validate no hyperparameter: it accepts values torch.optim rejects with a ValueError";

/// candle's error message without the backtrace it carries when `RUST_BACKTRACE` is set.
fn message(e: &candle_core::Error) -> String {
    e.to_string().lines().next().unwrap_or("").trim().to_owned()
}

fn cdtype(dtype: DType) -> CDType {
    match dtype {
        DType::Float32 => CDType::F32,
        DType::Float64 => CDType::F64,
        DType::Float16 => CDType::F16,
        DType::BFloat16 => CDType::BF16,
    }
}

/// A host tensor in candle, at its own dtype (floats) or as u32 (class indices; `None` for a
/// negative index, which u32 cannot hold).
fn to_candle(t: &HostTensor) -> candle_core::Result<Option<Tensor>> {
    let dev = &Device::Cpu;
    match &t.data {
        super::HostData::Float { dtype, values } => {
            Ok(Some(Tensor::from_vec(values.clone(), t.shape.clone(), dev)?.to_dtype(cdtype(*dtype))?))
        }
        super::HostData::Int(ints) => {
            let Ok(u) = ints.iter().map(|&i| u32::try_from(i)).collect::<Result<Vec<u32>, _>>() else {
                return Ok(None);
            };
            Ok(Some(Tensor::from_vec(u, t.shape.clone(), dev)?))
        }
        super::HostData::Bool(_) => Ok(None),
    }
}

/// A candle float tensor as host data, read back at `dtype` (an output of another dtype is
/// reported as such by the caller's check).
fn to_host(t: &Tensor) -> candle_core::Result<HostTensor> {
    let dtype = match t.dtype() {
        CDType::F16 => DType::Float16,
        CDType::BF16 => DType::BFloat16,
        CDType::F32 => DType::Float32,
        _ => DType::Float64,
    };
    let values = t.flatten_all()?.to_dtype(CDType::F64)?.to_vec1::<f64>()?;
    Ok(HostTensor::float(t.dims().to_vec(), dtype, values))
}

impl Subject for Candle {
    fn name(&self) -> &'static str {
        "candle"
    }

    fn title(&self) -> String {
        VERSION.to_owned()
    }

    fn loss(&self, case: &LossCase) -> Answer<LossOutput> {
        match loss(case) {
            Ok(Some(out)) => Answer::Value(out),
            Ok(None) => Answer::Unsupported,
            Err(e) => Answer::Rejects(message(&e)),
        }
    }

    fn optimizer(&self, setup: &OptimizerSetup) -> Answer<Box<dyn OptimizerUnderTest>> {
        let Some(options) = setup.single_group() else { return Answer::Unsupported };
        let mut vars = Vec::new();
        for p in &setup.params {
            match to_candle(p).and_then(|t| t.map(|t| Var::from_tensor(&t)).transpose()) {
                Ok(Some(var)) => vars.push(var),
                Ok(None) => return Answer::Unsupported,
                Err(e) => return Answer::Rejects(message(&e)),
            }
        }
        let built: candle_core::Result<Box<dyn OptimizerUnderTest>> = match (setup.optimizer, options) {
            // candle's SGD is plain: p ← p − lr·g.
            ("sgd", OptimizerOptions::Sgd(o))
                if o.momentum == 0.0 && o.weight_decay == 0.0 && !o.nesterov && !o.maximize =>
            {
                candle_nn::SGD::new(vars.clone(), o.lr).map(|opt| Box::new(Stepped { opt, vars }) as _)
            }
            ("adamw", OptimizerOptions::AdamW(o)) if !o.amsgrad && !o.maximize => {
                let params = candle_nn::ParamsAdamW {
                    lr: o.lr,
                    beta1: o.betas.0,
                    beta2: o.betas.1,
                    eps: o.eps,
                    weight_decay: o.weight_decay,
                };
                candle_nn::AdamW::new(vars.clone(), params).map(|opt| Box::new(Stepped { opt, vars }) as _)
            }
            _ => return Answer::Unsupported,
        };
        built.map_or_else(|e| Answer::Rejects(message(&e)), Answer::Value)
    }
}

/// The loss of `case` in candle: `None` where candle has no such loss or option.
fn loss(case: &LossCase) -> candle_core::Result<Option<LossOutput>> {
    let reduced = |c: &LossCase| c.reduction == Reduction::Mean;
    let mut inputs: Vec<(String, Var)> = Vec::new();
    let mut fixed: Vec<(String, Tensor)> = Vec::new();
    for input in &case.inputs {
        let Some(t) = to_candle(&input.tensor)? else { return Ok(None) };
        if input.requires_grad {
            inputs.push((input.name.clone(), Var::from_tensor(&t)?));
        } else {
            fixed.push((input.name.clone(), t));
        }
    }
    let get = |name: &str| -> Option<Tensor> {
        let var = inputs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_tensor().clone());
        var.or_else(|| fixed.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()))
    };
    let same_shape = |a: &str, b: &str| case.input(a).map(|t| &t.shape) == case.input(b).map(|t| &t.shape);
    let dim = |name: &str| -> Option<usize> {
        let rank = case.input(name)?.shape.len() as i64;
        let d = match case.option("dim") {
            Some(crate::options::OptionValue::Int(d)) => d,
            _ => -1,
        };
        let d = if d < 0 { d + rank } else { d };
        (0..rank.max(1)).contains(&d).then_some(d as usize)
    };
    let input = get("input");
    let output = match case.op {
        "sigmoid" => candle_nn::ops::sigmoid(&input.expect("declared"))?,
        "softmax" | "log_softmax" => {
            let Some(d) = dim("input") else { return Ok(None) };
            let x = input.expect("declared");
            if case.op == "softmax" {
                candle_nn::ops::softmax(&x, d)?
            } else {
                candle_nn::ops::log_softmax(&x, d)?
            }
        }
        "mse_loss" if reduced(case) && same_shape("input", "target") => {
            candle_nn::loss::mse(&input.expect("declared"), &get("target").expect("declared"))?
        }
        "huber_loss" if reduced(case) && same_shape("input", "target") => {
            let delta = case.float_option("delta").unwrap_or(1.0);
            candle_nn::loss::huber(&input.expect("declared"), &get("target").expect("declared"), delta)?
        }
        "binary_cross_entropy_with_logits"
            if reduced(case)
                && same_shape("input", "target")
                && get("weight").is_none()
                && get("pos_weight").is_none() =>
        {
            candle_nn::loss::binary_cross_entropy_with_logit(
                &input.expect("declared"),
                &get("target").expect("declared"),
            )?
        }
        "nll_loss" | "cross_entropy" if reduced(case) && get("weight").is_none() => {
            let (Some(x), Some(target)) = (input, case.input("target")) else { return Ok(None) };
            let indices = target.int_values().unwrap_or(&[]);
            let default_ignore = case.option("ignore_index") == Some(crate::options::OptionValue::Int(-100));
            let smoothing = case.float_option("label_smoothing").unwrap_or(0.0);
            // Class indices of a 2-d input, no index ignored, no smoothing: what candle has.
            if x.rank() != 2
                || target.shape.len() != 1
                || target.int_values().is_none()
                || !default_ignore
                || indices.contains(&-100)
                || smoothing != 0.0
            {
                return Ok(None);
            }
            let Some(t) = get("target") else { return Ok(None) };
            if case.op == "nll_loss" {
                candle_nn::loss::nll(&x, &t)?
            } else {
                candle_nn::loss::cross_entropy(&x, &t)?
            }
        }
        _ => return Ok(None),
    };
    // Gradients of Σ wₖ·outputₖ (w = 1 for a scalar), from candle's backprop.
    let weights: Vec<f64> = (0..output.elem_count()).map(LossCase::output_weight).collect();
    let w = Tensor::from_vec(weights, output.dims().to_vec(), &Device::Cpu)?.to_dtype(output.dtype())?;
    let scalar = if output.rank() == 0 { output.clone() } else { (&output * &w)?.sum_all()? };
    let mut result = LossOutput::new(to_host(&output)?);
    if !inputs.is_empty() {
        let grads = scalar.backward()?;
        for (name, var) in &inputs {
            let grad = match grads.get(var.as_tensor()) {
                Some(g) => g.clone(),
                // candle leaves out an input the output does not depend on: its gradient is 0.
                None => var.as_tensor().zeros_like()?,
            };
            result = result.with_grad(name, to_host(&grad)?);
        }
    }
    Ok(Some(result))
}

/// A candle optimizer over its variables.
struct Stepped<O> {
    opt: O,
    vars: Vec<Var>,
}

impl<O: Optimizer> OptimizerUnderTest for Stepped<O> {
    fn step(&mut self, grads: &[Option<HostTensor>]) -> Result<(), String> {
        let mut store = GradStore::default();
        for (var, grad) in self.vars.iter().zip(grads) {
            if let Some(g) = grad {
                let t = to_candle(g).map_err(|e| message(&e))?.ok_or("a gradient that is not float")?;
                store.insert(var.as_tensor(), t);
            }
        }
        self.opt.step(&store).map_err(|e| message(&e))
    }

    fn set_lr(&mut self, lr: f64) -> Result<(), String> {
        self.opt.set_learning_rate(lr);
        Ok(())
    }

    fn params(&self) -> Vec<HostTensor> {
        self.vars.iter().map(|v| to_host(v.as_tensor()).expect("a candle parameter reads back")).collect()
    }
}
