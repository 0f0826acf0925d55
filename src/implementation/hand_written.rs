//! The hand-written library as an implementation: `crate::loss` and `crate::optim`.

use super::{
    evaluate_tensors, ClipCall, Computed, Evaluation, Implementation, LossInput, OptimizerCode, OptimizerRun,
    ScheduleRun,
};
use crate::catalog::schedulers::{NamedLambda, SchedulerOptions};
use crate::catalog::{LossCall, SchedulerConfig};
use crate::error::{catch_panic, Result};
use crate::ffi;
use crate::loss;
use crate::optim::{
    adadelta::AdadeltaRule, adafactor::AdafactorRule, adagrad::AdagradRule, adam::AdamRule, adam::AdamWRule,
    adamax::AdamaxRule, asgd::AsgdRule, lbfgs, muon::MuonRule, nadam::NAdamRule, radam::RAdamRule,
    rmsprop::RmsPropRule, rprop::RpropRule, sgd::SgdRule, sparse_adam::SparseAdamRule, Lbfgs, LbfgsOptions, Optimizer,
    OptimizerOptions, ParamGroup, Rule, StepClosure, Stepper,
};
use crate::train::checkpoint::{Checkpoint, SchedulerState, SchedulerStateDict};
use crate::train::grad_scaler::GradScaler;
use crate::train::lr_scheduler::{self as sched, LrLambda, LrScheduler, ReduceLROnPlateau};
use crate::train::{clip_grad, ParamGroups, Rates};
use tch::Tensor;

pub struct HandWritten;

/// A hand-written scheduler built from a catalogue configuration.
pub enum Scheduler {
    Epoch(Box<dyn LrScheduler>),
    Plateau(ReduceLROnPlateau),
}

impl Scheduler {
    /// `config`'s scheduler over `groups` (its children first, each on the same groups, as
    /// PyTorch builds them).
    pub fn build(config: &SchedulerConfig, groups: &mut dyn ParamGroups) -> Result<Scheduler> {
        fn lambdas(fs: &[NamedLambda]) -> Vec<LrLambda> {
            fs.iter().map(|&f| Box::new(move |epoch| f.at(epoch)) as LrLambda).collect()
        }
        fn boxed<S: LrScheduler + 'static>(s: Result<S>) -> Result<Scheduler> {
            Ok(Scheduler::Epoch(Box::new(s?)))
        }
        let mut children = Vec::new();
        for child in &config.children {
            match Scheduler::build(child, groups)? {
                Scheduler::Epoch(s) => children.push(s),
                Scheduler::Plateau(_) => {
                    crate::error::invalid!("ReduceLROnPlateau cannot be held by another scheduler")?
                }
            }
        }
        use SchedulerOptions as O;
        match &config.options {
            O::Lambda(o) => boxed(sched::LambdaLR::new(groups, lambdas(&o.lr_lambda))),
            O::Multiplicative(o) => boxed(sched::MultiplicativeLR::new(groups, lambdas(&o.lr_lambda))),
            O::Step(o) => boxed(sched::StepLR::new(groups, *o)),
            O::MultiStep(o) => boxed(sched::MultiStepLR::new(groups, o.clone())),
            O::Constant(o) => boxed(sched::ConstantLR::new(groups, *o)),
            O::Linear(o) => boxed(sched::LinearLR::new(groups, *o)),
            O::Exponential(o) => boxed(sched::ExponentialLR::new(groups, *o)),
            O::Polynomial(o) => boxed(sched::PolynomialLR::new(groups, *o)),
            O::CosineAnnealing(o) => boxed(sched::CosineAnnealingLR::new(groups, *o)),
            O::CosineAnnealingWarmRestarts(o) => boxed(sched::CosineAnnealingWarmRestarts::new(groups, *o)),
            O::Cyclic(o) => boxed(sched::CyclicLR::new(groups, o.clone())),
            O::OneCycle(o) => boxed(sched::OneCycleLR::new(groups, o.clone())),
            O::ReduceOnPlateau(o) => Ok(Scheduler::Plateau(ReduceLROnPlateau::new(groups, o.clone())?)),
            O::Sequential(o) => boxed(sched::SequentialLR::new(groups, children, o.milestones.clone())),
            O::Chained => boxed(sched::ChainedScheduler::new(groups, children)),
        }
    }

    /// One step: with the metric for ReduceLROnPlateau, to `epoch` when one is given.
    pub fn step(&mut self, groups: &mut dyn ParamGroups, metric: Option<f64>, epoch: Option<f64>) -> Result<()> {
        match (self, epoch) {
            (Scheduler::Epoch(s), None) => s.step(groups),
            (Scheduler::Epoch(s), Some(epoch)) => s.step_to(groups, epoch),
            (Scheduler::Plateau(s), _) => match metric {
                Some(m) => s.step(groups, m),
                None => crate::error::invalid!("ReduceLROnPlateau.step() needs a metric"),
            },
        }
    }
}

