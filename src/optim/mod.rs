//! Hand-written optimizers over tch tensors: every optimizer of `torch.optim` that steps with a
//! gradient (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adafactor, Adamax, ASGD, NAdam, RAdam,
//! Rprop, Muon, SparseAdam) and LBFGS, which steps with a closure.
//!
//! One generic [`Optimizer`] holds the parameter groups (each with its own hyperparameters) and
//! the per-parameter state, created at the first step as torch.optim does; each file defines an
//! update [`Rule`] and its options struct, whose `Default` is torch.optim's defaults. Updates run
//! without autograd tracking, in place, on whatever device the parameters live. Each rule follows
//! libtorch's C++ optimizer step by step where there is one (SGD, Adam, AdamW, RMSprop, Adagrad,
//! LBFGS), and torch.optim's Python code otherwise: the order of operations decides the last
//! bits, and in float16 and bfloat16 so does how a constant factor is applied ([`Written`]).
//! `maximize` follows torch.optim and negates the gradient.
//!
//! ```
//! # fn main() -> tch_parity::Result<()> {
//! use tch::{Kind, Tensor};
//! use tch_parity::optim::{Adam, AdamOptions, ParamGroup};
//!
//! let w = Tensor::from_slice(&[0.5f32, -0.25, 1.0]).set_requires_grad(true);
//! let b = Tensor::from_slice(&[0.0f32]).set_requires_grad(true);
//! let decayed = AdamOptions { weight_decay: 1e-4, ..Default::default() };
//! let mut opt = Adam::with_groups(vec![
//!     ParamGroup { params: vec![w.shallow_clone()], options: decayed },
//!     ParamGroup { params: vec![b.shallow_clone()], options: AdamOptions { lr: 1e-2, ..Default::default() } },
//! ])?;
//! let loss = (&w * &w).sum(Kind::Float) + (&b - 1.0).square().sum(Kind::Float);
//! loss.backward();
//! opt.step()?;
//! opt.zero_grad();
//! opt.set_lr(5e-4);
//! // Adam's first step moves each parameter by about lr against its gradient's sign.
//! assert!((b.double_value(&[0]) - 1e-2).abs() < 1e-6);
//! assert_eq!(opt.state(1, 0)[0].0, "step");
//! # Ok(()) }
//! ```

pub mod adadelta;
pub mod adafactor;
pub mod adagrad;
pub mod adam;
pub mod adamax;
pub mod asgd;
pub mod lbfgs;
pub mod muon;
pub mod nadam;
pub mod radam;
pub mod rmsprop;
pub mod rprop;
pub mod sgd;
pub mod sparse_adam;

pub use adadelta::{Adadelta, AdadeltaOptions};
pub use adafactor::{Adafactor, AdafactorOptions};
pub use adagrad::{Adagrad, AdagradOptions};
pub use adam::{Adam, AdamOptions, AdamW, AdamWOptions};
pub use adamax::{Adamax, AdamaxOptions};
pub use asgd::{Asgd, AsgdOptions};
pub use lbfgs::{Lbfgs, LbfgsOptions};
pub use muon::{Muon, MuonOptions};
pub use nadam::{NAdam, NAdamOptions};
pub use radam::{RAdam, RAdamOptions};
pub use rmsprop::{RmsProp, RmsPropOptions};
pub use rprop::{Rprop, RpropOptions};
pub use sgd::{Sgd, SgdOptions};
pub use sparse_adam::{SparseAdam, SparseAdamOptions};

use crate::error::{invalid, Result};
use tch::Tensor;

/// Declares [`OptimizerOptions`] over the options structs, with the accessors every variant
/// answers through [`Hyperparameters`].
macro_rules! optimizer_options {
    ($($variant:ident($options:ty)),* $(,)?) => {
        /// One of this library's optimizers with its hyperparameters: the typed form a
        /// configuration takes between the catalogue, the hand-written optimizers and the references.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum OptimizerOptions {
            $($variant($options),)*
        }

        impl OptimizerOptions {
            fn hyperparameters(&self) -> &dyn DynHyperparameters {
                match self {
                    $(OptimizerOptions::$variant(o) => o,)*
                }
            }

            pub fn set_lr(&mut self, lr: f64) {
                match self {
                    $(OptimizerOptions::$variant(o) => o.set_lr(lr),)*
                }
            }

            /// Every option's value, by the catalogue's names.
            pub fn values(&self) -> crate::options::Values {
                match self {
                    $(OptimizerOptions::$variant(o) => crate::options::Options::values(o),)*
                }
            }
        }
    };
}

