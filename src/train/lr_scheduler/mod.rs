//! Every learning-rate scheduler of `torch.optim.lr_scheduler` (torch 2.13), over any optimizer
//! of this library through [`ParamGroups`].
//!
//! Each follows PyTorch's arithmetic operation for operation, in f64 as Python's floats are, so
//! a schedule is PyTorch's bit for bit. As in PyTorch:
//! - constructing a scheduler takes its first step (epoch 0), which may already change the
//!   rates (`LinearLR`, `ConstantLR`), and records each group's rate as `initial_lr` unless an
//!   earlier scheduler did;
//! - [`LrScheduler::step`] is the chainable form, which scales the group's *current* rate, so
//!   schedulers compose ([`ChainedScheduler`]); [`LrScheduler::step_to`] is PyTorch's deprecated
//!   `step(epoch)`, which jumps by the closed form where PyTorch has one (and takes the
//!   chainable form where it has not);
//! - call `step` after the optimizer's step, once per epoch (or per batch for `CyclicLR` and
//!   `OneCycleLR`).
//!
//! ```
//! # fn main() -> tch_parity::Result<()> {
//! use tch_parity::train::lr_scheduler::{LrScheduler, StepLR, StepLROptions};
//! use tch_parity::train::Rates;
//!
//! let mut groups = Rates::new(vec![0.1], None);
//! let mut scheduler = StepLR::new(&mut groups, StepLROptions { step_size: 2, gamma: 0.5 })?;
//! let mut seen = vec![];
//! for _ in 0..5 {
//!     // optimizer.step() would go here
//!     scheduler.step(&mut groups)?;
//!     seen.push(groups.lrs[0]);
//! }
//! assert_eq!(seen, [0.1, 0.05, 0.05, 0.025, 0.025]);
//! # Ok(()) }
//! ```

mod cosine;
mod cyclic;
mod decay;
mod plateau;

pub use cosine::{
    CosineAnnealingLR, CosineAnnealingLROptions, CosineAnnealingWarmRestarts, CosineAnnealingWarmRestartsOptions,
};
pub use cyclic::{AnnealStrategy, CyclicLR, CyclicLROptions, CyclicMode, OneCycleLR, OneCycleLROptions, ScaleMode};
pub use decay::{
    ConstantLR, ConstantLROptions, ExponentialLR, ExponentialLROptions, LambdaLR, LinearLR, LinearLROptions, LrLambda,
    MultiStepLR, MultiStepLROptions, MultiplicativeLR, PolynomialLR, PolynomialLROptions, StepLR, StepLROptions,
};
pub use plateau::{PlateauMode, ReduceLROnPlateau, ReduceLROnPlateauOptions, ThresholdMode};

use super::ParamGroups;
use crate::error::{invalid, Result};
use serde_json::{json, Map, Value};

/// A scheduler stepped once per epoch (or batch): every scheduler but [`ReduceLROnPlateau`],
/// which is stepped with a metric.
pub trait LrScheduler: Send {
    /// torch's `scheduler.step()`: the next epoch's rates, set on `groups`.
    fn step(&mut self, groups: &mut dyn ParamGroups) -> Result<()>;
    /// torch's deprecated `scheduler.step(epoch)`: the rates of `epoch`, by the closed form where
    /// PyTorch has one.
    fn step_to(&mut self, groups: &mut dyn ParamGroups, epoch: f64) -> Result<()>;
    /// The rates the last step set (torch's `get_last_lr()`).
    fn last_lr(&self) -> &[f64];
    /// The epoch of the last step (torch's `last_epoch`): 0 after construction.
    fn last_epoch(&self) -> i64;
    /// torch's `_initial_step()`: the step construction takes, taken again (SequentialLR does).
    #[doc(hidden)]
    fn initial_step(&mut self, groups: &mut dyn ParamGroups) -> Result<()>;
    /// torch's `_update_lr(epoch)`: jumps to `epoch` without counting a step (SequentialLR does at
    /// each milestone).
    #[doc(hidden)]
    fn update_lr_at(&mut self, groups: &mut dyn ParamGroups, epoch: i64) -> Result<()>;
    /// `last_epoch -= 1`, through any nested schedulers (SequentialLR's `recursive_undo`).
    #[doc(hidden)]
    fn undo_epoch(&mut self);
    /// torch's class name ("StepLR").
    fn torch_name(&self) -> &'static str;
    /// torch's `state_dict()`, under its attribute names: what changes as it steps (a
    /// checkpoint holds it; `crate::train::checkpoint`).
    fn state_dict(&self) -> Value;
    /// Restores what [`state_dict`](LrScheduler::state_dict) gave, or a PyTorch scheduler's
    /// `state_dict()` (whose other attributes, the options, stay as built).
    fn load_state_dict(&mut self, state: &Value) -> Result<()>;
}

