//! The schedulers that scale the rate by a factor per epoch: `LambdaLR`, `MultiplicativeLR`,
//! `StepLR`, `MultiStepLR`, `ConstantLR`, `LinearLR`, `ExponentialLR`, `PolynomialLR`.

use super::{chainable, py_div, Chainable, SchedulerState};
use crate::error::{invalid, Result};
use crate::train::ParamGroups;

/// A factor as a function of the epoch, for [`LambdaLR`] and [`MultiplicativeLR`].
pub type LrLambda = Box<dyn Fn(i64) -> f64 + Send + Sync>;

/// One function per group (or one for every group), torch's check on their number.
fn lambdas_for(groups: &dyn ParamGroups, mut lambdas: Vec<LrLambda>) -> Result<Vec<LrLambda>> {
    let n = groups.group_count();
    if lambdas.len() == 1 && n > 1 {
        // torch repeats the one function; a boxed closure is shared through an Rc-free wrapper.
        let only: std::sync::Arc<LrLambda> = std::sync::Arc::new(lambdas.remove(0));
        return Ok((0..n)
            .map(|_| {
                let f = only.clone();
                Box::new(move |epoch| f(epoch)) as LrLambda
            })
            .collect());
    }
    if lambdas.len() != n {
        return invalid!("Expected {n} lr_lambdas, but got {}", lambdas.len());
    }
    Ok(lambdas)
}

/// The current rate of every group.
fn current(groups: &dyn ParamGroups) -> Vec<f64> {
    groups.lrs()
}

/// Every group's rate times `factor`.
fn scaled(groups: &dyn ParamGroups, factor: f64) -> Vec<f64> {
    groups.lrs().into_iter().map(|lr| lr * factor).collect()
}

/// `torch.optim.lr_scheduler.LambdaLR`: `lr = initial_lr · λ(epoch)`.
pub struct LambdaLR {
    lambdas: Vec<LrLambda>,
    state: SchedulerState,
}

