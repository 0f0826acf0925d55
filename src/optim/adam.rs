//! Adam (Kingma & Ba, *Adam: A Method for Stochastic Optimization*, ICLR 2015) and AdamW
//! (Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, ICLR 2019), with amsgrad
//! (Reddi, Kale & Kumar, *On the Convergence of Adam and Beyond*, ICLR 2018) and maximize.

use super::{add_product_, add_quotient_, add_scaled_, decay, Hyperparameters, Optimizer, Rule, SavedBuffers, Written};
use crate::error::Result;
use crate::options::{unknown_option, wrong_type, OptionSpec, OptionType, OptionValue, Options};
use tch::Tensor;

/// `torch.optim.Adam`'s hyperparameters. Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no
/// weight decay, amsgrad, maximize or decoupled weight decay.
///
/// Per step t, with g the gradient (plus `weight_decay·θ` unless decoupled):
/// `m = β₁·m + (1 − β₁)·g`, `v = β₂·v + (1 − β₂)·g²`,
/// `θ −= lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + eps)`, with `v` replaced by its running maximum
/// under amsgrad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamOptions {
    pub lr: f64,
    /// (β₁, β₂): decay of the first and of the second moment; options `beta1` and `beta2`.
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
    /// Decay the parameter itself (`θ ·= 1 − lr·wd`) instead of adding `wd·θ` to the gradient:
    /// torch.optim.Adam's `decoupled_weight_decay`, which makes it AdamW.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamOptions {
    fn default() -> Self {
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
}

impl AdamOptions {
    /// torch.optim.Adam's defaults (the same as `AdamOptions::default()`).
    pub fn adam() -> Self {
        Self::default()
    }

    /// torch.optim.AdamW's defaults as Adam options.
    #[deprecated(since = "0.2.0", note = "AdamW is its own type now: use `AdamW` with `AdamWOptions::default()`")]
    pub fn adamw() -> Self {
        AdamWOptions::default().into()
    }
}

/// `torch.optim.AdamW`'s hyperparameters: Adam's, with decoupled weight decay, 1e-2 by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWOptions {
    pub lr: f64,
    /// (β₁, β₂); options `beta1` and `beta2`.
    pub betas: (f64, f64),
    pub eps: f64,
    /// Decoupled: `θ ·= 1 − lr·wd` before the Adam step.
    pub weight_decay: f64,
    pub amsgrad: bool,
    pub maximize: bool,
}

impl Default for AdamWOptions {
    fn default() -> Self {
        let adam = AdamOptions::default();
        AdamWOptions {
            lr: adam.lr,
            betas: adam.betas,
            eps: adam.eps,
            weight_decay: 1e-2,
            amsgrad: adam.amsgrad,
            maximize: adam.maximize,
        }
    }
}

impl From<AdamWOptions> for AdamOptions {
    fn from(o: AdamWOptions) -> Self {
        AdamOptions {
            lr: o.lr,
            betas: o.betas,
            eps: o.eps,
            weight_decay: o.weight_decay,
            amsgrad: o.amsgrad,
            maximize: o.maximize,
            decoupled_weight_decay: true,
        }
    }
}

