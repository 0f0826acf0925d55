//! The C++ shim (`shim.cpp` and `autograd.cpp`, compiled by build.rs) and its safe wrappers: what tch does not
//! expose. libtorch's C++ optimizers with readable state, the fused CPU optimizer kernels,
//! `at::multi_margin_loss`, and pointwise primitives with the scalar argument tch drops.
//!
//! The bottom layer: it knows tensors and libtorch, nothing of this crate's losses or catalogue.

mod autograd;
mod sleef;
pub use autograd::{cpu_capability, grad_enabled, parallel_for, vector_bytes, with_backward, Capability};
pub use sleef::VectorMath;

use crate::error::{Error, Result};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use tch::Tensor;

type CTensor = *mut torch_sys::C_tensor;

/// Which of libtorch's C++ optimizers (`tp_kind` in the shim).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptimizerKind {
    #[default]
    Sgd = 0,
    Adam = 1,
    AdamW = 2,
    RmsProp = 3,
    Adagrad = 4,
    Lbfgs = 5,
}

/// Hyperparameters as the shim takes them, one set per parameter group; the fields a kind does
/// not have are ignored.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Hyper {
    pub kind: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub alpha: f64,
    pub lr_decay: f64,
    pub initial_accumulator_value: f64,
    pub nesterov: c_int,
    pub amsgrad: c_int,
    pub centered: c_int,
    pub max_iter: i64,
    /// Negative: None.
    pub max_eval: i64,
    pub history_size: i64,
    pub tolerance_grad: f64,
    pub tolerance_change: f64,
    pub strong_wolfe: c_int,
}

#[repr(C)]
struct RawOptimizer {
    _private: [u8; 0],
}

extern "C" {
    fn tp_step_lr(
        lrs: *const f64,
        groups: c_int,
        step_size: i64,
        gamma: f64,
        initial_step: c_int,
        steps: c_int,
        out: *mut f64,
    ) -> *mut c_char;
    fn tp_reduce_on_plateau(
        lrs: *const f64,
        groups: c_int,
        max_mode: c_int,
        factor: f64,
        patience: c_int,
        threshold: f64,
        abs_threshold: c_int,
        cooldown: c_int,
        min_lrs: *const f64,
        eps: f64,
        metrics: *const f64,
        steps: c_int,
        out: *mut f64,
    ) -> *mut c_char;
    fn tp_clip_grad_norm(
        params: *const CTensor,
        n: c_int,
        max_norm: f64,
        norm_type: f64,
        error_if_nonfinite: c_int,
        total: *mut f64,
    ) -> *mut c_char;
    fn tp_clip_grad_value(params: *const CTensor, n: c_int, clip_value: f64) -> *mut c_char;
    fn tp_amp_non_finite_check_and_unscale(
        grads: *const CTensor,
        n: c_int,
        found_inf: CTensor,
        inv_scale: CTensor,
    ) -> *mut c_char;
    fn tp_free_string(s: *mut c_char);
    fn tp_skip_cpp_backtraces();
    fn tp_optimizer_new(
        hypers: *const Hyper,
        n_groups: c_int,
        params: *const CTensor,
        group_of: *const c_int,
        n_params: c_int,
        exact_groups: c_int,
        out: *mut *mut RawOptimizer,
    ) -> *mut c_char;
    fn tp_optimizer_free(o: *mut RawOptimizer);
    fn tp_optimizer_step(o: *mut RawOptimizer) -> *mut c_char;
    fn tp_optimizer_set_lr(o: *mut RawOptimizer, group: c_int, lr: f64) -> *mut c_char;
    fn tp_optimizer_state(o: *mut RawOptimizer, index: c_int, name: *const c_char, out: *mut CTensor) -> *mut c_char;
    fn tp_set_grad(param: CTensor, grad: CTensor) -> *mut c_char;
    fn tp_add_scaled_(t: CTensor, other: CTensor, alpha: f64) -> *mut c_char;
    fn tp_add_scaled(t: CTensor, other: CTensor, alpha: f64, out: *mut CTensor) -> *mut c_char;
    fn tp_addcmul_(t: CTensor, a: CTensor, b: CTensor, value: f64) -> *mut c_char;
    fn tp_mul_wrapped_(t: CTensor, factor: f64) -> *mut c_char;
    fn tp_optimizer_step_closure(
        o: *mut RawOptimizer,
        closure: extern "C" fn(*mut c_void, *mut f64) -> c_int,
        context: *mut c_void,
    ) -> *mut c_char;
    fn tp_vector_norm(
        t: CTensor,
        ord: f64,
        dims: *const i64,
        ndims: c_int,
        keepdim: c_int,
        out: *mut CTensor,
    ) -> *mut c_char;
    fn tp_addmm(t: CTensor, a: CTensor, b: CTensor, beta: f64, alpha: f64, out: *mut CTensor) -> *mut c_char;
    fn tp_addcdiv_(t: CTensor, a: CTensor, b: CTensor, value: f64) -> *mut c_char;
    fn tp_multi_margin_loss(
        input: CTensor,
        target: CTensor,
        p: i64,
        margin: f64,
        weight: CTensor,
        reduction: i64,
        out: *mut CTensor,
    ) -> *mut c_char;
    fn tp_fused_sgd(
        params: *const CTensor,
        grads: *const CTensor,
        momentum_buffers: *const CTensor,
        n: c_int,
        weight_decay: f64,
        momentum: f64,
        lr: f64,
        dampening: f64,
        nesterov: c_int,
        maximize: c_int,
        is_first_step: c_int,
    ) -> *mut c_char;
    fn tp_fused_adam(
        params: *const CTensor,
        grads: *const CTensor,
        exp_avgs: *const CTensor,
        exp_avg_sqs: *const CTensor,
        max_exp_avg_sqs: *const CTensor,
        steps: *const CTensor,
        n: c_int,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        amsgrad: c_int,
        maximize: c_int,
        adamw: c_int,
    ) -> *mut c_char;
    fn tp_fused_adagrad(
        params: *const CTensor,
        grads: *const CTensor,
        state_sums: *const CTensor,
        steps: *const CTensor,
        n: c_int,
        lr: f64,
        lr_decay: f64,
        weight_decay: f64,
        eps: f64,
        maximize: c_int,
    ) -> *mut c_char;
}

