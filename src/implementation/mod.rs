//! Implementations: everything that computes a loss or steps an optimizer, as things the checker
//! compares. The hand-written library ([`hand_written`]), libtorch's built-ins and its three
//! optimizer paths ([`libtorch`]), and PyTorch in Python ([`pytorch`]) are each one
//! [`Implementation`]; a [`Registry`] says which are under test and which are references.
//! Adding an implementation is one type implementing the trait and one line in
//! [`Registry::standard`] (or a registry of one's own, as the tests build).

/// The match that calls, for each op of a `LossCall`, the function of the same name in
/// `$module` with the call's fields in order (the hand-written library and libtorch's reference
/// share names and signatures), followed by the arms an implementation writes itself for the ops
/// where they differ (CTC's lengths, the losses libtorch lacks).
macro_rules! forward_loss_call {
    ($module:ident, $call:expr, { $($arms:tt)* }) => {{
        use $crate::catalog::LossCall as C;
        match *$call {
            C::Sigmoid { input } => Some($module::sigmoid(input)),
            C::Softmax { input, dim } => Some($module::softmax(input, dim)),
            C::LogSoftmax { input, dim } => Some($module::log_softmax(input, dim)),
            C::BinaryCrossEntropy { input, target, weight, reduction } => {
                Some($module::binary_cross_entropy(input, target, weight, reduction))
            }
            C::BinaryCrossEntropyWithLogits { input, target, weight, pos_weight, reduction } => {
                Some($module::binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction))
            }
            C::NllLoss { input, target, weight, options, reduction } => {
                Some($module::nll_loss(input, target, weight, options, reduction))
            }
            C::CrossEntropy { input, target, weight, options, reduction } => {
                Some($module::cross_entropy(input, target, weight, options, reduction))
            }
            C::SmoothedTargetCrossEntropy { input, target, options, reduction } => {
                Some($module::smoothed_target_cross_entropy(input, target, options, reduction))
            }
            C::L1Loss { input, target, reduction } => Some($module::l1_loss(input, target, reduction)),
            C::MseLoss { input, target, reduction } => Some($module::mse_loss(input, target, reduction)),
            C::SmoothL1Loss { input, target, options, reduction } => {
                Some($module::smooth_l1_loss(input, target, options, reduction))
            }
            C::HuberLoss { input, target, options, reduction } => {
                Some($module::huber_loss(input, target, options, reduction))
            }
            C::KlDiv { input, target, options, reduction } => Some($module::kl_div(input, target, options, reduction)),
            C::SoftMarginLoss { input, target, reduction } => Some($module::soft_margin_loss(input, target, reduction)),
            C::MultilabelMarginLoss { input, target, reduction } => {
                Some($module::multilabel_margin_loss(input, target, reduction))
            }
            C::MultiMarginLoss { input, target, weight, options, reduction } => {
                Some($module::multi_margin_loss(input, target, weight, options, reduction))
            }
            C::MarginRankingLoss { input1, input2, target, options, reduction } => {
                Some($module::margin_ranking_loss(input1, input2, target, options, reduction))
            }
            C::HingeEmbeddingLoss { input, target, options, reduction } => {
                Some($module::hinge_embedding_loss(input, target, options, reduction))
            }
            C::CosineEmbeddingLoss { input1, input2, target, options, reduction } => {
                Some($module::cosine_embedding_loss(input1, input2, target, options, reduction))
            }
            C::TripletMarginLoss { anchor, positive, negative, options, reduction } => {
                Some($module::triplet_margin_loss(anchor, positive, negative, options, reduction))
            }
            C::PoissonNllLoss { input, target, options, reduction } => {
                Some($module::poisson_nll_loss(input, target, options, reduction))
            }
            $($arms)*
        }
    }};
}

pub mod hand_written;
pub mod libtorch;
pub mod pytorch;
pub mod replay;

use crate::catalog::{Args, ClipSpec, LossCall, LossSpec, SchedulerConfig};
use crate::dtype::DType;
use crate::error::{catch_panic, torch_message};
use crate::loss::Reduction;
use crate::optim::{OptimizerOptions, Stepper};
use tch::{Kind, Tensor};

