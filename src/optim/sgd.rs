//! SGD with momentum, dampening, Nesterov momentum (Sutskever et al., *On the importance of
//! initialization and momentum in deep learning*, ICML 2013), weight decay and maximize.

use super::{
    add_scaled_, check_non_negative, direction, with_weight_decay, Hyperparameters, Optimizer, Rule, SavedBuffers,
};
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// `torch.optim.SGD`'s hyperparameters, with its defaults (PyTorch 2.13 defaults `lr` to 1e-3).
    pub struct SgdOptions {
        /// Learning rate.
        pub lr: f64 = 1e-3,
        /// Momentum factor.
        pub momentum: f64 = 0.0,
        /// Dampening of the momentum.
        pub dampening: f64 = 0.0,
        /// L2 penalty added to the gradient.
        pub weight_decay: f64 = 0.0,
        /// Nesterov momentum.
        pub nesterov: bool = false,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl SgdOptions {
    /// Learning rate `lr`, the rest torch.optim's defaults (all off).
    pub fn new(lr: f64) -> Self {
        SgdOptions { lr, ..Default::default() }
    }
}

impl Hyperparameters for SgdOptions {
    super::lr_field!();
    super::cycled_momentum!(momentum);
    fn validate(&self) -> Result<()> {
        check_non_negative("learning rate", self.lr)?;
        check_non_negative("momentum value", self.momentum)?;
        check_non_negative("weight_decay value", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return invalid!("Nesterov momentum requires a momentum and zero dampening");
        }
        Ok(())
    }
}

/// SGD's update, as `torch.optim.SGD` (and libtorch's C++ SGD) compute it, per parameter:
/// `g = ∇ + wd·θ` (negated first when maximizing); with momentum μ,
/// `b = g` at the first step, else `b = μ·b + (1 − dampening)·g`, and `g = g + μ·b` (Nesterov) or
/// `g = b`; then `θ −= lr·g`.
pub struct SgdRule;

pub struct SgdState {
    /// Created at the first step with momentum (a copy of that step's gradient, undamped).
    pub momentum_buffer: Option<Tensor>,
}

impl Rule for SgdRule {
    type Options = SgdOptions;
    type State = SgdState;

    fn init(_: &Tensor, _: &SgdOptions) -> Result<SgdState> {
        Ok(SgdState { momentum_buffer: None })
    }

    fn update(param: &mut Tensor, grad: &Tensor, state: &mut SgdState, o: &SgdOptions) -> Result<()> {
        let mut d_p = with_weight_decay(direction(grad, o.maximize)?, param, o.weight_decay)?;
        if o.momentum != 0.0 {
            let buf = match state.momentum_buffer.take() {
                None => d_p.f_detach_copy()?,
                Some(mut buf) => {
                    let _ = buf.f_mul_scalar_(o.momentum)?;
                    add_scaled_(&mut buf, &d_p, 1.0 - o.dampening)?;
                    buf
                }
            };
            d_p = if o.nesterov {
                let mut ahead = d_p.f_detach_copy()?;
                add_scaled_(&mut ahead, &buf, o.momentum)?;
                ahead
            } else {
                buf.shallow_clone()
            };
            state.momentum_buffer = Some(buf);
        }
        add_scaled_(param, &d_p, -o.lr)
    }

    fn buffers(state: &SgdState) -> Vec<(&'static str, Tensor)> {
        state.momentum_buffer.iter().map(|b| ("momentum_buffer", b.shallow_clone())).collect()
    }
    fn restore(_: &Tensor, _: &SgdOptions, saved: &mut SavedBuffers) -> Result<SgdState> {
        Ok(SgdState { momentum_buffer: saved.optional("momentum_buffer")? })
    }
    const TORCH_NAME: &'static str = "SGD";
    const NONE_UNTIL_CREATED: &'static [&'static str] = &["momentum_buffer"];
}

/// `torch.optim.SGD`.
pub type Sgd = Optimizer<SgdRule>;
