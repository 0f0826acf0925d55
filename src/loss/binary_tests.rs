//! Expected values here come from the mathematics, not from either implementation: each
//! comment says how the number is derived.

use super::*;
use crate::error::Error;
use approx::assert_relative_eq;
use tch::{Kind, Tensor};

fn f64s(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

fn grad_of(loss: &Tensor, x: &Tensor) -> Vec<f64> {
    let g = Tensor::run_backward(&[loss], &[x], false, false);
    f64s(&g[0])
}

#[test]
fn seed_bce_is_ln_10_for_both_elements() {
    // §2.1: input [0.9, 0.1], target [0, 1]. Element 0: −ln(1 − 0.9) = ln 10; element 1: −ln 0.1 = ln 10.
    let x = Tensor::from_slice(&[0.9f64, 0.1]);
    let t = Tensor::from_slice(&[0.0f64, 1.0]);
    let loss = binary_cross_entropy(&x, &t, None, Reduction::None).unwrap();
    for v in f64s(&loss) {
        assert_relative_eq!(v, std::f64::consts::LN_10, max_relative = 1e-15);
    }
}

#[test]
fn certain_and_wrong_is_clamped_at_100() {
    // ln 0 = −inf is clamped at −100, so a certain, wrong prediction costs exactly 100.
    let x = Tensor::from_slice(&[0.0f32, 1.0]);
    let t = Tensor::from_slice(&[1.0f32, 0.0]);
    let loss = binary_cross_entropy(&x, &t, None, Reduction::None).unwrap();
    assert_eq!(f64s(&loss), vec![100.0, 100.0]);
}

#[test]
fn mean_divides_by_the_element_count_not_the_weight_sum() {
    // Both elements cost ln 2 unweighted; weights [0, 2] give [0, 2 ln 2], mean (0 + 2 ln 2) / 2.
    let x = Tensor::from_slice(&[0.5f64, 0.5]);
    let t = Tensor::from_slice(&[1.0f64, 0.0]);
    let w = Tensor::from_slice(&[0.0f64, 2.0]);
    let loss = binary_cross_entropy(&x, &t, Some(&w), Reduction::Mean).unwrap();
    assert_relative_eq!(loss.double_value(&[]), std::f64::consts::LN_2, max_relative = 1e-15);
}

#[test]
fn bce_gradient_is_libtorchs_formula() {
    // d/dx = (x − t) / (x (1 − x)): at x = 0.25, t = 1 that is −0.75 / 0.1875 = −4.
    let x = Tensor::from_slice(&[0.25f64]).set_requires_grad(true);
    let t = Tensor::from_slice(&[1.0f64]);
    let loss = binary_cross_entropy(&x, &t, None, Reduction::Sum).unwrap();
    assert_relative_eq!(grad_of(&loss, &x)[0], -4.0, max_relative = 1e-15);
}

#[test]
fn bce_gradient_at_zero_uses_the_float_epsilon() {
    // (0 − 1) / max(0, ε) with ε = 1e-12 as a C++ float, 9.9999999600419720025e-13
    // (0x2B8CBCCC in float32 bits).
    let x = Tensor::from_slice(&[0.0f64]).set_requires_grad(true);
    let t = Tensor::from_slice(&[1.0f64]);
    let loss = binary_cross_entropy(&x, &t, None, Reduction::Sum).unwrap();
    assert_relative_eq!(grad_of(&loss, &x)[0], -1.0 / f64::from(f32::from_bits(0x2B8C_BCCC)), max_relative = 1e-15);
}

/// At x exactly 0 or 1, the gradient with respect to the target is −logit(x) = ±inf, as
/// libtorch's, while the value stays finite (the log terms are clamped at −100): the gradient is
/// computed in the backward pass, not attached to the value.
#[test]
fn bce_target_gradient_at_certain_probabilities_is_infinite_and_the_value_finite() {
    let x = Tensor::from_slice(&[0.0f64, 1.0]);
    let t = Tensor::from_slice(&[0.5f64, 0.5]).set_requires_grad(true);
    let hand = binary_cross_entropy(&x, &t, None, Reduction::Sum).unwrap();
    // Each element is 0.5·100 (one log term clamped, the other 0).
    assert_eq!(hand.double_value(&[]), 100.0);
    // −logit(0) = −log(0/1) = +inf; −logit(1) = −log(1/0) = −inf.
    assert_eq!(grad_of(&hand, &t), vec![f64::INFINITY, f64::NEG_INFINITY]);
}

#[test]
fn bce_with_logits_is_exact_for_huge_logits() {
    // loss = (1 − t)·x − log σ(x): at x = 1e4, t = 0 that is 1e4 − log σ(1e4) = 1e4 (log σ(1e4)
    // is −exp(−1e4), far below an ulp); at x = −1e4, t = 1 it is −log σ(−1e4) = 1e4.
    let x = Tensor::from_slice(&[1e4f32, -1e4, 1e4, -1e4]);
    let t = Tensor::from_slice(&[0.0f32, 1.0, 1.0, 0.0]);
    let loss = binary_cross_entropy_with_logits(&x, &t, None, None, Reduction::None).unwrap();
    assert_eq!(f64s(&loss), vec![1e4, 1e4, 0.0, 0.0]);
}

#[test]
fn bce_with_logits_gradient_at_zero_is_one_half_minus_target() {
    // σ(0) − t; autograd through max(x, 0) and |x| would give −t instead.
    let x = Tensor::from_slice(&[0.0f64, 0.0, 0.0]).set_requires_grad(true);
    let t = Tensor::from_slice(&[0.0f64, 1.0, 0.5]);
    let loss = binary_cross_entropy_with_logits(&x, &t, None, None, Reduction::Sum).unwrap();
    assert_eq!(grad_of(&loss, &x), vec![0.5, -0.5, 0.0]);
}

#[test]
fn pos_weight_scales_only_the_positive_term() {
    // At x = 0, t = 1: −p·log σ(0) = p·ln 2; at t = 0: x − log σ(x)… = ln 2, whatever p.
    let x = Tensor::from_slice(&[0.0f64, 0.0]);
    let t = Tensor::from_slice(&[1.0f64, 0.0]);
    let p = Tensor::from_slice(&[3.0f64]);
    let loss = binary_cross_entropy_with_logits(&x, &t, None, Some(&p), Reduction::None).unwrap();
    let v = f64s(&loss);
    assert_relative_eq!(v[0], 3.0 * std::f64::consts::LN_2, max_relative = 1e-15);
    assert_relative_eq!(v[1], std::f64::consts::LN_2, max_relative = 1e-15);
}

#[test]
fn sigmoid_saturates_like_libtorch() {
    // σ(0) = 1/2; σ(−100) in float32: exp(100) overflows to inf and 1/inf = 0, as in libtorch;
    // in float64 it is 1/(1 + e^100) = 3.720075976020836e-44.
    let x = Tensor::from_slice(&[0.0f32, -100.0, 100.0]);
    assert_eq!(f64s(&sigmoid(&x).unwrap()), vec![0.5, 0.0, 1.0]);
    let y = sigmoid(&Tensor::from_slice(&[-100.0f64])).unwrap();
    assert_relative_eq!(y.double_value(&[0]), 3.720075976020836e-44, max_relative = 1e-15);
}

#[test]
fn sigmoid_gradient_is_finite_where_exp_overflows() {
    // y(1 − y) with y = 0 is 0; autograd through 1/(1 + exp(−x)) would give inf/inf = NaN.
    let x = Tensor::from_slice(&[-100.0f32, 0.0]).set_requires_grad(true);
    let y = sigmoid(&x).unwrap().sum(Kind::Float);
    assert_eq!(grad_of(&y, &x), vec![0.0, 0.25]);
}

#[test]
fn errors_say_which_argument_is_wrong() {
    let x = Tensor::from_slice(&[0.5f32, 0.5, 0.5]);
    let message = |r: crate::Result<Tensor>| match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected an invalid-argument error, got {other:?}"),
    };
    let short = Tensor::from_slice(&[0.0f32, 1.0]);
    assert!(message(binary_cross_entropy(&x, &short, None, Reduction::Mean))
        .contains("target shape [2] differs from the input shape [3]"));
    let doubles = Tensor::from_slice(&[0.0f64, 1.0, 1.0]);
    assert!(message(binary_cross_entropy(&x, &doubles, None, Reduction::Mean)).contains("target has dtype Double"));
    let t = Tensor::from_slice(&[0.0f32, 1.0, 1.0]);
    let w = Tensor::from_slice(&[1.0f32, 2.0]);
    assert!(message(binary_cross_entropy(&x, &t, Some(&w), Reduction::Mean))
        .contains("weight of shape [2] does not broadcast"));
    let outside = Tensor::from_slice(&[0.5f32, 1.5, 0.5]);
    assert!(message(binary_cross_entropy(&outside, &t, None, Reduction::Mean))
        .contains("all elements of input should be between 0 and 1"));
}

#[test]
fn sigmoid_promotes_integers_to_float32_as_libtorch_does() {
    let ints = Tensor::from_slice(&[0i64, 2]);
    let y = sigmoid(&ints).unwrap();
    assert_eq!(y.kind(), Kind::Float);
    assert_eq!(f64s(&y), f64s(&ints.sigmoid()));
}
