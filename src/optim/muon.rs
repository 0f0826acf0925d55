//! Muon, momentum orthogonalized by Newton–Schulz (Jordan et al., *Muon: An optimizer for hidden
//! layers in neural networks*, 2024; learning-rate matching from Liu et al., *Muon is Scalable
//! for LLM Training*, 2025), as `torch.optim.Muon`. For 2-D parameters only.

use super::{add_scaled_, scale_, Hyperparameters, Optimizer, Rule, SavedBuffers};
use crate::error::{invalid, Result};
use crate::ffi;
use tch::{Kind, Tensor};

crate::options! {
    /// `torch.optim.Muon`'s hyperparameters, with its defaults (torch's `ns_coefficients` is
    /// `(ns_a, ns_b, ns_c)`; its `adjust_lr_fn` is `"match_rms_adamw"` when `match_rms_adamw`,
    /// else `None`, the same as `"original"`).
    pub struct MuonOptions {
        /// Learning rate.
        pub lr: f64 = 1e-3,
        /// Decoupled: θ ·= 1 − lr·wd.
        pub weight_decay: f64 = 0.1,
        /// Momentum factor μ.
        pub momentum: f64 = 0.95,
        /// Orthogonalize g + μ·(B − g) (lerp(g, B, μ)) instead of B.
        pub nesterov: bool = true,
        /// Newton–Schulz coefficient a (of X).
        pub ns_a: f64 = 3.4445,
        /// Newton–Schulz coefficient b (of A·X, A = X·Xᵀ).
        pub ns_b: f64 = -4.775,
        /// Newton–Schulz coefficient c (of A²·X).
        pub ns_c: f64 = 2.0315,
        /// Floor of the norm the update is first divided by.
        pub eps: f64 = 1e-7,
        /// Newton–Schulz iterations (< 100).
        pub ns_steps: i64 = 5,
        /// Scale the rate by 0.2·√max(A, B) (Moonshot's) instead of √max(1, A/B) (Jordan's).
        pub match_rms_adamw: bool = false,
    }
}

impl Hyperparameters for MuonOptions {
    super::lr_field!(no maximize);
    super::cycled_momentum!(momentum);
    // torch.optim.Muon words its messages its own way.
    fn validate(&self) -> Result<()> {
        if self.lr.is_nan() || self.lr < 0.0 {
            return invalid!("Learning rate should be >= 0 but is: {}", self.lr);
        }
        if self.momentum.is_nan() || self.momentum < 0.0 {
            return invalid!("momentum should be >= 0 but is: {}", self.momentum);
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return invalid!("weight decay should be >= 0 but is: {}", self.weight_decay);
        }
        if self.ns_steps >= 100 {
            return invalid!("Number of steps must be less than 100 for computational efficiency");
        }
        Ok(())
    }
}

/// Muon's update, per 2-D parameter of shape A×B: `B = lerp(B, g, 1 − μ)`; the direction
/// `D = lerp(g, B, μ)` (Nesterov) or `B`; `O = NS(D)`; `θ ·= 1 − lr·wd`; `θ −= lr·s·O` with
/// `s = √max(1, A/B)`, or `0.2·√max(A, B)` under `match_rms_adamw`.
///
/// NS runs in bfloat16 whatever the parameter's dtype, as torch.optim's does: X = D/max(‖D‖, eps)
/// (transposed when A > B), then `ns_steps` times `X = a·X + (b·XXᵀ + c·(XXᵀ)²)·X`, each product
/// and sum an `addmm` rounded once to bfloat16. The update is therefore bfloat16-exact, and the
/// parameter moves by it in its own dtype.
pub struct MuonRule;

pub struct MuonState {
    pub momentum_buffer: Tensor,
}

/// Newton–Schulz orthogonalization of a 2-D `update`, as `torch.optim._muon._zeropower_via_newtonschulz`.
pub fn newton_schulz(update: &Tensor, o: &MuonOptions) -> Result<Tensor> {
    let size = update.size();
    if size.len() != 2 {
        return invalid!("Input tensor gradient must be a 2D matrix");
    }
    let tall = size[0] > size[1];
    let mut x = update.f_to_kind(Kind::BFloat16)?;
    if tall {
        x = x.f_transpose(0, 1)?;
    }
    let scale = ffi::vector_norm(&x, 2.0, None, false)?.f_clamp_min(o.eps)?;
    let _ = x.f_div_(&scale)?;
    for _ in 0..o.ns_steps {
        let gram = x.f_matmul(&x.f_transpose(0, 1)?)?;
        let gram_update = ffi::addmm(&gram, &gram, &gram, o.ns_b, o.ns_c)?;
        x = ffi::addmm(&x, &gram_update, &x, o.ns_a, 1.0)?;
    }
    Ok(if tall { x.f_transpose(0, 1)? } else { x })
}

impl Rule for MuonRule {
    type Options = MuonOptions;
    type State = MuonState;

    fn check_param(param: &Tensor) -> Result<()> {
        if param.dim() != 2 {
            return invalid!(
                "Muon only supports 2D parameters whereas we found a parameter with size: torch.Size({:?})",
                param.size()
            );
        }
        Ok(())
    }

    fn init(param: &Tensor, _: &MuonOptions) -> Result<MuonState> {
        Ok(MuonState { momentum_buffer: param.f_zeros_like()? })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut MuonState, o: &MuonOptions) -> Result<()> {
        if grad.dim() != 2 {
            return invalid!("Param gradient must be a 2D matrix");
        }
        let _ = s.momentum_buffer.f_lerp_(grad, 1.0 - o.momentum)?;
        let direction =
            if o.nesterov { grad.f_lerp(&s.momentum_buffer, o.momentum)? } else { s.momentum_buffer.shallow_clone() };
        let orthogonal = newton_schulz(&direction, o)?;
        let size = param.size();
        let (a, b) = (size[0] as f64, size[1] as f64);
        let ratio = if o.match_rms_adamw { 0.2 * a.max(b).sqrt() } else { (a / b).max(1.0).sqrt() };
        scale_(param, 1.0 - o.lr * o.weight_decay)?;
        add_scaled_(param, &orthogonal, -(o.lr * ratio))
    }

    fn buffers(s: &MuonState) -> Vec<(&'static str, Tensor)> {
        vec![("momentum_buffer", s.momentum_buffer.shallow_clone())]
    }
    fn restore(_: &Tensor, _: &MuonOptions, saved: &mut SavedBuffers) -> Result<MuonState> {
        Ok(MuonState { momentum_buffer: saved.like_param("momentum_buffer")? })
    }
    const TORCH_NAME: &'static str = "Muon";
}

/// `torch.optim.Muon`.
pub type Muon = Optimizer<MuonRule>;
