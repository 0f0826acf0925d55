//! The protocol's tensors in burn, and back.

use burn::tensor::{DType, Device, Int, Tensor, TensorCreationOptions, TensorData};
use serde_json::{json, Value};

/// A tensor as the protocol gives it.
#[derive(Debug, Clone)]
pub struct Host {
    pub shape: Vec<usize>,
    /// "float32", "float64", "float16", "bfloat16", "int64" or "bool".
    pub dtype: String,
    pub floats: Vec<f64>,
    pub ints: Vec<i64>,
}

impl Host {
    pub fn parse(v: &Value) -> Result<Host, String> {
        let shape = v["shape"]
            .as_array()
            .ok_or("no shape")?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad shape"))
            .collect::<Result<Vec<_>, _>>()?;
        let dtype = v["dtype"].as_str().ok_or("no dtype")?.to_owned();
        let data = v["data"].as_array().ok_or("no data")?;
        let (mut floats, mut ints) = (Vec::new(), Vec::new());
        match dtype.as_str() {
            "int64" => ints = data.iter().map(|x| x.as_i64().ok_or("bad int")).collect::<Result<_, _>>()?,
            "bool" => ints = data.iter().map(|x| i64::from(x.as_bool() == Some(true))).collect(),
            _ => floats = data.iter().map(float).collect::<Result<_, _>>()?,
        }
        Ok(Host { shape, dtype, floats, ints })
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_float(&self) -> bool {
        self.ints.is_empty() && self.dtype != "int64" && self.dtype != "bool"
    }

    /// The float values as exact integers (class labels ±1, 0/1 targets given as floats), if
    /// they all are.
    pub fn as_ints(&self) -> Option<Vec<i64>> {
        if !self.is_float() {
            return Some(self.ints.clone());
        }
        self.floats.iter().map(|&x| (x.fract() == 0.0 && x.abs() < 1e15).then_some(x as i64)).collect()
    }
}

fn float(x: &Value) -> Result<f64, String> {
    match x {
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "inf" => Ok(f64::INFINITY),
        Value::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("bad float {n}")),
        other => Err(format!("bad float {other}")),
    }
}

/// A float written so that it reads back exactly (serde_json writes the shortest form).
pub fn float_json(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(x)
    }
}

pub fn burn_dtype(name: &str) -> Result<DType, String> {
    Ok(match name {
        "float32" => DType::F32,
        "float64" => DType::F64,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        other => return Err(format!("not a float dtype: {other}")),
    })
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F64 => "float64",
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        _ => "float32",
    }
}

/// A float tensor of `shape` (which has the host's number of elements), at the host's dtype,
/// on `device`.
pub fn float_tensor<const D: usize>(h: &Host, shape: [usize; D], device: &Device) -> Result<Tensor<D>, String> {
    let dtype = burn_dtype(&h.dtype)?;
    let data = TensorData::new(h.floats.clone(), shape.to_vec()).convert_dtype(dtype);
    Ok(Tensor::<D>::from_data(data, TensorCreationOptions::new(device.clone()).with_dtype(dtype)))
}

/// An int tensor of `shape` from integer values.
pub fn int_tensor<const D: usize>(values: &[i64], shape: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::<D, Int>::from_data(TensorData::new(values.to_vec(), shape.to_vec()), device)
}

/// A float tensor as the protocol writes it, with the given shape (burn's rank-1 scalars are
/// PyTorch's 0-d ones).
pub fn host_json<const D: usize>(t: Tensor<D>, shape: &[usize]) -> Value {
    let data = t.into_data();
    let dtype = dtype_name(data.dtype());
    let values: Vec<f64> = data.convert::<f64>().try_to_vec::<f64>().unwrap_or_default();
    json!({ "shape": shape, "dtype": dtype, "data": values.into_iter().map(float_json).collect::<Vec<_>>() })
}

/// The fixed 2-d view of an elementwise loss's operands: [n₀, rest] (a 1-d tensor of n is
/// [n, 1], a 0-d one [1, 1]), so that burn's `BatchMean` divides by PyTorch's batch size, n₀.
pub fn as_2d(shape: &[usize]) -> [usize; 2] {
    match shape {
        [] => [1, 1],
        [n] => [*n, 1],
        [n, ..] => [*n, shape.iter().product::<usize>() / (*n).max(1)],
    }
}