/// A field of a scheduler's state dict.
fn field<'v>(state: &'v Value, key: &str) -> Result<&'v Value> {
    state.get(key).ok_or_else(|| crate::Error::InvalidArgument(format!("the scheduler state has no {key}")))
}

fn int_field(state: &Value, key: &str) -> Result<i64> {
    let v = field(state, key)?;
    match v.as_i64().or_else(|| v.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64)) {
        Some(n) => Ok(n),
        None => invalid!("the scheduler state's {key} is {v}, not a whole number"),
    }
}

fn float_field(state: &Value, key: &str) -> Result<f64> {
    crate::train::checkpoint::float_of(field(state, key)?)
}

fn floats_field(state: &Value, key: &str) -> Result<Vec<f64>> {
    match field(state, key)? {
        Value::Array(items) => items.iter().map(crate::train::checkpoint::float_of).collect(),
        other => invalid!("the scheduler state's {key} is {other}, not a list"),
    }
}

/// A number as torch keeps it: an int when whole (`T_cur`, `T_i` are ints until a fractional
/// epoch), else a float.
fn number_json(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        crate::train::checkpoint::float_json(x)
    }
}

impl SchedulerState {
    fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("base_lrs".into(), json!(self.base_lrs));
        m.insert("last_epoch".into(), json!(self.last_epoch));
        m.insert("_step_count".into(), json!(self.step_count));
        m.insert("_last_lr".into(), json!(self.last_lr));
        m.insert("_is_initial".into(), json!(false));
        m.insert("_get_lr_called_within_step".into(), json!(false));
        m
    }

    fn load(&mut self, state: &Value) -> Result<()> {
        let base_lrs = floats_field(state, "base_lrs")?;
        if base_lrs.len() != self.base_lrs.len() {
            return invalid!(
                "the scheduler state has {} groups, this scheduler {}",
                base_lrs.len(),
                self.base_lrs.len()
            );
        }
        let (last_epoch, step_count) = (int_field(state, "last_epoch")?, int_field(state, "_step_count")?);
        let last_lr = floats_field(state, "_last_lr")?;
        *self = SchedulerState { base_lrs, last_epoch, step_count, last_lr };
        Ok(())
    }
}

/// What every scheduler built on torch's `LRScheduler` keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerState {
    /// Each group's `initial_lr` when the scheduler was built (`CyclicLR`: its `base_lr`).
    pub base_lrs: Vec<f64>,
    pub last_epoch: i64,
    /// Steps taken, the one construction takes included (torch's `_step_count`).
    pub step_count: i64,
    pub last_lr: Vec<f64>,
}

impl SchedulerState {
    /// torch's `LRScheduler.__init__` before its first step: every group's `initial_lr` (its
    /// current rate, unless a scheduler set it before) becomes a base rate.
    fn attach(groups: &mut dyn ParamGroups) -> SchedulerState {
        for g in 0..groups.group_count() {
            if groups.initial_lr(g).is_none() {
                let lr = groups.group_lr(g);
                groups.set_initial_lr(g, lr);
            }
        }
        let base_lrs = (0..groups.group_count()).map(|g| groups.initial_lr(g).expect("set above")).collect();
        SchedulerState { base_lrs, last_epoch: -1, step_count: 0, last_lr: Vec::new() }
    }
}

/// What every scheduler built on torch's `LRScheduler` keeps, in its `state` field
/// ([`chainable!`] implements it).
trait Based {
    fn state(&self) -> &SchedulerState;
    fn state_mut(&mut self) -> &mut SchedulerState;
}