/// Turns the shim's returned message (NULL on success) into a `Result`.
fn check(message: *mut c_char) -> Result<()> {
    if message.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string malloc'd by the shim, freed here once.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned();
    unsafe { tp_free_string(message) };
    Err(Error::Torch(text))
}

/// The fused kernels trust their lists: a length or shape mismatch reads out of bounds and
/// crashes the process. Every list is checked here against the parameters first.
fn check_lists(params: &[&Tensor], lists: &[(&str, &[&Tensor])], steps: Option<&[&Tensor]>) -> Result<()> {
    for (name, list) in lists {
        if list.len() != params.len() {
            return Err(Error::InvalidArgument(format!("{} {name} for {} parameters", list.len(), params.len())));
        }
        for (i, (t, p)) in list.iter().zip(params).enumerate() {
            if t.size() != p.size() || t.kind() != p.kind() || t.device() != p.device() {
                return Err(Error::InvalidArgument(format!(
                    "{name}[{i}] is {:?} {:?} on {:?}, its parameter {:?} {:?} on {:?}",
                    t.kind(),
                    t.size(),
                    t.device(),
                    p.kind(),
                    p.size(),
                    p.device()
                )));
            }
        }
    }
    if let Some(steps) = steps {
        if steps.len() != params.len() || steps.iter().any(|s| s.numel() != 1 || !s.is_floating_point()) {
            return Err(Error::InvalidArgument("one floating scalar step per parameter is required".into()));
        }
    }
    Ok(())
}

fn pointers(tensors: &[&Tensor]) -> Vec<CTensor> {
    tensors.iter().map(|t| t.as_ptr() as CTensor).collect()
}

/// One of libtorch's C++ optimizers (`torch::optim::SGD`, `Adam`, `AdamW`, `RMSprop`,
/// `Adagrad`), owned by the shim so that its per-parameter state can be read.
pub struct CppOptimizer {
    raw: *mut RawOptimizer,
    params: Vec<Tensor>,
}

impl CppOptimizer {
    /// `groups[g]` holds group g's hyperparameters (all of one kind) and `group_of[i]` the
    /// group of `params[i]`. libtorch validates the hyperparameters of the first group, which it
    /// also uses as its defaults. Every group gets exactly the options given (see
    /// [`CppOptimizer::new_merging_groups`] for libtorch's own construction).
    pub fn new(groups: &[Hyper], params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        Self::build(groups, params, group_of, true)
    }

    /// As libtorch constructs it: a later group's option that equals the options class's
    /// default is replaced by the first group's.
    pub fn new_merging_groups(groups: &[Hyper], params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        Self::build(groups, params, group_of, false)
    }

