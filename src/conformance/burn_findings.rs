//! Where burn 0.22.1 (the Flex CPU backend with autodiff, `adapters/burn`) differs from
//! PyTorch 2.13, pinned: `conform burn` passes while exactly these show, and fails on a new
//! disagreement or on one of these going away (the README's findings explain each).

use super::Finding;
use crate::dtype::DType;

const HALF: &[DType] = &DType::HALF;
const FLOAT32: &[DType] = &[DType::Float32];
const FLOAT64: &[DType] = &[DType::Float64];
const FULL: &[DType] = &[DType::Float32, DType::Float64];
/// An optimizer's compared buffers (its value rows, not its construction).
const TRAJECTORY: &[&str] = &["param.", "exp_avg.", "exp_avg_sq.", "max_exp_avg_sq.", "square_avg."];

const HALF_OP_BY_OP: &str = "float16 and bfloat16: burn computes in the half dtype operation by operation, where \
     PyTorch's CPU kernels compute in float32 and round once, so some elements differ by more than the dtype's \
     tolerance";

const UNVALIDATED: &str = "burn-optim validates no hyperparameter: it accepts values torch.optim rejects with a \
     ValueError";

const CONSTANTS_IN_F32: &str = "float64: burn-optim holds its hyperparameters as f32 (its config fields), so a \
     float64 run steps with β₂ = 0.999000012…: 1 − β₂, and Adam's bias correction with it, is off by 1.3e-5 \
     relative (f32's rounding error times 1/(1 − β₂)); the parameters differ from PyTorch's by up to 1.4e-4 \
     relative in lockstep";

const FLOAT32_DRIFT: &str = "float32: burn-optim forms 1 − β and Adam's bias corrections from its f32 \
     hyperparameters in f32, where PyTorch forms them in double: the parameters differ by up to 218 ulp \
     (1.3e-5 relative) in lockstep, and further on a free run";

const HALF_OPTIMIZER: &str = "float16 and bfloat16: burn's optimizer rounds in another order than any PyTorch path, \
     and leaves the tolerance PyTorch gives paths that round differently within the first 7 steps";

const EPS_UNDERFLOWS: &str = "float16: ε (1e-8, 1e-10) rounds to 0, so where a gradient element is exactly 0 the \
     update is 0/0 = NaN, as in torch.optim's for-loop and C++ paths; PyTorch's fused kernel, which the float16 \
     run is compared with, adds ε in float32 and stays finite";