optimizer_options! {
    Sgd(SgdOptions),
    Adam(AdamOptions),
    AdamW(AdamWOptions),
    RmsProp(RmsPropOptions),
    Adagrad(AdagradOptions),
    Adadelta(AdadeltaOptions),
    Adafactor(AdafactorOptions),
    Adamax(AdamaxOptions),
    Asgd(AsgdOptions),
    NAdam(NAdamOptions),
    RAdam(RAdamOptions),
    Rprop(RpropOptions),
    Muon(MuonOptions),
    SparseAdam(SparseAdamOptions),
    Lbfgs(LbfgsOptions),
}

impl OptimizerOptions {
    pub fn lr(&self) -> f64 {
        self.hyperparameters().lr()
    }

    /// Whether it ascends (torch.optim's `maximize`; Muon has no such option).
    pub fn maximize(&self) -> bool {
        self.hyperparameters().maximize()
    }

    /// Rejects what torch.optim rejects, with its message.
    pub fn validate(&self) -> Result<()> {
        self.hyperparameters().validate()
    }
}

/// The object-safe part of [`Hyperparameters`].
trait DynHyperparameters {
    fn lr(&self) -> f64;
    fn maximize(&self) -> bool;
    fn validate(&self) -> Result<()>;
}

impl<H: Hyperparameters> DynHyperparameters for H {
    fn lr(&self) -> f64 {
        Hyperparameters::lr(self)
    }
    fn maximize(&self) -> bool {
        Hyperparameters::maximize(self)
    }
    fn validate(&self) -> Result<()> {
        Hyperparameters::validate(self)
    }
}

/// An optimizer driven from outside: handed one gradient per parameter (in a fixed order) per
/// step, it exposes its parameters and named state buffers. The checker drives the hand-written
/// optimizers and every libtorch path through it, in lockstep or free-running.
pub trait Stepper {
    fn step(&mut self, grads: &[Tensor]) -> Result<()>;
    /// Sets every group's learning rate.
    fn set_lr(&mut self, lr: f64) -> Result<()>;
    fn params(&self) -> Vec<Tensor>;
    /// Parameter `index`'s state buffers by name; empty where the implementation exposes none.
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>>;
    /// One step of an optimizer that evaluates the objective itself (LBFGS): `closure(params)`
    /// gives the loss and gradients at the parameters it is handed. The others refuse it.
    fn step_with_closure(&mut self, closure: &mut StepClosure) -> Result<()> {
        let _ = closure;
        invalid!("this optimizer steps with the gradients it is given, not with a closure")
    }
    /// The gradients it followed at step `step` (from 1), when it replays a run computed
    /// elsewhere that recorded them: in lockstep, the others then get exactly those.
    fn recorded_gradients(&self, step: usize) -> Option<Vec<Tensor>> {
        let _ = step;
        None
    }
    /// Whether it replays a recorded run: it ignores the gradients it is given, so that a
    /// free-running driver need not compute them for it.
    fn replays_a_recording(&self) -> bool {
        false
    }
}

/// The objective at the parameters handed to it: the loss and a gradient per parameter.
pub type StepClosure<'a> = dyn FnMut(&[Tensor]) -> Result<(f64, Vec<Tensor>)> + 'a;

/// Hyperparameters every optimizer has.
pub trait Hyperparameters: Clone + std::fmt::Debug {
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    /// torch.optim's `maximize` (false for an optimizer without it).
    fn maximize(&self) -> bool;
    /// Rejects what torch.optim rejects, with its message.
    fn validate(&self) -> Result<()>;
    /// The momentum a scheduler cycles (`CyclicLR`, `OneCycleLR`): `momentum` where torch.optim
    /// has it (SGD, RMSprop, Muon), else β₁ (the Adam family); `None` for an optimizer with
    /// neither.
    fn cycled_momentum(&self) -> Option<f64> {
        None
    }
    /// Sets what [`cycled_momentum`](Hyperparameters::cycled_momentum) reads (nothing when there
    /// is none).
    fn set_cycled_momentum(&mut self, value: f64) {
        let _ = value;
    }
}

