//! The comparison maths: assert_close's pass rule, NaN, infinities, signed zero, ULP distance,
//! and what a mismatch report contains.

use approx::assert_relative_eq;
use rstest::rstest;
use tch_parity::check::compare::{compare, compare_element, default_tolerance, ulp_distance, unravel};
use tch_parity::fixture::{DType, Tolerance};

const F32: DType = DType::Float32;
const F64: DType = DType::Float64;
const EXACT: Tolerance = Tolerance { rtol: 0.0, atol: 0.0 };

/// The defaults `torch.testing.assert_close` documents for float32 and float64.
#[rstest]
#[case(F32, 1.3e-6, 1e-5)]
#[case(F64, 1e-7, 1e-7)]
fn defaults_are_assert_close_defaults(#[case] dtype: DType, #[case] rtol: f64, #[case] atol: f64) {
    assert_eq!(default_tolerance(dtype), Tolerance { rtol, atol });
}

#[rstest]
#[case::nan_matches_nan(f64::NAN, f64::NAN, true)]
#[case::nan_against_number(f64::NAN, 1.0, false)]
#[case::number_against_nan(1.0, f64::NAN, false)]
#[case::nan_against_infinity(f64::NAN, f64::INFINITY, false)]
#[case::infinity_matches_itself(f64::INFINITY, f64::INFINITY, true)]
#[case::negative_infinity_matches_itself(f64::NEG_INFINITY, f64::NEG_INFINITY, true)]
#[case::opposite_infinities(f64::INFINITY, f64::NEG_INFINITY, false)]
#[case::infinity_against_max(f64::INFINITY, f64::MAX, false)]
#[case::negative_zero_equals_zero(-0.0, 0.0, true)]
#[case::zero_equals_negative_zero(0.0, -0.0, true)]
fn special_values_under_a_generous_tolerance(#[case] a: f64, #[case] b: f64, #[case] passes: bool) {
    // Even a huge tolerance does not let NaN or an infinity match anything but itself.
    let generous = Tolerance { rtol: 1e6, atol: 1e6 };
    assert_eq!(compare_element(a, b, F64, generous).passed, passes);
}

/// |a − b| ≤ atol + rtol·|b|, with b the reference: the boundary itself passes.
#[rstest]
#[case::inside(100.5, 100.0, true)]
#[case::on_the_boundary(101.5, 100.0, true)]
#[case::just_outside(101.5000001, 100.0, false)]
#[case::relative_to_the_reference_not_the_actual(0.0, 100.0, false)]
fn pass_rule_is_atol_plus_rtol_times_reference(#[case] a: f64, #[case] b: f64, #[case] passes: bool) {
    // atol 0.5 + rtol 0.01 · 100 = 1.5 allowed.
    let t = Tolerance { rtol: 0.01, atol: 0.5 };
    assert_eq!(compare_element(a, b, F64, t).passed, passes);
}

#[rstest]
#[case::same(1.0, 1.0, F32, 0)]
#[case::signed_zeros(-0.0, 0.0, F32, 0)]
#[case::next_float32(1.0, f64::from(f32::from_bits(1.0f32.to_bits() + 1)), F32, 1)]
#[case::next_float64(1.0, f64::from_bits(1.0f64.to_bits() + 1), F64, 1)]
#[case::across_zero_float32(f64::from(f32::from_bits(1)), -f64::from(f32::from_bits(1)), F32, 2)]
#[case::across_zero_float64(f64::from_bits(1), -f64::from_bits(1), F64, 2)]
#[case::zero_to_smallest_subnormal(0.0, -f64::from(f32::from_bits(1)), F32, 1)]
#[case::max_to_infinity(f64::from(f32::MAX), f64::INFINITY, F32, 1)]
#[case::nan_against_number(f64::NAN, 0.0, F64, u64::MAX)]
#[case::nan_against_nan(f64::NAN, f64::NAN, F64, 0)]
#[case::one_to_two_float32(1.0, 2.0, F32, 1 << 23)]
#[case::minus_one_to_one_float32(-1.0, 1.0, F32, 2 * 0x3f80_0000)]
fn ulp_distance_counts_representable_values(#[case] a: f64, #[case] b: f64, #[case] dtype: DType, #[case] ulps: u64) {
    assert_eq!(ulp_distance(a, b, dtype), ulps);
    assert_eq!(ulp_distance(b, a, dtype), ulps, "symmetric");
}

#[test]
fn report_figures_and_worst_element() {
    // Shape [2, 3]; elements [0, 1] and [1, 2] are off, [1, 2] by more.
    let expected = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let actual = [1.0, 2.5, 3.0, 4.0, 5.0, 9.0];
    let c = compare(&actual, &[2, 3], &expected, &[2, 3], F64, EXACT);
    assert!(!c.passed());
    assert_eq!((c.mismatched, c.numel), (2, 6));
    assert_relative_eq!(c.max_abs, 3.0);
    assert_relative_eq!(c.max_rel, 0.5);
    let worst = c.worst.expect("a worst element");
    assert_eq!(worst.index, vec![1, 2]);
    assert_eq!((worst.actual, worst.expected), (9.0, 6.0));
}

#[test]
fn unmatched_nan_is_the_worst_element_and_infinitely_far() {
    let c = compare(&[1.0, f64::NAN, 3.5], &[3], &[1.0, 2.0, 3.0], &[3], F32, default_tolerance(F32));
    assert_eq!(c.mismatched, 2);
    assert_eq!(c.worst.unwrap().index, vec![1]);
    assert_eq!(c.max_abs, f64::INFINITY);
    assert_eq!(c.max_ulp, u64::MAX);
}

#[test]
fn equal_tensors_with_nan_and_signed_zero_pass() {
    let a = [f64::NAN, -0.0, f64::INFINITY, 1e-300];
    let b = [f64::NAN, 0.0, f64::INFINITY, 1e-300];
    let c = compare(&a, &[4], &b, &[4], F64, EXACT);
    assert!(c.passed(), "{c:?}");
    assert_eq!((c.max_abs, c.max_ulp), (0.0, 0));
}

#[test]
fn shape_mismatch_fails_without_comparing_elements() {
    let c = compare(&[1.0, 2.0], &[2, 1], &[1.0, 2.0], &[2], F64, EXACT);
    assert!(!c.passed());
    assert_eq!(c.shape_mismatch, Some((vec![2, 1], vec![2])));
}

#[test]
fn scalar_and_empty_tensors() {
    assert!(compare(&[2.0], &[], &[2.0], &[], F32, EXACT).passed());
    let empty = compare(&[], &[0, 3], &[], &[0, 3], F32, EXACT);
    assert!(empty.passed());
    assert_eq!(empty.worst, None);
}

#[rstest]
#[case(0, &[2, 3], &[0, 0])]
#[case(5, &[2, 3], &[1, 2])]
#[case(7, &[2, 2, 2], &[1, 1, 1])]
#[case(0, &[], &[])]
fn unravel_is_row_major(#[case] flat: usize, #[case] shape: &[i64], #[case] index: &[i64]) {
    assert_eq!(unravel(flat, shape), index);
}
