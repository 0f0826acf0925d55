//! libtorch's own losses, with the same signatures as the hand-written ones in `crate::loss`.

use crate::error::Result;
use crate::loss::Reduction;
use tch::Tensor;

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_sigmoid()?)
}

pub fn binary_cross_entropy(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_binary_cross_entropy(target, weight, reduction.into())?)
}

pub fn binary_cross_entropy_with_logits(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    pos_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    Ok(input.f_binary_cross_entropy_with_logits(target, weight, pos_weight, reduction.into())?)
}