/// The options both structs share, by name, with `betas` as `beta1` and `beta2`; `extra` holds
/// Adam's `decoupled_weight_decay`.
macro_rules! adam_named_options {
    ($name:ty, $doc_wd:literal $(, $extra:ident : $extra_doc:literal)?) => {
        impl Options for $name {
            fn specs() -> Vec<OptionSpec> {
                let d = <$name>::default();
                let spec = |name, default, doc| OptionSpec { name, default, doc };
                vec![
                    spec("lr", d.lr.to_value(), "learning rate"),
                    spec("beta1", d.betas.0.to_value(), "decay of the first moment"),
                    spec("beta2", d.betas.1.to_value(), "decay of the second moment"),
                    spec("eps", d.eps.to_value(), "added to the denominator"),
                    spec("weight_decay", d.weight_decay.to_value(), $doc_wd),
                    spec("amsgrad", d.amsgrad.to_value(), "divide by the running maximum of the second moment"),
                    spec("maximize", d.maximize.to_value(), "ascend instead of descend (the gradient is negated)"),
                    $(spec(stringify!($extra), d.$extra.to_value(), $extra_doc),)?
                ]
            }
            fn get(&self, name: &str) -> Option<OptionValue> {
                Some(match name {
                    "lr" => self.lr.to_value(),
                    "beta1" => self.betas.0.to_value(),
                    "beta2" => self.betas.1.to_value(),
                    "eps" => self.eps.to_value(),
                    "weight_decay" => self.weight_decay.to_value(),
                    "amsgrad" => self.amsgrad.to_value(),
                    "maximize" => self.maximize.to_value(),
                    $(stringify!($extra) => self.$extra.to_value(),)?
                    _ => return None,
                })
            }
            fn set(&mut self, name: &str, value: OptionValue) -> std::result::Result<(), String> {
                fn put<T: OptionType>(slot: &mut T, name: &str, value: OptionValue) -> std::result::Result<(), String> {
                    *slot = T::from_value(value).ok_or_else(|| wrong_type(name, slot.to_value(), value))?;
                    Ok(())
                }
                match name {
                    "lr" => put(&mut self.lr, name, value),
                    "beta1" => put(&mut self.betas.0, name, value),
                    "beta2" => put(&mut self.betas.1, name, value),
                    "eps" => put(&mut self.eps, name, value),
                    "weight_decay" => put(&mut self.weight_decay, name, value),
                    "amsgrad" => put(&mut self.amsgrad, name, value),
                    "maximize" => put(&mut self.maximize, name, value),
                    $(stringify!($extra) => put(&mut self.$extra, name, value),)?
                    _ => Err(unknown_option::<Self>(name)),
                }
            }
        }
    };
}
adam_named_options!(AdamOptions, "L2 penalty added to the gradient (decoupled with decoupled_weight_decay)",
    decoupled_weight_decay: "decay the parameter itself, as AdamW");
adam_named_options!(AdamWOptions, "decoupled decay: θ ·= 1 − lr·wd");

impl Hyperparameters for AdamOptions {
    super::lr_field!();
    super::cycled_momentum!(betas.0);
    fn validate(&self) -> Result<()> {
        super::check_adam_family(self.lr, self.eps, self.betas, self.weight_decay)
    }
}

impl Hyperparameters for AdamWOptions {
    super::lr_field!();
    super::cycled_momentum!(betas.0);
    fn validate(&self) -> Result<()> {
        AdamOptions::from(*self).validate()
    }
}

/// Adam's update; [`AdamWRule`] is the same update with decoupled weight decay.
pub struct AdamRule;
/// AdamW's update.
pub struct AdamWRule;

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
        let g = decay(param, grad, o.maximize, (o.lr, o.weight_decay, o.decoupled_weight_decay), Written::Cpp)?;
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
        adam_buffers(s)
    }
    fn restore(_: &Tensor, o: &AdamOptions, saved: &mut SavedBuffers) -> Result<AdamState> {
        restore_adam(saved, o.amsgrad)
    }
    const TORCH_NAME: &'static str = "Adam";
}

impl Rule for AdamWRule {
    type Options = AdamWOptions;
    type State = AdamState;

    fn init(param: &Tensor, o: &AdamWOptions) -> Result<AdamState> {
        AdamRule::init(param, &(*o).into())
    }

    fn update(param: &mut Tensor, grad: &Tensor, s: &mut AdamState, o: &AdamWOptions) -> Result<()> {
        AdamRule::update(param, grad, s, &(*o).into())
    }

    fn buffers(s: &AdamState) -> Vec<(&'static str, Tensor)> {
        adam_buffers(s)
    }
    fn restore(_: &Tensor, o: &AdamWOptions, saved: &mut SavedBuffers) -> Result<AdamState> {
        restore_adam(saved, o.amsgrad)
    }
    const TORCH_NAME: &'static str = "AdamW";
}

fn restore_adam(saved: &mut SavedBuffers, amsgrad: bool) -> Result<AdamState> {
    Ok(AdamState {
        step: saved.step()?,
        exp_avg: saved.like_param("exp_avg")?,
        exp_avg_sq: saved.like_param("exp_avg_sq")?,
        max_exp_avg_sq: saved.optional_like_param("max_exp_avg_sq", amsgrad)?,
    })
}

fn adam_buffers(s: &AdamState) -> Vec<(&'static str, Tensor)> {
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

/// `torch.optim.Adam`.
pub type Adam = Optimizer<AdamRule>;
/// `torch.optim.AdamW`.
pub type AdamW = Optimizer<AdamWRule>;