/// One output of one implementation (the loss, or a gradient), read back as f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    /// "output", or "grad.<input>".
    pub name: String,
    pub shape: Vec<i64>,
    pub values: Vec<f64>,
}

/// What an implementation made of one call.
#[derive(Debug, Clone)]
pub enum Evaluation {
    /// The output, then the gradient of each input that requires one, in input order.
    Computed(Vec<Computed>),
    /// It refused the input (an error, or a panic, whose message says so).
    Rejected(String),
    /// It has no such op or option: reported as unsupported, never as a failure.
    Unsupported,
    /// It could not run here (no Python, say); the fixtures stand in for it.
    Unavailable(String),
}

impl Evaluation {
    /// What it made of the call, in a phrase (for a report).
    pub fn describe(&self) -> String {
        match self {
            Evaluation::Computed(_) => "computed (accepted the input)".into(),
            Evaluation::Rejected(message) => format!("rejects: {message}"),
            Evaluation::Unsupported => "unsupported".into(),
            Evaluation::Unavailable(why) => format!("unavailable: {why}"),
        }
    }

    /// The output `name` ("output", "grad.input"), or why there is none.
    pub fn output(&self, name: &str) -> Result<&Computed, String> {
        match self {
            Evaluation::Computed(outs) => outs.iter().find(|c| c.name == name).ok_or_else(|| format!("no {name}")),
            other => Err(other.describe()),
        }
    }
}

/// One loss call as the runner hands it over: fresh tensors for every call, so gradients never
/// mix, and the dtype they were made at.
pub struct LossInput<'a> {
    pub spec: &'static LossSpec,
    pub args: &'a Args,
    pub dtype: DType,
    pub reduction: Reduction,
    /// How far to differentiate.
    pub derivatives: Derivatives,
}

impl<'a> LossInput<'a> {
    /// The output and first-order gradients of `spec` at `args`.
    pub fn new(spec: &'static LossSpec, args: &'a Args, dtype: DType, reduction: Reduction) -> Self {
        LossInput { spec, args, dtype, reduction, derivatives: Derivatives::First }
    }

    pub fn with(self, derivatives: Derivatives) -> Self {
        LossInput { derivatives, ..self }
    }
}

/// How far a loss evaluation differentiates (ordered: `None` < `First` < `Second`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Derivatives {
    /// The output only ("output"): what finite differences evaluate.
    None,
    /// The output and the gradient of each input that requires one ("grad.<input>"), of
    /// Σ output·[`upstream_gradient`] for an unreduced output.
    First,
    /// Those, and the second-order gradients "grad2.<input>": the gradient of Σᵢ ⟨gradᵢ, vᵢ⟩
    /// with respect to each input, where gradᵢ is taken with `create_graph` and
    /// vᵢ = (i + 1)·[`upstream_gradient`] (i: the input's place among those that require a
    /// gradient). A backward pass that refuses (no double backward) makes the evaluation a
    /// rejection.
    Second,
}

/// The name of the second-order gradient of `input`.
pub fn second_order_name(input: &str) -> String {
    format!("grad2.{input}")
}

/// vᵢ of [`Derivatives::Second`]: the weight of the `i`-th first-order gradient.
pub fn second_order_weight(i: usize, shape: &[i64], kind: Kind) -> Tensor {
    upstream_gradient(shape, kind) * (i as f64 + 1.0)
}

/// The code an optimizer's arithmetic follows. The order of operations, and how each applies
/// its constants, decide the last bits; in float16 and bfloat16 they decide much more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerCode {
    /// libtorch's C++ `torch::optim` (also what tch's optimizers run).
    LibtorchCpp,
    /// torch.optim's single-tensor (for-loop) Python code.
    TorchForLoop,
    /// torch.optim's multi-tensor (`foreach=True`) Python code.
    TorchForeach,
    /// The fused CPU kernels, which compute in float32 and round once per buffer.
    FusedKernel,
}

/// `Send + Sync`: the checker runs cases on several threads at once.
pub trait Implementation: Send + Sync {
    /// Short name, used in reports and variants: "hand-written", "libtorch", "cpp", …
    fn name(&self) -> &'static str;

