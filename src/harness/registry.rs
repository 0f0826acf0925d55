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
    /// The dtypes a case may give it (cross entropy's target: class indices or probabilities).
    pub dtypes: &'static [InputDType],
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

#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub default: OptionValue,
    pub doc: &'static str,
}

/// Where `regen` records a case's expected values from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorder {
    /// The libtorch built-in, through tch (the `builtin` function).
    Libtorch,
    /// A PyTorch-ecosystem function with no libtorch op, run in Python by
    /// `scripts/record_reference.py` (which knows it by this name); `builtin` is then a
    /// composition of libtorch ops that is checked against the recorded values.
    Python(&'static str),
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
    pub recorder: Recorder,
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

const FLOAT: &[InputDType] = &[InputDType::Float];

const fn float_input(name: &'static str, required: bool, differentiable: bool) -> InputSpec {
    InputSpec { name, dtypes: FLOAT, required, differentiable }
}

const INPUT: InputSpec = float_input("input", true, true);
const TARGET: InputSpec = float_input("target", true, true);
const WEIGHT: InputSpec = float_input("weight", false, false);
/// Class indices. Float is accepted by the fixture format only so that a case can pin that both
/// sides reject it.
const CLASS_TARGET: InputSpec = InputSpec {
    name: "target",
    dtypes: &[InputDType::Int64, InputDType::Float],
    required: true,
    differentiable: false,
};
/// Class indices (int64) or class probabilities (float, the input's shape).
const INDEX_OR_PROBABILITY_TARGET: InputSpec =
    InputSpec { name: "target", dtypes: &[InputDType::Int64, InputDType::Float], required: true, differentiable: true };

const DIM: OptionSpec =
    OptionSpec { name: "dim", default: OptionValue::Int(-1), doc: "the dimension to normalise over" };
const IGNORE_INDEX: OptionSpec = OptionSpec {
    name: "ignore_index",
    default: OptionValue::Int(loss::IGNORE_INDEX),
    doc: "class-index targets to skip",
};
const LABEL_SMOOTHING: OptionSpec = OptionSpec {
    name: "label_smoothing",
    default: OptionValue::Float(0.0),
    doc: "ε in [0, 1]; ≤ 0 is ignored, as in libtorch",
};

fn cross_entropy_options(a: &Args) -> Result<loss::CrossEntropy<'_>> {
    Ok(loss::CrossEntropy {
        weight: a.optional("weight"),
        ignore_index: a.int("ignore_index")?,
        label_smoothing: a.float("label_smoothing")?,
    })
}

