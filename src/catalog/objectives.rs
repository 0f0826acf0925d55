//! What the optimizer cases minimise: the document's tensors under the document's losses, and
//! two classic problems. Every objective is computed with libtorch's built-in losses: the
//! optimizer is what is under test, and both sides differentiate the same function.

use crate::error::Result;
use crate::loss::{CrossEntropyOptions, SmoothL1Options};
use crate::reference::loss as libtorch;
use crate::Reduction;
use tch::Tensor;

pub struct ObjectiveInfo {
    pub id: &'static str,
    pub summary: &'static str,
    /// Inputs that are optimised (each needs `requires_grad` in the fixture).
    pub params: &'static [&'static str],
    /// Inputs that stay fixed.
    pub data: &'static [&'static str],
    /// The scalar loss of `params` given `data`, both in the order declared above.
    pub loss: fn(&[Tensor], &[Tensor]) -> Result<Tensor>,
}

pub static OBJECTIVES: &[ObjectiveInfo] = &[
    ObjectiveInfo {
        id: "l1",
        summary: "L1Loss(reduction='sum') of x toward y (seed §4)",
        params: &["x"],
        data: &["y"],
        loss: |p, d| libtorch::l1_loss(&p[0], &d[0], Reduction::Sum),
    },
    ObjectiveInfo {
        id: "mse",
        summary: "MSELoss(reduction='sum') of x toward y (seed §4)",
        params: &["x"],
        data: &["y"],
        loss: |p, d| libtorch::mse_loss(&p[0], &d[0], Reduction::Sum),
    },
    ObjectiveInfo {
        id: "smooth_l1",
        summary: "SmoothL1Loss(reduction='sum') of x toward y (seed §4)",
        params: &["x"],
        data: &["y"],
        loss: |p, d| libtorch::smooth_l1_loss(&p[0], &d[0], SmoothL1Options { beta: 1.0 }, Reduction::Sum),
    },
    ObjectiveInfo {
        id: "cross_entropy",
        summary: "CrossEntropyLoss of logits against class labels (seed §3.1)",
        params: &["logits"],
        data: &["labels"],
        loss: |p, d| libtorch::cross_entropy(&p[0], &d[0], None, CrossEntropyOptions::default(), Reduction::Mean),
    },
    ObjectiveInfo {
        id: "focal",
        summary: "torchvision's sigmoid_focal_loss (alpha 0.25, gamma 2, summed) of logits (seed §3.3)",
        params: &["logits"],
        data: &["targets"],
        loss: |p, d| focal_sum(&p[0], &d[0]),
    },
    ObjectiveInfo {
        id: "rosenbrock",
        summary: "(1 − x)² + 100·(y − x²)² of xy = [x, y]",
        params: &["xy"],
        data: &[],
        loss: |p, _| {
            let (x, y) = (p[0].f_select(0, 0)?, p[0].f_select(0, 1)?);
            let a = x.f_neg()?.f_add_scalar(1.0)?.f_square()?;
            let b = y.f_sub(&x.f_square()?)?.f_square()?.f_mul_scalar(100.0)?;
            Ok(a.f_add(&b)?)
        },
    },
    ObjectiveInfo {
        id: "least_squares",
        summary: "½·‖a·w + b − y‖² of weights w and bias b",
        params: &["w", "b"],
        data: &["a", "y"],
        loss: |p, d| {
            let residual = d[0].f_matmul(&p[0])?.f_add(&p[1])?.f_sub(&d[1])?;
            Ok(residual.f_square()?.f_sum(None)?.f_mul_scalar(0.5)?)
        },
    },
    ObjectiveInfo {
        id: "linear_net",
        summary: "½·‖(a·w1)·w2 − y‖² of two weight matrices (a linear network; Muon takes matrices only)",
        params: &["w1", "w2"],
        data: &["a", "y"],
        loss: |p, d| {
            let residual = d[0].f_matmul(&p[0])?.f_matmul(&p[1])?.f_sub(&d[1])?;
            Ok(residual.f_square()?.f_sum(None)?.f_mul_scalar(0.5)?)
        },
    },
    ObjectiveInfo {
        id: "embedding",
        summary: "½·‖table[ids] − y‖² through a sparse embedding lookup (its gradient is sparse: SparseAdam's)",
        params: &["table"],
        data: &["ids", "y"],
        loss: |p, d| {
            let rows = Tensor::f_embedding(&p[0], &d[0], -1, false, true)?;
            Ok(rows.f_sub(&d[1])?.f_square()?.f_sum(None)?.f_mul_scalar(0.5)?)
        },
    },
    ObjectiveInfo {
        id: "linear_net_with_empty",
        summary: "linear_net, plus the sum of a parameter e with no elements (its gradient is empty too)",
        params: &["w1", "w2", "e"],
        data: &["a", "y"],
        loss: |p, d| {
            let residual = d[0].f_matmul(&p[0])?.f_matmul(&p[1])?.f_sub(&d[1])?;
            Ok(residual.f_square()?.f_sum(None)?.f_mul_scalar(0.5)?.f_add(&p[2].f_sum(None)?)?)
        },
    },
];

