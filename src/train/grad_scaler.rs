//! Loss scaling for mixed precision, as `torch.amp.GradScaler` does it: the loss is multiplied
//! by a scale before backward, so that small gradients survive in float16; before the
//! optimizer steps, every gradient is divided back (`unscale_`) and checked for inf and NaN; a
//! step with a non-finite gradient is skipped and the scale backs off, and after
//! `growth_interval` clean steps in a row it grows.
//!
//! ```
//! # fn main() -> tch_parity::Result<()> {
//! use tch::{Kind, Tensor};
//! use tch_parity::optim::{Sgd, SgdOptions};
//! use tch_parity::train::grad_scaler::{GradScaler, GradScalerOptions};
//!
//! let w = Tensor::from_slice(&[0.5f32, -0.25]).set_requires_grad(true);
//! let mut opt = Sgd::new(vec![w.shallow_clone()], SgdOptions { lr: 0.1, ..Default::default() })?;
//! let mut scaler = GradScaler::new(GradScalerOptions::default())?;
//! let loss = (&w * &w).sum(Kind::Float);
//! scaler.scale(&loss)?.backward();
//! let stepped = scaler.step(&[w.shallow_clone()], || opt.step())?;
//! scaler.update()?;
//! assert!(stepped);
//! // The gradient was 2w, scaled by 2^16 and divided back exactly.
//! assert_eq!(Vec::<f32>::try_from(w.grad())?, [1.0, -0.5]);
//! # Ok(()) }
//! ```

use crate::error::{invalid, Result};
use tch::{Kind, Tensor};

/// `torch.amp.GradScaler`'s arguments, with its defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradScalerOptions {
    /// The first scale. Default 2¹⁶.
    pub init_scale: f64,
    /// The scale is multiplied by this after `growth_interval` steps without inf or NaN; above 1.
    /// Default 2.
    pub growth_factor: f64,
    /// The scale is multiplied by this after a step with inf or NaN; below 1. Default 0.5.
    pub backoff_factor: f64,
    /// Default 2000.
    pub growth_interval: i64,
    /// When false, every call passes through. Default true.
    pub enabled: bool,
}

impl Default for GradScalerOptions {
    fn default() -> Self {
        GradScalerOptions {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
            enabled: true,
        }
    }
}

/// Where a scaler is within a step (torch's `OptState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ready,
    Unscaled,
    Stepped,
}

/// `torch.amp.GradScaler` for one optimizer (torch's keeps a stage per optimizer; use one
/// scaler per optimizer, or call `unscale_` and `step` per optimizer before `update`).
#[derive(Debug, Clone)]
pub struct GradScaler {
    options: GradScalerOptions,
    /// Kept as torch keeps it: a float32.
    scale: f32,
    /// Consecutive steps without inf or NaN (torch's int32 `_growth_tracker`).
    growth_tracker: i32,
    found_inf: bool,
    stage: Stage,
}

impl GradScaler {
    pub fn new(options: GradScalerOptions) -> Result<GradScaler> {
        if options.enabled {
            if options.growth_factor <= 1.0 {
                return invalid!("The growth factor must be > 1.0.");
            }
            if options.backoff_factor >= 1.0 {
                return invalid!("The backoff factor must be < 1.0.");
            }
        }
        Ok(GradScaler {
            options,
            scale: options.init_scale as f32,
            growth_tracker: 0,
            found_inf: false,
            stage: Stage::Ready,
        })
    }

    /// The current scale (torch's `get_scale()`); 1 when disabled.
    pub fn get_scale(&self) -> f32 {
        if self.options.enabled {
            self.scale
        } else {
            1.0
        }
    }

    /// Consecutive steps without inf or NaN since the scale last changed.
    pub fn growth_tracker(&self) -> i32 {
        self.growth_tracker
    }

    /// Whether the last `unscale_` found an inf or a NaN.
    pub fn found_inf(&self) -> bool {
        self.found_inf
    }

