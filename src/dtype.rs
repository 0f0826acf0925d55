//! The dtypes a case is run in and the dtypes of its inputs: shared vocabulary of the catalogue,
//! the fixture format and the checker.

use std::fmt;
use std::str::FromStr;

/// A floating dtype a case is run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Float32,
    Float64,
    /// IEEE half: 11 significant bits, largest finite 65504.
    Float16,
    /// bfloat16: float32's exponent range with 8 significant bits.
    BFloat16,
}

impl DType {
    pub const ALL: [DType; 4] = [DType::Float32, DType::Float64, DType::Float16, DType::BFloat16];
    /// The dtypes the fuzzer draws for losses and optimizers (a loss that
    /// `catalog::losses::fuzzed_in_half` excludes is drawn in float32 and float64 only).
    pub const FUZZED: [DType; 4] = DType::ALL;
    /// The dtypes the fuzzer draws for gradient clipping, which is checked in float32 and
    /// float64 only.
    pub const FULL: [DType; 2] = [DType::Float32, DType::Float64];
    /// The two half-width dtypes mixed-precision training runs in.
    pub const HALF: [DType; 2] = [DType::Float16, DType::BFloat16];

    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
        }
    }

    pub fn kind(self) -> tch::Kind {
        match self {
            DType::Float32 => tch::Kind::Float,
            DType::Float64 => tch::Kind::Double,
            DType::Float16 => tch::Kind::Half,
            DType::BFloat16 => tch::Kind::BFloat16,
        }
    }

    /// Whether it is one of the half-width dtypes.
    pub fn is_half(self) -> bool {
        DType::HALF.contains(&self)
    }

    /// `x` rounded to the nearest value of this dtype (ties to even, beyond the largest finite
    /// value to infinity), directly from float64: the `half` crate's float64 conversions go
    /// through float32 or truncate, which can round twice.
    pub fn round(self, x: f64) -> f64 {
        match self {
            DType::Float32 => f64::from(x as f32),
            DType::Float64 => x,
            DType::Float16 => round_to_format(x, 11, -14, 65504.0),
            DType::BFloat16 => round_to_format(x, 8, -126, f64::from(half::bf16::MAX.to_f32())),
        }
    }
}

/// `x` rounded to a binary format of `precision` significant bits whose smallest normal exponent
/// is `min_exponent` (below it, subnormals share that exponent's quantum) and whose largest
/// finite value is `max`.
fn round_to_format(x: f64, precision: i32, min_exponent: i32, max: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let exponent = (((x.to_bits() >> 52) & 0x7ff) as i32 - 1023).max(min_exponent);
    // Scaling by a power of two is exact, so the only rounding is round_ties_even's.
    let quantum = 2f64.powi(exponent - (precision - 1));
    let rounded = (x / quantum).round_ties_even() * quantum;
    if rounded.abs() > max {
        f64::INFINITY.copysign(x)
    } else {
        rounded
    }
}

impl serde::Serialize for DType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        DType::ALL
            .into_iter()
            .find(|d| d.name() == text)
            .ok_or_else(|| format!("unknown dtype '{text}' (expected float32, float64, float16 or bfloat16)"))
    }
}

/// The dtype of an input tensor. `Float` inputs take the dtype of each run: their decimal text is
/// parsed at float32 for the float32 run and at float64 for the float64 run, correctly rounded,
/// and for float16 and bfloat16 at float32 then rounded to the half dtype (ties to even), as
/// libtorch converts a float to `c10::Half` or `c10::BFloat16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputDType {
    Float,
    Int64,
    Bool,
}

impl InputDType {
    pub const ALL: [InputDType; 3] = [InputDType::Float, InputDType::Int64, InputDType::Bool];

    pub fn name(self) -> &'static str {
        match self {
            InputDType::Float => "float",
            InputDType::Int64 => "int64",
            InputDType::Bool => "bool",
        }
    }
}

impl FromStr for InputDType {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        InputDType::ALL
            .into_iter()
            .find(|d| d.name() == text)
            .ok_or_else(|| format!("unknown dtype '{text}' (expected float, int64 or bool)"))
    }
}
