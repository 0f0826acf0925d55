//! Cosine annealing (Loshchilov & Hutter, *SGDR: Stochastic Gradient Descent with Warm
//! Restarts*, ICLR 2017): `CosineAnnealingLR` and `CosineAnnealingWarmRestarts`.

use super::{chainable, py_div, Chainable, LrScheduler, SchedulerState};
use crate::error::{invalid, Result};
use crate::train::ParamGroups;
use std::f64::consts::PI;

/// `torch.optim.lr_scheduler.CosineAnnealingLR`'s options (`T_max` has no default).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineAnnealingLROptions {
    /// Half a period, in epochs (torch's `T_max`).
    #[serde(rename = "T_max")]
    pub t_max: i64,
    /// The lowest rate. Default 0.
    #[serde(default)]
    pub eta_min: f64,
}

/// `torch.optim.lr_scheduler.CosineAnnealingLR`:
/// `lr = η_min + (initial_lr − η_min)·(1 + cos(π·epoch/T_max))/2`, stepped by torch's recursive
/// form (each rate from the one before), which keeps going past `T_max` as a cosine of period
/// `2·T_max`.
pub struct CosineAnnealingLR {
    options: CosineAnnealingLROptions,
    state: SchedulerState,
}

impl CosineAnnealingLR {
    pub fn new(groups: &mut dyn ParamGroups, options: CosineAnnealingLROptions) -> Result<Self> {
        if options.t_max == 0 {
            // torch fails at the first step with Python's ZeroDivisionError.
            return invalid!("float division by zero (T_max is 0)");
        }
        let mut s = CosineAnnealingLR { options, state: SchedulerState::attach(groups) };
        super::initial_step(&mut s, groups)?;
        Ok(s)
    }
}

impl Chainable for CosineAnnealingLR {
    const TORCH_NAME: &'static str = "CosineAnnealingLR";
    fn get_lr(&mut self, groups: &mut dyn ParamGroups, initial: bool) -> Result<Vec<f64>> {
        let (epoch, t_max, eta_min) = (self.state.last_epoch, self.options.t_max, self.options.eta_min);
        let (epoch_f, t_max_f) = (epoch as f64, t_max as f64);
        let bases = &self.state.base_lrs;
        if initial {
            return Ok(groups.lrs());
        }
        if self.state.step_count == 1 && epoch > 0 {
            return Ok(bases
                .iter()
                .map(|b| eta_min + (b - eta_min) * (1.0 + (epoch_f * PI / t_max_f).cos()) / 2.0)
                .collect());
        }
        if (epoch - 1 - t_max).rem_euclid(2 * t_max) == 0 {
            let rise = 1.0 - (PI / t_max_f).cos();
            return Ok(groups.lrs().into_iter().zip(bases).map(|(lr, b)| lr + (b - eta_min) * rise / 2.0).collect());
        }
        let ratio = py_div(1.0 + (PI * epoch_f / t_max_f).cos(), 1.0 + (PI * (epoch - 1) as f64 / t_max_f).cos())?;
        Ok(groups.lrs().into_iter().map(|lr| ratio * (lr - eta_min) + eta_min).collect())
    }
    fn closed_form(&self) -> Option<Vec<f64>> {
        let (o, epoch) = (self.options, self.state.last_epoch as f64);
        let cosine = 1.0 + (PI * epoch / o.t_max as f64).cos();
        Some(self.state.base_lrs.iter().map(|b| o.eta_min + (b - o.eta_min) * cosine / 2.0).collect())
    }
}

chainable!(CosineAnnealingLR);

/// `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`'s options (`T_0` has no default).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosineAnnealingWarmRestartsOptions {
    /// Epochs to the first restart, at least 1 (torch's `T_0`).
    #[serde(rename = "T_0")]
    pub t_0: i64,
    /// Each period is this many times the one before, at least 1. Default 1.
    #[serde(rename = "T_mult", default = "one")]
    pub t_mult: i64,
    /// Default 0.
    #[serde(default)]
    pub eta_min: f64,
}

fn one() -> i64 {
    1
}

/// `torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`:
/// `lr = η_min + (initial_lr − η_min)·(1 + cos(π·T_cur/T_i))/2`, where `T_cur` counts epochs
/// (fractions too, through [`LrScheduler::step_to`]) since the last restart and `T_i` is the
/// current period.
pub struct CosineAnnealingWarmRestarts {
    options: CosineAnnealingWarmRestartsOptions,
    /// Epochs since the last restart (torch's `T_cur`, a float once a fractional epoch is given).
    t_cur: f64,
    /// The current period (torch's `T_i`).
    t_i: f64,
    state: SchedulerState,
}