/// A scheduler defined by torch's `get_lr()` (chainable) and, for most, `_get_closed_form_lr()`.
trait Chainable: Based + Send {
    /// torch's class name.
    const TORCH_NAME: &'static str;
    /// What torch keeps besides `LRScheduler`'s own attributes and needs back to step on.
    fn extra_state(&self) -> Map<String, Value> {
        Map::new()
    }
    fn load_extra(&mut self, state: &Value) -> Result<()> {
        let _ = state;
        Ok(())
    }
    /// The rates at `state().last_epoch`; `initial` during the step construction takes.
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, initial: bool) -> Result<Vec<f64>>;
    /// The rates at `state().last_epoch` from the base rates alone, where PyTorch has the form.
    fn closed_form(&self) -> Option<Vec<f64>> {
        None
    }
    /// An error where torch's closed form divides by zero.
    fn closed_form_defined(&self) -> Result<()> {
        Ok(())
    }
}

/// torch's `_initial_step()`.
fn initial_step<S: Chainable>(s: &mut S, groups: &mut dyn ParamGroups) -> Result<()> {
    s.state_mut().step_count = 0;
    s.state_mut().step_count += 1;
    update_lr(s, groups, None, true)
}

/// torch's `LRScheduler._update_lr(epoch)`.
fn update_lr<S: Chainable>(s: &mut S, groups: &mut dyn ParamGroups, epoch: Option<i64>, initial: bool) -> Result<()> {
    let values = match epoch {
        None => {
            s.state_mut().last_epoch += 1;
            s.get_lr(groups, initial)?
        }
        Some(epoch) => {
            s.state_mut().last_epoch = epoch;
            s.closed_form_defined()?;
            match s.closed_form() {
                Some(values) => values,
                None => s.get_lr(groups, initial)?,
            }
        }
    };
    set_lrs(groups, &values)?;
    s.state_mut().last_lr = groups.lrs();
    Ok(())
}

fn set_lrs(groups: &mut dyn ParamGroups, values: &[f64]) -> Result<()> {
    if values.len() != groups.group_count() {
        return invalid!("{} rates for {} parameter groups", values.len(), groups.group_count());
    }
    for (g, &lr) in values.iter().enumerate() {
        groups.set_group_lr(g, lr)?;
    }
    Ok(())
}

/// `a / b` as Python divides floats: a zero divisor is an error (ZeroDivisionError), not an
/// infinity or a NaN, so a schedule fails where torch's does.
fn py_div(a: f64, b: f64) -> Result<f64> {
    if b == 0.0 {
        return invalid!("float division by zero");
    }
    Ok(a / b)
}

/// A whole epoch, for the schedulers that index by epoch (all but `CosineAnnealingWarmRestarts`).
fn whole_epoch(epoch: f64) -> Result<i64> {
    if epoch.fract() == 0.0 && epoch.abs() < 9.0e15 {
        Ok(epoch as i64)
    } else {
        invalid!("this scheduler takes whole epochs, got {epoch}")
    }
}

/// [`LrScheduler`] and [`Based`] for a [`Chainable`] scheduler with a `state` field.
macro_rules! chainable {
    ($($name:ty),* $(,)?) => {$(
        impl super::Based for $name {
            fn state(&self) -> &super::SchedulerState {
                &self.state
            }
            fn state_mut(&mut self) -> &mut super::SchedulerState {
                &mut self.state
            }
        }

        impl $crate::train::lr_scheduler::LrScheduler for $name {
            fn step(&mut self, groups: &mut dyn super::ParamGroups) -> super::Result<()> {
                super::Based::state_mut(self).step_count += 1;
                super::update_lr(self, groups, None, false)
            }
            fn step_to(&mut self, groups: &mut dyn super::ParamGroups, epoch: f64) -> super::Result<()> {
                let epoch = super::whole_epoch(epoch)?;
                super::Based::state_mut(self).step_count += 1;
                super::update_lr(self, groups, Some(epoch), false)
            }
            fn last_lr(&self) -> &[f64] {
                &super::Based::state(self).last_lr
            }
            fn last_epoch(&self) -> i64 {
                super::Based::state(self).last_epoch
            }
            fn initial_step(&mut self, groups: &mut dyn super::ParamGroups) -> super::Result<()> {
                super::initial_step(self, groups)
            }
            fn update_lr_at(&mut self, groups: &mut dyn super::ParamGroups, epoch: i64) -> super::Result<()> {
                super::update_lr(self, groups, Some(epoch), false)
            }
            fn undo_epoch(&mut self) {
                super::Based::state_mut(self).last_epoch -= 1;
            }
            fn torch_name(&self) -> &'static str {
                <Self as Chainable>::TORCH_NAME
            }
            fn state_dict(&self) -> serde_json::Value {
                let mut m = super::Based::state(self).to_json();
                m.extend(self.extra_state());
                serde_json::Value::Object(m)
            }
            fn load_state_dict(&mut self, state: &serde_json::Value) -> super::Result<()> {
                let mut restored = super::Based::state(self).clone();
                restored.load(state)?;
                self.load_extra(state)?;
                *super::Based::state_mut(self) = restored;
                Ok(())
            }
        }
    )*};
}
use chainable;

