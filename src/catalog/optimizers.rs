//! One spec per optimizer, in the manner of PyTorch's OptimizerInfo (`common_optimizers.py`): its
//! typed hyperparameters (the library's options struct, so torch.optim's defaults are written
//! once) and its invalid configurations with torch.optim's message. Which libtorch paths can run
//! a configuration is the libtorch implementation's business, not the catalogue's.

use super::losses::OptionsOf;
use super::samples::{self as s, Rng};
use crate::optim::{
    AdadeltaOptions, AdafactorOptions, AdagradOptions, AdamOptions, AdamWOptions, AdamaxOptions, AsgdOptions,
    LbfgsOptions, MuonOptions, NAdamOptions, OptimizerOptions, RAdamOptions, RmsPropOptions, RpropOptions, SgdOptions,
    SparseAdamOptions,
};
use crate::options::{NamedValue, OptionSpec, OptionValue, Options, Values};

/// A hyperparameter setting torch.optim refuses, and text its message contains.
#[derive(Debug, Clone)]
pub struct InvalidConfig {
    pub name: &'static str,
    pub options: Vec<(&'static str, OptionValue)>,
    pub message: &'static str,
}

pub struct OptimizerSpec {
    pub id: &'static str,
    pub summary: &'static str,
    /// Whether libtorch's C++ API lacks it, so that its reference is torch.optim in Python
    /// (for-loop and foreach), live or as the fixtures recorded it.
    pub python_only: bool,
    /// Whether torch.optim has a multi-tensor (`foreach`) implementation of it.
    pub foreach: bool,
    /// Whether it takes sparse gradients only (SparseAdam); every other takes dense ones.
    pub sparse_gradients: bool,
    /// Whether it steps with a closure that re-evaluates the objective (LBFGS), so that it runs
    /// free only: there is no lockstep for an optimizer that chooses where to evaluate.
    pub closure: bool,
    pub options: OptionsOf,
    /// The typed options of one parameter group: the defaults with the given ones set.
    pub configure: fn(&[NamedValue]) -> Result<OptimizerOptions, String>,
    pub invalid_configs: fn() -> Vec<InvalidConfig>,
    /// Random valid hyperparameters, for the fuzzer.
    pub sample: fn(&mut Rng) -> Values,
}

impl OptimizerSpec {
    pub fn option_specs(&self) -> Vec<OptionSpec> {
        (self.options.specs)()
    }
}

fn configure<T: Options>(given: &[NamedValue], wrap: fn(T) -> OptimizerOptions) -> Result<OptimizerOptions, String> {
    Ok(wrap(T::from_named(given)?))
}

fn invalid(name: &'static str, option: &'static str, value: f64, message: &'static str) -> InvalidConfig {
    InvalidConfig { name, options: vec![(option, OptionValue::Float(value))], message }
}

/// What every optimizer here refuses: a negative learning rate and weight decay.
fn common_invalid() -> Vec<InvalidConfig> {
    vec![
        invalid("negative-lr", "lr", -0.1, "Invalid learning rate"),
        invalid("negative-weight-decay", "weight_decay", -0.1, "Invalid weight_decay value"),
    ]
}

fn adam_invalid() -> Vec<InvalidConfig> {
    let mut all = common_invalid();
    all.push(invalid("negative-eps", "eps", -1e-8, "Invalid epsilon value"));
    all.push(invalid("beta1-one", "beta1", 1.0, "Invalid beta parameter at index 0"));
    all.push(invalid("beta2-negative", "beta2", -0.1, "Invalid beta parameter at index 1"));
    all
}

pub static OPTIMIZERS: &[OptimizerSpec] = &[
    OptimizerSpec {
        id: "sgd",
        summary: "SGD with momentum, dampening, Nesterov, weight decay (seed §5.2)",
        python_only: false,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<SgdOptions>(),
        configure: |given| configure(given, OptimizerOptions::Sgd),
        invalid_configs: || {
            let mut all = common_invalid();
            all.push(invalid("negative-momentum", "momentum", -0.5, "Invalid momentum value"));
            all.push(InvalidConfig {
                name: "nesterov-without-momentum",
                options: vec![("nesterov", OptionValue::Bool(true))],
                message: "Nesterov momentum requires a momentum and zero dampening",
            });
            all
        },
        sample: s::sgd_hyperparameters,
    },
    OptimizerSpec {
        id: "adam",
        summary: "Adam, L2 weight decay added to the gradient (seed §5.1)",
        python_only: false,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<AdamOptions>(),
        configure: |given| configure(given, OptimizerOptions::Adam),
        invalid_configs: adam_invalid,
        sample: |rng| s::hyperparameters(&AdamOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "adamw",
        summary: "AdamW, decoupled weight decay (seed §5)",
        python_only: false,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<AdamWOptions>(),
        configure: |given| configure(given, OptimizerOptions::AdamW),
        invalid_configs: adam_invalid,
        sample: |rng| s::hyperparameters(&AdamWOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "rmsprop",
        summary: "RMSprop with momentum and centering",
        python_only: false,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<RmsPropOptions>(),
        configure: |given| configure(given, OptimizerOptions::RmsProp),
        invalid_configs: || {
            let mut all = common_invalid();
            all.push(invalid("negative-alpha", "alpha", -0.5, "Invalid alpha value"));
            all.push(invalid("negative-momentum", "momentum", -0.5, "Invalid momentum value"));
            all.push(invalid("negative-eps", "eps", -1e-8, "Invalid epsilon value"));
            all
        },
        sample: |rng| s::hyperparameters(&RmsPropOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "adagrad",
        summary: "Adagrad with learning-rate decay (seed §5.2)",
        python_only: false,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<AdagradOptions>(),
        configure: |given| configure(given, OptimizerOptions::Adagrad),
        invalid_configs: || {
            let mut all = common_invalid();
            all.push(invalid("negative-lr-decay", "lr_decay", -0.1, "Invalid lr_decay value"));
            all.push(invalid("negative-eps", "eps", -1e-8, "Invalid epsilon value"));
            all
        },
        sample: |rng| s::hyperparameters(&AdagradOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "adadelta",
        summary: "Adadelta: step sizes from running averages of squared gradients and updates",
        python_only: true,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<AdadeltaOptions>(),
        configure: |given| configure(given, OptimizerOptions::Adadelta),
        invalid_configs: || {
            let mut all = common_invalid();
            all.push(invalid("rho-above-one", "rho", 1.5, "Invalid rho value"));
            all.push(invalid("negative-eps", "eps", -1e-6, "Invalid epsilon value"));
            all
        },
        sample: |rng| s::hyperparameters(&AdadeltaOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "adafactor",
        summary: "Adafactor: factored second moments, relative step sizes, update clipping",
        python_only: true,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<AdafactorOptions>(),
        configure: |given| configure(given, OptimizerOptions::Adafactor),
        invalid_configs: || {
            vec![
                invalid("negative-lr", "lr", -0.1, "Learning rate should be >= 0"),
                invalid("positive-beta2-decay", "beta2_decay", 0.5, "beta2_decay should be <= 0"),
                invalid("negative-eps1", "eps1", -1e-3, "epsilon1 should be >= 0"),
                invalid("negative-eps2", "eps2", -1e-3, "epsilon2 should be >= 0"),
                invalid("d-below-one", "d", 0.5, "Clipping threshold d should be >= 1"),
                invalid("negative-weight-decay", "weight_decay", -0.1, "weight_decay should be >= 0"),
            ]
        },
        sample: |rng| s::hyperparameters(&AdafactorOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "adamax",
        summary: "Adamax: Adam under the infinity norm",
        python_only: true,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<AdamaxOptions>(),
        configure: |given| configure(given, OptimizerOptions::Adamax),
        invalid_configs: adam_invalid,
        sample: |rng| s::hyperparameters(&AdamaxOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "asgd",
        summary: "ASGD: SGD with a decaying step and a running average of the parameters",
        python_only: true,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<AsgdOptions>(),
        configure: |given| configure(given, OptimizerOptions::Asgd),
        invalid_configs: common_invalid,
        sample: |rng| s::hyperparameters(&AsgdOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "nadam",
        summary: "NAdam: Adam with Nesterov momentum and a momentum schedule",
        python_only: true,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<NAdamOptions>(),
        configure: |given| configure(given, OptimizerOptions::NAdam),
        invalid_configs: || {
            let mut all = adam_invalid();
            all.push(invalid("negative-momentum-decay", "momentum_decay", -0.1, "Invalid momentum_decay value"));
            all
        },
        sample: |rng| s::hyperparameters(&NAdamOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "radam",
        summary: "RAdam: Adam with the variance rectified, SGD with momentum while ρₜ ≤ 5",
        python_only: true,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<RAdamOptions>(),
        configure: |given| configure(given, OptimizerOptions::RAdam),
        invalid_configs: adam_invalid,
        sample: |rng| s::hyperparameters(&RAdamOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "rprop",
        summary: "Rprop: per-element step sizes from the gradient's sign changes",
        python_only: true,
        foreach: true,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<RpropOptions>(),
        configure: |given| configure(given, OptimizerOptions::Rprop),
        invalid_configs: || {
            vec![
                invalid("negative-lr", "lr", -0.1, "Invalid learning rate"),
                invalid("etaminus-above-one", "etaminus", 1.5, "Invalid eta values"),
                invalid("etaplus-below-one", "etaplus", 0.9, "Invalid eta values"),
            ]
        },
        sample: |rng| s::hyperparameters(&RpropOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "muon",
        summary: "Muon: momentum orthogonalized by Newton–Schulz in bfloat16, for matrices",
        python_only: true,
        foreach: false,
        sparse_gradients: false,
        closure: false,
        options: OptionsOf::of::<MuonOptions>(),
        configure: |given| configure(given, OptimizerOptions::Muon),
        invalid_configs: || {
            vec![
                invalid("negative-lr", "lr", -0.1, "Learning rate should be >= 0"),
                invalid("negative-momentum", "momentum", -0.5, "momentum should be >= 0"),
                invalid("negative-weight-decay", "weight_decay", -0.1, "weight decay should be >= 0"),
            ]
        },
        sample: |rng| s::hyperparameters(&MuonOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "sparse_adam",
        summary: "SparseAdam: Adam over the entries a sparse gradient holds (an embedding's rows)",
        python_only: true,
        foreach: false,
        sparse_gradients: true,
        closure: false,
        options: OptionsOf::of::<SparseAdamOptions>(),
        configure: |given| configure(given, OptimizerOptions::SparseAdam),
        invalid_configs: || {
            vec![
                invalid("zero-lr", "lr", 0.0, "Invalid learning rate"),
                invalid("zero-eps", "eps", 0.0, "Invalid epsilon value"),
                invalid("beta1-one", "beta1", 1.0, "Invalid beta parameter at index 0"),
            ]
        },
        sample: |rng| s::hyperparameters(&SparseAdamOptions::specs(), rng),
    },
    OptimizerSpec {
        id: "lbfgs",
        summary: "L-BFGS, stepped with a closure, with or without a strong-Wolfe line search",
        python_only: false,
        foreach: false,
        sparse_gradients: false,
        closure: true,
        options: OptionsOf::of::<LbfgsOptions>(),
        configure: |given| configure(given, OptimizerOptions::Lbfgs),
        // libtorch's C++ LBFGS checks none of its options (torch.optim checks lr only).
        invalid_configs: Vec::new,
        sample: s::lbfgs_hyperparameters,
    },
];

pub fn find(id: &str) -> Option<&'static OptimizerSpec> {
    OPTIMIZERS.iter().find(|o| o.id == id)
}
