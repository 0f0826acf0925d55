//! Hand-written losses, built from tensor primitives only (see README, "What hand-written means").
//!
//! Where autograd through the primitives would give a gradient that differs from libtorch's
//! documented backward formula (at kinks, at clamps, or through cancellation), the formula is
//! attached explicitly through a node whose backward is Rust ([`with_backward_formula`]).

pub mod binary;
pub mod cross_entropy;
pub mod ctc;
pub mod embedding;
pub mod focal;
mod lanes;
pub mod margin;
pub mod probabilistic;
pub mod regression;
mod scalar_loop;
pub mod softmax;

pub use binary::{binary_cross_entropy, binary_cross_entropy_with_logits, sigmoid};
pub use cross_entropy::{
    cross_entropy, nll_loss, smoothed_target_cross_entropy, CrossEntropyOptions, NllOptions, SmoothedTargetOptions,
    IGNORE_INDEX,
};
pub use ctc::{ctc_loss, CtcOptions};
pub use embedding::{
    cosine_embedding_loss, pairwise_distance, triplet_margin_loss, triplet_margin_with_distance_loss,
    CosineEmbeddingOptions, TripletMarginOptions, TripletWithDistanceOptions,
};
pub use focal::{sigmoid_focal_loss, FocalOptions};
pub use margin::{
    hinge_embedding_loss, margin_ranking_loss, multi_margin_loss, multilabel_margin_loss, multilabel_soft_margin_loss,
    soft_margin_loss, HingeEmbeddingOptions, MarginRankingOptions, MultiMarginOptions,
};
#[allow(deprecated)]
pub use probabilistic::kl_div_batchmean;
pub use probabilistic::{
    gaussian_nll_loss, kl_div, poisson_nll_loss, GaussianNllOptions, KlDivOptions, KlDivReduction, PoissonNllOptions,
};
pub use regression::{huber_loss, l1_loss, mse_loss, smooth_l1_loss, HuberOptions, SmoothL1Options};
pub use softmax::{log_softmax, softmax};

use crate::error::{invalid, Result};
use std::fmt;
use std::str::FromStr;
use tch::{Kind, Tensor};

/// How a loss reduces its per-element values. PyTorch's default for every loss is `Mean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Reduction {
    None,
    #[default]
    Mean,
    Sum,
}

impl Reduction {
    pub const ALL: [Reduction; 3] = [Reduction::None, Reduction::Mean, Reduction::Sum];

    pub fn name(self) -> &'static str {
        match self {
            Reduction::None => "none",
            Reduction::Mean => "mean",
            Reduction::Sum => "sum",
        }
    }

    /// Applies the reduction the way libtorch's `apply_loss_reduction` does. The elementwise
    /// loss keeps its inputs' memory layout (a transposed input gives a transposed loss), and a
    /// sum runs in memory order: it is summed from a row-major copy, so that the result does
    /// not depend on how the inputs were laid out (a no-op for the usual contiguous loss).
    pub fn apply(self, loss: Tensor) -> Result<Tensor> {
        Ok(match self {
            Reduction::None => loss,
            Reduction::Mean => loss.f_contiguous()?.f_mean(None)?,
            Reduction::Sum => loss.f_contiguous()?.f_sum(None)?,
        })
    }
}

impl From<Reduction> for tch::Reduction {
    fn from(reduction: Reduction) -> Self {
        match reduction {
            Reduction::None => tch::Reduction::None,
            Reduction::Mean => tch::Reduction::Mean,
            Reduction::Sum => tch::Reduction::Sum,
        }
    }
}

impl serde::Serialize for Reduction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for Reduction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Reduction {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        Reduction::ALL
            .into_iter()
            .find(|r| r.name() == text)
            .ok_or_else(|| format!("unknown reduction '{text}' (expected none, mean or sum)"))
    }
}