impl SchedulerState for Scheduler {
    fn class(&self) -> &'static str {
        match self {
            Scheduler::Epoch(s) => s.torch_name(),
            Scheduler::Plateau(_) => "ReduceLROnPlateau",
        }
    }
    fn state_dict(&self) -> SchedulerStateDict {
        match self {
            Scheduler::Epoch(s) => SchedulerState::state_dict(s),
            Scheduler::Plateau(s) => SchedulerState::state_dict(s),
        }
    }
    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()> {
        match self {
            Scheduler::Epoch(s) => SchedulerState::load_state_dict(s, state),
            Scheduler::Plateau(s) => SchedulerState::load_state_dict(s, state),
        }
    }
}

/// A hand-written optimizer (and scheduler) that can stop and go on: the resume checks drive it.
pub trait Resumable: Stepper {
    /// Its state now, the parameters included.
    fn checkpoint(&self) -> Result<Checkpoint>;
    /// Restores a checkpoint taken after `steps_done` steps (a scheduler's metrics go on from
    /// there).
    fn restore(&mut self, checkpoint: &Checkpoint, steps_done: usize) -> Result<()>;
}

/// The hand-written optimizer of `run`, resumable.
pub fn resumable(run: &OptimizerRun) -> Result<Box<dyn Resumable>> {
    fn build<R: Rule + 'static>(groups: Result<Vec<R::Options>>, run: &OptimizerRun) -> Result<Box<dyn Resumable>>
    where
        R::Options: crate::options::Options,
    {
        let mut stepper = HandStepper::<R>::new(groups?, run.params, run.group_of)?;
        if let Some(config) = run.scheduler {
            stepper.scheduler = Some(Scheduler::build(config, &mut stepper.optimizer)?);
            stepper.metrics = run.metrics.to_vec();
        }
        Ok(Box::new(stepper))
    }
    let groups = run.groups;
    macro_rules! groups_of {
        ($variant:ident) => {
            groups
                .iter()
                .map(|g| match g {
                    OptimizerOptions::$variant(o) => Ok(*o),
                    _ => Err(crate::Error::InvalidArgument("parameter groups of different optimizers".into())),
                })
                .collect()
        };
    }
    let Some(first) = groups.first() else { return crate::error::invalid!("no parameter group") };
    match first {
        OptimizerOptions::Sgd(_) => build::<SgdRule>(groups_of!(Sgd), run),
        OptimizerOptions::Adam(_) => build::<AdamRule>(groups_of!(Adam), run),
        OptimizerOptions::AdamW(_) => build::<AdamWRule>(groups_of!(AdamW), run),
        OptimizerOptions::RmsProp(_) => build::<RmsPropRule>(groups_of!(RmsProp), run),
        OptimizerOptions::Adagrad(_) => build::<AdagradRule>(groups_of!(Adagrad), run),
        OptimizerOptions::Adadelta(_) => build::<AdadeltaRule>(groups_of!(Adadelta), run),
        OptimizerOptions::Adafactor(_) => build::<AdafactorRule>(groups_of!(Adafactor), run),
        OptimizerOptions::Adamax(_) => build::<AdamaxRule>(groups_of!(Adamax), run),
        OptimizerOptions::Asgd(_) => build::<AsgdRule>(groups_of!(Asgd), run),
        OptimizerOptions::NAdam(_) => build::<NAdamRule>(groups_of!(NAdam), run),
        OptimizerOptions::RAdam(_) => build::<RAdamRule>(groups_of!(RAdam), run),
        OptimizerOptions::Rprop(_) => build::<RpropRule>(groups_of!(Rprop), run),
        OptimizerOptions::Muon(_) => build::<MuonRule>(groups_of!(Muon), run),
        OptimizerOptions::SparseAdam(_) => build::<SparseAdamRule>(groups_of!(SparseAdam), run),
        OptimizerOptions::Lbfgs(_) if groups.len() > 1 => {
            crate::error::invalid!("LBFGS doesn't support per-parameter options (parameter groups)")
        }
        OptimizerOptions::Lbfgs(options) => Ok(Box::new(LbfgsStepper::new(*options, run.params)?)),
    }
}