    /// What it is, in a sentence fragment: "libtorch's C++ torch::optim". Fixtures it records
    /// say so in `recorded_by`.
    fn title(&self) -> &'static str {
        self.name()
    }

    /// Where its values come from, when that is more than its title: the versions of the
    /// Python packages that answered, say.
    fn provenance(&self) -> Option<String> {
        None
    }

    /// Whether it computes in this process, so that calling it thousands of times is cheap (the
    /// checker differences its forward for the check against calculus). PyTorch in Python
    /// answers each call over a pipe: it says no.
    fn in_process(&self) -> bool {
        true
    }

    /// How far it differentiates a loss: a subject that stops at the first order is given no
    /// second-order rows (rather than failing them).
    fn derivatives(&self) -> Derivatives {
        Derivatives::Second
    }

    /// Whether the fixtures' known differences describe it: they are written about the
    /// hand-written library (which follows libtorch's C++ code, where the fused kernels round
    /// otherwise). An implementation checked with findings of its own says no.
    fn pinned_by_fixtures(&self) -> bool {
        true
    }

    /// Whether it is held to refuse where libtorch has no kernel (a loss in float16 or
    /// bfloat16): the hand-written library mirrors libtorch's gaps; another framework is free
    /// to compute there, and has no such rows.
    fn refuses_where_libtorch_cannot(&self) -> bool {
        true
    }

    /// One loss, forward and backward.
    fn loss(&self, input: &LossInput) -> Evaluation {
        let _ = input;
        Evaluation::Unsupported
    }

    /// Told in advance what a run will ask of it, an implementation that runs out of process
    /// can batch the work. The default does nothing.
    fn prepare(&self, inputs: &[LossInput]) {
        let _ = inputs;
    }

    /// An optimizer for `run`, over copies of its parameters; `None` when it has no such
    /// optimizer or option. Building it validates the options. An implementation in process
    /// steps when told to; one out of process may compute the whole run at once and replay it
    /// ([`replay::Replay`]).
    fn optimizer(&self, run: &OptimizerRun) -> Option<crate::Result<Box<dyn Stepper>>> {
        let _ = run;
        None
    }

    /// Whose code its optimizers follow operation by operation, when it says: two
    /// implementations that follow the same code round alike in every dtype, so the checker
    /// compares them over the whole run in float16 and bfloat16 as well, and others over the
    /// first steps only (the checker's `OtherRoundingOrder`).
    fn optimizer_code(&self, run: &OptimizerRun) -> Option<OptimizerCode> {
        let _ = run;
        None
    }

    /// Whether [`optimizer`](Implementation::optimizer) would build something for `run`, without
    /// building it (which, out of process, is computing the whole run).
    fn has_optimizer(&self, run: &OptimizerRun) -> bool {
        self.optimizer(run).is_some()
    }

    /// Whether the fixtures record its optimizer runs whole (every buffer, every step), so that
    /// they can stand in for it where it cannot run (PyTorch in Python).
    fn recorded_in_full(&self) -> bool {
        false
    }

    /// Told in advance which optimizer runs it will be asked for, an implementation that runs
    /// out of process can batch them. The default does nothing.
    fn prepare_optimizers(&self, runs: &[OptimizerRun]) {
        let _ = runs;
    }

    /// A learning-rate scheduler run on its own: every group's rate ("lr.<g>", and
    /// "momentum.<g>" where it cycles the momentum) after construction and after every step.
    fn schedule(&self, run: &ScheduleRun) -> Evaluation {
        let _ = run;
        Evaluation::Unsupported
    }

    /// A gradient-clipping function: each clipped gradient ("grad.<name>") and, for
    /// `clip_grad_norm_`, the total norm ("total_norm").
    fn clip(&self, call: &ClipCall) -> Evaluation {
        let _ = call;
        Evaluation::Unsupported
    }
}

