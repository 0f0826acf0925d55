//! Expected values from the mathematics; each comment gives the derivation.

use super::*;
use approx::assert_relative_eq;
use tch::{Kind, Tensor};

fn f64s(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

#[test]
fn uniform_logits_cost_ln_c() {
    // Softmax of equal logits is 1/C, so every sample costs ln C, whatever its class.
    let x = Tensor::zeros([3, 4], (Kind::Double, tch::Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 3, 1]);
    let loss = cross_entropy(&x, &y, None, CrossEntropyOptions::default(), Reduction::None).unwrap();
    for v in f64s(&loss) {
        assert_relative_eq!(v, 4.0f64.ln(), max_relative = 1e-15);
    }
}

#[test]
fn nll_mean_divides_by_the_weight_of_the_kept_targets() {
    // −x[y]·w[y] for targets [0, 1, ignored]: 1·2 + 2·3 = 8, over the weight 2 + 3 = 5.
    let x = Tensor::from_slice(&[-1.0f64, -9.0, -9.0, -2.0, -9.0, -9.0]).view([3, 2]);
    let y = Tensor::from_slice(&[0i64, 1, -100]);
    let w = Tensor::from_slice(&[2.0f64, 3.0]);
    assert_eq!(
        nll_loss(&x, &y, Some(&w), NllOptions::default(), Reduction::Mean).unwrap().double_value(&[]),
        8.0 / 5.0
    );
    assert_eq!(nll_loss(&x, &y, Some(&w), NllOptions::default(), Reduction::Sum).unwrap().double_value(&[]), 8.0);
}

#[test]
fn every_target_ignored_gives_nan_mean_and_zero_gradient() {
    let x = Tensor::from_slice(&[0.5f64, -0.5, 1.0, 2.0]).view([2, 2]).set_requires_grad(true);
    let y = Tensor::from_slice(&[-100i64, -100]);
    let options = CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() };
    let loss = cross_entropy(&x, &y, None, options, Reduction::Mean).unwrap();
    assert!(loss.double_value(&[]).is_nan());
    let g = Tensor::run_backward(&[&loss], &[&x], false, false);
    assert_eq!(f64s(&g[0]), vec![0.0; 4]);
}

#[test]
fn label_smoothing_on_two_classes() {
    // Logits [0, 0], class 0, ε = 0.5: (1 − ε)·ln 2 + (ε/2)·(ln 2 + ln 2) = ln 2.
    // Logits [ln 3, 0] (p = [3/4, 1/4]), class 0, ε = 0.5:
    // 0.5·(−ln 3/4) + 0.25·(−ln 3/4 − ln 1/4) = 0.75·ln(4/3) + 0.25·ln 4.
    let x = Tensor::from_slice(&[0.0f64, 0.0, 3.0f64.ln(), 0.0]).view([2, 2]);
    let y = Tensor::from_slice(&[0i64, 0]);
    let options = CrossEntropyOptions { label_smoothing: 0.5, ..Default::default() };
    let v = f64s(&cross_entropy(&x, &y, None, options, Reduction::None).unwrap());
    assert_relative_eq!(v[0], 2.0f64.ln(), max_relative = 1e-15);
    assert_relative_eq!(v[1], 0.75 * (4.0f64 / 3.0).ln() + 0.25 * 4.0f64.ln(), max_relative = 1e-15);
}

#[test]
fn probability_targets_mean_divides_by_samples_not_weights() {
    // Uniform logits over 2 classes: −Σ_c w_c·t_c·ln(1/2) per sample; with weights [1, 3] and
    // targets [1, 0], [0, 1]: ln 2 and 3·ln 2, mean (ln 2 + 3 ln 2) / 2 samples = 2 ln 2.
    let x = Tensor::zeros([2, 2], (Kind::Double, tch::Device::Cpu));
    let t = Tensor::from_slice(&[1.0f64, 0.0, 0.0, 1.0]).view([2, 2]);
    let w = Tensor::from_slice(&[1.0f64, 3.0]);
    let mean =
        cross_entropy(&x, &t, Some(&w), CrossEntropyOptions::default(), Reduction::Mean).unwrap().double_value(&[]);
    assert_relative_eq!(mean, 2.0 * 2.0f64.ln(), max_relative = 1e-15);
}

#[test]
fn errors_name_what_is_wrong() {
    let x = Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu));
    let message = |r: crate::Result<Tensor>| r.unwrap_err().to_string();
    assert!(message(nll_loss(&x, &Tensor::from_slice(&[0i64, 3]), None, NllOptions::default(), Reduction::Mean))
        .contains("target 3 is out of bounds for 3 classes"));
    assert!(message(nll_loss(&x, &Tensor::from_slice(&[0.0f32, 1.0]), None, NllOptions::default(), Reduction::Mean))
        .contains("must be int64"));
    let w = Tensor::ones([4], (Kind::Float, tch::Device::Cpu));
    assert!(message(cross_entropy(
        &x,
        &Tensor::from_slice(&[0i64, 1]),
        Some(&w),
        CrossEntropyOptions::default(),
        Reduction::Mean
    ))
    .contains("one entry for each of the 3 classes"));
    let smooth = CrossEntropyOptions { label_smoothing: 1.5, ..Default::default() };
    assert!(message(cross_entropy(&x, &Tensor::from_slice(&[0i64, 1]), None, smooth, Reduction::Mean))
        .contains("label_smoothing must be between 0.0 and 1.0"));
    let ignoring = CrossEntropyOptions { ignore_index: 0, ..Default::default() };
    assert!(message(cross_entropy(&x, &x.softmax(1, Kind::Float), None, ignoring, Reduction::Mean))
        .contains("cannot be used with probability targets"));
}