/// `cycled_momentum` and `set_cycled_momentum` over a field (`momentum`, `beta1`, `betas.0`).
macro_rules! cycled_momentum {
    ($($field:tt)+) => {
        fn cycled_momentum(&self) -> Option<f64> {
            Some(self.$($field)+)
        }
        fn set_cycled_momentum(&mut self, value: f64) {
            self.$($field)+ = value;
        }
    };
}
pub(crate) use cycled_momentum;

/// `lr`, `set_lr` and `maximize` for an options struct with `lr` and `maximize` fields
/// (`lr_field!(no maximize)` for one without).
macro_rules! lr_field {
    () => {
        fn lr(&self) -> f64 {
            self.lr
        }
        fn set_lr(&mut self, lr: f64) {
            self.lr = lr;
        }
        fn maximize(&self) -> bool {
            self.maximize
        }
    };
    (no maximize) => {
        fn lr(&self) -> f64 {
            self.lr
        }
        fn set_lr(&mut self, lr: f64) {
            self.lr = lr;
        }
        fn maximize(&self) -> bool {
            false
        }
    };
}
pub(crate) use lr_field;

/// One optimizer's update: its state per parameter and how a step changes both.
pub trait Rule {
    type Options: Hyperparameters;
    type State;
    /// The state of a parameter before its first step.
    fn init(param: &Tensor, options: &Self::Options) -> Result<Self::State>;
    /// Refuses a parameter this optimizer cannot hold (Muon's non-matrices), when it is added.
    fn check_param(param: &Tensor) -> Result<()> {
        let _ = param;
        Ok(())
    }
    /// One step for one parameter, in place, with autograd off.
    fn update(param: &mut Tensor, grad: &Tensor, state: &mut Self::State, options: &Self::Options) -> Result<()>;
    /// The state's buffers by name (`step` as a scalar), sharing storage with the state.
    fn buffers(state: &Self::State) -> Vec<(&'static str, Tensor)>;
    /// The state again from the buffers `buffers` gave (torch.optim's state names), as a
    /// checkpoint holds them: each checked against the parameter, none missing, none left over.
    fn restore(param: &Tensor, options: &Self::Options, saved: &mut SavedBuffers) -> Result<Self::State>;
    /// torch.optim's class ("Adam"), which a checkpoint names.
    const TORCH_NAME: &'static str;
    /// Whether torch.optim keeps `step` as a Python int (SparseAdam) rather than a float32
    /// scalar tensor.
    const STEP_IS_INT: bool = false;
    /// Buffers torch.optim keeps as `None` until they exist (SGD's `momentum_buffer` before a
    /// step with momentum), which a checkpoint records as such.
    const NONE_UNTIL_CREATED: &'static [&'static str] = &[];
}

/// One parameter's saved state buffers, by name, taken one by one as a rule rebuilds its state
/// ([`Rule::restore`]). A buffer is checked against the parameter: its dtype, and its shape
/// where it has the parameter's (Adafactor's factored statistics have their own).
pub struct SavedBuffers {
    /// Which parameter (in the optimizer's order), for messages.
    pub index: usize,
    kind: tch::Kind,
    shape: Vec<i64>,
    entries: Vec<(String, Tensor)>,
}

impl SavedBuffers {
    pub fn new(index: usize, param: &Tensor, entries: Vec<(String, Tensor)>) -> SavedBuffers {
        SavedBuffers { index, kind: param.kind(), shape: param.size(), entries }
    }

    fn take_raw(&mut self, name: &str) -> Option<Tensor> {
        let at = self.entries.iter().position(|(n, _)| n == name)?;
        Some(self.entries.remove(at).1)
    }

    /// A buffer shaped and typed like the parameter.
    pub fn like_param(&mut self, name: &str) -> Result<Tensor> {
        let shape = self.shape.clone();
        self.of_shape(name, &shape)
    }

    /// A buffer of the parameter's dtype and this shape.
    pub fn of_shape(&mut self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let i = self.index;
        let Some(t) = self.take_raw(name) else { return invalid!("state {i} has no {name}") };
        if t.kind() != self.kind {
            return invalid!("state {i}'s {name} is {:?}, its parameter is {:?}", t.kind(), self.kind);
        }
        if t.size() != shape {
            return invalid!("state {i}'s {name} has shape {:?}, expected {shape:?}", t.size());
        }
        Ok(t)
    }