impl LambdaLR {
    pub fn new(groups: &mut dyn ParamGroups, lambdas: Vec<LrLambda>) -> Result<Self> {
        let lambdas = lambdas_for(groups, lambdas)?;
        let mut s = LambdaLR { lambdas, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for LambdaLR {
    const TORCH_NAME: &'static str = "LambdaLR";
    /// torch saves no function; its `load_state_dict` expects one entry per group.
    fn extra_state(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("lr_lambdas".into(), serde_json::Value::Array(vec![serde_json::Value::Null; self.lambdas.len()]));
        m
    }
    fn get_lr(&mut self, _: &mut dyn ParamGroups, _: bool) -> Result<Vec<f64>> {
        let epoch = self.state.last_epoch;
        Ok(self.lambdas.iter().zip(&self.state.base_lrs).map(|(f, base)| base * f(epoch)).collect())
    }
}

/// `torch.optim.lr_scheduler.MultiplicativeLR`: `lr ·= λ(epoch)` at every step after the first.
pub struct MultiplicativeLR {
    lambdas: Vec<LrLambda>,
    state: SchedulerState,
}

impl MultiplicativeLR {
    pub fn new(groups: &mut dyn ParamGroups, lambdas: Vec<LrLambda>) -> Result<Self> {
        let lambdas = lambdas_for(groups, lambdas)?;
        let mut s = MultiplicativeLR { lambdas, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for MultiplicativeLR {
    const TORCH_NAME: &'static str = "MultiplicativeLR";
    /// torch saves no function; its `load_state_dict` expects one entry per group.
    fn extra_state(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("lr_lambdas".into(), serde_json::Value::Array(vec![serde_json::Value::Null; self.lambdas.len()]));
        m
    }
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, initial: bool) -> Result<Vec<f64>> {
        if initial {
            return Ok(current(groups));
        }
        let epoch = self.state.last_epoch;
        Ok(self.lambdas.iter().zip(groups.lrs()).map(|(f, lr)| lr * f(epoch)).collect())
    }
}

/// `torch.optim.lr_scheduler.StepLR`'s options (`step_size` has no default).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepLROptions {
    /// Epochs between decays.
    pub step_size: i64,
    /// Factor of each decay. Default 0.1.
    #[serde(default = "tenth")]
    pub gamma: f64,
}

fn tenth() -> f64 {
    0.1
}

/// `torch.optim.lr_scheduler.StepLR`: `lr = initial_lr · γ^⌊epoch / step_size⌋`.
pub struct StepLR {
    options: StepLROptions,
    state: SchedulerState,
}

impl StepLR {
    pub fn new(groups: &mut dyn ParamGroups, options: StepLROptions) -> Result<Self> {
        if options.step_size == 0 {
            // torch fails at the second step with Python's ZeroDivisionError.
            return invalid!("integer modulo by zero (step_size is 0)");
        }
        let mut s = StepLR { options, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for StepLR {
    const TORCH_NAME: &'static str = "StepLR";
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, _: bool) -> Result<Vec<f64>> {
        let epoch = self.state.last_epoch;
        if epoch == 0 || epoch.rem_euclid(self.options.step_size) != 0 {
            return Ok(current(groups));
        }
        Ok(scaled(groups, self.options.gamma))
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let decays = self.state.last_epoch.div_euclid(self.options.step_size);
        Some(self.state.base_lrs.iter().map(|base| base * self.options.gamma.powf(decays as f64)).collect())
    }
}

/// `torch.optim.lr_scheduler.MultiStepLR`'s options (`milestones` has no default).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiStepLROptions {
    /// Epochs at which the rate decays (a repeated one decays as many times).
    pub milestones: Vec<i64>,
    /// Default 0.1.
    #[serde(default = "tenth")]
    pub gamma: f64,
}

/// `torch.optim.lr_scheduler.MultiStepLR`: `lr = initial_lr · γ^(milestones passed)`.
pub struct MultiStepLR {
    options: MultiStepLROptions,
    state: SchedulerState,
}

impl MultiStepLR {
    pub fn new(groups: &mut dyn ParamGroups, mut options: MultiStepLROptions) -> Result<Self> {
        options.milestones.sort_unstable();
        let mut s = MultiStepLR { options, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for MultiStepLR {
    const TORCH_NAME: &'static str = "MultiStepLR";
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, _: bool) -> Result<Vec<f64>> {
        let epoch = self.state.last_epoch;
        let hits = self.options.milestones.iter().filter(|&&m| m == epoch).count();
        if hits == 0 {
            return Ok(current(groups));
        }
        Ok(scaled(groups, self.options.gamma.powf(hits as f64)))
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let passed = self.options.milestones.partition_point(|&m| m <= self.state.last_epoch);
        Some(self.state.base_lrs.iter().map(|base| base * self.options.gamma.powf(passed as f64)).collect())
    }
}

/// `torch.optim.lr_scheduler.ConstantLR`'s options.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConstantLROptions {
    /// In [0, 1]. Default 1/3.
    pub factor: f64,
    /// Default 5.
    pub total_iters: i64,
}

impl Default for ConstantLROptions {
    fn default() -> Self {
        ConstantLROptions { factor: 1.0 / 3.0, total_iters: 5 }
    }
}

/// `torch.optim.lr_scheduler.ConstantLR`: `lr = initial_lr · factor` until `total_iters`, then
/// `initial_lr`.
pub struct ConstantLR {
    options: ConstantLROptions,
    state: SchedulerState,
}

impl ConstantLR {
    pub fn new(groups: &mut dyn ParamGroups, options: ConstantLROptions) -> Result<Self> {
        if !(0.0..=1.0).contains(&options.factor) {
            return invalid!("Constant multiplicative factor expected to be between 0 and 1.");
        }
        let mut s = ConstantLR { options, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for ConstantLR {
    const TORCH_NAME: &'static str = "ConstantLR";
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, _: bool) -> Result<Vec<f64>> {
        let (epoch, o) = (self.state.last_epoch, self.options);
        if epoch == 0 {
            return Ok(scaled(groups, o.factor));
        }
        if epoch != o.total_iters {
            return Ok(current(groups));
        }
        if o.factor == 0.0 {
            // torch accepts factor 0 and fails here, dividing by it (Python's ZeroDivisionError).
            return invalid!("float division by zero (ConstantLR's factor is 0)");
        }
        Ok(scaled(groups, 1.0 / o.factor))
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let o = self.options;
        let done = if self.state.last_epoch >= o.total_iters { 1.0 - o.factor } else { 0.0 };
        Some(self.state.base_lrs.iter().map(|base| base * (o.factor + done)).collect())
    }
}

/// `torch.optim.lr_scheduler.LinearLR`'s options.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearLROptions {
    /// In (0, 1]. Default 1/3.
    pub start_factor: f64,
    /// In [0, 1]. Default 1.
    pub end_factor: f64,
    /// Default 5.
    pub total_iters: i64,
}

impl Default for LinearLROptions {
    fn default() -> Self {
        LinearLROptions { start_factor: 1.0 / 3.0, end_factor: 1.0, total_iters: 5 }
    }
}

/// `torch.optim.lr_scheduler.LinearLR`: the factor goes linearly from `start_factor` to
/// `end_factor` over `total_iters` epochs.
pub struct LinearLR {
    options: LinearLROptions,
    state: SchedulerState,
}

impl LinearLR {
    pub fn new(groups: &mut dyn ParamGroups, options: LinearLROptions) -> Result<Self> {
        if options.start_factor > 1.0 || options.start_factor <= 0.0 {
            return invalid!("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.");
        }
        if !(0.0..=1.0).contains(&options.end_factor) {
            return invalid!("Ending multiplicative factor expected to be between 0 and 1.");
        }
        let mut s = LinearLR { options, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for LinearLR {
    const TORCH_NAME: &'static str = "LinearLR";
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, initial: bool) -> Result<Vec<f64>> {
        let (epoch, o) = (self.state.last_epoch, self.options);
        if epoch == 0 {
            return Ok(scaled(groups, o.start_factor));
        }
        if initial || epoch > o.total_iters {
            return Ok(current(groups));
        }
        let span = o.end_factor - o.start_factor;
        let factor = 1.0 + py_div(span, o.total_iters as f64 * o.start_factor + (epoch - 1) as f64 * span)?;
        Ok(scaled(groups, factor))
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let (o, epoch) = (self.options, self.state.last_epoch);
        let factor =
            o.start_factor + (o.end_factor - o.start_factor) * o.total_iters.min(epoch) as f64 / o.total_iters as f64;
        Some(self.state.base_lrs.iter().map(|base| base * factor).collect())
    }
    fn closed_form_defined(&self) -> Result<()> {
        py_div(1.0, self.options.total_iters as f64).map(|_| ())
    }
}

/// `torch.optim.lr_scheduler.ExponentialLR`'s options (`gamma` has no default).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialLROptions {
    pub gamma: f64,
}

/// `torch.optim.lr_scheduler.ExponentialLR`: `lr = initial_lr · γ^epoch`.
pub struct ExponentialLR {
    options: ExponentialLROptions,
    state: SchedulerState,
}

impl ExponentialLR {
    pub fn new(groups: &mut dyn ParamGroups, options: ExponentialLROptions) -> Result<Self> {
        let mut s = ExponentialLR { options, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for ExponentialLR {
    const TORCH_NAME: &'static str = "ExponentialLR";
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, initial: bool) -> Result<Vec<f64>> {
        Ok(if initial { current(groups) } else { scaled(groups, self.options.gamma) })
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let power = self.options.gamma.powf(self.state.last_epoch as f64);
        Some(self.state.base_lrs.iter().map(|base| base * power).collect())
    }
}

/// `torch.optim.lr_scheduler.PolynomialLR`'s options.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolynomialLROptions {
    /// Default 5.
    pub total_iters: i64,
    /// Default 1.
    pub power: f64,
}

impl Default for PolynomialLROptions {
    fn default() -> Self {
        PolynomialLROptions { total_iters: 5, power: 1.0 }
    }
}

/// `torch.optim.lr_scheduler.PolynomialLR`: `lr = initial_lr · (1 − epoch/total_iters)^power`,
/// 0 from `total_iters` on.
pub struct PolynomialLR {
    options: PolynomialLROptions,
    state: SchedulerState,
}

impl PolynomialLR {
    pub fn new(groups: &mut dyn ParamGroups, options: PolynomialLROptions) -> Result<Self> {
        let mut s = PolynomialLR { options, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for PolynomialLR {
    const TORCH_NAME: &'static str = "PolynomialLR";
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, initial: bool) -> Result<Vec<f64>> {
        let (epoch, o) = (self.state.last_epoch, self.options);
        if initial || epoch > o.total_iters {
            return Ok(current(groups));
        }
        let total = o.total_iters as f64;
        let factor = py_div(1.0 - py_div(epoch as f64, total)?, 1.0 - (epoch - 1) as f64 / total)?.powf(o.power);
        Ok(scaled(groups, factor))
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let o = self.options;
        let done = o.total_iters.min(self.state.last_epoch) as f64 / o.total_iters as f64;
        Some(self.state.base_lrs.iter().map(|base| base * (1.0 - done).powf(o.power)).collect())
    }
    fn closed_form_defined(&self) -> Result<()> {
        py_div(1.0, self.options.total_iters as f64).map(|_| ())
    }
}

chainable!(LambdaLR, MultiplicativeLR, StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR);
