//! Adam and AdamW (decoupled weight decay), with amsgrad and maximize.

use super::{
    add_product_, add_quotient_, add_scaled_, check_non_negative, direction, with_weight_decay, Hyperparameters,
    Optimizer, Rule,
};
use crate::error::{invalid, Result};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamOptions {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    /// AdamW: decay the parameter itself (`θ ·= 1 − lr·wd`) instead of adding `wd·θ` to the
    /// gradient.
    pub decoupled_weight_decay: bool,
}

impl AdamOptions {
    /// torch.optim.Adam's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn adam() -> Self {
        AdamOptions {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }

    /// torch.optim.AdamW's defaults: Adam's, with decoupled weight decay 1e-2.
    pub fn adamw() -> Self {
        AdamOptions { weight_decay: 1e-2, decoupled_weight_decay: true, ..Self::adam() }
    }
}

impl Hyperparameters for AdamOptions {
    super::lr_field!();
    fn validate(&self) -> Result<()> {
        check_non_negative("learning rate", self.lr)?;
        check_non_negative("epsilon value", self.eps)?;
        for (index, beta) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&beta) {
                return invalid!("Invalid beta parameter at index {index}: {beta}");
            }
        }
        check_non_negative("weight_decay value", self.weight_decay)
    }
}

pub struct AdamRule;

pub struct AdamState {
    pub step: i64,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
    /// Only with amsgrad: the running maximum of `exp_avg_sq`.
    pub max_exp_avg_sq: Option<Tensor>,
}

impl Rule for AdamRule {
    type Options = AdamOptions;
    type State = AdamState;

    fn init(param: &Tensor, o: &AdamOptions) -> Result<AdamState> {
        Ok(AdamState {
            step: 0,
            exp_avg: param.f_zeros_like()?,
            exp_avg_sq: param.f_zeros_like()?,
            max_exp_avg_sq: if o.amsgrad { Some(param.f_zeros_like()?) } else { None },
        })
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut AdamState, o: &AdamOptions) -> Result<()> {
        let (beta1, beta2) = o.betas;
        s.step += 1;
        let mut g = direction(grad, o.maximize)?;
        if o.decoupled_weight_decay {
            if o.weight_decay != 0.0 {
                let _ = param.f_mul_scalar_(1.0 - o.lr * o.weight_decay)?;
            }
        } else {
            g = with_weight_decay(g, param, o.weight_decay)?;
        }
        // std::pow, as libtorch: powi multiplies repeatedly and can round differently.
        let step = s.step as f64;
        let bias_correction1 = 1.0 - beta1.powf(step);
        let bias_correction2 = 1.0 - beta2.powf(step);

        let _ = s.exp_avg.f_mul_scalar_(beta1)?;
        add_scaled_(&mut s.exp_avg, &g, 1.0 - beta1)?;
        let _ = s.exp_avg_sq.f_mul_scalar_(beta2)?;
        add_product_(&mut s.exp_avg_sq, &g, &g, 1.0 - beta2)?;

        let second_moment = match &mut s.max_exp_avg_sq {
            Some(max) => {
                max.f_copy_(&max.f_maximum(&s.exp_avg_sq)?)?;
                max.shallow_clone()
            }
            None => s.exp_avg_sq.shallow_clone(),
        };
        // (√v / √bc2) + eps, in one buffer.
        let mut denom = second_moment.f_sqrt()?;
        let _ = denom.f_div_scalar_(bias_correction2.sqrt())?;
        let _ = denom.f_add_scalar_(o.eps)?;
        let step_size = o.lr / bias_correction1;
        add_quotient_(param, &s.exp_avg, &denom, -step_size)
    }

    fn buffers(s: &AdamState) -> Vec<(&'static str, Tensor)> {
        let mut out = vec![
            ("step", super::step_tensor(s.step)),
            ("exp_avg", s.exp_avg.shallow_clone()),
            ("exp_avg_sq", s.exp_avg_sq.shallow_clone()),
        ];
        if let Some(max) = &s.max_exp_avg_sq {
            out.push(("max_exp_avg_sq", max.shallow_clone()));
        }
        out
    }
}

pub type Adam = Optimizer<AdamRule>;
/// AdamW is Adam with [`AdamOptions::adamw`].
pub type AdamW = Optimizer<AdamRule>;