/// A scheduler run on its own, over parameter groups that hold only their rates.
#[derive(Clone, Copy)]
pub struct ScheduleRun<'a> {
    /// The typed configuration, or why the catalogue refuses it (torch may refuse it too, with
    /// its own message: an error case).
    pub config: std::result::Result<&'a SchedulerConfig, &'a str>,
    /// The configuration as written (`{"op", "options", "schedulers"}`), as it goes to Python.
    pub json: &'a serde_json::Value,
    /// What the groups belong to: "sgd" (`momentum`), "adam" (β₁), "adagrad" (neither).
    pub optimizer: &'a str,
    pub lrs: &'a [f64],
    pub steps: usize,
    /// `(k, epoch)`: step k is `step(epoch)`.
    pub epochs: &'a [(usize, f64)],
    /// The metric of each step, for ReduceLROnPlateau.
    pub metrics: &'a [f64],
}

impl ScheduleRun<'_> {
    /// The groups' momentum before the scheduler (torch.optim's default of the optimizer), or
    /// `None` for an optimizer without one.
    pub fn momentum(&self) -> Option<f64> {
        match self.optimizer {
            "sgd" => Some(0.0),
            "adam" => Some(0.9),
            _ => None,
        }
    }

    /// Whether the run records the momentum: it is cycled, and the groups have one.
    pub fn records_momentum(&self) -> bool {
        self.config.is_ok_and(SchedulerConfig::cycles_momentum) && self.momentum().is_some()
    }

    /// The epoch step `k` is given, if any.
    pub fn epoch_of(&self, k: usize) -> Option<f64> {
        self.epochs.iter().find(|(step, _)| *step == k).map(|&(_, e)| e)
    }

    /// Series of per-step values per group as outputs: `name.<g>`, shape [steps + 1].
    pub fn outputs(name: &str, per_step: &[Vec<f64>]) -> Vec<Computed> {
        let groups = per_step.first().map_or(0, Vec::len);
        (0..groups)
            .map(|g| Computed {
                name: format!("{name}.{g}"),
                shape: vec![per_step.len() as i64],
                values: per_step.iter().map(|v| v[g]).collect(),
            })
            .collect()
    }
}

/// A clipping call: the parameters' gradients (`None`: a parameter without one).
pub struct ClipCall<'a> {
    pub spec: &'static ClipSpec,
    /// Every option, resolved by the spec.
    pub options: &'a crate::options::Values,
    pub names: &'a [String],
    pub grads: &'a [Option<Tensor>],
    pub dtype: DType,
}

impl ClipCall<'_> {
    /// A float option by name (the spec resolves every one).
    pub fn float(&self, name: &str) -> f64 {
        match self.options.iter().find(|(n, _)| *n == name).map(|(_, v)| *v) {
            Some(crate::options::OptionValue::Float(x)) => x,
            Some(crate::options::OptionValue::Int(i)) => i as f64,
            _ => 0.0,
        }
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.options.iter().find(|(n, _)| *n == name), Some((_, crate::options::OptionValue::Bool(true))))
    }

    /// Fresh parameters, each holding a copy of its gradient (or none), for one implementation.
    pub fn parameters(&self) -> crate::Result<Vec<Tensor>> {
        self.grads
            .iter()
            .map(|g| {
                let shape = g.as_ref().map_or(vec![1], Tensor::size);
                let param = Tensor::f_zeros(&shape, (self.dtype.kind(), tch::Device::Cpu))?.set_requires_grad(true);
                if let Some(g) = g {
                    crate::ffi::set_grad(&param, &g.f_detach_copy()?)?;
                }
                Ok(param)
            })
            .collect()
    }

    /// What a clipping left: the total norm (when the function returns one) and every gradient.
    pub fn outputs(&self, total_norm: Option<&Tensor>, params: &[Tensor]) -> Result<Vec<Computed>, String> {
        let mut out = Vec::new();
        if let Some(total) = total_norm {
            out.push(read("total_norm", total)?);
        }
        for (name, p) in self.names.iter().zip(params) {
            let g = p.grad();
            if g.defined() {
                out.push(read(&format!("grad.{name}"), &g)?);
            }
        }
        Ok(out)
    }
}

