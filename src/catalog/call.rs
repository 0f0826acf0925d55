//! A loss call with every argument typed ([`LossCall`]): what every implementation computes, built
//! once per call by the op's spec from named tensors and options ([`Args`]).

use crate::error::{invalid, Result};
use crate::loss::{
    CosineEmbeddingOptions, CrossEntropyOptions, CtcOptions, FocalOptions, GaussianNllOptions, HingeEmbeddingOptions,
    HuberOptions, KlDivOptions, KlDivReduction, MarginRankingOptions, MultiMarginOptions, NllOptions,
    PoissonNllOptions, Reduction, SmoothL1Options, SmoothedTargetOptions, TripletMarginOptions,
    TripletWithDistanceOptions,
};
use crate::options::{OptionValue, Options};
use tch::Tensor;

/// One loss call with every argument typed: what an implementation computes.
#[derive(Debug)]
pub enum LossCall<'a> {
    Sigmoid {
        input: &'a Tensor,
    },
    Softmax {
        input: &'a Tensor,
        dim: i64,
    },
    LogSoftmax {
        input: &'a Tensor,
        dim: i64,
    },
    BinaryCrossEntropy {
        input: &'a Tensor,
        target: &'a Tensor,
        weight: Option<&'a Tensor>,
        reduction: Reduction,
    },
    BinaryCrossEntropyWithLogits {
        input: &'a Tensor,
        target: &'a Tensor,
        weight: Option<&'a Tensor>,
        pos_weight: Option<&'a Tensor>,
        reduction: Reduction,
    },
    NllLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        weight: Option<&'a Tensor>,
        options: NllOptions,
        reduction: Reduction,
    },
    CrossEntropy {
        input: &'a Tensor,
        target: &'a Tensor,
        weight: Option<&'a Tensor>,
        options: CrossEntropyOptions,
        reduction: Reduction,
    },
    SmoothedTargetCrossEntropy {
        input: &'a Tensor,
        target: &'a Tensor,
        options: SmoothedTargetOptions,
        reduction: Reduction,
    },
    SigmoidFocalLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        options: FocalOptions,
        reduction: Reduction,
    },
    L1Loss {
        input: &'a Tensor,
        target: &'a Tensor,
        reduction: Reduction,
    },
    MseLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        reduction: Reduction,
    },
    SmoothL1Loss {
        input: &'a Tensor,
        target: &'a Tensor,
        options: SmoothL1Options,
        reduction: Reduction,
    },
    HuberLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        options: HuberOptions,
        reduction: Reduction,
    },
    KlDiv {
        input: &'a Tensor,
        target: &'a Tensor,
        options: KlDivOptions,
        reduction: KlDivReduction,
    },
    SoftMarginLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        reduction: Reduction,
    },
    MultilabelMarginLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        reduction: Reduction,
    },
    MultiMarginLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        weight: Option<&'a Tensor>,
        options: MultiMarginOptions,
        reduction: Reduction,
    },
    MarginRankingLoss {
        input1: &'a Tensor,
        input2: &'a Tensor,
        target: &'a Tensor,
        options: MarginRankingOptions,
        reduction: Reduction,
    },
    HingeEmbeddingLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        options: HingeEmbeddingOptions,
        reduction: Reduction,
    },
    CosineEmbeddingLoss {
        input1: &'a Tensor,
        input2: &'a Tensor,
        target: &'a Tensor,
        options: CosineEmbeddingOptions,
        reduction: Reduction,
    },
    TripletMarginLoss {
        anchor: &'a Tensor,
        positive: &'a Tensor,
        negative: &'a Tensor,
        options: TripletMarginOptions,
        reduction: Reduction,
    },
    PoissonNllLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        options: PoissonNllOptions,
        reduction: Reduction,
    },
    CtcLoss {
        log_probs: &'a Tensor,
        targets: &'a Tensor,
        /// int64, one per sequence.
        input_lengths: &'a Tensor,
        target_lengths: &'a Tensor,
        options: CtcOptions,
        reduction: Reduction,
    },
    GaussianNllLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        var: &'a Tensor,
        options: GaussianNllOptions,
        reduction: Reduction,
    },
    MultilabelSoftMarginLoss {
        input: &'a Tensor,
        target: &'a Tensor,
        weight: Option<&'a Tensor>,
        reduction: Reduction,
    },
    TripletMarginWithDistanceLoss {
        anchor: &'a Tensor,
        positive: &'a Tensor,
        negative: &'a Tensor,
        options: TripletWithDistanceOptions,
        reduction: Reduction,
    },
}

/// The tensors and options of one call, by name, as a fixture or a sample gives them (options
/// left out take the typed struct's defaults).
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

    /// The options as `T`: its defaults with the given ones set; an unknown name or a value of the
    /// wrong type is an error.
    pub fn options<T: Options>(&self) -> Result<T> {
        T::from_named(&self.options).map_err(crate::Error::InvalidArgument)
    }
}