pub static LOSSES: &[LossInfo] = &[
    LossInfo {
        id: "sigmoid",
        summary: "1 / (1 + exp(-x)), elementwise (seed §2.1)",
        inputs: &[INPUT],
        options: &[],
        reduces: false,
        hand_written: |a, _| loss::sigmoid(a.tensor("input")?),
        builtin: |a, _| builtin::loss::sigmoid(a.tensor("input")?),
        recorder: Recorder::Libtorch,
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
        recorder: Recorder::Libtorch,
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
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "softmax",
        summary: "exp(x) / Σ exp(x) along dim (seed §3.1)",
        inputs: &[INPUT],
        options: &[DIM],
        reduces: false,
        hand_written: |a, _| loss::softmax(a.tensor("input")?, a.int("dim")?),
        builtin: |a, _| builtin::loss::softmax(a.tensor("input")?, a.int("dim")?),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "log_softmax",
        summary: "x − log Σ exp(x) along dim (seed §3.1)",
        inputs: &[INPUT],
        options: &[DIM],
        reduces: false,
        hand_written: |a, _| loss::log_softmax(a.tensor("input")?, a.int("dim")?),
        builtin: |a, _| builtin::loss::log_softmax(a.tensor("input")?, a.int("dim")?),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "nll_loss",
        summary: "NLLLoss: −w[y]·x[y], mean over the summed weight of kept targets (seed §3.1)",
        inputs: &[INPUT, CLASS_TARGET, WEIGHT],
        options: &[IGNORE_INDEX],
        reduces: true,
        hand_written: |a, r| loss::nll_loss(a.tensor("input")?, a.tensor("target")?, a.optional("weight"), a.int("ignore_index")?, r),
        builtin: |a, r| builtin::loss::nll_loss(a.tensor("input")?, a.tensor("target")?, a.optional("weight"), a.int("ignore_index")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "cross_entropy",
        summary: "CrossEntropyLoss: class-index or probability targets, weight, ignore_index, label_smoothing (seed §3.1, §3.2)",
        inputs: &[INPUT, INDEX_OR_PROBABILITY_TARGET, WEIGHT],
        options: &[IGNORE_INDEX, LABEL_SMOOTHING],
        reduces: true,
        hand_written: |a, r| loss::cross_entropy(a.tensor("input")?, a.tensor("target")?, &cross_entropy_options(a)?, r),
        builtin: |a, r| {
            let o = cross_entropy_options(a)?;
            builtin::loss::cross_entropy(a.tensor("input")?, a.tensor("target")?, o.weight, o.ignore_index, o.label_smoothing, r)
        },
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "smoothed_target_cross_entropy",
        summary: "the document's CELoss: indices or one-hot, target smoothed by hand, probability cross entropy (seed §3.2)",
        inputs: &[INPUT, INDEX_OR_PROBABILITY_TARGET],
        options: &[OptionSpec { name: "label_smooth", default: OptionValue::Float(0.2), doc: "α in y·(1 − α) + α/K" }],
        reduces: true,
        hand_written: |a, r| loss::smoothed_target_cross_entropy(a.tensor("input")?, a.tensor("target")?, a.float("label_smooth")?, r),
        builtin: |a, r| builtin::loss::smoothed_target_cross_entropy(a.tensor("input")?, a.tensor("target")?, a.float("label_smooth")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "sigmoid_focal_loss",
        summary: "torchvision's sigmoid_focal_loss; fixture values recorded by torchvision (seed §3.3)",
        inputs: &[INPUT, TARGET],
        options: &[
            OptionSpec { name: "alpha", default: OptionValue::Float(0.25), doc: "weight of the positives; -1 switches it off" },
            OptionSpec { name: "gamma", default: OptionValue::Float(2.0), doc: "exponent of (1 − p_t)" },
        ],
        reduces: true,
        hand_written: |a, r| loss::sigmoid_focal_loss(a.tensor("input")?, a.tensor("target")?, a.float("alpha")?, a.float("gamma")?, r),
        builtin: |a, r| {
            builtin::loss::sigmoid_focal_loss(a.tensor("input")?, a.tensor("target")?, a.float("alpha")?, a.float("gamma")?, r)
        },
        recorder: Recorder::Python("torchvision.ops.sigmoid_focal_loss"),
    },
    LossInfo {
        id: "l1_loss",
        summary: "L1Loss: |x − t| (seed §4)",
        inputs: &[INPUT, TARGET],
        options: &[],
        reduces: true,
        hand_written: |a, r| loss::l1_loss(a.tensor("input")?, a.tensor("target")?, r),
        builtin: |a, r| builtin::loss::l1_loss(a.tensor("input")?, a.tensor("target")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "mse_loss",
        summary: "MSELoss: (x − t)² (seed §4, the document's L2)",
        inputs: &[INPUT, TARGET],
        options: &[],
        reduces: true,
        hand_written: |a, r| loss::mse_loss(a.tensor("input")?, a.tensor("target")?, r),
        builtin: |a, r| builtin::loss::mse_loss(a.tensor("input")?, a.tensor("target")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "smooth_l1_loss",
        summary: "SmoothL1Loss: 0.5·z²/β below β, else z − 0.5·β; β = 0 is L1 (seed §4)",
        inputs: &[INPUT, TARGET],
        options: &[OptionSpec { name: "beta", default: OptionValue::Float(1.0), doc: "where the quadratic part ends; ≥ 0" }],
        reduces: true,
        hand_written: |a, r| loss::smooth_l1_loss(a.tensor("input")?, a.tensor("target")?, a.float("beta")?, r),
        builtin: |a, r| builtin::loss::smooth_l1_loss(a.tensor("input")?, a.tensor("target")?, a.float("beta")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "huber_loss",
        summary: "HuberLoss: 0.5·z² below δ, else δ·(z − 0.5·δ)",
        inputs: &[INPUT, TARGET],
        options: &[OptionSpec { name: "delta", default: OptionValue::Float(1.0), doc: "where the quadratic part ends; > 0" }],
        reduces: true,
        hand_written: |a, r| loss::huber_loss(a.tensor("input")?, a.tensor("target")?, a.float("delta")?, r),
        builtin: |a, r| builtin::loss::huber_loss(a.tensor("input")?, a.tensor("target")?, a.float("delta")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "kl_div",
        summary: "KLDivLoss: t·(log t − x), or exp(t)·(t − x) with log_target; batchmean as sum / batch",
        inputs: &[INPUT, float_input("target", true, false)],
        options: &[
            OptionSpec { name: "log_target", default: OptionValue::Bool(false), doc: "the target is given as log-probabilities" },
            OptionSpec { name: "batchmean", default: OptionValue::Bool(false), doc: "mean is Python's batchmean: sum / batch size" },
        ],
        reduces: true,
        hand_written: |a, r| {
            let (x, t, log_target) = (a.tensor("input")?, a.tensor("target")?, a.bool("log_target")?);
            if a.bool("batchmean")? && r == Reduction::Mean {
                return loss::kl_div_batchmean(x, t, log_target);
            }
            loss::kl_div(x, t, r, log_target)
        },
        builtin: |a, r| {
            let (x, t, log_target) = (a.tensor("input")?, a.tensor("target")?, a.bool("log_target")?);
            if a.bool("batchmean")? && r == Reduction::Mean {
                return builtin::loss::kl_div_batchmean(x, t, log_target);
            }
            builtin::loss::kl_div(x, t, r, log_target)
        },
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "soft_margin_loss",
        summary: "SoftMarginLoss: log(1 + exp(−t·x))",
        inputs: &[INPUT, float_input("target", true, false)],
        options: &[],
        reduces: true,
        hand_written: |a, r| loss::soft_margin_loss(a.tensor("input")?, a.tensor("target")?, r),
        builtin: |a, r| builtin::loss::soft_margin_loss(a.tensor("input")?, a.tensor("target")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "multilabel_margin_loss",
        summary: "MultiLabelMarginLoss: hinge between each listed target class and every other class",
        inputs: &[INPUT, InputSpec { name: "target", dtypes: &[InputDType::Int64], required: true, differentiable: false }],
        options: &[],
        reduces: true,
        hand_written: |a, r| loss::multilabel_margin_loss(a.tensor("input")?, a.tensor("target")?, r),
        builtin: |a, r| builtin::loss::multilabel_margin_loss(a.tensor("input")?, a.tensor("target")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "multi_margin_loss",
        summary: "MultiMarginLoss: Σ w[y]·max(0, margin − x[y] + x[i])^p / C (libtorch through the shim)",
        inputs: &[INPUT, CLASS_TARGET, WEIGHT],
        options: &[
            OptionSpec { name: "p", default: OptionValue::Int(1), doc: "1 or 2" },
            OptionSpec { name: "margin", default: OptionValue::Float(1.0), doc: "the margin" },
        ],
        reduces: true,
        hand_written: |a, r| loss::multi_margin_loss(a.tensor("input")?, a.tensor("target")?, a.int("p")?, a.float("margin")?, a.optional("weight"), r),
        builtin: |a, r| builtin::loss::multi_margin_loss(a.tensor("input")?, a.tensor("target")?, a.int("p")?, a.float("margin")?, a.optional("weight"), r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "margin_ranking_loss",
        summary: "MarginRankingLoss: max(0, −t·(x1 − x2) + margin)",
        inputs: &[float_input("input1", true, true), float_input("input2", true, true), float_input("target", true, false)],
        options: &[OptionSpec { name: "margin", default: OptionValue::Float(0.0), doc: "the margin" }],
        reduces: true,
        hand_written: |a, r| loss::margin_ranking_loss(a.tensor("input1")?, a.tensor("input2")?, a.tensor("target")?, a.float("margin")?, r),
        builtin: |a, r| builtin::loss::margin_ranking_loss(a.tensor("input1")?, a.tensor("input2")?, a.tensor("target")?, a.float("margin")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "hinge_embedding_loss",
        summary: "HingeEmbeddingLoss: x for t = 1, max(0, margin − x) for t = −1",
        inputs: &[INPUT, float_input("target", true, false)],
        options: &[OptionSpec { name: "margin", default: OptionValue::Float(1.0), doc: "the margin" }],
        reduces: true,
        hand_written: |a, r| loss::hinge_embedding_loss(a.tensor("input")?, a.tensor("target")?, a.float("margin")?, r),
        builtin: |a, r| builtin::loss::hinge_embedding_loss(a.tensor("input")?, a.tensor("target")?, a.float("margin")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "cosine_embedding_loss",
        summary: "CosineEmbeddingLoss: 1 − cos for t = 1, max(0, cos − margin) for t = −1",
        inputs: &[float_input("input1", true, true), float_input("input2", true, true), float_input("target", true, false)],
        options: &[OptionSpec { name: "margin", default: OptionValue::Float(0.0), doc: "the margin" }],
        reduces: true,
        hand_written: |a, r| loss::cosine_embedding_loss(a.tensor("input1")?, a.tensor("input2")?, a.tensor("target")?, a.float("margin")?, r),
        builtin: |a, r| builtin::loss::cosine_embedding_loss(a.tensor("input1")?, a.tensor("input2")?, a.tensor("target")?, a.float("margin")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "triplet_margin_loss",
        summary: "TripletMarginLoss: max(0, margin + d(a, p) − d(a, n)) with the p-norm distance",
        inputs: &TRIPLET_INPUTS,
        options: &[
            OptionSpec { name: "margin", default: OptionValue::Float(1.0), doc: "the margin" },
            OptionSpec { name: "p", default: OptionValue::Float(2.0), doc: "the norm's degree" },
            OptionSpec { name: "eps", default: OptionValue::Float(1e-6), doc: "added to the difference" },
            OptionSpec { name: "swap", default: OptionValue::Bool(false), doc: "use min(d(a, n), d(p, n))" },
        ],
        reduces: true,
        hand_written: |a, r| {
            let (x, p, n) = (a.tensor("anchor")?, a.tensor("positive")?, a.tensor("negative")?);
            loss::triplet_margin_loss(x, p, n, a.float("margin")?, a.float("p")?, a.float("eps")?, a.bool("swap")?, r)
        },
        builtin: |a, r| {
            let (x, p, n) = (a.tensor("anchor")?, a.tensor("positive")?, a.tensor("negative")?);
            builtin::loss::triplet_margin_loss(x, p, n, a.float("margin")?, a.float("p")?, a.float("eps")?, a.bool("swap")?, r)
        },
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "poisson_nll_loss",
        summary: "PoissonNLLLoss: exp(x) − t·x, or x − t·log(x + eps); full adds Stirling's term",
        inputs: &[INPUT, float_input("target", true, false)],
        options: &[
            OptionSpec { name: "log_input", default: OptionValue::Bool(true), doc: "the input is the log of the rate" },
            OptionSpec { name: "full", default: OptionValue::Bool(false), doc: "add Stirling's approximation where t > 1" },
            OptionSpec { name: "eps", default: OptionValue::Float(1e-8), doc: "added inside the log when not log_input" },
        ],
        reduces: true,
        hand_written: |a, r| loss::poisson_nll_loss(a.tensor("input")?, a.tensor("target")?, a.bool("log_input")?, a.bool("full")?, a.float("eps")?, r),
        builtin: |a, r| builtin::loss::poisson_nll_loss(a.tensor("input")?, a.tensor("target")?, a.bool("log_input")?, a.bool("full")?, a.float("eps")?, r),
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "ctc_loss",
        summary: "CTCLoss over log-probabilities [T, N, C]: padded or concatenated targets, per-sample lengths",
        inputs: &[
            float_input("log_probs", true, true),
            InputSpec { name: "targets", dtypes: &[InputDType::Int64], required: true, differentiable: false },
            InputSpec { name: "input_lengths", dtypes: &[InputDType::Int64], required: true, differentiable: false },
            InputSpec { name: "target_lengths", dtypes: &[InputDType::Int64], required: true, differentiable: false },
        ],
        options: &[
            OptionSpec { name: "blank", default: OptionValue::Int(0), doc: "the blank label" },
            OptionSpec { name: "zero_infinity", default: OptionValue::Bool(false), doc: "impossible alignments cost 0" },
        ],
        reduces: true,
        hand_written: |a, r| {
            let lengths = |name: &str| -> Result<Vec<i64>> { Vec::<i64>::try_from(a.tensor(name)?.f_reshape([-1])?).map_err(crate::Error::from) };
            let (input_lengths, target_lengths) = (lengths("input_lengths")?, lengths("target_lengths")?);
            loss::ctc_loss(a.tensor("log_probs")?, a.tensor("targets")?, &input_lengths, &target_lengths, a.int("blank")?, r, a.bool("zero_infinity")?)
        },
        builtin: |a, r| {
            let (lp, t, il, tl) = (a.tensor("log_probs")?, a.tensor("targets")?, a.tensor("input_lengths")?, a.tensor("target_lengths")?);
            builtin::loss::ctc_loss(lp, t, il, tl, a.int("blank")?, r, a.bool("zero_infinity")?)
        },
        recorder: Recorder::Libtorch,
    },
    LossInfo {
        id: "gaussian_nll_loss",
        summary: "GaussianNLLLoss (Python-only): ½·(log v + (x − t)²/v), per-element or per-sample variance",
        inputs: &[INPUT, float_input("target", true, false), float_input("var", true, true)],
        options: &[
            OptionSpec { name: "full", default: OptionValue::Bool(false), doc: "add ½·log(2π)" },
            OptionSpec { name: "eps", default: OptionValue::Float(1e-6), doc: "the variance's lower clamp" },
        ],
        reduces: true,
        hand_written: |a, r| loss::gaussian_nll_loss(a.tensor("input")?, a.tensor("target")?, a.tensor("var")?, a.bool("full")?, a.float("eps")?, r),
        builtin: |a, r| builtin::loss::gaussian_nll_loss(a.tensor("input")?, a.tensor("target")?, a.tensor("var")?, a.bool("full")?, a.float("eps")?, r),
        recorder: Recorder::Python("torch.nn.functional.gaussian_nll_loss"),
    },
    LossInfo {
        id: "multilabel_soft_margin_loss",
        summary: "MultiLabelSoftMarginLoss (Python-only): per-class logistic loss averaged over classes",
        inputs: &[INPUT, float_input("target", true, false), WEIGHT],
        options: &[],
        reduces: true,
        hand_written: |a, r| loss::multilabel_soft_margin_loss(a.tensor("input")?, a.tensor("target")?, a.optional("weight"), r),
        builtin: |a, r| builtin::loss::multilabel_soft_margin_loss(a.tensor("input")?, a.tensor("target")?, a.optional("weight"), r),
        recorder: Recorder::Python("torch.nn.functional.multilabel_soft_margin_loss"),
    },
    LossInfo {
        id: "triplet_margin_with_distance_loss",
        summary: "TripletMarginWithDistanceLoss (Python-only): pairwise or cosine distance",
        inputs: &TRIPLET_INPUTS,
        options: &[
            OptionSpec { name: "cosine_distance", default: OptionValue::Bool(false), doc: "1 − cosine similarity instead of the pairwise distance" },
            OptionSpec { name: "margin", default: OptionValue::Float(1.0), doc: "the margin; must be positive" },
            OptionSpec { name: "swap", default: OptionValue::Bool(false), doc: "use min(d(a, n), d(p, n))" },
        ],
        reduces: true,
        hand_written: |a, r| {
            let (x, p, n) = (a.tensor("anchor")?, a.tensor("positive")?, a.tensor("negative")?);
            loss::triplet_margin_with_distance_loss(x, p, n, a.bool("cosine_distance")?, a.float("margin")?, a.bool("swap")?, r)
        },
        builtin: |a, r| {
            let (x, p, n) = (a.tensor("anchor")?, a.tensor("positive")?, a.tensor("negative")?);
            builtin::loss::triplet_margin_with_distance_loss(x, p, n, a.bool("cosine_distance")?, a.float("margin")?, a.bool("swap")?, r)
        },
        recorder: Recorder::Python("torch.nn.functional.triplet_margin_with_distance_loss"),
    },
];

const TRIPLET_INPUTS: [InputSpec; 3] =
    [float_input("anchor", true, true), float_input("positive", true, true), float_input("negative", true, true)];

pub fn find(id: &str) -> Option<&'static LossInfo> {
    LOSSES.iter().find(|info| info.id == id)
}