    fn build(groups: &[Hyper], params: &[Tensor], group_of: &[usize], exact: bool) -> Result<Self> {
        if groups.is_empty() || group_of.len() != params.len() || group_of.iter().any(|&g| g >= groups.len()) {
            return Err(Error::InvalidArgument(format!(
                "{} parameters with group indices {group_of:?} for {} groups",
                params.len(),
                groups.len()
            )));
        }
        let refs: Vec<&Tensor> = params.iter().collect();
        let ptrs = pointers(&refs);
        let group_of: Vec<c_int> = group_of.iter().map(|&g| g as c_int).collect();
        let mut raw = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the shim copies the tensors it keeps.
        check(unsafe {
            tp_optimizer_new(
                groups.as_ptr(),
                groups.len() as c_int,
                ptrs.as_ptr(),
                group_of.as_ptr(),
                ptrs.len() as c_int,
                exact.into(),
                &mut raw,
            )
        })?;
        Ok(CppOptimizer { raw, params: params.iter().map(Tensor::shallow_clone).collect() })
    }

    pub fn step(&mut self) -> Result<()> {
        check(unsafe { tp_optimizer_step(self.raw) })
    }

    /// A step with a closure (LBFGS's): `closure()` sets the parameters' gradients and returns
    /// the loss. Its error, if any, is the step's.
    pub fn step_with_closure(&mut self, closure: &mut dyn FnMut() -> Result<f64>) -> Result<()> {
        struct Context<'a> {
            closure: &'a mut dyn FnMut() -> Result<f64>,
            error: Option<Error>,
        }
        extern "C" fn trampoline(context: *mut c_void, loss: *mut f64) -> c_int {
            // SAFETY: the shim calls back with the context pointer given below, while it lives.
            let context = unsafe { &mut *(context as *mut Context) };
            match crate::error::catch_panic(|| (context.closure)()) {
                Ok(Ok(value)) => {
                    // SAFETY: the shim passes a valid pointer to its double.
                    unsafe { *loss = value };
                    0
                }
                Ok(Err(e)) => {
                    context.error = Some(e);
                    1
                }
                Err(panic) => {
                    context.error = Some(Error::InvalidArgument(panic));
                    1
                }
            }
        }
        let mut context = Context { closure, error: None };
        let result = check(unsafe {
            tp_optimizer_step_closure(self.raw, trampoline, &mut context as *mut Context as *mut c_void)
        });
        match context.error {
            Some(e) => Err(e),
            None => result,
        }
    }

    pub fn set_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        check(unsafe { tp_optimizer_set_lr(self.raw, group as c_int, lr) })
    }

    /// A copy of the named state buffer of parameter `index`, if it exists yet.
    pub fn state(&self, index: usize, name: &str) -> Result<Option<Tensor>> {
        let name = CString::new(name).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut out: CTensor = std::ptr::null_mut();
        check(unsafe { tp_optimizer_state(self.raw, index as c_int, name.as_ptr(), &mut out) })?;
        // SAFETY: a non-null result is a new at::Tensor the shim allocated for us to own.
        Ok((!out.is_null()).then(|| unsafe { Tensor::from_ptr(out) }))
    }

    pub fn params(&self) -> &[Tensor] {
        &self.params
    }
}

impl Drop for CppOptimizer {
    fn drop(&mut self) {
        unsafe { tp_optimizer_free(self.raw) }
    }
}

/// Stops libtorch from capturing a C++ backtrace for every error it raises, process-wide. Reading
/// an error's message symbolises that backtrace (milliseconds each, with libtorch's symbol
/// table); the checker provokes hundreds of errors on purpose and keeps only their first line.
/// Messages are unchanged but for the backtrace that followed them.
pub fn skip_cpp_backtraces() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: installs a function object in c10's global; no pointers cross.
    ONCE.call_once(|| unsafe { tp_skip_cpp_backtraces() });
}

/// Sets `param.grad` to a copy of `grad`; an undefined `grad` (`Tensor::new()`) clears it.
pub fn set_grad(param: &Tensor, grad: &Tensor) -> Result<()> {
    check(unsafe { tp_set_grad(param.as_ptr() as CTensor, grad.as_ptr() as CTensor) })
}