/// One value for every group, or one per group: a number or a list in a case's JSON (torch takes
/// either for `max_lr`, `base_momentum`, `min_lr`, `lr_lambda`, …).
pub fn one_or_many<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(match <OneOrMany<T> as serde::Deserialize>::deserialize(d)? {
        OneOrMany::One(v) => vec![v],
        OneOrMany::Many(v) => v,
    })
}

/// `[value; groups]`, or the per-group values, which must be one per group (torch's
/// `_format_param`).
pub fn per_group(name: &str, values: &[f64], groups: usize) -> Result<Vec<f64>> {
    match values.len() {
        1 => Ok(vec![values[0]; groups]),
        n if n == groups => Ok(values.to_vec()),
        n => invalid!(
            "{name} must have the same length as optimizer.param_groups. {name} has {n} values, param_groups \
             has {groups}."
        ),
    }
}

/// `torch.optim.lr_scheduler.SequentialLR`: `schedulers[i]` runs from `milestones[i-1]`; at
/// each milestone the next one restarts from epoch 0 by its closed form.
pub struct SequentialLR {
    schedulers: Vec<Box<dyn LrScheduler>>,
    milestones: Vec<i64>,
    last_epoch: i64,
    last_lr: Vec<f64>,
}

impl SequentialLR {
    /// `schedulers`, each built on `groups` (so that each took its first step), in order.
    pub fn new(
        groups: &mut dyn ParamGroups,
        mut schedulers: Vec<Box<dyn LrScheduler>>,
        milestones: Vec<i64>,
    ) -> Result<Self> {
        if schedulers.is_empty() {
            return invalid!("SequentialLR expects at least one scheduler, but got no scheduler.");
        }
        if milestones.len() != schedulers.len() - 1 {
            return invalid!(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number of \
                 milestone points, but got number of schedulers {} and the number of milestones to be equal to {}",
                schedulers.len(),
                milestones.len()
            );
        }
        for g in 0..groups.group_count() {
            let Some(initial) = groups.initial_lr(g) else {
                return invalid!("param 'initial_lr' is not specified in param_groups[{g}]");
            };
            groups.set_group_lr(g, initial)?;
        }
        schedulers.iter_mut().for_each(|s| s.undo_epoch());
        let first = milestones.partition_point(|&m| m <= 0);
        schedulers[first].initial_step(groups)?;
        let last_lr = schedulers[first].last_lr().to_vec();
        Ok(SequentialLR { schedulers, milestones, last_epoch: 0, last_lr })
    }
}

