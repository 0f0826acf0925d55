//! Expected values from the mathematics; each comment gives the derivation.

use super::*;
use tch::Tensor;

fn one(f: impl Fn(&Tensor, &Tensor) -> crate::Result<Tensor>, d: f64) -> (f64, f64) {
    let x = Tensor::from_slice(&[d]).set_requires_grad(true);
    let t = Tensor::from_slice(&[0.0f64]);
    let out = f(&x, &t).unwrap();
    let g = Tensor::run_backward(&[&out], &[&x], false, false);
    (out.double_value(&[]), g[0].double_value(&[0]))
}

#[test]
fn seed_l1_example_sums_to_16() {
    // §4: x = [[1, 2], [3, 4]], y = [[5, 6], [7, 8]]: |−4| · 4 = 16; MSE: 16 · 4 = 64.
    let x = Tensor::from_slice(&[1.0f32, 2., 3., 4.]).view([2, 2]);
    let y = Tensor::from_slice(&[5.0f32, 6., 7., 8.]).view([2, 2]);
    assert_eq!(l1_loss(&x, &y, Reduction::Sum).unwrap().double_value(&[]), 16.0);
    assert_eq!(mse_loss(&x, &y, Reduction::Sum).unwrap().double_value(&[]), 64.0);
    // SmoothL1 (β = 1): 4 − 0.5 per element.
    assert_eq!(smooth_l1_loss(&x, &y, SmoothL1Options { beta: 1.0 }, Reduction::Sum).unwrap().double_value(&[]), 14.0);
}

#[test]
fn smooth_l1_and_huber_branches() {
    // SmoothL1, β = 1: d = 0.5 → 0.5·0.25 = 0.125, slope 0.5; d = 3 → 2.5, slope 1.
    assert_eq!(one(|x, t| smooth_l1_loss(x, t, SmoothL1Options { beta: 1.0 }, Reduction::Sum), 0.5), (0.125, 0.5));
    assert_eq!(one(|x, t| smooth_l1_loss(x, t, SmoothL1Options { beta: 1.0 }, Reduction::Sum), 3.0), (2.5, 1.0));
    // Huber, δ = 2: d = 1 → 0.5, slope 1; d = −3 → 2·(3 − 1) = 4, slope −2.
    assert_eq!(one(|x, t| huber_loss(x, t, HuberOptions { delta: 2.0 }, Reduction::Sum), 1.0), (0.5, 1.0));
    assert_eq!(one(|x, t| huber_loss(x, t, HuberOptions { delta: 2.0 }, Reduction::Sum), -3.0), (4.0, -2.0));
}

#[test]
fn tiny_beta_keeps_the_gradient_finite() {
    // β = 1e-300: z²/β overflows in the branch that is not taken; the slope is still ±1.
    assert_eq!(one(|x, t| smooth_l1_loss(x, t, SmoothL1Options { beta: 1e-300 }, Reduction::Sum), 2.0), (2.0, 1.0));
}

#[test]
fn bad_beta_and_delta_are_rejected() {
    let x = Tensor::from_slice(&[1.0f32]);
    assert!(smooth_l1_loss(&x, &x, SmoothL1Options { beta: -1.0 }, Reduction::Mean)
        .unwrap_err()
        .to_string()
        .contains("beta must not be negative"));
    for delta in [0.0, -1.0, f64::NAN] {
        assert!(huber_loss(&x, &x, HuberOptions { delta }, Reduction::Mean)
            .unwrap_err()
            .to_string()
            .contains("delta must be positive"));
    }
    let y = Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
    let z = Tensor::from_slice(&[1.0f32, 2.0]);
    assert!(mse_loss(&y, &z, Reduction::Mean).unwrap_err().to_string().contains("does not broadcast"));
}
