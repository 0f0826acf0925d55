//! Rates that rise and fall within a cycle: `CyclicLR` (Smith, *Cyclical Learning Rates for
//! Training Neural Networks*, WACV 2017) and `OneCycleLR` (Smith & Topin, *Super-Convergence*,
//! 2018), each cycling the momentum the other way (`momentum`, or β₁ for the Adam family).

use super::{chainable, one_or_many, per_group, py_div, Chainable, SchedulerState};
use crate::error::{invalid, Result};
use crate::train::ParamGroups;
use serde::Deserialize;
use std::f64::consts::PI;

/// How `CyclicLR` scales each cycle's amplitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CyclicMode {
    /// The same amplitude every cycle.
    Triangular,
    /// Halved every cycle.
    Triangular2,
    /// Times `gamma^iteration`.
    ExpRange,
}

/// What `CyclicLR`'s scale function is a function of (the mode decides it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleMode {
    Cycle,
    Iterations,
}

fn default_step_size_up() -> i64 {
    2000
}
fn triangular() -> CyclicMode {
    CyclicMode::Triangular
}
fn unit() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn cyclic_base_momentum() -> Vec<f64> {
    vec![0.8]
}
fn cyclic_max_momentum() -> Vec<f64> {
    vec![0.9]
}

/// `torch.optim.lr_scheduler.CyclicLR`'s options (`base_lr` and `max_lr` have no default; each
/// of the four rates and momenta is one value or one per group). torch's custom `scale_fn` is
/// not offered: the three modes are.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CyclicLROptions {
    #[serde(deserialize_with = "one_or_many")]
    pub base_lr: Vec<f64>,
    #[serde(deserialize_with = "one_or_many")]
    pub max_lr: Vec<f64>,
    /// Iterations from the lowest rate to the highest. Default 2000.
    #[serde(default = "default_step_size_up")]
    pub step_size_up: i64,
    /// Iterations back down; default `step_size_up`.
    #[serde(default)]
    pub step_size_down: Option<i64>,
    /// Default triangular.
    #[serde(default = "triangular")]
    pub mode: CyclicMode,
    /// exp_range's base. Default 1.
    #[serde(default = "unit")]
    pub gamma: f64,
    /// Cycle the momentum between `max_momentum` and `base_momentum`, against the rate. Default true.
    #[serde(default = "yes")]
    pub cycle_momentum: bool,
    #[serde(default = "cyclic_base_momentum", deserialize_with = "one_or_many")]
    pub base_momentum: Vec<f64>,
    #[serde(default = "cyclic_max_momentum", deserialize_with = "one_or_many")]
    pub max_momentum: Vec<f64>,
}

impl CyclicLROptions {
    /// The defaults with `base_lr` and `max_lr`.
    pub fn new(base_lr: f64, max_lr: f64) -> Self {
        CyclicLROptions {
            base_lr: vec![base_lr],
            max_lr: vec![max_lr],
            step_size_up: default_step_size_up(),
            step_size_down: None,
            mode: CyclicMode::Triangular,
            gamma: 1.0,
            cycle_momentum: true,
            base_momentum: cyclic_base_momentum(),
            max_momentum: cyclic_max_momentum(),
        }
    }
}

/// Momentum bounds per group, when cycled.
struct Momenta {
    base: Vec<f64>,
    max: Vec<f64>,
}

/// Checks the optimizer has a momentum to cycle and sets it to `max` (torch's constructors do).
fn start_momenta(groups: &mut dyn ParamGroups, base: &[f64], max: &[f64]) -> Result<Momenta> {
    let n = groups.group_count();
    if (0..n).any(|g| groups.momentum(g).is_none()) {
        return invalid!("optimizer must support momentum or beta1 with `cycle_momentum` option enabled");
    }
    let base = per_group("base_momentum", base, n)?;
    let max = per_group("max_momentum", max, n)?;
    for (g, &m) in max.iter().enumerate() {
        groups.set_momentum(g, m)?;
    }
    Ok(Momenta { base, max })
}

/// `torch.optim.lr_scheduler.CyclicLR`: within each cycle of `step_size_up + step_size_down`
/// iterations the rate rises linearly from `base_lr` to `max_lr` and falls back, scaled by the
/// mode; the momentum moves the opposite way. Step it after every batch.
pub struct CyclicLR {
    max_lrs: Vec<f64>,
    total_size: f64,
    step_ratio: f64,
    mode: CyclicMode,
    gamma: f64,
    momenta: Option<Momenta>,
    state: SchedulerState,
}