    /// A buffer like the parameter, when the options make one.
    pub fn optional_like_param(&mut self, name: &str, expected: bool) -> Result<Option<Tensor>> {
        match (expected, self.entries.iter().any(|(n, _)| n == name)) {
            (true, _) => self.like_param(name).map(Some),
            (false, false) => Ok(None),
            (false, true) => invalid!("state {} has a {name}, which these options do not make", self.index),
        }
    }

    /// A buffer like the parameter, if the checkpoint has one (SGD's momentum buffer exists once
    /// a step had momentum, whatever the momentum is now).
    pub fn optional(&mut self, name: &str) -> Result<Option<Tensor>> {
        if self.entries.iter().any(|(n, _)| n == name) {
            self.like_param(name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A scalar's value (any dtype).
    pub fn scalar(&mut self, name: &str) -> Result<f64> {
        let i = self.index;
        let Some(t) = self.take_raw(name) else { return invalid!("state {i} has no {name}") };
        if t.numel() != 1 {
            return invalid!("state {i}'s {name} is not a scalar (shape {:?})", t.size());
        }
        Ok(t.f_double_value(&[])?)
    }

    /// The step count, a whole number however it was stored.
    pub fn step(&mut self) -> Result<i64> {
        let step = self.scalar("step")?;
        if step.fract() != 0.0 || step < 0.0 {
            return invalid!("state {}'s step is {step}, not a count", self.index);
        }
        Ok(step as i64)
    }

    /// Nothing may be left over: a buffer these options do not make is an error.
    pub fn finish(self) -> Result<()> {
        match self.entries.first() {
            None => Ok(()),
            Some((name, _)) => invalid!("state {} has an unexpected buffer {name}", self.index),
        }
    }
}

/// Parameters that share hyperparameters.
#[derive(Debug)]
pub struct ParamGroup<O> {
    pub params: Vec<Tensor>,
    pub options: O,
}

pub struct Optimizer<R: Rule> {
    groups: Vec<ParamGroup<R::Options>>,
    state: Vec<Vec<Option<R::State>>>,
    /// Each group's rate when a scheduler was first attached (torch's `group["initial_lr"]`).
    initial_lrs: Vec<Option<f64>>,
}

impl<R: Rule> Optimizer<R> {
    /// One group of parameters with the same hyperparameters.
    pub fn new(params: Vec<Tensor>, options: R::Options) -> Result<Self> {
        Self::with_groups(vec![ParamGroup { params, options }])
    }

    pub fn with_groups(groups: Vec<ParamGroup<R::Options>>) -> Result<Self> {
        if groups.is_empty() {
            return invalid!("optimizer got an empty parameter list");
        }
        for group in &groups {
            Hyperparameters::validate(&group.options)?;
            group.params.iter().try_for_each(R::check_param)?;
        }
        let state = groups.iter().map(|g| g.params.iter().map(|_| None).collect()).collect();
        let initial_lrs = vec![None; groups.len()];
        Ok(Optimizer { groups, state, initial_lrs })
    }

    pub fn groups(&self) -> &[ParamGroup<R::Options>] {
        &self.groups
    }

    /// Group `group`'s hyperparameters, to change between steps (a scheduler does).
    pub fn group_options_mut(&mut self, group: usize) -> Option<&mut R::Options> {
        self.groups.get_mut(group).map(|g| &mut g.options)
    }

    /// The rate group `group` had when the first scheduler was attached (torch.optim's
    /// `group["initial_lr"]`, which every later scheduler takes as its base).
    pub fn initial_lr(&self, group: usize) -> Option<f64> {
        self.initial_lrs.get(group).copied().flatten()
    }

    pub fn set_initial_lr(&mut self, group: usize, lr: f64) {
        if let Some(slot) = self.initial_lrs.get_mut(group) {
            *slot = Some(lr);
        }
    }

    /// Changes every group's learning rate; the next step uses it.
    pub fn set_lr(&mut self, lr: f64) {
        for group in &mut self.groups {
            group.options.set_lr(lr);
        }
    }

    pub fn set_group_lr(&mut self, group: usize, lr: f64) -> Result<()> {
        let n = self.groups.len();
        match self.groups.get_mut(group) {
            Some(g) => {
                g.options.set_lr(lr);
                Ok(())
            }
            None => invalid!("there is no parameter group {group} (there are {n})"),
        }
    }

    /// One update of every parameter that has a gradient; the others are left alone.
    pub fn step(&mut self) -> Result<()> {
        tch::no_grad(|| {
            for (group, states) in self.groups.iter().zip(&mut self.state) {
                for (param, state) in group.params.iter().zip(states.iter_mut()) {
                    let grad = param.grad();
                    if !grad.defined() {
                        continue;
                    }
                    if state.is_none() {
                        *state = Some(R::init(param, &group.options)?);
                    }
                    let state = state.as_mut().expect("initialised above");
                    R::update(&mut param.shallow_clone(), &grad, state, &group.options)?;
                }
            }
            Ok(())
        })
    }

    /// Zeroes every parameter's gradient.
    pub fn zero_grad(&mut self) {
        for param in self.groups.iter().flat_map(|g| &g.params) {
            let mut grad = param.grad();
            if grad.defined() {
                let _ = grad.f_zero_();
            }
        }
    }

    /// Parameter `index` of `group`'s state, once it has stepped.
    pub fn param_state(&self, group: usize, index: usize) -> Option<&R::State> {
        self.state.get(group)?.get(index)?.as_ref()
    }

    /// Every group's options, every parameter's state and every `initial_lr` at once, as a
    /// checkpoint restores them; the lengths must be the optimizer's own.
    pub fn restore(
        &mut self,
        options: Vec<R::Options>,
        state: Vec<Vec<Option<R::State>>>,
        initial_lrs: Vec<Option<f64>>,
    ) -> Result<()> {
        let fits = options.len() == self.groups.len()
            && initial_lrs.len() == self.groups.len()
            && state.len() == self.groups.len()
            && state.iter().zip(&self.groups).all(|(s, g)| s.len() == g.params.len());
        if !fits {
            return invalid!("the restored state does not have this optimizer's groups and parameters");
        }
        for (group, o) in self.groups.iter_mut().zip(options) {
            group.options = o;
        }
        self.state = state;
        self.initial_lrs = initial_lrs;
        Ok(())
    }

    /// The named state buffers of parameter `index` of `group`; empty before its first step.
    pub fn state(&self, group: usize, index: usize) -> Vec<(&'static str, Tensor)> {
        self.state.get(group).and_then(|g| g.get(index)).and_then(Option::as_ref).map(R::buffers).unwrap_or_default()
    }
}

/// `param · (1 − …)`-style helpers shared by the rules, as libtorch's C++ optimizers write them.
pub(crate) fn check_non_negative(name: &str, value: f64) -> Result<()> {
    if value >= 0.0 {
        Ok(())
    } else {
        invalid!("Invalid {name}: {value}")
    }
}

/// `g + wd·p` (libtorch's `grad.add(p, weight_decay)`), or `g` when `wd` is 0.
pub(crate) fn with_weight_decay(grad: Tensor, param: &Tensor, weight_decay: f64) -> Result<Tensor> {
    if weight_decay == 0.0 {
        return Ok(grad);
    }
    crate::ffi::add_scaled(&grad, param, weight_decay)
}

// libtorch's `add_(x, alpha)`, `addcmul_(a, b, value)` and `addcdiv_(a, b, value)`, with their
// scalars (tch's generated bindings drop them; the crate's shim binds them). Each rounds once
// where a multiply followed by an add would round twice, so the updates match libtorch's
// optimizers bit for bit, without a temporary for the scaled operand.
pub(crate) use crate::ffi::{add_scaled_, addcdiv_ as add_quotient_, addcmul_ as add_product_};

/// The checks torch.optim's Adam family (Adam, AdamW, Adamax, NAdam, RAdam) makes, in its
/// order: `lr`, `eps`, each of `betas` in [0, 1), `weight_decay`.
pub(crate) fn check_adam_family(lr: f64, eps: f64, (beta1, beta2): (f64, f64), weight_decay: f64) -> Result<()> {
    check_non_negative("learning rate", lr)?;
    check_non_negative("epsilon value", eps)?;
    for (index, beta) in [beta1, beta2].into_iter().enumerate() {
        if !(0.0..1.0).contains(&beta) {
            return invalid!("Invalid beta parameter at index {index}: {beta}");
        }
    }
    check_non_negative("weight_decay value", weight_decay)
}

/// Whose code a rule follows, which decides how an in-place multiply by a constant rounds in
/// float16 and bfloat16 (the two agree in float32 and float64): libtorch's C++ optimizers call
/// `t.mul_(factor)` with a C++ double, ATen's `mul_(Scalar)`, which rounds the factor to `t`'s
/// dtype first; torch.optim's Python code passes a Python float, which ATen applies at float
/// precision ([`crate::ffi::mul_wrapped_`]). In float16 `1.0859375 · 0.9` is 0.97705 the C++
/// way and 0.97754 the Python way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Cpp,
    Python,
}

impl Written {
    /// `t *= factor`, in place.
    pub(crate) fn scale_(self, t: &mut Tensor, factor: f64) -> Result<()> {
        match self {
            Written::Cpp => t.f_mul_scalar_(factor).map(drop).map_err(Into::into),
            Written::Python => crate::ffi::mul_wrapped_(t, factor),
        }
    }
}

/// `t *= factor` as torch.optim's Python code computes it (the rules without a C++ optimizer).
pub(crate) fn scale_(t: &mut Tensor, factor: f64) -> Result<()> {
    Written::Python.scale_(t, factor)
}

/// The gradient the Adam family steps with: negated when maximizing, then weight decay as it
/// applies it: decoupled, the parameter itself shrinks (`θ ·= 1 − lr·wd`, AdamW's way) and the
/// gradient is returned as it is; else `g + wd·θ`.
pub(crate) fn decay(
    param: &mut Tensor,
    grad: &Tensor,
    maximize: bool,
    (lr, weight_decay, decoupled): (f64, f64, bool),
    written: Written,
) -> Result<Tensor> {
    let grad = direction(grad, maximize)?;
    if !decoupled {
        return with_weight_decay(grad, param, weight_decay);
    }
    if weight_decay != 0.0 {
        written.scale_(param, 1.0 - lr * weight_decay)?;
    }
    Ok(grad)
}

/// torch.optim's first and second moments as its NAdam and RAdam update them:
/// `m.lerp_(g, 1 − β₁)`, `v.mul_(β₂).addcmul_(g, g, value=1 − β₂)`.
pub(crate) fn python_moments_(m: &mut Tensor, v: &mut Tensor, g: &Tensor, (beta1, beta2): (f64, f64)) -> Result<()> {
    let _ = m.f_lerp_(g, 1.0 - beta1)?;
    scale_(v, beta2)?;
    add_product_(v, g, g, 1.0 - beta2)
}

/// The gradient to follow: negated when maximizing.
pub(crate) fn direction(grad: &Tensor, maximize: bool) -> Result<Tensor> {
    Ok(if maximize { grad.f_neg()? } else { grad.shallow_clone() })
}

/// Fresh leaf copies of `params`, each able to hold a gradient: what an optimizer driven from
/// outside (a [`Stepper`]) updates, apart from the caller's tensors. Each copy has its
/// parameter's strides (a transposed parameter, or every other element of a buffer, stays one),
/// so that the optimizer updates a parameter laid out as the caller's is; a parameter that
/// overlaps itself (an expanded view, stride 0) cannot be updated in place and is copied
/// contiguous.
pub fn leaves(params: &[Tensor]) -> Result<Vec<Tensor>> {
    params
        .iter()
        .map(|p| {
            let overlapping = p.size().iter().zip(p.stride()).any(|(&n, s)| n > 1 && s == 0);
            let copy = if p.is_contiguous() || overlapping || p.is_sparse() {
                p.f_detach_copy()?
            } else {
                let mut copy = Tensor::f_empty_strided(p.size(), p.stride(), (p.kind(), p.device()))?;
                tch::no_grad(|| copy.f_copy_(&p.detach()))?;
                copy
            };
            Ok(copy.set_requires_grad(true))
        })
        .collect()
}

/// `step` as a scalar tensor, for `buffers`.
pub(crate) fn step_tensor(step: i64) -> Tensor {
    Tensor::from(step)
}

#[cfg(test)]
#[path = "optim_tests.rs"]
mod tests;