/// `torch._fused_sgd_` on CPU. Without momentum the buffers are not used.
#[allow(clippy::too_many_arguments)]
pub fn fused_sgd(
    params: &[&Tensor],
    grads: &[&Tensor],
    momentum_buffers: &[&Tensor],
    weight_decay: f64,
    momentum: f64,
    lr: f64,
    dampening: f64,
    nesterov: bool,
    maximize: bool,
    is_first_step: bool,
) -> Result<()> {
    let buffers: &[&Tensor] = if momentum == 0.0 { params } else { momentum_buffers };
    check_lists(params, &[("grads", grads), ("momentum buffers", buffers)], None)?;
    let (p, g, b) = (pointers(params), pointers(grads), pointers(momentum_buffers));
    check(unsafe {
        tp_fused_sgd(
            p.as_ptr(),
            g.as_ptr(),
            b.as_ptr(),
            p.len() as c_int,
            weight_decay,
            momentum,
            lr,
            dampening,
            nesterov.into(),
            maximize.into(),
            is_first_step.into(),
        )
    })
}

/// `torch._fused_adam_` (or `_fused_adamw_`) on CPU; `steps` are float tensors the caller has
/// already incremented, as torch.optim does.
#[allow(clippy::too_many_arguments)]
pub fn fused_adam(
    params: &[&Tensor],
    grads: &[&Tensor],
    exp_avgs: &[&Tensor],
    exp_avg_sqs: &[&Tensor],
    max_exp_avg_sqs: &[&Tensor],
    steps: &[&Tensor],
    lr: f64,
    betas: (f64, f64),
    weight_decay: f64,
    eps: f64,
    amsgrad: bool,
    maximize: bool,
    adamw: bool,
) -> Result<()> {
    let maxes: &[&Tensor] = if amsgrad { max_exp_avg_sqs } else { params };
    check_lists(
        params,
        &[("grads", grads), ("exp_avgs", exp_avgs), ("exp_avg_sqs", exp_avg_sqs), ("max_exp_avg_sqs", maxes)],
        Some(steps),
    )?;
    let (p, g, m, v, x, s) = (
        pointers(params),
        pointers(grads),
        pointers(exp_avgs),
        pointers(exp_avg_sqs),
        pointers(max_exp_avg_sqs),
        pointers(steps),
    );
    check(unsafe {
        tp_fused_adam(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            x.as_ptr(),
            s.as_ptr(),
            p.len() as c_int,
            lr,
            betas.0,
            betas.1,
            weight_decay,
            eps,
            amsgrad.into(),
            maximize.into(),
            adamw.into(),
        )
    })
}

/// `torch._fused_adagrad_` on CPU; `steps` are float tensors the caller has incremented.
#[allow(clippy::too_many_arguments)]
pub fn fused_adagrad(
    params: &[&Tensor],
    grads: &[&Tensor],
    state_sums: &[&Tensor],
    steps: &[&Tensor],
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    maximize: bool,
) -> Result<()> {
    check_lists(params, &[("grads", grads), ("state sums", state_sums)], Some(steps))?;
    let (p, g, s, t) = (pointers(params), pointers(grads), pointers(state_sums), pointers(steps));
    check(unsafe {
        tp_fused_adagrad(
            p.as_ptr(),
            g.as_ptr(),
            s.as_ptr(),
            t.as_ptr(),
            p.len() as c_int,
            lr,
            lr_decay,
            weight_decay,
            eps,
            maximize.into(),
        )
    })
}

/// `at::multi_margin_loss`, which tch does not expose; `reduction` is libtorch's code (0 none,
/// 1 mean, 2 sum).
pub fn multi_margin_loss(
    input: &Tensor,
    target: &Tensor,
    p: i64,
    margin: f64,
    weight: Option<&Tensor>,
    reduction: i64,
) -> Result<Tensor> {
    let weight = weight.map_or(std::ptr::null_mut(), |w| w.as_ptr() as CTensor);
    let mut out: CTensor = std::ptr::null_mut();
    check(unsafe {
        tp_multi_margin_loss(
            input.as_ptr() as CTensor,
            target.as_ptr() as CTensor,
            p,
            margin,
            weight,
            reduction,
            &mut out,
        )
    })?;
    // SAFETY: on success the shim allocated a new at::Tensor for us to own.
    Ok(unsafe { Tensor::from_ptr(out) })
}

// Pointwise primitives with the scalar that tch's generated bindings drop (`add`'s alpha,
// `addcmul`'s and `addcdiv`'s value). Not built-ins of a loss or an optimizer: the
// hand-written optimizers use them so that each update rounds exactly as libtorch's does.