impl CosineAnnealingWarmRestarts {
    pub fn new(groups: &mut dyn ParamGroups, options: CosineAnnealingWarmRestartsOptions) -> Result<Self> {
        if options.t_0 <= 0 {
            return invalid!("Expected positive integer T_0, but got {}", options.t_0);
        }
        if options.t_mult < 1 {
            return invalid!("Expected integer T_mult >= 1, but got {}", options.t_mult);
        }
        let state = SchedulerState::attach(groups);
        let mut s = CosineAnnealingWarmRestarts { options, t_cur: -1.0, t_i: options.t_0 as f64, state };
        s.state.step_count = 0;
        s.step_at(groups, None)?;
        Ok(s)
    }

    /// torch's `step(epoch)`: the next epoch, or `epoch` itself.
    fn step_at(&mut self, groups: &mut dyn ParamGroups, epoch: Option<f64>) -> Result<()> {
        let epoch = match epoch {
            None if self.state.last_epoch < 0 => Some(0.0),
            other => other,
        };
        let (t_0, t_mult) = (self.options.t_0 as f64, self.options.t_mult);
        let epoch = match epoch {
            None => {
                self.t_cur += 1.0;
                if self.t_cur >= self.t_i {
                    self.t_cur %= self.t_i;
                    self.t_i *= t_mult as f64;
                }
                (self.state.last_epoch + 1) as f64
            }
            Some(epoch) => {
                if epoch < 0.0 {
                    return invalid!("Expected non-negative epoch, but got {epoch}");
                }
                if epoch >= t_0 {
                    if t_mult == 1 {
                        self.t_cur = epoch % t_0;
                    } else {
                        let m = t_mult as f64;
                        let n = ((epoch / t_0 * (m - 1.0) + 1.0).ln() / m.ln()) as i32;
                        let grown = t_mult.pow(n as u32);
                        self.t_cur = epoch - (self.options.t_0 * (grown - 1)) as f64 / (t_mult - 1) as f64;
                        self.t_i = (self.options.t_0 * grown) as f64;
                    }
                } else {
                    self.t_i = t_0;
                    self.t_cur = epoch;
                }
                epoch
            }
        };
        self.state.last_epoch = epoch.floor() as i64;
        let values = self.rates();
        super::set_lrs(groups, &values)?;
        self.state.last_lr = groups.lrs();
        Ok(())
    }

    fn rates(&self) -> Vec<f64> {
        let eta_min = self.options.eta_min;
        let cosine = 1.0 + (PI * self.t_cur / self.t_i).cos();
        self.state.base_lrs.iter().map(|b| eta_min + (b - eta_min) * cosine / 2.0).collect()
    }
}

impl LrScheduler for CosineAnnealingWarmRestarts {
    fn step(&mut self, groups: &mut dyn ParamGroups) -> Result<()> {
        self.step_at(groups, None)
    }
    fn step_to(&mut self, groups: &mut dyn ParamGroups, epoch: f64) -> Result<()> {
        self.step_at(groups, Some(epoch))
    }
    fn last_lr(&self) -> &[f64] {
        &self.state.last_lr
    }
    fn last_epoch(&self) -> i64 {
        self.state.last_epoch
    }
    fn initial_step(&mut self, groups: &mut dyn ParamGroups) -> Result<()> {
        self.state.step_count = 0;
        self.step_at(groups, None)
    }
    /// torch's base `_update_lr(epoch)`: sets `last_epoch` and takes `get_lr()` at the current
    /// `T_cur` (the period is not restarted).
    fn update_lr_at(&mut self, groups: &mut dyn ParamGroups, epoch: i64) -> Result<()> {
        self.state.last_epoch = epoch;
        let values = self.rates();
        super::set_lrs(groups, &values)?;
        self.state.last_lr = groups.lrs();
        Ok(())
    }
    fn undo_epoch(&mut self) {
        self.state.last_epoch -= 1;
    }
    fn torch_name(&self) -> &'static str {
        "CosineAnnealingWarmRestarts"
    }
    fn state_dict(&self) -> serde_json::Value {
        let mut m = self.state.to_json();
        m.insert("T_cur".into(), super::number_json(self.t_cur));
        m.insert("T_i".into(), super::number_json(self.t_i));
        serde_json::Value::Object(m)
    }
    fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()> {
        let mut restored = self.state.clone();
        restored.load(state)?;
        let (t_cur, t_i) = (super::float_field(state, "T_cur")?, super::float_field(state, "T_i")?);
        self.state = restored;
        (self.t_cur, self.t_i) = (t_cur, t_i);
        Ok(())
    }
}