/// `loss` (computed without autograd) with its backward written out: the gradient with respect
/// to `inputs[i]` is `backward(upstream, i, inputs)`, summed to that input's shape over broadcast
/// dimensions and cast to its dtype, as libtorch's engine does for its own backward kernels. One
/// autograd node ([`crate::ffi::with_backward`]) carries it.
///
/// `backward` runs in the backward pass, only for the inputs that need a gradient, and receives
/// the inputs attached: a gradient computed from them is differentiable when the backward pass
/// creates a graph (double backward). [`crate::ffi::grad_enabled`] tells it whether it must be;
/// when not, it may use values saved from the forward pass instead. `name` is the node's name in
/// libtorch's messages ("SmoothL1LossBackward").
pub(crate) fn with_backward_formula<F>(name: &str, loss: &Tensor, inputs: &[&Tensor], backward: F) -> Result<Tensor>
where
    F: Fn(&Tensor, usize, &[Tensor]) -> Result<Tensor> + Send + 'static,
{
    let attached: Vec<Tensor> = inputs.iter().map(|t| t.shallow_clone()).collect();
    crate::ffi::with_backward(name, loss, inputs, move |upstream| {
        let gradient = |i: usize| -> Result<Option<Tensor>> {
            match attached[i].requires_grad() {
                true => Ok(Some(backward(upstream, i, &attached)?)),
                false => Ok(None),
            }
        };
        (0..attached.len()).map(gradient).collect()
    })
}

/// `t` laid out row-major: itself when it already is, else a copy (differentiable). The
/// losses start from these, so that a transposed, strided or expanded input gives the values of
/// the contiguous one bit for bit: elementwise kernels split vectorized and scalar work by
/// memory position, and reductions sum in memory order.
pub(crate) fn row_major(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_contiguous()?)
}

/// `output` (computed with autograd through the primitives) behind a node that keeps its first
/// derivative and refuses a second one, as libtorch does for `op`, whose backward has no
/// derivative of its own (2.13: CTC, multi-margin, multilabel margin): under `create_graph` the
/// backward pass fails with libtorch's message, rather than give a silent zero or a second
/// derivative libtorch cannot confirm. Without `create_graph` the node hands the upstream
/// gradient on unchanged to `output`'s own graph, which the engine then runs as usual: no
/// nested backward pass and no extra tensor work.
pub(crate) fn first_order_only(op: &str, output: Tensor) -> Result<Tensor> {
    let op = op.to_owned();
    crate::ffi::with_backward(&format!("{op}Backward"), &output.f_detach()?, &[&output], move |g| {
        if crate::ffi::grad_enabled() {
            return invalid!(
                "the derivative for aten::{op}_backward is not implemented (libtorch has no double backward for {op})"
            );
        }
        Ok(vec![Some(g.shallow_clone())])
    })
}

/// The tail of libtorch's loss backward kernels: the elementwise gradient times the weight, then
/// divided by the element count for `Mean`, both in place, in that order.
pub(crate) fn weight_and_reduce(
    grad: Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
    numel: i64,
) -> Result<Tensor> {
    let mut grad = grad;
    if let Some(w) = weight {
        grad = grad.f_mul(w)?;
    }
    if reduction == Reduction::Mean {
        let _ = grad.f_div_scalar_(numel)?;
    }
    Ok(grad)
}

/// `loss · weight` (the weight broadcast and taken at the loss's dtype), as libtorch applies a
/// loss weight after the elementwise loss and before the reduction.
pub(crate) fn weighted(loss: Tensor, weight: Option<&Tensor>) -> Result<Tensor> {
    Ok(match weight {
        Some(w) => loss.f_mul(&w.f_to_kind(loss.kind())?)?,
        None => loss,
    })
}

pub(crate) fn check_floating(name: &str, t: &Tensor) -> Result<()> {
    match t.kind() {
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16 => Ok(()),
        kind => invalid!("{name} must be a floating tensor, got {kind:?}"),
    }
}

/// `f(x)` computed in float32 when `x` is float16 or bfloat16, its result rounded back once: what
/// libtorch's CPU kernels for those dtypes do (each element in float, their "opmath" type, stored
/// in the low dtype). Autograd's backward through the two conversions runs in float32 as well and
/// rounds the gradient once, as the kernels' backward does. Other dtypes call `f(x)` directly.
pub(crate) fn in_opmath(x: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    in_opmath_all(&[x], |wide| f(&wide[0]))
}

