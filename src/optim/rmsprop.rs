//! RMSprop with alpha, eps, weight decay, momentum and centering (Hinton, *Neural Networks for
//! Machine Learning*, lecture 6e, 2012; centered: Graves, *Generating Sequences With Recurrent
//! Neural Networks*, 2013).

use super::{
    add_product_, add_quotient_, add_scaled_, check_non_negative, direction, step_tensor, with_weight_decay,
    Hyperparameters, Optimizer, Rule, SavedBuffers,
};
use crate::error::Result;
use tch::Tensor;

crate::options! {
    /// `torch.optim.RMSprop`'s hyperparameters, with its defaults.
    pub struct RmsPropOptions {
        /// Learning rate.
        pub lr: f64 = 1e-2,
        /// Decay of the squared-gradient average.
        pub alpha: f64 = 0.99,
        /// Added to the denominator.
        pub eps: f64 = 1e-8,
        /// L2 penalty added to the gradient.
        pub weight_decay: f64 = 0.0,
        /// Momentum factor.
        pub momentum: f64 = 0.0,
        /// Normalise by the variance estimate.
        pub centered: bool = false,
        /// Ascend instead of descend (the gradient is negated).
        pub maximize: bool = false,
    }
}

impl Hyperparameters for RmsPropOptions {
    super::lr_field!();
    super::cycled_momentum!(momentum);
    fn validate(&self) -> Result<()> {
        check_non_negative("learning rate", self.lr)?;
        check_non_negative("epsilon value", self.eps)?;
        check_non_negative("momentum value", self.momentum)?;
        check_non_negative("weight_decay value", self.weight_decay)?;
        check_non_negative("alpha value", self.alpha)
    }
}

/// RMSprop's update, as `torch.optim.RMSprop` computes it, per parameter: `g = ∇ + wd·θ`,
/// `v = α·v + (1 − α)·g²`; centered, `ḡ = α·ḡ + (1 − α)·g` and the denominator is
/// `√(v − ḡ²) + eps`, else `√v + eps`; with momentum μ, `b = μ·b + g/denominator` and
/// `θ −= lr·b`, else `θ −= lr·g/denominator`.
pub struct RmsPropRule;

pub struct RmsPropState {
    pub step: i64,
    pub square_avg: Tensor,
    /// Only with momentum.
    pub momentum_buffer: Option<Tensor>,
    /// Only when centered: the running mean of the gradient.
    pub grad_avg: Option<Tensor>,
}

impl Rule for RmsPropRule {
    type Options = RmsPropOptions;
    type State = RmsPropState;

    fn init(param: &Tensor, o: &RmsPropOptions) -> Result<RmsPropState> {
        Ok(RmsPropState {
            step: 0,
            square_avg: param.f_zeros_like()?,
            momentum_buffer: if o.momentum > 0.0 { Some(param.f_zeros_like()?) } else { None },
            grad_avg: if o.centered { Some(param.f_zeros_like()?) } else { None },
        })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut RmsPropState, o: &RmsPropOptions) -> Result<()> {
        s.step += 1;
        let g = with_weight_decay(direction(grad, o.maximize)?, param, o.weight_decay)?;
        let _ = s.square_avg.f_mul_scalar_(o.alpha)?;
        add_product_(&mut s.square_avg, &g, &g, 1.0 - o.alpha)?;
        let avg = match &mut s.grad_avg {
            Some(grad_avg) => {
                let _ = grad_avg.f_mul_scalar_(o.alpha)?;
                add_scaled_(grad_avg, &g, 1.0 - o.alpha)?;
                // square_avg.addcmul(grad_avg, grad_avg, −1).
                let mut variance = s.square_avg.f_detach_copy()?;
                add_product_(&mut variance, grad_avg, grad_avg, -1.0)?;
                let _ = variance.f_sqrt_()?;
                let _ = variance.f_add_scalar_(o.eps)?;
                variance
            }
            None => {
                let mut avg = s.square_avg.f_sqrt()?;
                let _ = avg.f_add_scalar_(o.eps)?;
                avg
            }
        };
        match &mut s.momentum_buffer {
            Some(buf) => {
                let _ = buf.f_mul_scalar_(o.momentum)?;
                add_quotient_(buf, &g, &avg, 1.0)?;
                add_scaled_(param, buf, -o.lr)
            }
            None => add_quotient_(param, &g, &avg, -o.lr),
        }
    }

    fn buffers(s: &RmsPropState) -> Vec<(&'static str, Tensor)> {
        let mut out = vec![("step", step_tensor(s.step)), ("square_avg", s.square_avg.shallow_clone())];
        if let Some(b) = &s.momentum_buffer {
            out.push(("momentum_buffer", b.shallow_clone()));
        }
        if let Some(g) = &s.grad_avg {
            out.push(("grad_avg", g.shallow_clone()));
        }
        out
    }
    fn restore(_: &Tensor, o: &RmsPropOptions, saved: &mut SavedBuffers) -> Result<RmsPropState> {
        Ok(RmsPropState {
            step: saved.step()?,
            square_avg: saved.like_param("square_avg")?,
            momentum_buffer: saved.optional("momentum_buffer")?,
            grad_avg: saved.optional_like_param("grad_avg", o.centered)?,
        })
    }
    const TORCH_NAME: &'static str = "RMSprop";
}

/// `torch.optim.RMSprop`.
pub type RmsProp = Optimizer<RmsPropRule>;
