//! The case registry: one entry per loss, declared as data (in the manner of PyTorch's
//! `OptimizerInfo` tables). An entry names the inputs and options a fixture case may give, and
//! the two implementations to compare. The cases themselves live in `fixtures/`.

use crate::builtin;
use crate::error::{invalid, Result};
use crate::fixture::InputDType;
use crate::loss::{self, Reduction};
use std::fmt;
use tch::Tensor;

pub type LossFn = fn(&Args, Reduction) -> Result<Tensor>;

#[derive(Debug)]
pub struct InputSpec {
    pub name: &'static str,
    pub dtype: InputDType,
    pub required: bool,
    /// Whether a case may ask for this input's gradient.
    pub differentiable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionValue {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl OptionValue {
    pub fn type_name(self) -> &'static str {
        match self {
            OptionValue::Bool(_) => "bool",
            OptionValue::Int(_) => "int",
            OptionValue::Float(_) => "float",
        }
    }
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Int(i) => write!(f, "{i}"),
            OptionValue::Float(x) => write!(f, "{x:?}"),
        }
    }
}

#[derive(Debug)]
pub struct OptionSpec {
    pub name: &'static str,
    pub default: OptionValue,
    pub doc: &'static str,
}

pub struct LossInfo {
    pub id: &'static str,
    pub summary: &'static str,
    pub inputs: &'static [InputSpec],
    pub options: &'static [OptionSpec],
    /// Whether the op takes a reduction; an elementwise function runs only as `none`.
    pub reduces: bool,
    pub hand_written: LossFn,
    pub builtin: LossFn,
}

impl LossInfo {
    pub fn reductions(&self) -> &'static [Reduction] {
        if self.reduces {
            &Reduction::ALL
        } else {
            &[Reduction::None]
        }
    }

    pub fn input_spec(&self, name: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|s| s.name == name)
    }

    pub fn option_spec(&self, name: &str) -> Option<&OptionSpec> {
        self.options.iter().find(|s| s.name == name)
    }
}

/// The tensors and options one call receives; options a case leaves out take their defaults.
pub struct Args {
    pub tensors: Vec<(String, Tensor)>,
    pub options: Vec<(String, OptionValue)>,
}

impl Args {
    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.optional(name).map_or_else(|| invalid!("missing input '{name}'"), Ok)
    }

    pub fn optional(&self, name: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    fn option(&self, name: &str) -> Result<OptionValue> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .map_or_else(|| invalid!("missing option '{name}'"), Ok)
    }

    pub fn float(&self, name: &str) -> Result<f64> {
        match self.option(name)? {
            OptionValue::Float(x) => Ok(x),
            OptionValue::Int(i) => Ok(i as f64),
            other => invalid!("option '{name}' is a {}, expected a float", other.type_name()),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64> {
        match self.option(name)? {
            OptionValue::Int(i) => Ok(i),
            other => invalid!("option '{name}' is a {}, expected an int", other.type_name()),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool> {
        match self.option(name)? {
            OptionValue::Bool(b) => Ok(b),
            other => invalid!("option '{name}' is a {}, expected a bool", other.type_name()),
        }
    }
}

const fn float_input(name: &'static str, required: bool, differentiable: bool) -> InputSpec {
    InputSpec { name, dtype: InputDType::Float, required, differentiable }
}

const INPUT: InputSpec = float_input("input", true, true);
const TARGET: InputSpec = float_input("target", true, true);
const WEIGHT: InputSpec = float_input("weight", false, false);

pub static LOSSES: &[LossInfo] = &[
    LossInfo {
        id: "sigmoid",
        summary: "1 / (1 + exp(-x)), elementwise (seed §2.1)",
        inputs: &[INPUT],
        options: &[],
        reduces: false,
        hand_written: |a, _| loss::sigmoid(a.tensor("input")?),
        builtin: |a, _| builtin::loss::sigmoid(a.tensor("input")?),
    },
    LossInfo {
        id: "binary_cross_entropy",
        summary: "BCELoss on probabilities, log terms clamped at -100 (seed §2.1)",
        inputs: &[INPUT, TARGET, WEIGHT],
        options: &[],
        reduces: true,
        hand_written: |a, r| {
            loss::binary_cross_entropy(a.tensor("input")?, a.tensor("target")?, a.optional("weight"), r)
        },
        builtin: |a, r| {
            builtin::loss::binary_cross_entropy(a.tensor("input")?, a.tensor("target")?, a.optional("weight"), r)
        },
    },
    LossInfo {
        id: "binary_cross_entropy_with_logits",
        summary: "BCEWithLogitsLoss on logits, with weight and pos_weight",
        inputs: &[INPUT, TARGET, WEIGHT, float_input("pos_weight", false, false)],
        options: &[],
        reduces: true,
        hand_written: |a, r| {
            let (x, t) = (a.tensor("input")?, a.tensor("target")?);
            loss::binary_cross_entropy_with_logits(x, t, a.optional("weight"), a.optional("pos_weight"), r)
        },
        builtin: |a, r| {
            let (x, t) = (a.tensor("input")?, a.tensor("target")?);
            builtin::loss::binary_cross_entropy_with_logits(x, t, a.optional("weight"), a.optional("pos_weight"), r)
        },
    },
];

pub fn find(id: &str) -> Option<&'static LossInfo> {
    LOSSES.iter().find(|info| info.id == id)
}
