//! The catalogue: what is checked. One spec per loss ([`losses`]) and per optimizer
//! ([`optimizers`]), with typed options, the typed call a spec builds ([`call`]), sample
//! generators ([`samples`], drawing from [`rng`]) and error inputs ([`errors`]), and the
//! objectives optimizer cases minimise ([`objectives`]). It names ops; it computes nothing
//! itself, and knows no implementation but through the typed calls it builds.

pub mod call;
pub mod clipping;
pub mod errors;
pub mod grad_scaler;
pub mod losses;
pub mod objectives;
pub mod optimizers;
pub mod rng;
pub mod samples;
pub mod schedulers;

pub use call::{Args, LossCall};
pub use clipping::{ClipSpec, CLIPPING};
pub use losses::{LossSpec, OptionsOf, Reference, LOSSES};
pub use objectives::{ObjectiveInfo, OBJECTIVES};
pub use optimizers::{InvalidConfig, OptimizerSpec, OPTIMIZERS};
pub use schedulers::{SchedulerConfig, SchedulerSpec, SCHEDULERS};

use crate::dtype::InputDType;

/// One input of a loss.
#[derive(Debug)]
pub struct InputSpec {
    pub name: &'static str,
    /// The dtypes a case may give it (cross entropy's target: class indices or probabilities).
    pub dtypes: &'static [InputDType],
    pub required: bool,
    /// Whether a case may ask for this input's gradient.
    pub differentiable: bool,
}

/// A loss, an optimizer, a learning-rate scheduler or a clipping function of the catalogue.
#[derive(Clone, Copy)]
pub enum Op {
    Loss(&'static LossSpec),
    Optimizer(&'static OptimizerSpec),
    Scheduler(&'static SchedulerSpec),
    Clip(&'static ClipSpec),
}

impl Op {
    pub fn id(self) -> &'static str {
        match self {
            Op::Loss(spec) => spec.id,
            Op::Optimizer(spec) => spec.id,
            Op::Scheduler(spec) => spec.id,
            Op::Clip(spec) => spec.id,
        }
    }
}

/// The op with this id.
pub fn find(id: &str) -> Option<Op> {
    losses::find(id)
        .map(Op::Loss)
        .or_else(|| optimizers::find(id).map(Op::Optimizer))
        .or_else(|| schedulers::find(id).map(Op::Scheduler))
        .or_else(|| clipping::find(id).map(Op::Clip))
}

/// Every op id: losses, optimizers, schedulers, clipping.
pub fn ids() -> impl Iterator<Item = &'static str> {
    LOSSES
        .iter()
        .map(|l| l.id)
        .chain(OPTIMIZERS.iter().map(|o| o.id))
        .chain(SCHEDULERS.iter().map(|s| s.id))
        .chain(CLIPPING.iter().map(|c| c.id))
}
