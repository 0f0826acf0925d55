//! `ReduceLROnPlateau`: the rate falls when a metric stops improving.

use crate::error::{invalid, Result};
use crate::train::ParamGroups;
use serde::Deserialize;

/// Whether the metric should fall (a loss) or rise (an accuracy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateauMode {
    Min,
    Max,
}

/// What counts as an improvement on the best value: a relative or an absolute margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMode {
    Rel,
    Abs,
}

/// `torch.optim.lr_scheduler.ReduceLROnPlateau`'s options, with its defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReduceLROnPlateauOptions {
    /// Default min.
    pub mode: PlateauMode,
    /// The rate is multiplied by this, below 1. Default 0.1.
    pub factor: f64,
    /// Bad epochs tolerated before the rate falls. Default 10.
    pub patience: i64,
    /// The margin an improvement needs. Default 1e-4.
    pub threshold: f64,
    /// Default rel.
    pub threshold_mode: ThresholdMode,
    /// Epochs after a fall during which bad epochs are not counted. Default 0.
    pub cooldown: i64,
    /// A floor for the rate: one value, or one per group. Default 0.
    #[serde(deserialize_with = "super::one_or_many")]
    pub min_lr: Vec<f64>,
    /// A fall smaller than this is skipped. Default 1e-8.
    pub eps: f64,
}

impl Default for ReduceLROnPlateauOptions {
    fn default() -> Self {
        ReduceLROnPlateauOptions {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: vec![0.0],
            eps: 1e-8,
        }
    }
}

/// `torch.optim.lr_scheduler.ReduceLROnPlateau`: after more than `patience` epochs without an
/// improvement of the metric, every group's rate becomes `max(lr·factor, min_lr)` (when that
/// changes it by more than `eps`), and `cooldown` epochs pass before bad epochs count again.
/// It takes no step at construction and sets no `initial_lr`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReduceLROnPlateau {
    options: ReduceLROnPlateauOptions,
    min_lrs: Vec<f64>,
    /// The best metric so far (±∞ before the first).
    pub best: f64,
    pub num_bad_epochs: i64,
    pub cooldown_counter: i64,
    pub last_epoch: i64,
    last_lr: Vec<f64>,
}

impl ReduceLROnPlateau {
    pub fn new(groups: &dyn ParamGroups, options: ReduceLROnPlateauOptions) -> Result<Self> {
        if options.factor >= 1.0 {
            return invalid!("Factor should be < 1.0.");
        }
        let n = groups.group_count();
        let min_lrs = match options.min_lr.len() {
            1 => vec![options.min_lr[0]; n],
            k if k == n => options.min_lr.clone(),
            k => return invalid!("expected {n} min_lrs, got {k}"),
        };
        let best = match options.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        Ok(ReduceLROnPlateau {
            options,
            min_lrs,
            best,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
            last_lr: groups.lrs(),
        })
    }

    /// One epoch's metric (torch's `step(metrics)`).
    pub fn step(&mut self, groups: &mut dyn ParamGroups, metric: f64) -> Result<()> {
        self.last_epoch += 1;
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.options.patience {
            self.reduce(groups)?;
            self.cooldown_counter = self.options.cooldown;
            self.num_bad_epochs = 0;
        }
        self.last_lr = groups.lrs();
        Ok(())
    }

    fn reduce(&mut self, groups: &mut dyn ParamGroups) -> Result<()> {
        if groups.group_count() != self.min_lrs.len() {
            if self.options.min_lr.len() != 1 {
                return invalid!(
                    "The number of param groups in the `optimizer` ({}) differs from when `ReduceLROnPlateau` was \
                     initialized ({})",
                    groups.group_count(),
                    self.min_lrs.len()
                );
            }
            self.min_lrs = vec![self.options.min_lr[0]; groups.group_count()];
        }
        for (g, &floor) in self.min_lrs.iter().enumerate() {
            let old = groups.group_lr(g);
            let reduced = old * self.options.factor;
            // Python's max(reduced, floor): the first unless the second is larger.
            let new = if floor > reduced { floor } else { reduced };
            if old - new > self.options.eps {
                groups.set_group_lr(g, new)?;
            }
        }
        Ok(())
    }

    fn is_better(&self, a: f64) -> bool {
        let (best, threshold) = (self.best, self.options.threshold);
        match (self.options.mode, self.options.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => a < best * (1.0 - threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => a < best - threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => a > best * (threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => a > best + threshold,
        }
    }

    pub fn last_lr(&self) -> &[f64] {
        &self.last_lr
    }

    /// torch's `state_dict()`: the counters, the best metric and the floors, under its names.
    pub fn state_dict(&self) -> serde_json::Value {
        use crate::train::checkpoint::float_json;
        serde_json::json!({
            "best": float_json(self.best), "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter, "last_epoch": self.last_epoch, "_last_lr": self.last_lr,
            "min_lrs": self.min_lrs,
        })
    }

    /// Restores what [`state_dict`](Self::state_dict) gave, or PyTorch's.
    pub fn load_state_dict(&mut self, state: &serde_json::Value) -> Result<()> {
        let best = super::float_field(state, "best")?;
        let (bad, cooldown) =
            (super::int_field(state, "num_bad_epochs")?, super::int_field(state, "cooldown_counter")?);
        let (last_epoch, last_lr) = (super::int_field(state, "last_epoch")?, super::floats_field(state, "_last_lr")?);
        let min_lrs = super::floats_field(state, "min_lrs")?;
        if min_lrs.len() != self.min_lrs.len() {
            return invalid!(
                "the scheduler state has {} min_lrs, this scheduler {}",
                min_lrs.len(),
                self.min_lrs.len()
            );
        }
        (self.best, self.num_bad_epochs, self.cooldown_counter) = (best, bad, cooldown);
        (self.last_epoch, self.last_lr, self.min_lrs) = (last_epoch, last_lr, min_lrs);
        Ok(())
    }
}