impl<R: Rule> Resumable for HandStepper<R>
where
    R::Options: crate::options::Options,
{
    fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::of(&self.optimizer, self.scheduler.as_ref().map(|s| s as &dyn SchedulerState))
    }
    fn restore(&mut self, checkpoint: &Checkpoint, steps_done: usize) -> Result<()> {
        checkpoint.restore(&mut self.optimizer, self.scheduler.as_mut().map(|s| s as &mut dyn SchedulerState))?;
        self.steps = steps_done;
        Ok(())
    }
}

impl Resumable for LbfgsStepper {
    fn checkpoint(&self) -> Result<Checkpoint> {
        Checkpoint::of(&self.optimizer, None)
    }
    fn restore(&mut self, checkpoint: &Checkpoint, _: usize) -> Result<()> {
        checkpoint.restore(&mut self.optimizer, None)
    }
}

/// Every group's rate (and momentum, when recorded) after construction and after every step.
fn run_schedule(run: &ScheduleRun) -> Result<Vec<Computed>> {
    let momentum = run.momentum().map(|m| vec![m; run.lrs.len()]);
    let mut groups = Rates::new(run.lrs.to_vec(), momentum);
    let config = run.config.map_err(|e| crate::Error::InvalidArgument(e.to_owned()))?;
    let mut scheduler = Scheduler::build(config, &mut groups)?;
    let (mut lrs, mut momenta) = (vec![groups.lrs.clone()], vec![groups.momentums.clone().unwrap_or_default()]);
    for k in 1..=run.steps {
        scheduler.step(&mut groups, run.metrics.get(k - 1).copied(), run.epoch_of(k))?;
        lrs.push(groups.lrs.clone());
        momenta.push(groups.momentums.clone().unwrap_or_default());
    }
    let mut out = ScheduleRun::outputs("lr", &lrs);
    if run.records_momentum() {
        out.extend(ScheduleRun::outputs("momentum", &momenta));
    }
    Ok(out)
}

/// The hand-written clipping of `call`.
fn clip(call: &ClipCall) -> std::result::Result<Vec<Computed>, String> {
    let params = call.parameters().map_err(|e| e.to_string())?;
    let total = match call.spec.id {
        "clip_grad_norm_" => Some(
            clip_grad::clip_grad_norm_(
                &params,
                call.float("max_norm"),
                call.float("norm_type"),
                call.flag("error_if_nonfinite"),
            )
            .map_err(|e| e.to_string())?,
        ),
        _ => {
            clip_grad::clip_grad_value_(&params, call.float("clip_value")).map_err(|e| e.to_string())?;
            None
        }
    };
    call.outputs(total.as_ref(), &params)
}

/// An evaluation of what a closure computed: values, or its error (or panic) as a rejection.
pub fn evaluation(f: impl FnOnce() -> std::result::Result<Vec<Computed>, String>) -> Evaluation {
    match catch_panic(f).and_then(|r| r) {
        Ok(outputs) => Evaluation::Computed(outputs),
        Err(message) => Evaluation::Rejected(message),
    }
}

