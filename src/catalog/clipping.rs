//! One spec per gradient-clipping function of `torch.nn.utils`. A case's inputs are the
//! parameters' gradients (each its own input); the parameters it lists `without_grad` have
//! none, as a parameter outside the loss has.

use super::losses::OptionsOf;
use super::rng::Rng;
use super::samples::{float_tensor, gradient_values, numel, SampleTensor};

crate::options! {
    /// `torch.nn.utils.clip_grad_norm_`'s arguments (max_norm has no default in torch).
    pub struct ClipGradNormOptions {
        /// The largest total norm kept.
        pub max_norm: f64 = 1.0,
        /// The norm's order: any p > 0, 0 (a count), or inf (the largest magnitude).
        pub norm_type: f64 = 2.0,
        /// Refuse a NaN or infinite total norm instead of scaling by it.
        pub error_if_nonfinite: bool = false,
    }
}

crate::options! {
    /// `torch.nn.utils.clip_grad_value_`'s argument (no default in torch).
    pub struct ClipGradValueOptions {
        /// Every gradient element is clamped to [-clip_value, clip_value].
        pub clip_value: f64 = 1.0,
    }
}

pub struct ClipSpec {
    pub id: &'static str,
    /// "torch.nn.utils.clip_grad_norm_".
    pub torch_name: &'static str,
    pub summary: &'static str,
    pub options: OptionsOf,
    /// Whether it returns the total norm (output "total_norm").
    pub returns_norm: bool,
    /// Random valid arguments, for the fuzzer.
    pub sample_options: fn(&mut Rng) -> crate::options::Values,
}

pub static CLIPPING: &[ClipSpec] = &[
    ClipSpec {
        id: "clip_grad_norm_",
        torch_name: "torch.nn.utils.clip_grad_norm_",
        summary: "scales every gradient so that their total norm is at most max_norm; returns the norm",
        options: OptionsOf::of::<ClipGradNormOptions>(),
        returns_norm: true,
        sample_options: |rng| {
            use crate::options::OptionValue::*;
            vec![
                ("max_norm", Float(rng.pick(&[0.1, 1.0, 5.0, 1e3]))),
                ("norm_type", Float(rng.pick(&[1.0, 2.0, 3.0, 0.5, f64::INFINITY, 0.0]))),
                ("error_if_nonfinite", Bool(false)),
            ]
        },
    },
    ClipSpec {
        id: "clip_grad_value_",
        torch_name: "torch.nn.utils.clip_grad_value_",
        summary: "clamps every gradient element to [-clip_value, clip_value]",
        options: OptionsOf::of::<ClipGradValueOptions>(),
        returns_norm: false,
        sample_options: |rng| {
            vec![("clip_value", crate::options::OptionValue::Float(rng.pick(&[0.01, 0.5, 1.0, 10.0])))]
        },
    },
];

pub fn find(id: &str) -> Option<&'static ClipSpec> {
    CLIPPING.iter().find(|c| c.id == id)
}

/// Random gradients for 1–4 parameters of random shapes, named a, b, c, d.
pub fn sample_gradients(rng: &mut Rng) -> Vec<(String, SampleTensor)> {
    let count = 1 + rng.below(4) as usize;
    (0..count)
        .map(|i| {
            let shape: Vec<i64> = match rng.below(3) {
                0 => vec![1 + rng.below(6) as i64],
                1 => vec![1 + rng.below(4) as i64, 1 + rng.below(4) as i64],
                _ => vec![],
            };
            let n = numel(&shape);
            let name = ["a", "b", "c", "d"][i].to_owned();
            (name, float_tensor(&shape, gradient_values(rng, n), false))
        })
        .collect()
}
