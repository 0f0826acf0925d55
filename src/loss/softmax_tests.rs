//! Expected values from the mathematics; each comment gives the derivation.

use super::*;
use approx::assert_relative_eq;
use tch::{Kind, Tensor};

fn f64s(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

#[test]
fn seed_softmax_of_1_2_3() {
    // e^k / (e + e² + e³) for k = 1, 2, 3.
    let s = std::f64::consts::E + std::f64::consts::E.powi(2) + std::f64::consts::E.powi(3);
    let y = softmax(&Tensor::from_slice(&[1.0f64, 2.0, 3.0]), 0).unwrap();
    for (got, k) in f64s(&y).into_iter().zip(1..=3) {
        assert_relative_eq!(got, std::f64::consts::E.powi(k) / s, max_relative = 1e-15);
    }
}

#[test]
fn log_softmax_is_stable_for_huge_logits() {
    // [1e4, 0]: log_softmax = [−ln(1 + e^−1e4), −1e4 − ln(1 + e^−1e4)] = [0, −1e4] exactly.
    let y = log_softmax(&Tensor::from_slice(&[1e4f32, 0.0]), 0).unwrap();
    assert_eq!(f64s(&y), vec![0.0, -1e4]);
}

#[test]
fn uniform_rows_and_negative_dims() {
    // Equal logits along the last dimension: each probability is 1/4, each log −ln 4.
    let x = Tensor::from_slice(&[3.0f64; 8]).view([2, 4]);
    assert_eq!(f64s(&softmax(&x, -1).unwrap()), vec![0.25; 8]);
    for v in f64s(&log_softmax(&x, -1).unwrap()) {
        assert_relative_eq!(v, -(4.0f64).ln(), max_relative = 1e-15);
    }
}

#[test]
fn a_dim_out_of_range_is_an_error() {
    let x = Tensor::from_slice(&[1.0f32, 2.0]).view([1, 2]);
    assert!(softmax(&x, 2).unwrap_err().to_string().contains("dim 2 is out of range"));
    assert!(log_softmax(&x, -3).is_err());
}