/// The hand-written loss of a call (every op has one).
pub fn compute(call: &LossCall) -> Option<Result<Tensor>> {
    forward_loss_call!(loss, call, {
        C::CtcLoss { log_probs, targets, input_lengths, target_lengths, options, reduction } => {
            let lengths = |t: &Tensor| -> Result<Vec<i64>> { Ok(Vec::<i64>::try_from(t.f_reshape([-1])?)?) };
            Some(lengths(input_lengths).and_then(|il| {
                let tl = lengths(target_lengths)?;
                loss::ctc_loss(log_probs, targets, &il, &tl, options, reduction)
            }))
        }
        C::SigmoidFocalLoss { input, target, options, reduction } => {
            Some(loss::sigmoid_focal_loss(input, target, options, reduction))
        }
        C::GaussianNllLoss { input, target, var, options, reduction } => {
            Some(loss::gaussian_nll_loss(input, target, var, options, reduction))
        }
        C::MultilabelSoftMarginLoss { input, target, weight, reduction } => {
            Some(loss::multilabel_soft_margin_loss(input, target, weight, reduction))
        }
        C::TripletMarginWithDistanceLoss { anchor, positive, negative, options, reduction } => {
            Some(loss::triplet_margin_with_distance_loss(anchor, positive, negative, options, reduction))
        }
    })
}

impl Implementation for HandWritten {
    fn name(&self) -> &'static str {
        "hand-written"
    }

    fn loss(&self, input: &LossInput) -> Evaluation {
        evaluate_tensors(input, compute)
    }

    fn schedule(&self, run: &ScheduleRun) -> Evaluation {
        evaluation(|| run_schedule(run).map_err(|e| e.to_string()))
    }

    fn clip(&self, call: &ClipCall) -> Evaluation {
        evaluation(|| clip(call))
    }

    /// libtorch's C++ optimizer where there is one, torch.optim's for-loop otherwise (see
    /// [`crate::optim`]).
    fn optimizer_code(&self, run: &OptimizerRun) -> Option<OptimizerCode> {
        let spec = crate::catalog::optimizers::find(run.optimizer)?;
        Some(if spec.python_only { OptimizerCode::TorchForLoop } else { OptimizerCode::LibtorchCpp })
    }

    fn optimizer(&self, run: &OptimizerRun) -> Option<Result<Box<dyn Stepper>>> {
        run.groups.first()?;
        let stepper = resumable(run).map(|s| s as Box<dyn Stepper>);
        Some(match run.grad_scaler {
            None => stepper,
            Some(options) => stepper.and_then(|inner| {
                let scaler = GradScaler::new(*options)?;
                Ok(Box::new(Scaled { inner, scaler, inject: run.inject.to_vec(), steps: 0 }) as Box<dyn Stepper>)
            }),
        })
    }
}

/// An optimizer stepped through a GradScaler: each step's gradients scaled (and the run's
/// injected values written over them), then unscaled, checked, and the step skipped where one
/// is inf or NaN, as `scaler.scale(loss).backward(); scaler.step(opt); scaler.update()` does.
struct Scaled {
    inner: Box<dyn Stepper>,
    scaler: GradScaler,
    inject: Vec<(usize, usize, f64)>,
    steps: usize,
}

impl Stepper for Scaled {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        self.steps += 1;
        let mut scaled = Vec::with_capacity(grads.len());
        for (i, g) in grads.iter().enumerate() {
            if !g.defined() {
                scaled.push(Tensor::new());
                continue;
            }
            let s = self.scaler.scale(g)?;
            for &(_, _, value) in self.inject.iter().filter(|(k, p, _)| *k == self.steps && *p == i) {
                let _ = s.f_reshape([-1])?.f_get(0)?.f_fill_(value)?;
            }
            scaled.push(s);
        }
        self.scaler.unscale_grads_(&scaled)?;
        let inner = &mut self.inner;
        self.scaler.step(&[], || inner.step(&scaled))?;
        self.scaler.update()
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.inner.set_lr(lr)
    }
    fn params(&self) -> Vec<Tensor> {
        self.inner.params()
    }
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>> {
        self.inner.buffers(index)
    }
}

/// The hand-written LBFGS over fresh copies of the parameters, stepped with a closure.
struct LbfgsStepper {
    optimizer: Lbfgs,
    leaves: Vec<Tensor>,
}

