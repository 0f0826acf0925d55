//! Element-by-element comparison with `torch.testing.assert_close` semantics:
//! an element passes when |a − b| ≤ atol + rtol·|b| (b is the reference), NaN matches only NaN,
//! infinities match only themselves, and −0 equals +0.

use crate::fixture::{DType, Tolerance};
use serde::Serialize;

/// `torch.testing.assert_close`'s defaults for each dtype.
pub fn default_tolerance(dtype: DType) -> Tolerance {
    match dtype {
        DType::Float32 => Tolerance { rtol: 1.3e-6, atol: 1e-5 },
        DType::Float64 => Tolerance { rtol: 1e-7, atol: 1e-7 },
        DType::Float16 => Tolerance { rtol: 1e-3, atol: 1e-5 },
        DType::BFloat16 => Tolerance { rtol: 1.6e-2, atol: 1e-5 },
    }
}

/// The element that came closest to (or went furthest past) its tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    /// Its index in the tensor, one entry per dimension.
    pub index: Vec<i64>,
    pub actual: f64,
    pub expected: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub numel: usize,
    pub mismatched: usize,
    /// Greatest |a − b|; infinite when an infinity or a NaN is unmatched.
    pub max_abs: f64,
    /// Greatest |a − b| / |b|; infinite when b = 0 and a differs.
    pub max_rel: f64,
    /// Greatest distance in units in the last place of the dtype; `u64::MAX` for NaN against a number.
    pub max_ulp: u64,
    pub worst: Option<Worst>,
    /// Set when the shapes differ; then no element is compared.
    pub shape_mismatch: Option<(Vec<i64>, Vec<i64>)>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.shape_mismatch.is_none() && self.mismatched == 0
    }
}

/// Compares `actual` against the reference `expected`, both of `shape`, at `dtype`.
pub fn compare(
    actual: &[f64],
    actual_shape: &[i64],
    expected: &[f64],
    expected_shape: &[i64],
    dtype: DType,
    tolerance: Tolerance,
) -> Comparison {
    let mut result = Comparison {
        numel: expected.len(),
        mismatched: 0,
        max_abs: 0.0,
        max_rel: 0.0,
        max_ulp: 0,
        worst: None,
        shape_mismatch: None,
    };
    if actual_shape != expected_shape || actual.len() != expected.len() {
        result.shape_mismatch = Some((actual_shape.to_vec(), expected_shape.to_vec()));
        result.mismatched = expected.len().max(actual.len());
        return result;
    }
    // Ranked by share of the tolerance used, then by |a − b| (a zero tolerance makes every
    // mismatch's share infinite).
    let mut worst: Option<(usize, (f64, f64))> = None;
    for (i, (&a, &b)) in actual.iter().zip(expected).enumerate() {
        let element = compare_element(a, b, dtype, tolerance);
        if !element.passed {
            result.mismatched += 1;
        }
        result.max_abs = max_nan_is_inf(result.max_abs, element.abs);
        result.max_rel = max_nan_is_inf(result.max_rel, element.rel);
        result.max_ulp = result.max_ulp.max(element.ulp);
        let rank = (element.score, element.abs);
        if worst.is_none_or(|(_, best)| rank > best) {
            worst = Some((i, rank));
        }
    }
    result.worst =
        worst.map(|(i, _)| Worst { index: unravel(i, expected_shape), actual: actual[i], expected: expected[i] });
    result
}

fn max_nan_is_inf(acc: f64, x: f64) -> f64 {
    if x.is_nan() {
        f64::INFINITY
    } else {
        acc.max(x)
    }
}

pub struct ElementComparison {
    pub passed: bool,
    pub abs: f64,
    pub rel: f64,
    pub ulp: u64,
    /// |a − b| as a fraction of the allowed difference: above 1 fails; infinite for NaN against
    /// a number or an unmatched infinity.
    pub score: f64,
}

pub fn compare_element(a: f64, b: f64, dtype: DType, tolerance: Tolerance) -> ElementComparison {
    let same = a == b || (a.is_nan() && b.is_nan());
    if same {
        return ElementComparison { passed: true, abs: 0.0, rel: 0.0, ulp: 0, score: 0.0 };
    }
    let ulp = ulp_distance(a, b, dtype);
    if a.is_nan() || b.is_nan() || a.is_infinite() || b.is_infinite() {
        return ElementComparison { passed: false, abs: f64::INFINITY, rel: f64::INFINITY, ulp, score: f64::INFINITY };
    }
    let abs = (a - b).abs();
    let rel = if b == 0.0 { f64::INFINITY } else { abs / b.abs() };
    let allowed = tolerance.atol + tolerance.rtol * b.abs();
    let score = if allowed > 0.0 { abs / allowed } else { f64::INFINITY };
    ElementComparison { passed: abs <= allowed, abs, rel, ulp, score }
}

/// How many representable values of `dtype` lie between `a` and `b` (0 for −0 against +0,
/// 2 between the smallest subnormals of opposite sign, `u64::MAX` for NaN against a number).
pub fn ulp_distance(a: f64, b: f64, dtype: DType) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => return 0,
        (true, false) | (false, true) => return u64::MAX,
        _ => {}
    }
    match dtype {
        DType::Float32 => ordered_f32(a as f32).abs_diff(ordered_f32(b as f32)),
        DType::Float64 => ordered_f64(a).abs_diff(ordered_f64(b)),
        // Rounded first (exactly, for values of the dtype), so the crate's conversion is exact.
        DType::Float16 => {
            let bits = |x: f64| ordered_16(half::f16::from_f64(dtype.round(x)).to_bits());
            bits(a).abs_diff(bits(b))
        }
        DType::BFloat16 => {
            let bits = |x: f64| ordered_16(half::bf16::from_f64(dtype.round(x)).to_bits());
            bits(a).abs_diff(bits(b))
        }
    }
}

/// Maps a float's bits onto integers in the order of the floats, with −0 and +0 both at 0.
fn ordered_f32(x: f32) -> i64 {
    let bits = x.to_bits();
    let magnitude = i64::from(bits & 0x7fff_ffff);
    if bits >> 31 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

/// [`ordered_f32`] for the 16-bit formats (sign, then exponent and significand, in both).
fn ordered_16(bits: u16) -> i64 {
    let magnitude = i64::from(bits & 0x7fff);
    if bits >> 15 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

fn ordered_f64(x: f64) -> i64 {
    let bits = x.to_bits();
    let magnitude = (bits & 0x7fff_ffff_ffff_ffff) as i64;
    if bits >> 63 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

/// The multi-dimensional index of flat position `i` in a row-major tensor of `shape`.
pub fn unravel(mut i: usize, shape: &[i64]) -> Vec<i64> {
    let mut index = vec![0; shape.len()];
    for (slot, &dim) in index.iter_mut().zip(shape).rev() {
        let dim = dim.max(1) as usize;
        *slot = (i % dim) as i64;
        i /= dim;
    }
    index
}
