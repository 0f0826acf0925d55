//! The source document's claims, checked on libtorch's built-ins and on the hand-written
//! losses: the identities it relies on hold (and where they stop holding), and each of its
//! mistakes (SEED-NOTES.md, "Where the document is wrong") is pinned by a test named for it.

use approx::assert_relative_eq;
use rstest::rstest;
use tch::{Kind, Tensor};
use tch_parity::loss::{self, CrossEntropyOptions, FocalOptions, NllOptions, SmoothL1Options, SmoothedTargetOptions};
use tch_parity::reference::loss as libtorch;
use tch_parity::Reduction;

fn smoothing(label_smoothing: f64) -> CrossEntropyOptions {
    CrossEntropyOptions { label_smoothing, ..Default::default() }
}

/// §3.1's logits, labels and one-hot targets.
fn seed_logits(kind: Kind) -> Tensor {
    Tensor::from_slice(&[9.0f64, 5., 8., 67., 11., 6., 75., 8., 4., 7.]).view([2, 5]).to_kind(kind)
}
fn seed_labels() -> Tensor {
    Tensor::from_slice(&[3i64, 1])
}
fn seed_one_hot(kind: Kind) -> Tensor {
    Tensor::from_slice(&[0.0f64, 0., 0., 1., 0., 0., 1., 0., 0., 0.]).view([2, 5]).to_kind(kind)
}
/// Moderate logits, where no loss rounds to 0.
fn moderate_logits() -> Tensor {
    Tensor::from_slice(&[
        1.2f64, -0.5, 0.3, 2.1, -1.4, 0.8, 0.0, -0.9, 1.7, 0.4, -2.2, 0.9, 0.6, 1.1, -0.3, -0.8, 2.4, -1.0, 0.2, 0.5,
    ])
    .view([4, 5])
}
fn moderate_labels() -> Tensor {
    Tensor::from_slice(&[3i64, 0, 4, 1])
}
fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

#[test]
fn mistake_1_default_reduction_is_mean_not_sum() {
    assert_eq!(Reduction::default(), Reduction::Mean);
}

/// The document's §3.1 claim, on libtorch: cross entropy is NLL of log_softmax, bit for bit
/// (libtorch computes it exactly that way).
#[rstest]
fn cross_entropy_is_nll_of_log_softmax(#[values(Reduction::None, Reduction::Mean, Reduction::Sum)] r: Reduction) {
    let x = moderate_logits();
    let y = moderate_labels();
    let ce = libtorch::cross_entropy(&x, &y, None, CrossEntropyOptions::default(), r).unwrap();
    let via_nll =
        libtorch::nll_loss(&libtorch::log_softmax(&x, 1).unwrap(), &y, None, NllOptions::default(), r).unwrap();
    assert_eq!(values(&ce), values(&via_nll));
}

/// Mistake 2: PyTorch does have label smoothing. The document's CELoss (one-hot smoothed by
/// hand, then probability-target cross entropy) equals libtorch's `label_smoothing` on class
/// indices.
#[rstest]
fn mistake_2_pytorch_has_label_smoothing_and_it_equals_the_documents_celoss(
    #[values(Reduction::None, Reduction::Mean, Reduction::Sum)] r: Reduction,
) {
    let x = moderate_logits();
    let y = moderate_labels();
    let built_in = libtorch::cross_entropy(&x, &y, None, smoothing(0.2), r).unwrap();
    let alpha = SmoothedTargetOptions { label_smooth: 0.2 };
    let document = libtorch::smoothed_target_cross_entropy(&x, &y, alpha, r).unwrap();
    let hand = loss::smoothed_target_cross_entropy(&x, &y, alpha, r).unwrap();
    for (a, b) in values(&built_in).iter().zip(values(&document)) {
        assert_relative_eq!(*a, b, max_relative = 1e-14);
    }
    for (a, b) in values(&built_in).iter().zip(values(&hand)) {
        assert_relative_eq!(*a, b, max_relative = 1e-14);
    }
}