pub static FINDINGS: &[Finding] = &[
    // Losses.
    Finding::new(
        "cross_entropy",
        &["zero-weights", "weight-smoothing-ignore"],
        "burn asserts that class weights are positive (\"Weights of cross-entropy have to be positive\"); PyTorch \
         takes a zero weight (that class then counts for nothing)",
    ),
    Finding::new(
        "binary_cross_entropy",
        &["weight-broadcast"],
        "burn asserts that weights are positive; PyTorch takes a zero weight",
    ),
    Finding::new("cross_entropy", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new(
        "ctc_loss",
        &["padded-targets", "other-blank", "impossible-alignment-zero-infinity", "empty-target"],
        "convention: PyTorch's ctc_loss returns exp(log_probs) − γ as the gradient of log_probs (its formula \
         assumes they came from log_softmax, and is the logits' gradient through it); burn's autodiff returns the \
         derivative with respect to log_probs themselves, −γ. The worst element differs by exactly exp(log_prob) \
         (0.8065 under sum); the losses agree",
    )
    .dtypes(FULL)
    .outputs(&["grad.log_probs"]),
    Finding::new(
        "ctc_loss",
        &["empty-target"],
        "an empty target (length 0) under mean: burn divides its loss by the target length, 0, and gives inf; \
         PyTorch divides by the length clamped to at least 1 and gives 6.19",
    )
    .outputs(&["output"])
    .variants(&["mean"]),
    Finding::new(
        "binary_cross_entropy",
        &["input-above-one", "input-negative", "input-nan"],
        "burn accepts probabilities outside [0, 1] and NaN, which PyTorch rejects (\"all elements of input should be \
         between 0 and 1\")",
    )
    .outputs(&["rejects"]),
    Finding::new(
        "binary_cross_entropy",
        &["near-certain"],
        "float16 and bfloat16: burn's gradient is NaN at probabilities that round to 0 or 1 (log of 0 clamped, \
         its derivative not), where PyTorch's is finite",
    )
    .dtypes(HALF),
    Finding::new("cosine_embedding_loss", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new(
        "triplet_margin_loss",
        &["moderate", "p3-margin", "negative-margin-accepted"],
        "burn's triplet margin loss has no eps: PyTorch's pairwise_distance adds eps = 1e-6 to every difference, \
         so the distances differ by about 1e-6, beyond float64's tolerance",
    )
    .dtypes(FLOAT64),
    Finding::new("triplet_margin_loss", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new(
        "hinge_embedding_loss",
        &["targets-other-than-plus-minus-one"],
        "for a target other than 1 and −1 (here 0), PyTorch adds both terms, x and max(0, margin − x); burn's \
         value differs (0.15 against 0.65 under mean)",
    ),
    Finding::new(
        "gaussian_nll_loss",
        &["negative-variance"],
        "burn accepts a negative variance, which PyTorch rejects (\"var has negative entry/entries\")",
    )
    .outputs(&["rejects"]),
    Finding::new(
        "gaussian_nll_loss",
        &["full-and-clamped-variance"],
        "PyTorch clamps the variance at eps without differentiating the clamp (in place, under no_grad), so a \
         variance below eps still has a gradient (−2.25e10 here); burn's clamp gives it 0",
    )
    .outputs(&["grad.var"]),
    Finding::new("gaussian_nll_loss", &["per-element-variance"], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new("kl_div", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new("poisson_nll_loss", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new(
        "huber_loss",
        &["zero-delta"],
        "burn accepts delta = 0 (it asserts delta ≥ 0), which PyTorch rejects (\"huber_loss does not support \
         non-positive values for delta\")",
    )
    .outputs(&["rejects"]),
    Finding::new(
        "huber_loss",
        &["extreme"],
        "float16: burn's gradient is NaN where the error is large (a branch it does not select overflows to inf), \
         where PyTorch's is finite",
    )
    .dtypes(&[DType::Float16]),
    Finding::new(
        "smooth_l1_loss",
        &["extreme", "tiny-beta"],
        "float16: burn's gradient is NaN where the error is large or beta tiny (0.5·z²/β overflows to inf in a \
         branch it does not select), where PyTorch's is finite",
    )
    .dtypes(&[DType::Float16]),
    Finding::new(
        "smooth_l1_loss",
        &["beta-zero-is-l1"],
        "burn asserts beta > 0 (\"The parameter beta must be positive\"); PyTorch takes beta = 0 as L1 loss",
    ),
    Finding::new("smooth_l1_loss", &["large-beta"], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new("softmax", &[], HALF_OP_BY_OP).dtypes(HALF),
    Finding::new("log_softmax", &[], HALF_OP_BY_OP).dtypes(HALF),
    // Optimizers.
    Finding::new(
        "sgd",
        &[
            "negative-lr",
            "negative-momentum",
            "negative-weight-decay",
            "nesterov-with-dampening",
            "nesterov-without-momentum",
        ],
        UNVALIDATED,
    )
    .outputs(&["rejects"]),
    Finding::new(
        "adam",
        &["beta1-one", "beta2-negative", "negative-eps", "negative-lr", "negative-weight-decay"],
        UNVALIDATED,
    )
    .outputs(&["rejects"]),
    Finding::new("adamw", &["beta1-one", "beta2-negative", "negative-weight-decay"], UNVALIDATED).outputs(&["rejects"]),
    Finding::new(
        "rmsprop",
        &["negative-alpha", "negative-eps", "negative-lr", "negative-momentum", "negative-weight-decay"],
        UNVALIDATED,
    )
    .outputs(&["rejects"]),
    Finding::new(
        "adagrad",
        &["negative-eps", "negative-lr", "negative-lr-decay", "negative-weight-decay"],
        UNVALIDATED,
    )
    .outputs(&["rejects"]),
    Finding::new("muon", &["negative-lr", "negative-momentum", "negative-weight-decay"], UNVALIDATED)
        .outputs(&["rejects"]),
    Finding::new("adafactor", &["d-below-one", "negative-eps1", "negative-lr"], UNVALIDATED).outputs(&["rejects"]),
    Finding::new(
        "adafactor",
        &["empty-parameter"],
        "burn's Adafactor takes a parameter with no elements, where torch.optim.Adafactor raises \
         ZeroDivisionError (the RMS of nothing)",
    )
    .outputs(&["rejects"]),
    Finding::new(
        "adafactor",
        &["defaults", "eps1", "eps1-weight-decay"],
        "burn's Adafactor adds ε₁ to g² where PyTorch floors the second moment at ε₁² (the adapter passes \
         ε₁²), and holds ε₁, ε₂, d and the weight decay as f32: the parameters leave tolerance late in the \
         50 steps (float32 from step 32, float64 from step 16)",
    )
    .dtypes(FULL)
    .outputs(TRAJECTORY),
    Finding::new(
        "adafactor",
        &["weight-decay", "eps1-weight-decay", "two-groups"],
        "bfloat16: burn's Adafactor computes in float32 and rounds the parameter once per step, where \
         torch.optim's rounds operation by operation in bfloat16; they part beyond the tolerance for other \
         rounding orders within 7 steps",
    )
    .dtypes(&[DType::BFloat16])
    .outputs(TRAJECTORY),
    Finding::new("sgd", &[], CONSTANTS_IN_F32).dtypes(FLOAT64).outputs(TRAJECTORY),
    Finding::new("adam", &[], CONSTANTS_IN_F32).dtypes(FLOAT64).outputs(TRAJECTORY),
    Finding::new("adamw", &[], CONSTANTS_IN_F32).dtypes(FLOAT64).outputs(TRAJECTORY),
    Finding::new("rmsprop", &[], CONSTANTS_IN_F32).dtypes(FLOAT64).outputs(TRAJECTORY),
    Finding::new("adam", &[], FLOAT32_DRIFT).dtypes(FLOAT32).outputs(TRAJECTORY),
    Finding::new("adamw", &[], FLOAT32_DRIFT).dtypes(FLOAT32).outputs(TRAJECTORY),
    Finding::new("rmsprop", &[], FLOAT32_DRIFT).dtypes(FLOAT32).outputs(TRAJECTORY),
    Finding::new("adam", &["defaults"], EPS_UNDERFLOWS).dtypes(&[DType::Float16]).outputs(TRAJECTORY),
    Finding::new("adagrad", &["defaults"], EPS_UNDERFLOWS).dtypes(&[DType::Float16]).outputs(TRAJECTORY),
    Finding::new(
        "muon",
        &[],
        "burn's Muon runs Newton–Schulz in the parameter's dtype, where torch.optim.Muon runs it in bfloat16, and \
         its momentum is μ·B + g (with Nesterov, g + μ·B) where torch's is lerp(B, g, 1 − μ) (lerp(g, B, μ)): \
         the parameters differ from the first step",
    )
    .outputs(TRAJECTORY),
    Finding::new("adamw", &[], HALF_OPTIMIZER).dtypes(HALF).outputs(TRAJECTORY),
    Finding::new("rmsprop", &[], HALF_OPTIMIZER).dtypes(HALF).outputs(TRAJECTORY),
];
