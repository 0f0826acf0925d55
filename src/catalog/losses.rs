//! One spec per loss, declared as data in the manner of PyTorch's OpInfo: its inputs, its typed
//! options (the library's options struct, so PyTorch's defaults are written once), its
//! reductions, where its reference comes from, and its sample and error-input generators.
//!
//! A spec's `bind` turns named tensors and option values into a [`LossCall`]: the one place where
//! a loss's arguments are taken apart. Every implementation computes a `LossCall`, so none of them
//! repeats that work, and adding an implementation touches none of this.

use super::call::{Args, LossCall};
use super::errors::{self as e, ErrorInput};
use super::samples::{self as s, Rng, Sample, Size};
use super::InputSpec;
use crate::dtype::InputDType;
use crate::error::Result;
use crate::loss::{
    CosineEmbeddingOptions, CrossEntropyOptions, CtcOptions, FocalOptions, GaussianNllOptions, HingeEmbeddingOptions,
    HuberOptions, KlDivOptions, KlDivReduction, MarginRankingOptions, MultiMarginOptions, NllOptions,
    PoissonNllOptions, Reduction, SmoothL1Options, SmoothedTargetOptions, TripletMarginOptions,
    TripletWithDistanceOptions,
};
use crate::options::{NamedValue, NoOptions, OptionSpec, Options, Values};

/// Where a loss's reference values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The libtorch built-in, through tch.
    Libtorch,
    /// A PyTorch function with no libtorch op, run in Python by `scripts/pytorch_reference.py`,
    /// which knows it by this name.
    Python(&'static str),
}

/// A loss's options: their specs, and every option's value once the given ones are applied.
#[derive(Clone, Copy)]
pub struct OptionsOf {
    pub specs: fn() -> Vec<OptionSpec>,
    pub resolve: fn(&[NamedValue]) -> Result<Values, String>,
}

impl OptionsOf {
    pub const fn of<T: Options>() -> OptionsOf {
        OptionsOf { specs: T::specs, resolve: resolve::<T> }
    }
}

fn resolve<T: Options>(given: &[NamedValue]) -> Result<Values, String> {
    Ok(T::from_named(given)?.values())
}

/// Whether the fuzzer draws `spec` in float16 and bfloat16 too. Not: the losses without a half
/// kernel (the gate checks that both sides reject every one of their cases there), and soft
/// margin, where libtorch's `log(1 + exp(−y·x))` overflows float16 to inf once −y·x passes about
/// 11 and the hand-written stable form does not (tests/libtorch_quirks.rs pins the float32
/// case, at 88), which random inputs reach often.
pub fn fuzzed_in_half(spec: &LossSpec) -> bool {
    spec.half_kernel && spec.id != "soft_margin_loss"
}

pub struct LossSpec {
    pub id: &'static str,
    pub summary: &'static str,
    pub inputs: &'static [InputSpec],
    pub options: OptionsOf,
    /// Whether it takes a reduction; an elementwise function runs only as `none`.
    pub reduces: bool,
    /// Whether libtorch has a CPU kernel for it in float16 and bfloat16. Without one (2.13:
    /// multi_margin, multilabel_margin, CTC), both sides must reject those dtypes, and its
    /// cases run in float32 and float64 only.
    pub half_kernel: bool,
    /// Whether libtorch differentiates its gradient (double backward). Without (2.13: CTC,
    /// multi_margin, multilabel_margin: "derivative for aten::…_backward is not implemented"),
    /// both sides must refuse a second backward pass, and no second-order values are recorded.
    pub double_backward: bool,
    pub reference: Reference,
    /// The typed call of these arguments.
    pub bind: for<'a> fn(&'a Args, Reduction) -> Result<LossCall<'a>>,
    /// Random valid inputs, for the fuzzer.
    pub sample: fn(&mut Rng, Size) -> Sample,
    /// Inputs the reference rejects.
    pub error_inputs: fn() -> Vec<ErrorInput>,
}

impl LossSpec {
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

    pub fn option_specs(&self) -> Vec<OptionSpec> {
        (self.options.specs)()
    }
}

const FLOAT: &[InputDType] = &[InputDType::Float];

const fn float_input(name: &'static str, required: bool, differentiable: bool) -> InputSpec {
    InputSpec { name, dtypes: FLOAT, required, differentiable }
}

