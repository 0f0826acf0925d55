//! The hand-written library as an implementation: `crate::loss` and `crate::optim`.

use super::{evaluate_tensors, Evaluation, Implementation, LossInput, OptimizerRun};
use crate::catalog::LossCall;
use crate::error::Result;
use crate::ffi;
use crate::loss;
use crate::optim::{
    adadelta::AdadeltaRule, adafactor::AdafactorRule, adagrad::AdagradRule, adam::AdamRule, adam::AdamWRule,
    adamax::AdamaxRule, asgd::AsgdRule, lbfgs, muon::MuonRule, nadam::NAdamRule, radam::RAdamRule,
    rmsprop::RmsPropRule, rprop::RpropRule, sgd::SgdRule, sparse_adam::SparseAdamRule, Lbfgs, LbfgsOptions, Optimizer,
    OptimizerOptions, ParamGroup, Rule, StepClosure, Stepper,
};
use tch::Tensor;

pub struct HandWritten;

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

    fn optimizer(&self, run: &OptimizerRun) -> Option<Result<Box<dyn Stepper>>> {
        let (groups, params, group_of) = (run.groups, run.params, run.group_of);
        fn build<R: Rule + 'static>(
            groups: Result<Vec<R::Options>>,
            params: &[Tensor],
            group_of: &[usize],
        ) -> Result<Box<dyn Stepper>> {
            Ok(Box::new(HandStepper::<R>::new(groups?, params, group_of)?))
        }
        // Every group's options, which must all be of the first group's optimizer.
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
        Some(match groups.first()? {
            OptimizerOptions::Sgd(_) => build::<SgdRule>(groups_of!(Sgd), params, group_of),
            OptimizerOptions::Adam(_) => build::<AdamRule>(groups_of!(Adam), params, group_of),
            OptimizerOptions::AdamW(_) => build::<AdamWRule>(groups_of!(AdamW), params, group_of),
            OptimizerOptions::RmsProp(_) => build::<RmsPropRule>(groups_of!(RmsProp), params, group_of),
            OptimizerOptions::Adagrad(_) => build::<AdagradRule>(groups_of!(Adagrad), params, group_of),
            OptimizerOptions::Adadelta(_) => build::<AdadeltaRule>(groups_of!(Adadelta), params, group_of),
            OptimizerOptions::Adafactor(_) => build::<AdafactorRule>(groups_of!(Adafactor), params, group_of),
            OptimizerOptions::Adamax(_) => build::<AdamaxRule>(groups_of!(Adamax), params, group_of),
            OptimizerOptions::Asgd(_) => build::<AsgdRule>(groups_of!(Asgd), params, group_of),
            OptimizerOptions::NAdam(_) => build::<NAdamRule>(groups_of!(NAdam), params, group_of),
            OptimizerOptions::RAdam(_) => build::<RAdamRule>(groups_of!(RAdam), params, group_of),
            OptimizerOptions::Rprop(_) => build::<RpropRule>(groups_of!(Rprop), params, group_of),
            OptimizerOptions::Muon(_) => build::<MuonRule>(groups_of!(Muon), params, group_of),
            OptimizerOptions::Lbfgs(options) => {
                if groups.len() > 1 {
                    return Some(Err(crate::Error::InvalidArgument(
                        "LBFGS doesn't support per-parameter options (parameter groups)".into(),
                    )));
                }
                LbfgsStepper::new(*options, params).map(|s| Box::new(s) as Box<dyn Stepper>)
            }
            OptimizerOptions::SparseAdam(_) => build::<SparseAdamRule>(groups_of!(SparseAdam), params, group_of),
        })
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
        Ok(HandStepper { optimizer, leaves, slots: slots.into_iter().map(|(_, g, k)| (g, k)).collect() })
    }
}

impl<R: Rule> Stepper for HandStepper<R> {
    fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        for (p, g) in self.leaves.iter().zip(grads) {
            ffi::set_grad(p, g)?;
        }
        self.optimizer.step()
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