    /// `outputs · scale`, the scale as a float32 scalar (torch's `scale(loss)`).
    pub fn scale(&self, outputs: &Tensor) -> Result<Tensor> {
        if !self.options.enabled {
            return Ok(outputs.shallow_clone());
        }
        let scale = Tensor::f_from_slice(&[self.scale])?.f_reshape([])?.f_to_device(outputs.device())?;
        Ok(outputs.f_mul(&scale)?)
    }

    /// Divides every gradient of `params` by the scale in place (each times `1/scale`, computed
    /// in float64 and rounded to float32, as torch does; float16 and bfloat16 gradients in
    /// float32) and notes whether any element is inf or NaN. Once per step.
    pub fn unscale_(&mut self, params: &[Tensor]) -> Result<()> {
        let grads: Vec<Tensor> = params.iter().map(Tensor::grad).collect();
        self.unscale_grads_(&grads)
    }

    /// [`unscale_`](Self::unscale_) over the gradients themselves (undefined ones skipped), for
    /// a caller that holds them rather than the parameters.
    pub fn unscale_grads_(&mut self, grads: &[Tensor]) -> Result<()> {
        if !self.options.enabled {
            return Ok(());
        }
        match self.stage {
            Stage::Unscaled => {
                return invalid!("unscale_() has already been called on this optimizer since the last update().")
            }
            Stage::Stepped => return invalid!("unscale_() is being called after step()."),
            Stage::Ready => {}
        }
        let inv_scale = (1.0 / f64::from(self.scale)) as f32;
        let mut found = false;
        tch::no_grad(|| -> Result<()> {
            for mut g in grads.iter().filter(|g| g.defined()).map(Tensor::shallow_clone) {
                let kind = g.kind();
                // torch's unscale_ refuses float16 gradients (float16 parameters); bfloat16 is
                // accepted.
                if kind == Kind::Half {
                    return invalid!("Attempting to unscale FP16 gradients.");
                }
                found |= !bool::try_from(g.f_isfinite()?.f_all()?)?;
                if inv_scale != 1.0 {
                    // Reduced floats are multiplied in float32 and rounded back; float32 and
                    // float64 in their own dtype, by the float32 inverse.
                    let product = match kind {
                        Kind::Half | Kind::BFloat16 => g.f_to_kind(Kind::Float)?.f_mul_scalar(f64::from(inv_scale))?,
                        _ => g.f_mul_scalar(f64::from(inv_scale))?,
                    };
                    g.f_copy_(&product)?;
                }
            }
            Ok(())
        })?;
        self.found_inf = found;
        self.stage = Stage::Unscaled;
        Ok(())
    }

    /// Unscales (unless done this step), then calls `step` unless a gradient was inf or NaN.
    /// Returns whether it stepped.
    pub fn step(&mut self, params: &[Tensor], step: impl FnOnce() -> Result<()>) -> Result<bool> {
        if !self.options.enabled {
            step()?;
            return Ok(true);
        }
        if self.stage == Stage::Stepped {
            return invalid!("step() has already been called since the last update().");
        }
        if self.stage == Stage::Ready {
            self.unscale_(params)?;
        }
        let stepped = !self.found_inf;
        if stepped {
            step()?;
        }
        self.stage = Stage::Stepped;
        Ok(stepped)
    }

    /// The scale for the next step (torch's `update()`, `_amp_update_scale_`): times
    /// `backoff_factor` after an inf or NaN; else, at the `growth_interval`-th clean step in a
    /// row, times `growth_factor` unless that overflows float32.
    pub fn update(&mut self) -> Result<()> {
        if !self.options.enabled {
            return Ok(());
        }
        if self.stage == Stage::Ready {
            return invalid!("No inf checks were recorded prior to update.");
        }
        if self.found_inf {
            self.scale = (f64::from(self.scale) * self.options.backoff_factor) as f32;
            self.growth_tracker = 0;
        } else {
            let successful = self.growth_tracker + 1;
            if i64::from(successful) == self.options.growth_interval {
                let grown = (f64::from(self.scale) * self.options.growth_factor) as f32;
                if grown.is_finite() {
                    self.scale = grown;
                }
                self.growth_tracker = 0;
            } else {
                self.growth_tracker = successful;
            }
        }
        self.found_inf = false;
        self.stage = Stage::Ready;
        Ok(())
    }
}
