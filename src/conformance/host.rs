//! [`HostTensor`]: a tensor as plain Rust data, the currency between the checker and an
//! implementation under test that is not built on tch.

use crate::dtype::DType;
use tch::{Kind, Tensor};

/// A tensor as plain data: its shape and its elements in row-major order.
///
/// Float elements are held as `f64` whatever the dtype: every float16, bfloat16 and float32
/// value is exact in float64, so nothing is rounded on the way in or out. An implementation
/// converts them to its own element type (and [`HostTensor::float`] checks that it returned
/// values of the dtype it was asked for).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: HostData,
}

/// The elements of a [`HostTensor`].
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    /// Floats of a dtype, held exactly as `f64`.
    Float { dtype: DType, values: Vec<f64> },
    /// Integers (class indices, lengths): PyTorch's int64.
    Int(Vec<i64>),
    /// Booleans (a mask).
    Bool(Vec<bool>),
}

impl HostTensor {
    /// Floats of `dtype`. The values must be representable in it (see [`DType::round`]).
    pub fn float(shape: impl Into<Vec<usize>>, dtype: DType, values: Vec<f64>) -> HostTensor {
        HostTensor { shape: shape.into(), data: HostData::Float { dtype, values } }
    }

    /// A 0-d float tensor (what PyTorch's `mean` and `sum` return).
    pub fn scalar(dtype: DType, value: f64) -> HostTensor {
        HostTensor::float(Vec::new(), dtype, vec![value])
    }

    pub fn ints(shape: impl Into<Vec<usize>>, values: Vec<i64>) -> HostTensor {
        HostTensor { shape: shape.into(), data: HostData::Int(values) }
    }

    /// The number of elements: the product of the shape (1 for a 0-d tensor).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The float values, or `None` for an integer or boolean tensor.
    pub fn floats(&self) -> Option<&[f64]> {
        match &self.data {
            HostData::Float { values, .. } => Some(values),
            _ => None,
        }
    }

    /// The float values as `f32` (exact for float32, float16 and bfloat16 data).
    pub fn floats_f32(&self) -> Option<Vec<f32>> {
        self.floats().map(|v| v.iter().map(|&x| x as f32).collect())
    }

    /// The integer values, or `None` for a float or boolean tensor.
    pub fn int_values(&self) -> Option<&[i64]> {
        match &self.data {
            HostData::Int(values) => Some(values),
            _ => None,
        }
    }

    /// The dtype of a float tensor.
    pub fn dtype(&self) -> Option<DType> {
        match &self.data {
            HostData::Float { dtype, .. } => Some(*dtype),
            _ => None,
        }
    }

    /// A copy of a tch tensor (any layout; float kinds other than the four dtypes are an error).
    pub fn from_tch(t: &Tensor) -> Result<HostTensor, String> {
        let shape = t.size().iter().map(|&d| d as usize).collect();
        let flat =
            t.f_detach().and_then(|t| t.f_contiguous()).and_then(|t| t.f_reshape([-1])).map_err(|e| e.to_string())?;
        let data = match t.kind() {
            Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8 => {
                let ints = flat.f_to_kind(Kind::Int64).map_err(|e| e.to_string())?;
                HostData::Int(Vec::<i64>::try_from(&ints).map_err(|e| e.to_string())?)
            }
            Kind::Bool => HostData::Bool(Vec::<bool>::try_from(&flat).map_err(|e| e.to_string())?),
            kind => {
                let dtype = dtype_of(kind).ok_or_else(|| format!("no float dtype for {kind:?}"))?;
                let values = flat.f_to_kind(Kind::Double).map_err(|e| e.to_string())?;
                HostData::Float { dtype, values: Vec::<f64>::try_from(&values).map_err(|e| e.to_string())? }
            }
        };
        Ok(HostTensor { shape, data })
    }

    /// The tensor in tch, at its own dtype (exact).
    pub fn to_tch(&self) -> Result<Tensor, String> {
        let dims: Vec<i64> = self.shape.iter().map(|&d| d as i64).collect();
        let flat = match &self.data {
            HostData::Float { dtype, values } => {
                Tensor::from_slice(values).f_to_kind(dtype.kind()).map_err(|e| e.to_string())?
            }
            HostData::Int(values) => Tensor::from_slice(values),
            HostData::Bool(values) => Tensor::from_slice(values),
        };
        if flat.numel() != self.numel() {
            return Err(format!("{} values for shape {:?}", flat.numel(), self.shape));
        }
        flat.f_reshape(&dims).map_err(|e| e.to_string())
    }
}

/// The dtype of a tch float kind.
pub fn dtype_of(kind: Kind) -> Option<DType> {
    DType::ALL.into_iter().find(|d| d.kind() == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_dtype_exactly() {
        for dtype in DType::ALL {
            // 1/3 at the dtype, and the dtype's smallest subnormal-ish value: exact both ways.
            let third = dtype.round(1.0 / 3.0);
            let t = HostTensor::float([2, 1], dtype, vec![third, -2.5]);
            let back = HostTensor::from_tch(&t.to_tch().unwrap()).unwrap();
            assert_eq!(back, t, "{dtype:?}");
        }
        let ints = HostTensor::ints([3], vec![0, -100, 7]);
        assert_eq!(HostTensor::from_tch(&ints.to_tch().unwrap()).unwrap(), ints);
    }

    #[test]
    fn reads_a_transposed_view_in_row_major_order() {
        let t = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape([2, 3]).tr();
        let host = HostTensor::from_tch(&t).unwrap();
        assert_eq!(host.shape, vec![3, 2]);
        assert_eq!(host.floats().unwrap(), &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn refuses_data_that_does_not_fill_its_shape() {
        let t = HostTensor::float([2, 2], DType::Float64, vec![1.0, 2.0, 3.0]);
        assert!(t.to_tch().unwrap_err().contains("3 values for shape [2, 2]"));
    }
}
