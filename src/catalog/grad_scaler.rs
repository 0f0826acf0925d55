//! `torch.amp.GradScaler`'s options as an optimizer case writes them (`"grad_scaler": {...}`,
//! torch's argument names), for the loss-scaled runs.

use crate::train::grad_scaler::GradScalerOptions;
use serde_json::Value;

/// The typed options of a case's `grad_scaler` object: torch's defaults, with what it sets.
pub fn configure(v: &Value) -> Result<GradScalerOptions, String> {
    let obj = v.as_object().ok_or("grad_scaler is an object of torch.amp.GradScaler's arguments")?;
    let mut o = GradScalerOptions::default();
    for (key, value) in obj {
        let float = || value.as_f64().ok_or_else(|| format!("grad_scaler.{key} is a number"));
        match key.as_str() {
            "init_scale" => o.init_scale = float()?,
            "growth_factor" => o.growth_factor = float()?,
            "backoff_factor" => o.backoff_factor = float()?,
            "growth_interval" => {
                o.growth_interval = value.as_i64().ok_or("grad_scaler.growth_interval is a whole number")?
            }
            "enabled" => o.enabled = value.as_bool().ok_or("grad_scaler.enabled is a bool")?,
            other => return Err(format!("unknown grad_scaler option {other}")),
        }
    }
    Ok(o)
}