/// `t += alpha·other` (libtorch's `add_(other, alpha)`).
pub fn add_scaled_(t: &mut Tensor, other: &Tensor, alpha: f64) -> Result<()> {
    check(unsafe { tp_add_scaled_(t.as_mut_ptr(), other.as_ptr() as CTensor, alpha) })
}

/// `t + alpha·other` (libtorch's `add(other, alpha)`).
pub fn add_scaled(t: &Tensor, other: &Tensor, alpha: f64) -> Result<Tensor> {
    let mut out: CTensor = std::ptr::null_mut();
    check(unsafe { tp_add_scaled(t.as_ptr() as CTensor, other.as_ptr() as CTensor, alpha, &mut out) })?;
    // SAFETY: on success the shim allocated a new at::Tensor for us to own.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// `torch.linalg.vector_norm(t, ord, dims, keepdim)` over `dims`, or over every element when
/// `dims` is `None` (what `Tensor.norm()` computes in PyTorch; tch does not bind it).
pub fn vector_norm(t: &Tensor, ord: f64, dims: Option<&[i64]>, keepdim: bool) -> Result<Tensor> {
    let mut out: CTensor = std::ptr::null_mut();
    let (ptr, n) = dims.map_or((std::ptr::null(), -1), |d| (d.as_ptr(), d.len() as c_int));
    check(unsafe { tp_vector_norm(t.as_ptr() as CTensor, ord, ptr, n, c_int::from(keepdim), &mut out) })?;
    // SAFETY: on success the shim allocated a new at::Tensor for us to own.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// `beta·t + alpha·(a @ b)` (libtorch's `addmm(a, b, beta, alpha)`), rounded once: in a low
/// dtype, composing it from a product and a sum would round the product first.
pub fn addmm(t: &Tensor, a: &Tensor, b: &Tensor, beta: f64, alpha: f64) -> Result<Tensor> {
    let mut out: CTensor = std::ptr::null_mut();
    check(unsafe {
        tp_addmm(t.as_ptr() as CTensor, a.as_ptr() as CTensor, b.as_ptr() as CTensor, beta, alpha, &mut out)
    })?;
    // SAFETY: on success the shim allocated a new at::Tensor for us to own.
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// `t *= factor` as torch.optim's Python code computes it: `t.mul_(factor)` with a Python float,
/// which ATen receives as a wrapped number and applies at float precision in float16 and
/// bfloat16. tch's `mul_scalar_` (ATen's `mul_(Scalar)`, what libtorch's C++ optimizers call)
/// rounds the factor to `t`'s dtype first: `1.0859375 · 0.9` is 0.97754 in float16 one way and
/// 0.97705 the other. The two agree in float32 and float64.
pub fn mul_wrapped_(t: &mut Tensor, factor: f64) -> Result<()> {
    check(unsafe { tp_mul_wrapped_(t.as_mut_ptr(), factor) })
}

/// `t += value·a·b` (libtorch's `addcmul_(a, b, value)`).
pub fn addcmul_(t: &mut Tensor, a: &Tensor, b: &Tensor, value: f64) -> Result<()> {
    check(unsafe { tp_addcmul_(t.as_mut_ptr(), a.as_ptr() as CTensor, b.as_ptr() as CTensor, value) })
}

/// `t += value·a/b` (libtorch's `addcdiv_(a, b, value)`).
pub fn addcdiv_(t: &mut Tensor, a: &Tensor, b: &Tensor, value: f64) -> Result<()> {
    check(unsafe { tp_addcdiv_(t.as_mut_ptr(), a.as_ptr() as CTensor, b.as_ptr() as CTensor, value) })
}

/// libtorch's C++ `torch::optim::StepLR` over SGD groups at rates `lrs`: each group's rate after
/// construction and after each of `steps` steps, step by step. With `initial_step`, it steps once
/// right after construction, as torch.optim's constructor does (libtorch's does not).
pub fn step_lr(lrs: &[f64], step_size: i64, gamma: f64, initial_step: bool, steps: usize) -> Result<Vec<Vec<f64>>> {
    if lrs.is_empty() || step_size <= 0 || step_size > i64::from(u32::MAX) {
        return Err(Error::InvalidArgument("StepLR needs a group and a step_size from 1 to 2^32 - 1".into()));
    }
    let mut out = vec![0.0; (steps + 1) * lrs.len()];
    let (groups, steps_c) = (lrs.len() as c_int, steps as c_int);
    // SAFETY: `out` holds (steps + 1) * groups values, as the shim writes.
    check(unsafe {
        tp_step_lr(lrs.as_ptr(), groups, step_size, gamma, c_int::from(initial_step), steps_c, out.as_mut_ptr())
    })?;
    Ok(out.chunks(lrs.len()).map(<[f64]>::to_vec).collect())
}

/// `torch::optim::ReduceLROnPlateauScheduler`'s arguments (factor, min_lr and the metric are
/// float in its API).
#[derive(Debug, Clone)]
pub struct PlateauArgs<'a> {
    pub max_mode: bool,
    pub factor: f64,
    pub patience: i64,
    pub threshold: f64,
    pub abs_threshold: bool,
    pub cooldown: i64,
    /// One per group, or `None` for zeros.
    pub min_lrs: Option<&'a [f64]>,
    pub eps: f64,
}

/// libtorch's C++ ReduceLROnPlateauScheduler over SGD groups at rates `lrs`, given one metric
/// per step: each group's rate after construction and after every step.
pub fn reduce_on_plateau(lrs: &[f64], args: &PlateauArgs, metrics: &[f64]) -> Result<Vec<Vec<f64>>> {
    if lrs.is_empty() || args.min_lrs.is_some_and(|m| m.len() != lrs.len()) {
        return Err(Error::InvalidArgument("one min_lr per group".into()));
    }
    let int = |v: i64| c_int::try_from(v).map_err(|_| Error::InvalidArgument(format!("{v} does not fit a C int")));
    let mut out = vec![0.0; (metrics.len() + 1) * lrs.len()];
    let min_lrs = args.min_lrs.map_or(std::ptr::null(), <[f64]>::as_ptr);
    // SAFETY: `out` holds (steps + 1) * groups values and `metrics` one per step, as the shim reads.
    check(unsafe {
        tp_reduce_on_plateau(
            lrs.as_ptr(),
            lrs.len() as c_int,
            c_int::from(args.max_mode),
            args.factor,
            int(args.patience)?,
            args.threshold,
            c_int::from(args.abs_threshold),
            int(args.cooldown)?,
            min_lrs,
            args.eps,
            metrics.as_ptr(),
            metrics.len() as c_int,
            out.as_mut_ptr(),
        )
    })?;
    Ok(out.chunks(lrs.len()).map(<[f64]>::to_vec).collect())
}

/// libtorch's C++ `torch::nn::utils::clip_grad_norm_` over `params` (their gradients scaled in
/// place): the total norm.
pub fn clip_grad_norm(params: &[Tensor], max_norm: f64, norm_type: f64, error_if_nonfinite: bool) -> Result<f64> {
    let ptrs: Vec<CTensor> = params.iter().map(|p| p.as_ptr() as CTensor).collect();
    let mut total = 0.0;
    // SAFETY: the pointers are live tensors for the duration of the call.
    check(unsafe {
        tp_clip_grad_norm(
            ptrs.as_ptr(),
            ptrs.len() as c_int,
            max_norm,
            norm_type,
            c_int::from(error_if_nonfinite),
            &mut total,
        )
    })?;
    Ok(total)
}

/// libtorch's C++ `torch::nn::utils::clip_grad_value_` over `params`.
pub fn clip_grad_value(params: &[Tensor], clip_value: f64) -> Result<()> {
    let ptrs: Vec<CTensor> = params.iter().map(|p| p.as_ptr() as CTensor).collect();
    // SAFETY: the pointers are live tensors for the duration of the call.
    check(unsafe { tp_clip_grad_value(ptrs.as_ptr(), ptrs.len() as c_int, clip_value) })
}

/// libtorch's `_amp_foreach_non_finite_check_and_unscale_`: `grads` (one dtype) times the
/// float32 scalar `inv_scale` in place; `found_inf` (a float32 scalar) set to 1 if any element
/// was inf or NaN.
pub fn amp_non_finite_check_and_unscale(grads: &[Tensor], found_inf: &Tensor, inv_scale: &Tensor) -> Result<()> {
    let ptrs: Vec<CTensor> = grads.iter().map(|g| g.as_ptr() as CTensor).collect();
    // SAFETY: the pointers are live tensors for the duration of the call.
    check(unsafe {
        tp_amp_non_finite_check_and_unscale(
            ptrs.as_ptr(),
            ptrs.len() as c_int,
            found_inf.as_ptr() as CTensor,
            inv_scale.as_ptr() as CTensor,
        )
    })
}