impl CyclicLR {
    pub fn new(groups: &mut dyn ParamGroups, options: CyclicLROptions) -> Result<Self> {
        let n = groups.group_count();
        let base_lrs = per_group("base_lr", &options.base_lr, n)?;
        for (g, &lr) in base_lrs.iter().enumerate() {
            groups.set_group_lr(g, lr)?;
        }
        let max_lrs = per_group("max_lr", &options.max_lr, n)?;
        let up = options.step_size_up as f64;
        let down = options.step_size_down.map_or(up, |d| d as f64);
        let total_size = up + down;
        if total_size == 0.0 {
            return invalid!("float division by zero (step_size_up and step_size_down are 0)");
        }
        let momenta = if options.cycle_momentum {
            Some(start_momenta(groups, &options.base_momentum, &options.max_momentum)?)
        } else {
            None
        };
        let mut s = CyclicLR {
            max_lrs,
            total_size,
            step_ratio: up / total_size,
            mode: options.mode,
            gamma: options.gamma,
            momenta,
            state: SchedulerState::attach(groups),
        };
        // As in torch, the first step runs from the groups' initial_lr; the base rates are the
        // option's from then on.
        super::initial_step(&mut s, groups)?;
        s.state.base_lrs = base_lrs;
        Ok(s)
    }

    fn scale(&self, cycle: f64) -> f64 {
        match self.mode {
            CyclicMode::Triangular => 1.0,
            CyclicMode::Triangular2 => 1.0 / 2.0f64.powf(cycle - 1.0),
            CyclicMode::ExpRange => self.gamma.powf(self.state.last_epoch as f64),
        }
    }
}

impl Chainable for CyclicLR {
    const TORCH_NAME: &'static str = "CyclicLR";
    /// torch's `load_state_dict` expects the (absent) custom scale function.
    fn extra_state(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("_scale_fn_custom".into(), serde_json::Value::Null);
        m
    }
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, _: bool) -> Result<Vec<f64>> {
        let epoch = self.state.last_epoch as f64;
        let cycle = (1.0 + py_div(epoch, self.total_size)?).floor();
        let x = 1.0 + epoch / self.total_size - cycle;
        let scale_factor =
            if x <= self.step_ratio { py_div(x, self.step_ratio)? } else { py_div(x - 1.0, self.step_ratio - 1.0)? };
        let scale = self.scale(cycle);
        let lrs =
            self.state.base_lrs.iter().zip(&self.max_lrs).map(|(base, max)| base + (max - base) * scale_factor * scale);
        let lrs: Vec<f64> = lrs.collect();
        if let Some(m) = &self.momenta {
            for (g, (base, max)) in m.base.iter().zip(&m.max).enumerate() {
                groups.set_momentum(g, max - (max - base) * scale_factor * scale)?;
            }
        }
        Ok(lrs)
    }
}

/// How `OneCycleLR` moves between two values within a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnealStrategy {
    /// `end + (start − end)/2 · (1 + cos(π·pct))`.
    Cos,
    /// `(end − start)·pct + start`.
    Linear,
}

fn pct_start() -> f64 {
    0.3
}
fn cos() -> AnnealStrategy {
    AnnealStrategy::Cos
}
fn one_cycle_base_momentum() -> Vec<f64> {
    vec![0.85]
}
fn one_cycle_max_momentum() -> Vec<f64> {
    vec![0.95]
}
fn div_factor() -> f64 {
    25.0
}
fn final_div_factor() -> f64 {
    1e4
}

/// `torch.optim.lr_scheduler.OneCycleLR`'s options (`max_lr` and either `total_steps` or
/// `epochs` and `steps_per_epoch` are required).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneCycleLROptions {
    #[serde(deserialize_with = "one_or_many")]
    pub max_lr: Vec<f64>,
    #[serde(default)]
    pub total_steps: Option<i64>,
    #[serde(default)]
    pub epochs: Option<i64>,
    #[serde(default)]
    pub steps_per_epoch: Option<i64>,
    /// Share of the steps spent rising. Default 0.3.
    #[serde(default = "pct_start")]
    pub pct_start: f64,
    /// Default cos.
    #[serde(default = "cos")]
    pub anneal_strategy: AnnealStrategy,
    /// Default true.
    #[serde(default = "yes")]
    pub cycle_momentum: bool,
    #[serde(default = "one_cycle_base_momentum", deserialize_with = "one_or_many")]
    pub base_momentum: Vec<f64>,
    #[serde(default = "one_cycle_max_momentum", deserialize_with = "one_or_many")]
    pub max_momentum: Vec<f64>,
    /// `initial_lr = max_lr / div_factor`. Default 25.
    #[serde(default = "div_factor")]
    pub div_factor: f64,
    /// `min_lr = initial_lr / final_div_factor`. Default 1e4.
    #[serde(default = "final_div_factor")]
    pub final_div_factor: f64,
    /// Rise, fall back to `initial_lr` symmetrically, then anneal to `min_lr` (fast.ai's
    /// schedule); by default rise, then anneal to `min_lr`.
    #[serde(default)]
    pub three_phase: bool,
}

impl OneCycleLROptions {
    /// The defaults with `max_lr` and `total_steps`.
    pub fn new(max_lr: f64, total_steps: i64) -> Self {
        OneCycleLROptions {
            max_lr: vec![max_lr],
            total_steps: Some(total_steps),
            epochs: None,
            steps_per_epoch: None,
            pct_start: pct_start(),
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: one_cycle_base_momentum(),
            max_momentum: one_cycle_max_momentum(),
            div_factor: div_factor(),
            final_div_factor: final_div_factor(),
            three_phase: false,
        }
    }
}