/// Where that identity stops holding: with class weights, per-sample values and sums still
/// agree, but `mean` divides by the summed weight of the targets (class indices) in one and by
/// the number of samples (probability targets) in the other.
#[test]
fn with_class_weights_the_smoothing_identity_fails_only_for_mean() {
    let x = moderate_logits();
    let y = moderate_labels();
    let w = Tensor::from_slice(&[0.5f64, 2.0, 1.0, 1.5, 0.25]);
    let smoothed = (y.one_hot(5).to_kind(Kind::Double) * 0.8) + 0.2 / 5.0;
    let by_index = |r| libtorch::cross_entropy(&x, &y, Some(&w), smoothing(0.2), r).unwrap();
    let by_probability = |r| libtorch::cross_entropy(&x, &smoothed, Some(&w), smoothing(0.0), r).unwrap();
    for r in [Reduction::None, Reduction::Sum] {
        for (a, b) in values(&by_index(r)).iter().zip(values(&by_probability(r))) {
            assert_relative_eq!(*a, b, max_relative = 1e-14);
        }
    }
    // Targets [3, 0, 4, 1] have weights 1.5 + 0.5 + 0.25 + 2 = 4.25; there are 4 samples.
    let (index_mean, probability_mean) =
        (by_index(Reduction::Mean).double_value(&[]), by_probability(Reduction::Mean).double_value(&[]));
    assert_relative_eq!(index_mean * 4.25, probability_mean * 4.0, max_relative = 1e-14);
    assert!((index_mean - probability_mean).abs() > 1e-3);
}

/// Mistake 3: α goes to the positives. With γ = 0 the focal loss is α_t·BCE, and the element
/// with target 1 carries α = 0.25, the one with target 0 carries 1 − α = 0.75. (torchvision's
/// own values, recorded in the fixtures and checked live, hold the hand-written loss to it.)
#[test]
fn mistake_3_focal_alpha_weights_the_positives() {
    let x = Tensor::from_slice(&[0.7f64, 0.7]);
    let t = Tensor::from_slice(&[1.0f64, 0.0]);
    let bce = values(&libtorch::binary_cross_entropy_with_logits(&x, &t, None, None, Reduction::None).unwrap());
    let options = FocalOptions { alpha: 0.25, gamma: 0.0 };
    let focal = values(&loss::sigmoid_focal_loss(&x, &t, options, Reduction::None).unwrap());
    assert_relative_eq!(focal[0], 0.25 * bce[0], max_relative = 1e-15);
    assert_relative_eq!(focal[1], 0.75 * bce[1], max_relative = 1e-15);
}

/// Mistake 4: with labels [3, 1] and ignore_index = 3 it is element 0 that is zeroed. In
/// float32 both losses are 0 anyway (mistake 8), so this is checked in float64, where element
/// 1's loss is about 1.6e-28.
#[test]
fn mistake_4_ignore_index_zeroes_element_0() {
    let (x, y) = (seed_logits(Kind::Double), seed_labels());
    let ignoring_3 = CrossEntropyOptions { ignore_index: 3, ..Default::default() };
    for f in [libtorch::cross_entropy, loss::cross_entropy] {
        let out = f(&x, &y, None, ignoring_3, Reduction::None).unwrap();
        let v = values(&out);
        assert_eq!(v[0], 0.0);
        // ln(1 + Σ_{i≠1} exp(x_i − 75)) ≈ exp(−64) + exp(−67) + … ≈ 1.6e-28.
        assert_relative_eq!(v[1], 1.6038108905486377e-28, max_relative = 1e-6);
    }
}

