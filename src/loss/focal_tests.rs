//! Expected values from the mathematics; each comment gives the derivation.

use super::*;
use approx::assert_relative_eq;
use tch::Tensor;

#[test]
fn at_zero_logit_the_loss_is_ln2_over_16() {
    // x = 0, t = 1: ce = ln 2, p_t = 1/2, (1 − p_t)² = 1/4, α_t = 1/4: ln 2 / 16.
    let loss = sigmoid_focal_loss(
        &Tensor::from_slice(&[0.0f64]),
        &Tensor::from_slice(&[1.0f64]),
        FocalOptions { alpha: 0.25, gamma: 2.0 },
        Reduction::Sum,
    )
    .unwrap();
    assert_relative_eq!(loss.double_value(&[]), 2.0f64.ln() / 16.0, max_relative = 1e-15);
}

#[test]
fn alpha_minus_one_switches_the_weighting_off_and_other_values_outside_0_1_are_rejected() {
    // α = −1: ln 2 · 1/4 for the same element.
    let (x, t) = (Tensor::from_slice(&[0.0f64]), Tensor::from_slice(&[1.0f64]));
    let loss = sigmoid_focal_loss(&x, &t, FocalOptions { alpha: -1.0, gamma: 2.0 }, Reduction::Sum).unwrap();
    assert_relative_eq!(loss.double_value(&[]), 2.0f64.ln() / 4.0, max_relative = 1e-15);
    for alpha in [1.5, -0.5, f64::NAN] {
        assert!(sigmoid_focal_loss(&x, &t, FocalOptions { alpha, gamma: 2.0 }, Reduction::Sum)
            .unwrap_err()
            .to_string()
            .contains("alpha must be in [0, 1]"));
    }
}