const INPUT: InputSpec = float_input("input", true, true);
const TARGET: InputSpec = float_input("target", true, true);
const FIXED_TARGET: InputSpec = float_input("target", true, false);
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
const INDEX_TENSOR: InputDType = InputDType::Int64;
const fn index_input(name: &'static str) -> InputSpec {
    InputSpec { name, dtypes: &[INDEX_TENSOR], required: true, differentiable: false }
}
const TRIPLET_INPUTS: [InputSpec; 3] =
    [float_input("anchor", true, true), float_input("positive", true, true), float_input("negative", true, true)];
const PAIR_INPUTS: [InputSpec; 3] =
    [float_input("input1", true, true), float_input("input2", true, true), float_input("target", true, false)];

crate::options! {
    /// The `dim` of softmax and log_softmax (an argument of the library functions).
    pub struct DimOption {
        /// The dimension to normalise over.
        pub dim: i64 = -1,
    }
}

crate::options! {
    /// KL divergence as fixtures give it: `KlDivOptions`, and whether `mean` is `batchmean`.
    pub struct KlDivCaseOptions {
        /// The target is given as log-probabilities.
        pub log_target: bool = false,
        /// Run mean as Python's batchmean: sum / batch size.
        pub batchmean: bool = false,
    }
}

/// Every loss in `torch.nn` (and the seed's own), in the order `tch-parity list` shows them.
pub static LOSSES: &[LossSpec] = &[
    LossSpec {
        id: "sigmoid",
        summary: "1 / (1 + exp(-x)), elementwise (seed §2.1)",
        inputs: &[INPUT],
        options: OptionsOf::of::<NoOptions>(),
        reduces: false,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, _| Ok(LossCall::Sigmoid { input: a.tensor("input")? }),
        sample: s::sigmoid,
        error_inputs: e::no_errors,
    },
    LossSpec {
        id: "binary_cross_entropy",
        summary: "BCELoss on probabilities, log terms clamped at -100 (seed §2.1)",
        inputs: &[INPUT, TARGET, WEIGHT],
        options: OptionsOf::of::<NoOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, weight) = (a.tensor("input")?, a.tensor("target")?, a.optional("weight"));
            Ok(LossCall::BinaryCrossEntropy { input, target, weight, reduction })
        },
        sample: s::binary_cross_entropy,
        error_inputs: e::binary_cross_entropy_errors,
    },
    LossSpec {
        id: "binary_cross_entropy_with_logits",
        summary: "BCEWithLogitsLoss on logits, with weight and pos_weight",
        inputs: &[INPUT, TARGET, WEIGHT, float_input("pos_weight", false, false)],
        options: OptionsOf::of::<NoOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target) = (a.tensor("input")?, a.tensor("target")?);
            let (weight, pos_weight) = (a.optional("weight"), a.optional("pos_weight"));
            Ok(LossCall::BinaryCrossEntropyWithLogits { input, target, weight, pos_weight, reduction })
        },
        sample: s::binary_cross_entropy_with_logits,
        error_inputs: e::pointwise_errors,
    },
    LossSpec {
        id: "softmax",
        summary: "exp(x) / Σ exp(x) along dim (seed §3.1)",
        inputs: &[INPUT],
        options: OptionsOf::of::<DimOption>(),
        reduces: false,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, _| Ok(LossCall::Softmax { input: a.tensor("input")?, dim: a.options::<DimOption>()?.dim }),
        sample: s::softmax,
        error_inputs: e::softmax_errors,
    },
    LossSpec {
        id: "log_softmax",
        summary: "x − log Σ exp(x) along dim (seed §3.1)",
        inputs: &[INPUT],
        options: OptionsOf::of::<DimOption>(),
        reduces: false,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, _| Ok(LossCall::LogSoftmax { input: a.tensor("input")?, dim: a.options::<DimOption>()?.dim }),
        sample: s::softmax,
        error_inputs: e::softmax_errors,
    },
    LossSpec {
        id: "nll_loss",
        summary: "NLLLoss: −w[y]·x[y], mean over the summed weight of kept targets (seed §3.1)",
        inputs: &[INPUT, CLASS_TARGET, WEIGHT],
        options: OptionsOf::of::<NllOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, weight, options) =
                (a.tensor("input")?, a.tensor("target")?, a.optional("weight"), a.options()?);
            Ok(LossCall::NllLoss { input, target, weight, options, reduction })
        },
        sample: s::nll_loss,
        error_inputs: e::nll_loss_errors,
    },
    LossSpec {
        id: "cross_entropy",
        summary: "CrossEntropyLoss: class-index or probability targets, weight, ignore_index, label_smoothing \
                  (seed §3.1, §3.2)",
        inputs: &[INPUT, INDEX_OR_PROBABILITY_TARGET, WEIGHT],
        options: OptionsOf::of::<CrossEntropyOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, weight, options) =
                (a.tensor("input")?, a.tensor("target")?, a.optional("weight"), a.options()?);
            Ok(LossCall::CrossEntropy { input, target, weight, options, reduction })
        },
        sample: s::cross_entropy,
        error_inputs: e::cross_entropy_errors,
    },
    LossSpec {
        id: "smoothed_target_cross_entropy",
        summary: "the document's CELoss: indices or one-hot, target smoothed by hand, probability cross entropy \
                  (seed §3.2)",
        inputs: &[INPUT, INDEX_OR_PROBABILITY_TARGET],
        options: OptionsOf::of::<SmoothedTargetOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, options) = (a.tensor("input")?, a.tensor("target")?, a.options()?);
            Ok(LossCall::SmoothedTargetCrossEntropy { input, target, options, reduction })
        },
        sample: s::smoothed_target_cross_entropy,
        error_inputs: e::smoothed_target_cross_entropy_errors,
    },
    LossSpec {
        id: "sigmoid_focal_loss",
        summary: "torchvision's sigmoid_focal_loss (seed §3.3); the reference is torchvision itself",
        inputs: &[INPUT, TARGET],
        options: OptionsOf::of::<FocalOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Python("torchvision.ops.sigmoid_focal_loss"),
        bind: |a, reduction| {
            let (input, target, options) = (a.tensor("input")?, a.tensor("target")?, a.options()?);
            Ok(LossCall::SigmoidFocalLoss { input, target, options, reduction })
        },
        sample: s::sigmoid_focal_loss,
        error_inputs: e::sigmoid_focal_loss_errors,
    },
    LossSpec {
        id: "l1_loss",
        summary: "L1Loss: |x − t| (seed §4)",
        inputs: &[INPUT, TARGET],
        options: OptionsOf::of::<NoOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| Ok(LossCall::L1Loss { input: a.tensor("input")?, target: a.tensor("target")?, reduction }),
        sample: s::l1_loss,
        error_inputs: e::pointwise_errors,
    },
    LossSpec {
        id: "mse_loss",
        summary: "MSELoss: (x − t)² (seed §4, the document's L2)",
        inputs: &[INPUT, TARGET],
        options: OptionsOf::of::<NoOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            Ok(LossCall::MseLoss { input: a.tensor("input")?, target: a.tensor("target")?, reduction })
        },
        sample: s::mse_loss,
        error_inputs: e::pointwise_errors,
    },
    LossSpec {
        id: "smooth_l1_loss",
        summary: "SmoothL1Loss: 0.5·z²/β below β, else z − 0.5·β; β = 0 is L1 (seed §4)",
        inputs: &[INPUT, TARGET],
        options: OptionsOf::of::<SmoothL1Options>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, options) = (a.tensor("input")?, a.tensor("target")?, a.options()?);
            Ok(LossCall::SmoothL1Loss { input, target, options, reduction })
        },
        sample: s::smooth_l1_loss,
        error_inputs: e::smooth_l1_loss_errors,
    },
    LossSpec {
        id: "huber_loss",
        summary: "HuberLoss: 0.5·z² below δ, else δ·(z − 0.5·δ)",
        inputs: &[INPUT, TARGET],
        options: OptionsOf::of::<HuberOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, options) = (a.tensor("input")?, a.tensor("target")?, a.options()?);
            Ok(LossCall::HuberLoss { input, target, options, reduction })
        },
        sample: s::huber_loss,
        error_inputs: e::huber_loss_errors,
    },
    LossSpec {
        id: "kl_div",
        summary: "KLDivLoss: t·(log t − x), or exp(t)·(t − x) with log_target; batchmean as sum / batch",
        inputs: &[INPUT, TARGET],
        options: OptionsOf::of::<KlDivCaseOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let case: KlDivCaseOptions = a.options()?;
            let reduction = match reduction {
                Reduction::Mean if case.batchmean => KlDivReduction::BatchMean,
                other => other.into(),
            };
            let options = KlDivOptions { log_target: case.log_target };
            Ok(LossCall::KlDiv { input: a.tensor("input")?, target: a.tensor("target")?, options, reduction })
        },
        sample: s::kl_div,
        error_inputs: e::pointwise_errors,
    },
    LossSpec {
        id: "soft_margin_loss",
        summary: "SoftMarginLoss: log(1 + exp(−t·x))",
        inputs: &[INPUT, FIXED_TARGET],
        options: OptionsOf::of::<NoOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            Ok(LossCall::SoftMarginLoss { input: a.tensor("input")?, target: a.tensor("target")?, reduction })
        },
        sample: s::soft_margin_loss,
        error_inputs: e::sign_target_errors,
    },
    LossSpec {
        id: "multilabel_margin_loss",
        summary: "MultiLabelMarginLoss: hinge between each listed target class and every other class",
        inputs: &[INPUT, index_input("target")],
        options: OptionsOf::of::<NoOptions>(),
        reduces: true,
        half_kernel: false,
        double_backward: false,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            Ok(LossCall::MultilabelMarginLoss { input: a.tensor("input")?, target: a.tensor("target")?, reduction })
        },
        sample: s::multilabel_margin_loss,
        error_inputs: e::multilabel_margin_loss_errors,
    },
    LossSpec {
        id: "multi_margin_loss",
        summary: "MultiMarginLoss: Σ w[y]·max(0, margin − x[y] + x[i])^p / C (libtorch through the shim)",
        inputs: &[INPUT, CLASS_TARGET, WEIGHT],
        options: OptionsOf::of::<MultiMarginOptions>(),
        reduces: true,
        half_kernel: false,
        double_backward: false,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, weight, options) =
                (a.tensor("input")?, a.tensor("target")?, a.optional("weight"), a.options()?);
            Ok(LossCall::MultiMarginLoss { input, target, weight, options, reduction })
        },
        sample: s::multi_margin_loss,
        error_inputs: e::multi_margin_loss_errors,
    },
    LossSpec {
        id: "margin_ranking_loss",
        summary: "MarginRankingLoss: max(0, −t·(x1 − x2) + margin)",
        inputs: &PAIR_INPUTS,
        options: OptionsOf::of::<MarginRankingOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input1, input2, target) = (a.tensor("input1")?, a.tensor("input2")?, a.tensor("target")?);
            Ok(LossCall::MarginRankingLoss { input1, input2, target, options: a.options()?, reduction })
        },
        sample: s::margin_ranking_loss,
        error_inputs: e::margin_ranking_loss_errors,
    },
    LossSpec {
        id: "hinge_embedding_loss",
        summary: "HingeEmbeddingLoss: x for t = 1, max(0, margin − x) for t = −1",
        inputs: &[INPUT, FIXED_TARGET],
        options: OptionsOf::of::<HingeEmbeddingOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, options) = (a.tensor("input")?, a.tensor("target")?, a.options()?);
            Ok(LossCall::HingeEmbeddingLoss { input, target, options, reduction })
        },
        sample: s::hinge_embedding_loss,
        error_inputs: e::sign_target_errors,
    },
    LossSpec {
        id: "cosine_embedding_loss",
        summary: "CosineEmbeddingLoss: 1 − cos for t = 1, max(0, cos − margin) for t = −1",
        inputs: &PAIR_INPUTS,
        options: OptionsOf::of::<CosineEmbeddingOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input1, input2, target) = (a.tensor("input1")?, a.tensor("input2")?, a.tensor("target")?);
            Ok(LossCall::CosineEmbeddingLoss { input1, input2, target, options: a.options()?, reduction })
        },
        sample: s::cosine_embedding_loss,
        error_inputs: e::cosine_embedding_loss_errors,
    },
    LossSpec {
        id: "triplet_margin_loss",
        summary: "TripletMarginLoss: max(0, margin + d(a, p) − d(a, n)) with the p-norm distance",
        inputs: &TRIPLET_INPUTS,
        options: OptionsOf::of::<TripletMarginOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (anchor, positive, negative) = (a.tensor("anchor")?, a.tensor("positive")?, a.tensor("negative")?);
            Ok(LossCall::TripletMarginLoss { anchor, positive, negative, options: a.options()?, reduction })
        },
        sample: s::triplet_margin_loss,
        error_inputs: e::triplet_margin_loss_errors,
    },
    LossSpec {
        id: "poisson_nll_loss",
        summary: "PoissonNLLLoss: exp(x) − t·x, or x − t·log(x + eps); full adds Stirling's term",
        inputs: &[INPUT, FIXED_TARGET],
        options: OptionsOf::of::<PoissonNllOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            let (input, target, options) = (a.tensor("input")?, a.tensor("target")?, a.options()?);
            Ok(LossCall::PoissonNllLoss { input, target, options, reduction })
        },
        sample: s::poisson_nll_loss,
        error_inputs: e::pointwise_errors,
    },
    LossSpec {
        id: "ctc_loss",
        summary: "CTCLoss over log-probabilities [T, N, C]: padded or concatenated targets, per-sample lengths",
        inputs: &[
            float_input("log_probs", true, true),
            index_input("targets"),
            index_input("input_lengths"),
            index_input("target_lengths"),
        ],
        options: OptionsOf::of::<CtcOptions>(),
        reduces: true,
        half_kernel: false,
        double_backward: false,
        reference: Reference::Libtorch,
        bind: |a, reduction| {
            Ok(LossCall::CtcLoss {
                log_probs: a.tensor("log_probs")?,
                targets: a.tensor("targets")?,
                input_lengths: a.tensor("input_lengths")?,
                target_lengths: a.tensor("target_lengths")?,
                options: a.options()?,
                reduction,
            })
        },
        sample: s::ctc_loss,
        error_inputs: e::ctc_loss_errors,
    },
    LossSpec {
        id: "gaussian_nll_loss",
        summary: "GaussianNLLLoss (Python-only): ½·(log v + (x − t)²/v), per-element or per-sample variance",
        inputs: &[INPUT, FIXED_TARGET, float_input("var", true, true)],
        options: OptionsOf::of::<GaussianNllOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Python("torch.nn.functional.gaussian_nll_loss"),
        bind: |a, reduction| {
            let (input, target, var) = (a.tensor("input")?, a.tensor("target")?, a.tensor("var")?);
            Ok(LossCall::GaussianNllLoss { input, target, var, options: a.options()?, reduction })
        },
        sample: s::gaussian_nll_loss,
        error_inputs: e::gaussian_nll_loss_errors,
    },
    LossSpec {
        id: "multilabel_soft_margin_loss",
        summary: "MultiLabelSoftMarginLoss (Python-only): per-class logistic loss averaged over classes",
        inputs: &[INPUT, FIXED_TARGET, WEIGHT],
        options: OptionsOf::of::<NoOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Python("torch.nn.functional.multilabel_soft_margin_loss"),
        bind: |a, reduction| {
            let (input, target, weight) = (a.tensor("input")?, a.tensor("target")?, a.optional("weight"));
            Ok(LossCall::MultilabelSoftMarginLoss { input, target, weight, reduction })
        },
        sample: s::multilabel_soft_margin_loss,
        error_inputs: e::pointwise_errors,
    },
    LossSpec {
        id: "triplet_margin_with_distance_loss",
        summary: "TripletMarginWithDistanceLoss (Python-only): pairwise or cosine distance",
        inputs: &TRIPLET_INPUTS,
        options: OptionsOf::of::<TripletWithDistanceOptions>(),
        reduces: true,
        half_kernel: true,
        double_backward: true,
        reference: Reference::Python("torch.nn.functional.triplet_margin_with_distance_loss"),
        bind: |a, reduction| {
            let (anchor, positive, negative) = (a.tensor("anchor")?, a.tensor("positive")?, a.tensor("negative")?);
            Ok(LossCall::TripletMarginWithDistanceLoss { anchor, positive, negative, options: a.options()?, reduction })
        },
        sample: s::triplet_margin_with_distance_loss,
        error_inputs: e::triplet_margin_with_distance_loss_errors,
    },
];

pub fn find(id: &str) -> Option<&'static LossSpec> {
    LOSSES.iter().find(|spec| spec.id == id)
}