/// torchvision's `sigmoid_focal_loss(x, t, alpha=0.25, gamma=2, reduction="sum")`, step for step
/// on libtorch's ops (torchvision writes it in Python).
fn focal_sum(x: &Tensor, t: &Tensor) -> Result<Tensor> {
    let (alpha, gamma) = (0.25, 2.0);
    let p = x.f_sigmoid()?;
    let ce = x.f_binary_cross_entropy_with_logits(t, None::<&Tensor>, None::<&Tensor>, tch::Reduction::None)?;
    let one_minus_p = p.f_neg()?.f_add_scalar(1.0)?;
    let one_minus_t = t.f_neg()?.f_add_scalar(1.0)?;
    let p_t = p.f_mul(t)?.f_add(&one_minus_p.f_mul(&one_minus_t)?)?;
    let loss = ce.f_mul(&p_t.f_neg()?.f_add_scalar(1.0)?.f_pow_tensor_scalar(gamma)?)?;
    let alpha_t = t.f_mul_scalar(alpha)?.f_add(&one_minus_t.f_mul_scalar(1.0 - alpha)?)?;
    Ok(alpha_t.f_mul(&loss)?.f_sum(None)?)
}

pub fn find(id: &str) -> Option<&'static ObjectiveInfo> {
    OBJECTIVES.iter().find(|o| o.id == id)
}

/// The loss of `objective` at `params`, and its gradient (one tensor per parameter): what a
/// closure gives LBFGS.
pub fn evaluate(objective: &ObjectiveInfo, params: &[Tensor], data: &[Tensor]) -> Result<(f64, Vec<Tensor>)> {
    let (loss, grads) = loss_and_gradients(objective, params, data)?;
    Ok((loss.f_double_value(&[])?, grads))
}

/// The loss tensor and the gradients. The leaves share the parameters' storage (the backward
/// pass reads them and writes nothing), so that the hundred thousand evaluations of a check
/// copy no parameter.
fn loss_and_gradients(objective: &ObjectiveInfo, params: &[Tensor], data: &[Tensor]) -> Result<(Tensor, Vec<Tensor>)> {
    tch::with_grad(|| {
        let leaves: Vec<Tensor> = params.iter().map(|p| p.detach().set_requires_grad(true)).collect();
        let loss = (objective.loss)(&leaves, data)?;
        let grads = Tensor::f_run_backward(&[&loss], &leaves, false, false)?;
        Ok((loss, grads))
    })
}

/// The gradient of `objective` at `params`, one tensor per parameter.
pub fn gradients(objective: &ObjectiveInfo, params: &[Tensor], data: &[Tensor]) -> Result<Vec<Tensor>> {
    Ok(loss_and_gradients(objective, params, data)?.1)
}