/// Where an optimizer run's gradients come from.
#[derive(Clone, Copy)]
pub enum RunGradients<'a> {
    /// The gradient of a catalogue objective (`catalog::objectives`) at the current parameters,
    /// given its fixed data by name.
    Objective { id: &'static str, data: &'a [(&'static str, Tensor)] },
    /// A given gradient per step (the fuzzer's), one tensor per parameter.
    Given(&'a [Vec<Tensor>]),
}

/// Everything an optimizer run is: the optimizer and its groups' options, the starting
/// parameters, how many steps, the learning-rate changes and the gradients.
#[derive(Clone, Copy)]
pub struct OptimizerRun<'a> {
    /// The catalogue's id of the optimizer ("nadam").
    pub optimizer: &'static str,
    pub groups: &'a [OptimizerOptions],
    pub params: &'a [Tensor],
    /// The parameters' names, in order.
    pub names: &'a [&'a str],
    /// `group_of[i]` is the group of `params[i]`.
    pub group_of: &'a [usize],
    pub steps: usize,
    /// `(k, lr)`: after step k, every group's learning rate becomes lr.
    pub lr_schedule: &'a [(usize, f64)],
    pub gradients: RunGradients<'a>,
    /// `(i, steps)`: parameter `i` has no gradient at these steps (from 1).
    pub no_grad: &'a [(usize, Vec<usize>)],
    /// A learning-rate scheduler stepped after every optimizer step.
    pub scheduler: Option<&'a SchedulerConfig>,
    /// The metric ReduceLROnPlateau is given after each step.
    pub metrics: &'a [f64],
    /// Loss scaling around every step (`torch.amp.GradScaler`).
    pub grad_scaler: Option<&'a crate::train::grad_scaler::GradScalerOptions>,
    /// `(k, i, value)`: at step k `value` is written over the first element of parameter i's
    /// scaled gradient.
    pub inject: &'a [(usize, usize, f64)],
}

impl<'a> OptimizerRun<'a> {
    /// A run of `steps` steps with nothing more: no learning-rate changes, no parameter without
    /// a gradient, no scheduler, no loss scaling (set those fields on it).
    pub fn new(
        optimizer: &'static str,
        groups: &'a [OptimizerOptions],
        params: &'a [Tensor],
        names: &'a [&'a str],
        group_of: &'a [usize],
        steps: usize,
        gradients: RunGradients<'a>,
    ) -> Self {
        OptimizerRun {
            optimizer,
            groups,
            params,
            names,
            group_of,
            steps,
            lr_schedule: &[],
            gradients,
            no_grad: &[],
            scheduler: None,
            metrics: &[],
            grad_scaler: None,
            inject: &[],
        }
    }

    /// Step `step`'s gradients as the run gives them: those of parameters without a gradient at
    /// that step replaced by an undefined tensor (Python's `None`), which every optimizer skips.
    pub fn mask(&self, step: usize, mut grads: Vec<Tensor>) -> Vec<Tensor> {
        for (i, steps) in self.no_grad {
            if steps.contains(&step) {
                if let Some(g) = grads.get_mut(*i) {
                    *g = Tensor::new();
                }
            }
        }
        grads
    }

    /// The dtype of the parameters.
    pub fn kind(&self) -> Kind {
        self.params.first().map_or(Kind::Float, Tensor::kind)
    }
}

/// Losses computed by a function of the typed call: the quickest way to put one's own code under
/// test. The function returns `None` for the calls it does not implement (reported as
/// unsupported).
///
/// ```
/// use tch_parity::catalog::LossCall;
/// use tch_parity::implementation::{Implementation, LossFunction, Registry};
///
/// // Mean squared error, by hand, and nothing else.
/// let mine = LossFunction::new("mine", |call: &LossCall| match *call {
///     LossCall::MseLoss { input, target, reduction } => Some(reduction.apply((input - target).square())),
///     _ => None,
/// });
/// let registry = Registry { subjects: vec![Box::new(mine)], references: Registry::standard_references() };
/// assert_eq!(registry.subjects[0].name(), "mine");
/// ```
pub struct LossFunction<F> {
    name: &'static str,
    f: F,
}

impl<F: Fn(&LossCall) -> Option<crate::Result<Tensor>> + Send + Sync> LossFunction<F> {
    pub fn new(name: &'static str, f: F) -> Self {
        LossFunction { name, f }
    }
}

impl<F: Fn(&LossCall) -> Option<crate::Result<Tensor>> + Send + Sync> Implementation for LossFunction<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn loss(&self, input: &LossInput) -> Evaluation {
        evaluate_tensors(input, &self.f)
    }
}

