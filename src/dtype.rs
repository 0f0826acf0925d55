//! The dtypes a case is run in and the dtypes of its inputs: shared vocabulary of the catalogue,
//! the fixture format and the checker.

use std::fmt;
use std::str::FromStr;

/// A floating dtype a case is run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    Float32,
    Float64,
}

impl DType {
    pub const ALL: [DType; 2] = [DType::Float32, DType::Float64];

    pub fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float64 => "float64",
        }
    }

    pub fn kind(self) -> tch::Kind {
        match self {
            DType::Float32 => tch::Kind::Float,
            DType::Float64 => tch::Kind::Double,
        }
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
            .ok_or_else(|| format!("unknown dtype '{text}' (expected float32 or float64)"))
    }
}

/// The dtype of an input tensor. `Float` inputs take the dtype of each run: their decimal text is
/// parsed at float32 for the float32 run and at float64 for the float64 run, exactly as
/// `torch.tensor(data, dtype=...)` would.
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