impl LrScheduler for SequentialLR {
    fn step(&mut self, groups: &mut dyn ParamGroups) -> Result<()> {
        self.last_epoch += 1;
        let index = self.milestones.partition_point(|&m| m <= self.last_epoch);
        let scheduler = &mut self.schedulers[index];
        if index > 0 && self.milestones[index - 1] == self.last_epoch {
            scheduler.update_lr_at(groups, 0)?;
        } else {
            scheduler.step(groups)?;
        }
        self.last_lr = scheduler.last_lr().to_vec();
        Ok(())
    }
    fn step_to(&mut self, _: &mut dyn ParamGroups, _: f64) -> Result<()> {
        invalid!("SequentialLR.step() takes no epoch")
    }
    fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }
    fn last_epoch(&self) -> i64 {
        self.last_epoch
    }
    fn initial_step(&mut self, _: &mut dyn ParamGroups) -> Result<()> {
        invalid!("SequentialLR cannot restart (torch's SequentialLR has no _initial_step of its own)")
    }
    fn update_lr_at(&mut self, _: &mut dyn ParamGroups, _: i64) -> Result<()> {
        invalid!("SequentialLR has no closed form (torch's get_lr raises NotImplementedError)")
    }
    fn undo_epoch(&mut self) {
        self.schedulers.iter_mut().for_each(|s| s.undo_epoch());
    }
    fn torch_name(&self) -> &'static str {
        "SequentialLR"
    }
    fn state_dict(&self) -> Value {
        json!({
            "_milestones": self.milestones, "last_epoch": self.last_epoch, "_last_lr": self.last_lr,
            "_schedulers": self.schedulers.iter().map(|s| s.state_dict()).collect::<Vec<_>>(),
        })
    }
    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        load_children(&mut self.schedulers, state)?;
        self.last_epoch = int_field(state, "last_epoch")?;
        self.last_lr = floats_field(state, "_last_lr")?;
        Ok(())
    }
}

/// Each held scheduler's state from `_schedulers`, all checked before any is restored.
fn load_children(schedulers: &mut [Box<dyn LrScheduler>], state: &Value) -> Result<()> {
    let children = field(state, "_schedulers")?.as_array().map_or(&[][..], Vec::as_slice);
    if children.len() != schedulers.len() {
        return invalid!("the scheduler state holds {} schedulers, this one {}", children.len(), schedulers.len());
    }
    for (s, child) in schedulers.iter_mut().zip(children) {
        s.load_state_dict(child)?;
    }
    Ok(())
}

/// `torch.optim.lr_scheduler.ChainedScheduler`: every scheduler steps, in order, each scaling
/// the rate the one before it set.
pub struct ChainedScheduler {
    schedulers: Vec<Box<dyn LrScheduler>>,
    last_lr: Vec<f64>,
}

impl ChainedScheduler {
    pub fn new(groups: &dyn ParamGroups, schedulers: Vec<Box<dyn LrScheduler>>) -> Result<Self> {
        if schedulers.is_empty() {
            return invalid!("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.");
        }
        Ok(ChainedScheduler { schedulers, last_lr: groups.lrs() })
    }
}

impl LrScheduler for ChainedScheduler {
    fn step(&mut self, groups: &mut dyn ParamGroups) -> Result<()> {
        for scheduler in &mut self.schedulers {
            scheduler.step(groups)?;
        }
        self.last_lr = groups.lrs();
        Ok(())
    }
    fn step_to(&mut self, _: &mut dyn ParamGroups, _: f64) -> Result<()> {
        invalid!("ChainedScheduler.step() takes no epoch")
    }
    fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }
    /// torch's ChainedScheduler has no epoch of its own: its last scheduler's.
    fn last_epoch(&self) -> i64 {
        self.schedulers.last().map_or(0, |s| s.last_epoch())
    }
    fn initial_step(&mut self, _: &mut dyn ParamGroups) -> Result<()> {
        invalid!("ChainedScheduler cannot restart (torch's has no _initial_step of its own)")
    }
    fn update_lr_at(&mut self, _: &mut dyn ParamGroups, _: i64) -> Result<()> {
        invalid!("ChainedScheduler has no closed form (torch's get_lr raises NotImplementedError)")
    }
    fn undo_epoch(&mut self) {
        self.schedulers.iter_mut().for_each(|s| s.undo_epoch());
    }
    fn torch_name(&self) -> &'static str {
        "ChainedScheduler"
    }
    fn state_dict(&self) -> Value {
        json!({
            "_last_lr": self.last_lr,
            "_schedulers": self.schedulers.iter().map(|s| s.state_dict()).collect::<Vec<_>>(),
        })
    }
    fn load_state_dict(&mut self, state: &Value) -> Result<()> {
        load_children(&mut self.schedulers, state)?;
        self.last_lr = floats_field(state, "_last_lr")?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "lr_scheduler_tests.rs"]
mod tests;