/// [`in_opmath`] for a function of several tensors (all of `x`'s dtype): each float16 or
/// bfloat16 one is widened, and the result rounded back to `x`'s dtype once.
pub(crate) fn in_opmath_all(tensors: &[&Tensor], f: impl FnOnce(&[Tensor]) -> Result<Tensor>) -> Result<Tensor> {
    let kind = tensors.first().map(|t| t.kind());
    let widen = |t: &Tensor| -> Result<Tensor> {
        Ok(match t.kind() {
            Kind::Half | Kind::BFloat16 => t.f_to_kind(Kind::Float)?,
            _ => t.shallow_clone(),
        })
    };
    let wide = tensors.iter().map(|t| widen(t)).collect::<Result<Vec<_>>>()?;
    match kind {
        Some(kind @ (Kind::Half | Kind::BFloat16)) => Ok(f(&wide)?.f_to_kind(kind)?),
        _ => f(&wide),
    }
}

/// Refuses float16 and bfloat16 for a loss libtorch has no CPU kernel for in them (2.13:
/// multi_margin, multilabel_margin, CTC), as libtorch does, rather than compute what it cannot
/// be checked against.
pub(crate) fn refuse_half(op: &str, name: &str, t: &Tensor) -> Result<()> {
    match t.kind() {
        kind @ (Kind::Half | Kind::BFloat16) => invalid!(
            "{op}: {name} is {}, and libtorch has no CPU kernel for {op} in float16 or bfloat16; convert it to \
             float32 first",
            if kind == Kind::Half { "float16" } else { "bfloat16" }
        ),
        _ => Ok(()),
    }
}

/// A class weight must have the input's dtype: libtorch's NLL and multi-margin kernels refuse
/// any other with this message (cross entropy and the elementwise losses cast it instead).
pub(crate) fn check_weight_dtype(weight: Option<&Tensor>, input: &Tensor) -> Result<()> {
    match weight {
        Some(w) if w.kind() != input.kind() => {
            invalid!("expected scalar type {:?} but found {:?}", input.kind(), w.kind())
        }
        _ => Ok(()),
    }
}

pub(crate) fn check_same_kind(name: &str, t: &Tensor, reference: &Tensor) -> Result<()> {
    if t.kind() != reference.kind() {
        return invalid!("{name} has dtype {:?} but the input has {:?}", t.kind(), reference.kind());
    }
    Ok(())
}

pub(crate) fn check_same_shape(name: &str, t: &Tensor, reference: &Tensor) -> Result<()> {
    if t.size() != reference.size() {
        return invalid!("{name} shape {:?} differs from the input shape {:?}", t.size(), reference.size());
    }
    Ok(())
}

/// `t` broadcasts to `shape` without changing it (weights multiply the per-element loss).
pub(crate) fn check_broadcasts_to(name: &str, t: &Tensor, shape: &[i64]) -> Result<()> {
    let small = t.size();
    let fits =
        small.len() <= shape.len() && small.iter().rev().zip(shape.iter().rev()).all(|(&s, &b)| s == b || s == 1);
    if !fits {
        return invalid!("{name} of shape {small:?} does not broadcast to the input shape {shape:?}");
    }
    Ok(())
}

/// Every element lies in [0, 1] (NaN does not).
pub(crate) fn check_unit_interval(name: &str, t: &Tensor) -> Result<()> {
    if t.numel() == 0 {
        return Ok(());
    }
    let (lo, hi) = t.f_aminmax(None, false)?;
    let (lo, hi) = (lo.f_double_value(&[])?, hi.f_double_value(&[])?);
    if !(lo >= 0.0 && hi <= 1.0) {
        return invalid!("all elements of {name} should be between 0 and 1 (found values in [{lo}, {hi}])");
    }
    Ok(())
}

#[cfg(test)]
#[path = "catalogue_tests.rs"]
mod catalogue_tests;
