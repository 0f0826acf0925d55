//! A fixture case made concrete: its inputs as tensors at a run's dtype, its options typed by
//! the catalogue.

use super::validate::typed;
use crate::catalog::{Args, LossSpec};
use crate::fixture::{float, Case, DType, InputDType};
use crate::options::{OptionSpec, OptionValue};
use tch::Tensor;

/// The case's input tensors at `dtype`, fresh (so gradients never mix between calls), with
/// `requires_grad` as declared.
pub fn inputs(case: &Case, dtype: DType) -> Result<Vec<(String, Tensor)>, String> {
    let mut tensors = Vec::new();
    for (name, input) in &case.inputs {
        let t = match input.dtype {
            InputDType::Float => {
                let values =
                    input.data.iter().map(|v| float::from_json(v, dtype)).collect::<Result<Vec<f64>, String>>()?;
                match dtype {
                    DType::Float64 => Tensor::from_slice(&values),
                    // The half dtypes' values are exact in float32, so the conversion is exact.
                    DType::Float32 | DType::Float16 | DType::BFloat16 => {
                        Tensor::from_slice(&values.iter().map(|&x| x as f32).collect::<Vec<f32>>())
                            .f_to_kind(dtype.kind())
                            .map_err(|e| e.to_string())?
                    }
                }
            }
            InputDType::Int64 => {
                Tensor::from_slice(&input.data.iter().map(|v| v.as_i64().unwrap_or(0)).collect::<Vec<i64>>())
            }
            InputDType::Bool => {
                Tensor::from_slice(&input.data.iter().map(|v| v.as_bool().unwrap_or(false)).collect::<Vec<bool>>())
            }
        };
        let t = t.f_reshape(input.shape.as_slice()).map_err(|e| e.to_string())?;
        tensors.push((name.clone(), t.set_requires_grad(input.requires_grad)));
    }
    Ok(tensors)
}

/// The options the case gives, typed by `specs` (validation has checked them).
pub fn options(
    given: &[(String, serde_json::Value)],
    specs: &[OptionSpec],
) -> Result<Vec<(String, OptionValue)>, String> {
    typed(given, specs).map_err(|(name, problem)| problem.unwrap_or_else(|| format!("no option '{name}'")))
}

/// The arguments of one loss call at `dtype`.
pub fn loss_args(case: &Case, spec: &LossSpec, dtype: DType) -> Result<Args, String> {
    Ok(Args { tensors: inputs(case, dtype)?, options: options(&case.options, &spec.option_specs())? })
}
