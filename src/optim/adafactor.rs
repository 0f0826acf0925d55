//! Adafactor (Shazeer & Stern, *Adafactor: Adaptive Learning Rates with Sublinear Memory Cost*,
//! ICML 2018), as `torch.optim.Adafactor`: second moments factored into row and column
//! statistics for parameters of two or more dimensions, kept whole for vectors, no first moment.

use super::{add_scaled_, direction, scale_, Hyperparameters, Optimizer, Rule, SavedBuffers};
use crate::error::{invalid, Result};
use tch::{Kind, Tensor};

crate::options! {
    /// `torch.optim.Adafactor`'s hyperparameters, with its defaults (torch's `eps` is
    /// `(eps1, eps2)`).
    pub struct AdafactorOptions {
        /// Learning rate: caps the relative step size ρₜ = min(lr, 1/√t).
        pub lr: f64 = 1e-2,
        /// τ in the second moment's decay 1 − tᵗ (≤ 0).
        pub beta2_decay: f64 = -0.8,
        /// Floor of the second moment (squared) and of the row mean; None: the dtype's machine epsilon.
        pub eps1: Option<f64> = None,
        /// Floor of the parameter's RMS in the step size.
        pub eps2: f64 = 1e-3,
        /// Clipping threshold d of the update's RMS (≥ 1).
        pub d: f64 = 1.0,
        /// Decoupled: θ ·= 1 − lr·wd.
        pub weight_decay: f64 = 0.0,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for AdafactorOptions {
    super::lr_field!();
    // torch.optim.Adafactor words its messages its own way.
    fn validate(&self) -> Result<()> {
        if self.lr.is_nan() || self.lr < 0.0 {
            return invalid!("Learning rate should be >= 0 but is: {}", self.lr);
        }
        if self.beta2_decay.is_nan() || self.beta2_decay > 0.0 {
            return invalid!("beta2_decay should be <= 0 but is: {}", self.beta2_decay);
        }
        if let Some(eps1) = self.eps1 {
            if eps1.is_nan() || eps1 < 0.0 {
                return invalid!("epsilon1 should be >= 0 but is: {eps1}");
            }
        }
        if self.eps2.is_nan() || self.eps2 < 0.0 {
            return invalid!("epsilon2 should be >= 0 but is: {}", self.eps2);
        }
        if self.d.is_nan() || self.d < 1.0 {
            return invalid!("Clipping threshold d should be >= 1 but is: {}", self.d);
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return invalid!("weight_decay should be >= 0 but is: {}", self.weight_decay);
        }
        Ok(())
    }
}

/// Adafactor's update, per parameter at step t: `β̂ = 1 − t^τ`, `ρ = min(lr, 1/√t)`,
/// `α = max(eps2, RMS(θ))·ρ`, `θ ·= 1 − lr·wd`; for a matrix (the last two dimensions), the
/// row and column means of g² are averaged into `R` and `C` (`lerp` by `t^τ`) and
/// `V = R·C / max(mean(R), eps1)`, for a vector `V = lerp(V, g², t^τ)`; then
/// `U = g/√max(V, eps1²)` and `θ −= α·U / max(1, RMS(U)/d)`.
///
/// A parameter with no elements has no RMS: torch.optim divides 0 by 0 there and raises
/// `ZeroDivisionError`; this one refuses it with an error too.
pub struct AdafactorRule;

pub struct AdafactorState {
    pub step: i64,
    /// For parameters of ≥ 2 dimensions: the row statistics (last dimension reduced to 1).
    pub row_var: Option<Tensor>,
    /// For parameters of ≥ 2 dimensions: the column statistics (second-last reduced to 1).
    pub col_var: Option<Tensor>,
    /// For vectors: the whole second moment.
    pub variance: Option<Tensor>,
}

/// The 2-norm of `t` over `dims` (all of them when empty), as `torch.norm` computes it, over
/// a row-major copy: a norm sums in memory order, and a parameter stored transposed or strided
/// (and the update, which takes its layout) must give the contiguous parameter's step bit for
/// bit (torch.optim's would differ in the last bit).
fn norm(t: &Tensor, dims: &[i64], keepdim: bool) -> Result<Tensor> {
    crate::ffi::vector_norm(&t.f_contiguous()?, 2.0, (!dims.is_empty()).then_some(dims), keepdim)
}

/// `√numel`, as Python's `numel ** 0.5`.
fn sqrt_numel(t: &Tensor) -> f64 {
    (t.numel() as f64).powf(0.5)
}

impl Rule for AdafactorRule {
    type Options = AdafactorOptions;
    type State = AdafactorState;

    fn init(param: &Tensor, _: &AdafactorOptions) -> Result<AdafactorState> {
        let shape = param.size();
        let mut state = AdafactorState { step: 0, row_var: None, col_var: None, variance: None };
        if shape.len() > 1 {
            let (mut rows, mut cols) = (shape.clone(), shape.clone());
            rows[shape.len() - 1] = 1;
            cols[shape.len() - 2] = 1;
            state.row_var = Some(Tensor::f_zeros(rows, (param.kind(), param.device()))?);
            state.col_var = Some(Tensor::f_zeros(cols, (param.kind(), param.device()))?);
        } else {
            state.variance = Some(param.f_zeros_like()?);
        }
        Ok(state)
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut AdafactorState, o: &AdafactorOptions) -> Result<()> {
        if param.numel() == 0 {
            return invalid!(
                "float division by zero: Adafactor cannot step a parameter with no elements (its RMS is 0/0)"
            );
        }
        let g = direction(grad, o.maximize)?;
        let eps1 = o.eps1.unwrap_or_else(|| machine_epsilon(param.kind()));
        s.step += 1;
        let step = s.step as f64;
        let one_minus_beta2 = step.powf(o.beta2_decay);
        let rho = o.lr.min(1.0 / step.powf(0.5));
        let alpha = o.eps2.max(norm(param, &[], false)?.f_double_value(&[])? / sqrt_numel(param)) * rho;
        if o.weight_decay != 0.0 {
            scale_(param, 1.0 - o.lr * o.weight_decay)?;
        }
        let mut var_estimate = match (&mut s.row_var, &mut s.col_var, &mut s.variance) {
            (Some(row_var), Some(col_var), _) => {
                let n = g.size();
                let row_mean = norm(&g, &[-1], true)?.f_square_()?.f_div_scalar_(n[n.len() - 1])?;
                let _ = row_var.f_lerp_(&row_mean, one_minus_beta2)?;
                let col_mean = norm(&g, &[-2], true)?.f_square_()?.f_div_scalar_(n[n.len() - 2])?;
                let _ = col_var.f_lerp_(&col_mean, one_minus_beta2)?;
                let mut estimate = row_var.f_matmul(col_var)?;
                let row_mean_of_rows =
                    row_var.f_mean_dim(Some(&[-2i64][..]), true, None::<Kind>)?.f_clamp_min_(eps1)?;
                let _ = estimate.f_div_(&row_mean_of_rows)?;
                estimate
            }
            (_, _, Some(variance)) => {
                let _ = variance.f_lerp_(&g.f_mul(&g)?, one_minus_beta2)?;
                variance.f_detach_copy()?
            }
            _ => return invalid!("Adafactor's state does not match its parameter's shape"),
        };
        let mut update = var_estimate.f_clamp_min_(eps1 * eps1)?.f_rsqrt_()?;
        let _ = update.f_mul_(&g)?;
        let denom = 1.0f64.max(norm(&update, &[], false)?.f_double_value(&[])? / (sqrt_numel(&update) * o.d));
        add_scaled_(param, &update, -alpha / denom)
    }

    fn buffers(s: &AdafactorState) -> Vec<(&'static str, Tensor)> {
        let mut out = vec![("step", super::step_tensor(s.step))];
        for (name, t) in [("row_var", &s.row_var), ("col_var", &s.col_var), ("variance", &s.variance)] {
            if let Some(t) = t {
                out.push((name, t.shallow_clone()));
            }
        }
        out
    }
    fn restore(param: &Tensor, o: &AdafactorOptions, saved: &mut SavedBuffers) -> Result<AdafactorState> {
        // The shapes the first step makes: factored for matrices, whole for vectors.
        let fresh = Self::init(param, o)?;
        let mut take = |name: &str, like: &Option<Tensor>| -> Result<Option<Tensor>> {
            like.as_ref().map(|t| saved.of_shape(name, &t.size())).transpose()
        };
        let (row_var, col_var) = (take("row_var", &fresh.row_var)?, take("col_var", &fresh.col_var)?);
        let variance = take("variance", &fresh.variance)?;
        Ok(AdafactorState { step: saved.step()?, row_var, col_var, variance })
    }
    const TORCH_NAME: &'static str = "Adafactor";
}

/// `torch.finfo(kind).eps`.
fn machine_epsilon(kind: Kind) -> f64 {
    match kind {
        Kind::Double => f64::EPSILON,
        Kind::Half => 2f64.powi(-10),
        Kind::BFloat16 => 2f64.powi(-7),
        _ => f64::from(f32::EPSILON),
    }
}

/// `torch.optim.Adafactor`.
pub type Adafactor = Optimizer<AdafactorRule>;