/// Which of a group's values a phase starts or ends at.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    Initial,
    Max,
    Min,
}

#[derive(Debug, Clone, Copy)]
struct Phase {
    end_step: f64,
    lr: (Anchor, Anchor),
    /// (start, end): `Max` is max_momentum, `Min` base_momentum.
    momentum: (Anchor, Anchor),
}

/// `torch.optim.lr_scheduler.OneCycleLR`: the rate rises from `max_lr/div_factor` to `max_lr`
/// over `pct_start` of `total_steps`, then anneals to `initial_lr/final_div_factor`; the
/// momentum moves the opposite way. Step it after every batch, `total_steps` times at most.
pub struct OneCycleLR {
    total_steps: i64,
    phases: Vec<Phase>,
    strategy: AnnealStrategy,
    /// Per group: (initial_lr, max_lr, min_lr).
    rates: Vec<(f64, f64, f64)>,
    momenta: Option<Momenta>,
    state: SchedulerState,
}

impl OneCycleLR {
    pub fn new(groups: &mut dyn ParamGroups, o: OneCycleLROptions) -> Result<Self> {
        let total_steps = match (o.total_steps, o.epochs, o.steps_per_epoch) {
            (Some(t), _, _) if t <= 0 => return invalid!("Expected positive integer total_steps, but got {t}"),
            (Some(t), _, _) => t,
            (None, Some(e), Some(_)) if e <= 0 => return invalid!("Expected positive integer epochs, but got {e}"),
            (None, Some(_), Some(s)) if s <= 0 => {
                return invalid!("Expected positive integer steps_per_epoch, but got {s}")
            }
            (None, Some(e), Some(s)) => e * s,
            _ => return invalid!("You must define either total_steps OR (epochs AND steps_per_epoch)"),
        };
        use Anchor::*;
        let total = total_steps as f64;
        let phases = if o.three_phase {
            vec![
                Phase { end_step: o.pct_start * total - 1.0, lr: (Initial, Max), momentum: (Max, Min) },
                Phase { end_step: 2.0 * o.pct_start * total - 2.0, lr: (Max, Initial), momentum: (Min, Max) },
                Phase { end_step: total - 1.0, lr: (Initial, Min), momentum: (Max, Max) },
            ]
        } else {
            vec![
                Phase { end_step: o.pct_start * total - 1.0, lr: (Initial, Max), momentum: (Max, Min) },
                Phase { end_step: total - 1.0, lr: (Max, Min), momentum: (Min, Max) },
            ]
        };
        if !(0.0..=1.0).contains(&o.pct_start) {
            return invalid!("Expected float between 0 and 1 pct_start, but got {}", o.pct_start);
        }
        let n = groups.group_count();
        let max_lrs = per_group("max_lr", &o.max_lr, n)?;
        let rates: Vec<(f64, f64, f64)> = max_lrs
            .iter()
            .map(|&max| {
                let initial = max / o.div_factor;
                (initial, max, initial / o.final_div_factor)
            })
            .collect();
        for (g, &(initial, _, _)) in rates.iter().enumerate() {
            groups.set_initial_lr(g, initial);
        }
        let momenta =
            if o.cycle_momentum { Some(start_momenta(groups, &o.base_momentum, &o.max_momentum)?) } else { None };
        let state = SchedulerState::attach(groups);
        let mut s = OneCycleLR { total_steps, phases, strategy: o.anneal_strategy, rates, momenta, state };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }

    fn anneal(&self, start: f64, end: f64, pct: f64) -> f64 {
        match self.strategy {
            AnnealStrategy::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            AnnealStrategy::Linear => (end - start) * pct + start,
        }
    }
}

impl Chainable for OneCycleLR {
    const TORCH_NAME: &'static str = "OneCycleLR";
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, _: bool) -> Result<Vec<f64>> {
        let step = self.state.last_epoch;
        if step > self.total_steps {
            return invalid!("Tried to step {step} times. The specified number of total steps is {}", self.total_steps);
        }
        let step = step as f64;
        let mut lrs = Vec::with_capacity(self.rates.len());
        for (g, &(initial, max, min)) in self.rates.iter().enumerate() {
            let mut start_step = 0.0;
            for (i, phase) in self.phases.iter().enumerate() {
                if step <= phase.end_step || i == self.phases.len() - 1 {
                    let pct = py_div(step - start_step, phase.end_step - start_step)?;
                    let rate = |a: Anchor| match a {
                        Anchor::Initial => initial,
                        Anchor::Max => max,
                        Anchor::Min => min,
                    };
                    lrs.push(self.anneal(rate(phase.lr.0), rate(phase.lr.1), pct));
                    if let Some(m) = &self.momenta {
                        let momentum = |a: Anchor| if let Anchor::Min = a { m.base[g] } else { m.max[g] };
                        let value = self.anneal(momentum(phase.momentum.0), momentum(phase.momentum.1), pct);
                        groups.set_momentum(g, value)?;
                    }
                    break;
                }
                start_step = phase.end_step;
            }
        }
        Ok(lrs)
    }
}

chainable!(CyclicLR, OneCycleLR);