/// Mistake 6: SmoothL1 has β: `0.5·z²/β` below β. At z = 0.25 with β = 0.5 that is 0.0625;
/// the document's β-less formula gives 0.03125.
#[test]
fn mistake_6_smooth_l1_depends_on_beta() {
    let x = Tensor::from_slice(&[0.25f64]);
    let t = Tensor::from_slice(&[0.0f64]);
    for out in [
        libtorch::smooth_l1_loss(&x, &t, SmoothL1Options { beta: 0.5 }, Reduction::Sum).unwrap(),
        loss::smooth_l1_loss(&x, &t, SmoothL1Options { beta: 0.5 }, Reduction::Sum).unwrap(),
    ] {
        assert_eq!(out.double_value(&[]), 0.0625);
    }
}

/// Mistake 8: the document's examples are degenerate in float32. Its cross-entropy losses are
/// exactly 0 (the right class wins by more than 50), and focal-loss element [1][2] is about 4e-9.
#[test]
fn mistake_8_the_documents_cross_entropy_is_exactly_zero_in_float32() {
    let x = seed_logits(Kind::Float);
    for target in [seed_labels(), seed_one_hot(Kind::Float)] {
        let built_in = libtorch::cross_entropy(&x, &target, None, smoothing(0.0), Reduction::None).unwrap();
        let hand = loss::cross_entropy(&x, &target, None, smoothing(0.0), Reduction::None).unwrap();
        assert_eq!(values(&built_in), vec![0.0, 0.0]);
        assert_eq!(values(&hand), vec![0.0, 0.0]);
    }
}

#[test]
fn mistake_8_the_documents_focal_loss_element_1_2_is_about_4e_minus_9() {
    let x = Tensor::from_slice(&[1.0f32, 2., 3., 4., 5., 6.]).view([2, 3]);
    let t = Tensor::from_slice(&[0.0f32, 0., 1., 0., 0., 1.]).view([2, 3]);
    // x = 6, t = 1: 0.25 · ln(1 + e^-6) · (1 − σ(6))² = 3.784e-9. Float32 forms 1 − σ(6) by
    // cancellation (σ(6) ≈ 0.9975 has an ulp of 6e-8, 2.4e-5 of 1 − σ(6)) and squares it, so
    // it agrees with the exact value to about 5e-5, not to float32's 6e-8.
    let v = values(&loss::sigmoid_focal_loss(&x, &t, FocalOptions::default(), Reduction::None).unwrap());
    let exact = 0.25 * (1.0f64 + (-6.0f64).exp()).ln() * (1.0 - 1.0 / (1.0 + (-6.0f64).exp())).powi(2);
    assert_relative_eq!(v[5], exact, max_relative = 1e-4);
    assert!(v[5] > 3e-9 && v[5] < 5e-9);
}

/// The document's NLL claim is right: [-99.5, -1.3].
#[test]
fn the_documents_nll_example_gives_what_it_says() {
    let x = Tensor::from_slice(&[0.1f32, 0.2, 99.5, 1.3, 2.4, 0.4]).view([2, 3]);
    let t = Tensor::from_slice(&[2i64, 0]);
    for out in [
        libtorch::nll_loss(&x, &t, None, NllOptions::default(), Reduction::None).unwrap(),
        loss::nll_loss(&x, &t, None, NllOptions::default(), Reduction::None).unwrap(),
    ] {
        assert_eq!(values(&out), vec![f64::from(-99.5f32), f64::from(-1.3f32)]);
    }
}

/// The document's own softmax, `exp(x) / exp(x).sum()`, overflows for logits near 89 in float32
/// (NaN); libtorch's and the hand-written one subtract the maximum first.
#[test]
fn the_documents_naive_softmax_overflows_where_these_do_not() {
    let x = Tensor::from_slice(&[100.0f32, 0.0]);
    let naive = x.exp() / x.exp().sum(Kind::Float);
    assert!(values(&naive)[0].is_nan());
    for out in [libtorch::softmax(&x, 0).unwrap(), loss::softmax(&x, 0).unwrap()] {
        assert_eq!(values(&out), vec![1.0, f64::from((-100.0f32).exp())]);
    }
}