/// Which implementations a run compares: each subject against the references, and all of them
/// against the fixtures.
pub struct Registry {
    /// Under test.
    pub subjects: Vec<Box<dyn Implementation>>,
    /// Compared against. A loss is checked against the first reference that supports it; an
    /// optimizer configuration against every reference that supports it.
    pub references: Vec<Box<dyn Implementation>>,
}

impl Registry {
    /// The hand-written library under test; libtorch (its losses, C++ optimizers, tch's
    /// optimizers and the fused kernels) and PyTorch in Python as references. Python is not
    /// started: its losses are compared through the values the fixtures recorded from it, and
    /// torch.optim's runs are replayed from their recordings (the gate's default;
    /// [`Registry::live`] computes them).
    pub fn standard() -> Registry {
        Registry { subjects: vec![Box::new(hand_written::HandWritten)], references: Self::references(false) }
    }

    /// The same with every reference computed now, PyTorch in Python included: what `regen`
    /// records from, the fuzzer compares with, and `check --live` checks the recordings against.
    pub fn live() -> Registry {
        Registry { subjects: vec![Box::new(hand_written::HandWritten)], references: Self::references(true) }
    }

    /// The references of [`Registry::standard`].
    pub fn standard_references() -> Vec<Box<dyn Implementation>> {
        Self::references(false)
    }

    fn references(live: bool) -> Vec<Box<dyn Implementation>> {
        // A check provokes hundreds of libtorch errors on purpose; their backtraces cost a
        // quarter of its time and are never shown.
        crate::ffi::skip_cpp_backtraces();
        vec![
            Box::new(libtorch::Libtorch),
            Box::new(libtorch::CPP_OPTIMIZER),
            Box::new(libtorch::TCH_OPTIMIZER),
            Box::new(libtorch::FUSED_OPTIMIZER),
            Box::new(pytorch::PyTorch::new().with_live(live)),
            Box::new(pytorch::PyTorch::foreach().with_live(live)),
        ]
    }

    /// The reference a loss is checked against, and its evaluation.
    pub fn loss_reference(&self, input: &LossInput) -> Option<(&dyn Implementation, Evaluation)> {
        self.references.iter().find_map(|r| match r.loss(input) {
            Evaluation::Unsupported => None,
            evaluation => Some((r.as_ref(), evaluation)),
        })
    }

    /// Tells every implementation what the run will ask of it.
    pub fn prepare(&self, inputs: &[LossInput]) {
        for implementation in self.subjects.iter().chain(&self.references) {
            implementation.prepare(inputs);
        }
    }

    /// Tells every implementation which optimizer runs it will be asked for.
    pub fn prepare_optimizers(&self, runs: &[OptimizerRun]) {
        for implementation in self.subjects.iter().chain(&self.references) {
            implementation.prepare_optimizers(runs);
        }
    }
}

/// The upstream gradient used for an unreduced output: 0.25, 0.5, 0.75, 1, 0.25, … (exact in
/// binary), so that each element's gradient is checked under its own weight rather than all
/// under 1. `scripts/pytorch_reference.py` uses the same.
pub fn upstream_gradient(shape: &[i64], kind: Kind) -> Tensor {
    let n: i64 = shape.iter().product();
    Tensor::arange(n, (Kind::Int64, tch::Device::Cpu))
        .remainder(4)
        .g_add_scalar(1)
        .to_kind(kind)
        .g_div_scalar(4.0)
        .reshape(shape)
}

/// Element k of [`upstream_gradient`]: (k mod 4 + 1)/4.
pub fn upstream_weight(k: usize) -> f64 {
    (k % 4 + 1) as f64 / 4.0
}

/// Reads a tensor back as f64 values with its shape. libtorch's backward formulas may return an
/// efficient zero tensor (`_efficientzerotensor`, which has no storage: reading its data would
/// read address 0); it reads as zeros.
pub fn read(name: &str, t: &Tensor) -> Result<Computed, String> {
    let zero = t.f_internal_is_zerotensor().map_err(|e| e.to_string())?;
    if zero {
        return Ok(Computed { name: name.to_owned(), shape: t.size(), values: vec![0.0; t.numel()] });
    }
    let flat = t
        .f_detach()
        .and_then(|t| t.f_to_kind(Kind::Double))
        .and_then(|t| t.f_reshape([-1]))
        .map_err(|e| e.to_string())?;
    let values = Vec::<f64>::try_from(&flat).map_err(|e| e.to_string())?;
    Ok(Computed { name: name.to_owned(), shape: t.size(), values })
}

