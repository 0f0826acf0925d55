//! The rest of the catalogue, on values derived by hand; each comment gives the arithmetic.

use super::*;
use approx::assert_relative_eq;
use tch::{Kind, Tensor};

#[test]
fn multilabel_margin_documentation_example() {
    // PyTorch's docs: x = [0.1, 0.2, 0.4, 0.8], targets 3 and 0:
    // [(1−(0.8−0.2)) + (1−(0.8−0.4)) + (1−(0.1−0.2)) + (1−(0.1−0.4))] / 4 = 0.85.
    let x = Tensor::from_slice(&[0.1f64, 0.2, 0.4, 0.8]);
    let y = Tensor::from_slice(&[3i64, 0, -1, 1]);
    assert_relative_eq!(
        multilabel_margin_loss(&x, &y, Reduction::Sum).unwrap().double_value(&[]),
        0.85,
        max_relative = 1e-15
    );
}

#[test]
fn ctc_of_one_frame_one_label() {
    // T = 1, target [1]: the only alignment emits label 1, so the loss is −log p(1).
    let p = [0.2f64, 0.5, 0.3];
    let lp = Tensor::from_slice(&p.map(f64::ln)).view([1, 1, 3]);
    let loss = ctc_loss(&lp, &Tensor::from_slice(&[1i64]), &[1], &[1], CtcOptions::default(), Reduction::Sum).unwrap();
    assert_relative_eq!(loss.double_value(&[]), -(0.5f64.ln()), max_relative = 1e-15);
}

#[test]
fn ctc_of_two_frames_sums_three_alignments() {
    // T = 2, target [1], blank 0: alignments "1 1", "0 1", "1 0":
    // p = a1·b1 + a0·b1 + a1·b0 with a, b the two frames' probabilities.
    let (a, b) = ([0.2f64, 0.5, 0.3], [0.6f64, 0.1, 0.3]);
    let lp = Tensor::from_slice(&[a, b].concat().iter().map(|v| v.ln()).collect::<Vec<_>>()).view([2, 1, 3]);
    let loss = ctc_loss(&lp, &Tensor::from_slice(&[1i64]), &[2], &[1], CtcOptions::default(), Reduction::None).unwrap();
    let p = a[1] * b[1] + a[0] * b[1] + a[1] * b[0];
    assert_relative_eq!(loss.double_value(&[0]), -p.ln(), max_relative = 1e-14);
}

#[test]
fn kl_div_of_equal_distributions_is_zero_and_batchmean_divides_by_the_batch() {
    let t = Tensor::from_slice(&[0.25f64, 0.75, 0.5, 0.5]).view([2, 2]);
    assert_eq!(kl_div(&t.log(), &t, KlDivOptions::default(), Reduction::Sum).unwrap().double_value(&[]), 0.0);
    // KL([1, 0] ‖ [0.5, 0.5]) = ln 2 in row 0, 0 in row 1: batchmean ln 2 / 2, mean ln 2 / 4.
    let x = Tensor::from_slice(&[0.5f64, 0.5, 0.5, 0.5]).view([2, 2]).log();
    let q = Tensor::from_slice(&[1.0f64, 0.0, 0.5, 0.5]).view([2, 2]);
    assert_relative_eq!(
        kl_div(&x, &q, KlDivOptions::default(), KlDivReduction::BatchMean).unwrap().double_value(&[]),
        2f64.ln() / 2.0,
        max_relative = 1e-15
    );
    assert_relative_eq!(
        kl_div(&x, &q, KlDivOptions::default(), Reduction::Mean).unwrap().double_value(&[]),
        2f64.ln() / 4.0,
        max_relative = 1e-15
    );
}

#[test]
fn gaussian_nll_at_unit_variance_is_half_the_squared_error() {
    let x = Tensor::from_slice(&[1.0f64, -2.0]);
    let t = Tensor::zeros([2], (Kind::Double, tch::Device::Cpu));
    let v = Tensor::ones([2], (Kind::Double, tch::Device::Cpu));
    // ½·(log 1 + d²/1): ½ and 2; with full, each adds ½·ln 2π.
    assert_eq!(
        gaussian_nll_loss(&x, &t, &v, GaussianNllOptions::default(), Reduction::Sum).unwrap().double_value(&[]),
        2.5
    );
    let full = gaussian_nll_loss(&x, &t, &v, GaussianNllOptions { full: true, eps: 1e-6 }, Reduction::Sum)
        .unwrap()
        .double_value(&[]);
    assert_relative_eq!(full, 2.5 + (2.0 * std::f64::consts::PI).ln(), max_relative = 1e-15);
    assert!(gaussian_nll_loss(&x, &t, &(-v), GaussianNllOptions::default(), Reduction::Sum)
        .unwrap_err()
        .to_string()
        .contains("negative"));
}

#[test]
fn poisson_nll_with_log_input() {
    // exp(x) − t·x at x = ln 2, t = 3: 2 − 3 ln 2.
    let x = Tensor::from_slice(&[2f64.ln()]);
    let t = Tensor::from_slice(&[3.0f64]);
    let v = poisson_nll_loss(&x, &t, PoissonNllOptions::default(), Reduction::Sum).unwrap().double_value(&[]);
    assert_relative_eq!(v, 2.0 - 3.0 * 2f64.ln(), max_relative = 1e-15);
}

#[test]
fn cosine_embedding_of_parallel_and_orthogonal_vectors() {
    // Parallel with t = 1: 1 − cos = 0 (up to the 1e-12 in each norm); orthogonal with t = −1 and
    // margin 0: max(0, 0 − 0) = 0; orthogonal with t = 1: 1.
    let a = Tensor::from_slice(&[1.0f64, 0.0, 2.0, 0.0, 1.0, 0.0]).view([3, 2]);
    let b = Tensor::from_slice(&[3.0f64, 0.0, 0.0, 5.0, 0.0, 1.0]).view([3, 2]);
    let t = Tensor::from_slice(&[1.0f64, -1.0, 1.0]);
    let v = Vec::<f64>::try_from(
        cosine_embedding_loss(&a, &b, &t, CosineEmbeddingOptions::default(), Reduction::None).unwrap(),
    )
    .unwrap();
    assert!(v[0].abs() < 1e-12 && v[1] == 0.0);
    assert_relative_eq!(v[2], 1.0, max_relative = 1e-15);
}

#[test]
fn multi_margin_p_must_be_1_or_2() {
    let x = Tensor::zeros([1, 3], (Kind::Float, tch::Device::Cpu));
    let y = Tensor::from_slice(&[0i64]);
    assert!(multi_margin_loss(&x, &y, None, MultiMarginOptions { p: 3, margin: 1.0 }, Reduction::Mean)
        .unwrap_err()
        .to_string()
        .contains("p = 1 and p = 2"));
    // Zero logits, margin 1: each of the 2 other classes costs 1, over 3 classes: 2/3.
    assert_relative_eq!(
        multi_margin_loss(&x, &y, None, MultiMarginOptions::default(), Reduction::Mean).unwrap().double_value(&[]),
        2.0 / 3.0,
        max_relative = 1e-7
    );
}