impl LbfgsStepper {
    fn new(options: LbfgsOptions, params: &[Tensor]) -> Result<Self> {
        let leaves = crate::optim::leaves(params)?;
        let optimizer = Lbfgs::new(leaves.iter().map(Tensor::shallow_clone).collect(), options)?;
        Ok(LbfgsStepper { optimizer, leaves })
    }
}

impl Stepper for LbfgsStepper {
    fn step(&mut self, _: &[Tensor]) -> Result<()> {
        crate::error::invalid!("LBFGS requires a closure function")
    }
    fn step_with_closure(&mut self, objective: &mut StepClosure) -> Result<()> {
        let leaves: Vec<Tensor> = self.leaves.iter().map(Tensor::shallow_clone).collect();
        let mut closure = || -> Result<Tensor> {
            let (loss, grads) = objective(&leaves)?;
            for (p, g) in leaves.iter().zip(&grads) {
                ffi::set_grad(p, g)?;
            }
            Ok(Tensor::from(loss))
        };
        self.optimizer.step(&mut closure).map(|_| ())
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.optimizer.set_lr(lr);
        Ok(())
    }
    fn params(&self) -> Vec<Tensor> {
        self.leaves.iter().map(Tensor::detach).collect()
    }
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>> {
        // LBFGS's state is global; torch.optim keeps it on the first parameter.
        if index > 0 {
            return Ok(Vec::new());
        }
        let kind = self.leaves[0].kind();
        Ok(lbfgs::buffers(self.optimizer.state(), kind).into_iter().map(|(n, t)| (n.to_owned(), t)).collect())
    }
}

/// A hand-written optimizer over fresh copies of the parameters, driven by given gradients.
struct HandStepper<R: Rule> {
    optimizer: Optimizer<R>,
    leaves: Vec<Tensor>,
    /// For each parameter in the caller's order: (group, index in group).
    slots: Vec<(usize, usize)>,
    /// Stepped after every optimizer step, with `metrics[k - 1]` at step k for ReduceLROnPlateau.
    scheduler: Option<Scheduler>,
    metrics: Vec<f64>,
    steps: usize,
}

impl<R: Rule> HandStepper<R> {
    fn new(groups: Vec<R::Options>, params: &[Tensor], group_of: &[usize]) -> Result<Self> {
        let leaves = crate::optim::leaves(params)?;
        let mut slots = Vec::new();
        let param_groups = groups
            .into_iter()
            .enumerate()
            .map(|(g, options)| {
                let members: Vec<usize> = (0..leaves.len()).filter(|&i| group_of[i] == g).collect();
                for (k, &i) in members.iter().enumerate() {
                    slots.push((i, g, k));
                }
                ParamGroup { params: members.iter().map(|&i| leaves[i].shallow_clone()).collect(), options }
            })
            .collect();
        slots.sort();
        let optimizer = Optimizer::<R>::with_groups(param_groups)?;
        let slots = slots.into_iter().map(|(_, g, k)| (g, k)).collect();
        Ok(HandStepper { optimizer, leaves, slots, scheduler: None, metrics: Vec::new(), steps: 0 })
    }
}

impl<R: Rule> Stepper for HandStepper<R> {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        for (p, g) in self.leaves.iter().zip(grads) {
            ffi::set_grad(p, g)?;
        }
        self.optimizer.step()?;
        self.steps += 1;
        if let Some(scheduler) = &mut self.scheduler {
            scheduler.step(&mut self.optimizer, self.metrics.get(self.steps - 1).copied(), None)?;
        }
        Ok(())
    }
    fn set_lr(&mut self, lr: f64) -> Result<()> {
        self.optimizer.set_lr(lr);
        Ok(())
    }
    fn params(&self) -> Vec<Tensor> {
        self.leaves.iter().map(Tensor::detach).collect()
    }
    fn buffers(&self, index: usize) -> Result<Vec<(String, Tensor)>> {
        let (g, k) = self.slots[index];
        Ok(self.optimizer.state(g, k).into_iter().map(|(n, t)| (n.to_owned(), t)).collect())
    }
}