/// Evaluates a tensor implementation: binds the call, computes it with `f` (`None`: no such op),
/// and differentiates the output with respect to every input that requires a gradient. An error
/// or a panic is a rejection with its message.
pub fn evaluate_tensors(input: &LossInput, f: impl Fn(&LossCall) -> Option<crate::Result<Tensor>>) -> Evaluation {
    let run = || -> Result<Option<Vec<Computed>>, String> {
        let call = (input.spec.bind)(input.args, input.reduction).map_err(|e| e.to_string())?;
        let output = if input.derivatives == Derivatives::None {
            // Nothing is differentiated: no graph to build.
            let _guard = tch::no_grad_guard();
            f(&call)
        } else {
            f(&call)
        };
        let Some(output) = output else { return Ok(None) };
        let output = output.map_err(|e| e.to_string())?;
        let mut computed = vec![read("output", &output)?];
        let wanted: Vec<(&String, &Tensor)> =
            input.args.tensors.iter().filter(|(_, t)| t.requires_grad()).map(|(n, t)| (n, t)).collect();
        if wanted.is_empty() || input.derivatives == Derivatives::None {
            return Ok(Some(computed));
        }
        let scalar = if output.dim() == 0 {
            output.shallow_clone()
        } else {
            let upstream = upstream_gradient(&output.size(), output.kind());
            output.f_mul(&upstream).and_then(|t| t.f_sum(None)).map_err(|e| torch_message(&e))?
        };
        let leaves: Vec<&Tensor> = wanted.iter().map(|(_, t)| *t).collect();
        // libtorch's engine dereferences the history of what it is given: an output with none
        // would crash the process rather than raise.
        if !scalar.requires_grad() {
            return Err("the output does not require a gradient, though an input does".to_owned());
        }
        let second = input.derivatives == Derivatives::Second;
        let grads = Tensor::f_run_backward(&[scalar], &leaves, second, second)
            .map_err(|e| format!("backward failed: {}", torch_message(&e)))?;
        for ((name, _), grad) in wanted.iter().zip(&grads) {
            computed.push(read(&format!("grad.{name}"), grad)?);
        }
        if second {
            for ((name, _), grad2) in wanted.iter().zip(second_order(&grads, &leaves)?) {
                computed.push(read(&second_order_name(name), &grad2)?);
            }
        }
        Ok(Some(computed))
    };
    match catch_panic(run).and_then(|r| r) {
        Ok(Some(computed)) => Evaluation::Computed(computed),
        Ok(None) => Evaluation::Unsupported,
        Err(message) => Evaluation::Rejected(message),
    }
}

/// The gradient of Σᵢ ⟨gradsᵢ, vᵢ⟩ with respect to each leaf ([`Derivatives::Second`]); zeros
/// where nothing depends on a leaf (a first gradient that is constant has no history).
fn second_order(grads: &[Tensor], leaves: &[&Tensor]) -> Result<Vec<Tensor>, String> {
    let mut total: Option<Tensor> = None;
    for (i, g) in grads.iter().enumerate().filter(|(_, g)| g.defined() && g.requires_grad()) {
        let term = (g * second_order_weight(i, &g.size(), g.kind())).f_sum(g.kind()).map_err(|e| torch_message(&e))?;
        total = Some(match total {
            Some(t) => t + term,
            None => term,
        });
    }
    let Some(total) = total else { return Ok(leaves.iter().map(|t| t.zeros_like()).collect()) };
    let second = Tensor::f_run_backward(&[total], leaves, false, false)
        .map_err(|e| format!("second backward failed: {}", torch_message(&e)))?;
    Ok(second.into_iter().zip(leaves).map(|(s, t)| if s.defined() { s } else { t.zeros_like() }).collect())
}
