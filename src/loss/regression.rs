//! L1, MSE, smooth L1 and Huber (seed §4). Input and target broadcast against each other, as in
//! libtorch's C++ API.

use super::lanes::{map_blocks, Element};
use super::scalar_loop::{map2_as, map3_as};
use super::{check_floating, with_backward_formula, Reduction};
use crate::error::{invalid, Result};
use tch::Tensor;

crate::options! {
    /// `torch.nn.SmoothL1Loss`'s option.
    pub struct SmoothL1Options {
        /// Where the quadratic part ends; ≥ 0 (0 is L1).
        pub beta: f64 = 1.0,
    }
}

crate::options! {
    /// `torch.nn.HuberLoss`'s option.
    pub struct HuberOptions {
        /// Where the quadratic part ends; > 0.
        pub delta: f64 = 1.0,
    }
}

/// `x − t`, broadcast and type-promoted as libtorch does (float32 against float64 is float64).
fn difference(input: &Tensor, target: &Tensor) -> Result<Tensor> {
    check_floating("input", input)?;
    check_floating("target", target)?;
    let (a, b) = (input.size(), target.size());
    let broadcasts = a.iter().rev().zip(b.iter().rev()).all(|(&x, &y)| x == y || x == 1 || y == 1);
    if !broadcasts {
        return invalid!("target shape {b:?} does not broadcast with the input shape {a:?}");
    }
    Ok(input.f_sub(target)?)
}

/// `|x − t|`, as `torch.nn.L1Loss`; its gradient is `sign(x − t)` (0 where equal).
pub fn l1_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    reduction.apply(difference(input, target)?.f_abs()?)
}

/// `(x − t)²`, as `torch.nn.MSELoss` (the document's "L2").
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let d = difference(input, target)?;
    reduction.apply(d.f_mul(&d)?)
}

/// Huber's elementwise value, with `m = min(z, δ)`: `(z − m/2)·m`, which is `½z²` below δ and
/// `δ·(z − δ/2)` above it, as a closure over elements of `$t` (m keeps a NaN z).
macro_rules! huber_element {
    ($t:ty, $delta:expr) => {{
        let (delta, half) = ($delta as $t, 0.5 as $t);
        move |z: $t| -> $t {
            let m = if delta < z { delta } else { z };
            (z - m * half) * m
        }
    }};
}

/// [`huber_element!`] over `z = |d|`: the bits of libtorch 2.13's Huber kernel in float32,
/// float64 and bfloat16 (measured), with no `where`; in float32 and float64 one pass on
/// libtorch's threads.
fn huber_value(z: &Tensor, delta: f64) -> Result<Tensor> {
    match z.kind() {
        tch::Kind::Float => {
            let element = huber_element!(f32, delta);
            return map2_as::<f32>(z, z, move |z, _| element(z));
        }
        tch::Kind::Double => {
            let element = huber_element!(f64, delta);
            return map2_as::<f64>(z, z, move |z, _| element(z));
        }
        _ => {}
    }
    let m = z.f_clamp_max(delta)?;
    let mut value = z.shallow_clone().f_sub(&m.f_mul_scalar(0.5)?)?;
    let _ = value.f_mul_(&m)?;
    Ok(value)
}

/// How a piecewise loss's backward computes: in float32 (`wide`) or the dtype, and the slope's
/// own derivative, `inner` where |d| < `knee` and 0 elsewhere.
struct Kernel {
    wide: bool,
    knee: f64,
    inner: f64,
    /// Which slope, for the one-pass backward.
    piece: Piece,
}

/// A piecewise loss's slope at d, as libtorch's backward kernels compute it.
#[derive(Clone, Copy)]
enum Piece {
    /// clamp(d/β, −1, 1); for β = 0, 1 where d > 0 and −1 elsewhere.
    SmoothL1 { beta: f64 },
    /// clamp(d, −δ, δ).
    Huber { delta: f64 },
}

/// `(slope(a − b)·norm)·g` element by element in float32 or float64, one pass on libtorch's
/// threads, each operation rounding in the dtype as the tensor formula does (a clamp keeps NaN,
/// as `at::clamp`; Rust's `max`/`min` would drop it).
macro_rules! piece_gradient {
    ($t:ty, $piece:expr, $norm:expr, $map:path, $a:expr, $b:expr, $g:expr) => {{
        let norm = $norm as $t;
        let clamp = |x: $t, lo: $t, hi: $t| {
            let x = if x < lo { lo } else { x };
            if x > hi {
                hi
            } else {
                x
            }
        };
        match $piece {
            Piece::SmoothL1 { beta } if beta == 0.0 => {
                $map($a, $b, $g, move |a: $t, b: $t, g: $t| if a - b > 0.0 { norm * g } else { -norm * g })
            }
            Piece::SmoothL1 { beta } => {
                let beta = beta as $t;
                $map($a, $b, $g, move |a: $t, b: $t, g: $t| clamp((a - b) / beta, -1.0, 1.0) * norm * g)
            }
            Piece::Huber { delta } => {
                let delta = delta as $t;
                $map($a, $b, $g, move |a: $t, b: $t, g: $t| clamp(a - b, -delta, delta) * norm * g)
            }
        }
    }};
}

/// [`map2_as`] for float16 or bfloat16 tensors of one shape: `f` computed in float32 over
/// blocks read into it, rounded once.
fn map2_wide<E: Element<Compute = f32>>(a: &Tensor, b: &Tensor, f: impl Fn(f32, f32) -> f32 + Sync) -> Result<Tensor> {
    let (a, b) = (a.f_contiguous()?, b.f_contiguous()?);
    map_blocks::<E>(&[&a, &b], |inputs, out| {
        for ((o, &a), &b) in out.iter_mut().zip(inputs[0]).zip(inputs[1]) {
            *o = f(a, b);
        }
    })
}

/// [`map3_as`] for float16 or bfloat16 tensors (`g` may be a single element), as [`map2_wide`].
fn map3_wide<E: Element<Compute = f32>>(
    a: &Tensor,
    b: &Tensor,
    g: &Tensor,
    f: impl Fn(f32, f32, f32) -> f32 + Sync,
) -> Result<Tensor> {
    let (a, b, g) = (a.f_contiguous()?, b.f_contiguous()?, g.f_contiguous()?);
    map_blocks::<E>(&[&a, &b, &g], |inputs, out| {
        // Zipped, without a branch, so that it vectorizes (a mispredicted branch per element
        // cost more than all the arithmetic).
        for (((o, &a), &b), &g) in out.iter_mut().zip(inputs[0]).zip(inputs[1]).zip(inputs[2]) {
            *o = f(a, b, g);
        }
    })
}

/// Smooth L1's elementwise value `z < β ? 0.5·z·z/β : z − 0.5·β`, `z = |x − t|`, as a closure
/// over elements of `$t`, each operation rounding in it (libtorch's kernel; β at `$t`).
macro_rules! smooth_l1_element {
    ($t:ty, $beta:expr) => {{
        let (beta, half) = ($beta as $t, 0.5 as $t);
        move |x: $t, t: $t| -> $t {
            let z = (x - t).abs();
            if z < beta {
                half * z * z / beta
            } else {
                z - half * beta
            }
        }
    }};
}

/// `reduction(value)` with libtorch's smooth-L1 or Huber backward (its vectorized kernel, the
/// path every tensor of more than a few dozen elements takes): `(norm·slope(x − t))·g` for the
/// input and `(norm·slope(t − x))·g` for the target (libtorch evaluates the target's with the
/// arguments swapped, which matters only where the slope is not odd: SmoothL1 with β = 0 at a
/// tie), with `norm` = 1/N for `Mean` and 1 otherwise. `wide`: computed in float32 from the
/// unrounded difference and rounded once, as libtorch 2.13 does for smooth L1 in float16 and
/// bfloat16 (measured); otherwise each operation rounds in the dtype. `d` is `x − t`, detached.
/// The slope's own derivative (under `create_graph`) is `inner` where |d| < `knee`, else 0.
///
/// libtorch's scalar loop, which takes the last few elements that do not fill a vector (all of
/// them in a tensor this small: fewer than 16 float32 elements, or 32 half ones), multiplies in
/// another order and can differ there by one rounding; the tolerances cover it.
fn piecewise(
    name: &str,
    (input, target): (&Tensor, &Tensor),
    d: Tensor,
    value: Tensor,
    reduction: Reduction,
    Kernel { wide, knee, inner, piece }: Kernel,
    slope: impl Fn(&Tensor) -> Result<Tensor> + Send + 'static,
) -> Result<Tensor> {
    let norm = if reduction == Reduction::Mean { 1.0 / value.numel() as f64 } else { 1.0 };
    let loss = reduction.apply(value)?;
    let same_shape = input.size() == target.size();
    with_backward_formula(name, &loss, &[input, target], move |g, i, inputs| {
        let (a, b) = if i == 0 { (&inputs[0], &inputs[1]) } else { (&inputs[1], &inputs[0]) };
        let kind = a.kind();
        if same_shape && !crate::ffi::grad_enabled() && g.kind() == kind && b.kind() == kind {
            // The formula below in one pass: the same operations, bit for bit (`wide`: read into
            // float32 and computed there).
            let (a, b, g) = (a.f_detach()?, b.f_detach()?, g.f_detach()?);
            match (kind, wide) {
                (tch::Kind::Float, false) => return piece_gradient!(f32, piece, norm, map3_as::<f32>, &a, &b, &g),
                (tch::Kind::Double, false) => return piece_gradient!(f64, piece, norm, map3_as::<f64>, &a, &b, &g),
                (tch::Kind::Half, true) => {
                    return piece_gradient!(f32, piece, norm, map3_wide::<half::f16>, &a, &b, &g);
                }
                (tch::Kind::BFloat16, true) => {
                    return piece_gradient!(f32, piece, norm, map3_wide::<half::bf16>, &a, &b, &g);
                }
                _ => {}
            }
        }
        let widen = |t: &Tensor| if wide { t.f_to_kind(tch::Kind::Float) } else { Ok(t.shallow_clone()) };
        // Recomputed from the attached inputs when the gradient must be differentiable (or
        // when the difference is needed unrounded).
        // t − x for the target, computed as such: −(x − t) would be −0 at a tie, where libtorch
        // has +0.
        let d = match i == 0 && !wide && !crate::ffi::grad_enabled() {
            true => d.shallow_clone(),
            false => widen(a)?.f_sub(&widen(b)?)?,
        };
        // norm at the computing dtype, as the kernel holds it (a Rust f64 given to mul_scalar would
        // stay in float32 for a float16 tensor).
        let norm = Tensor::from(norm).f_to_kind(d.kind())?;
        let mut slope = slope(&d.f_detach()?)?;
        if crate::ffi::grad_enabled() {
            // Differentiable as libtorch's double backward is: `inner` inside |d| < knee, strictly
            // (autograd through clamp would count the knee itself as inside), 0 outside. The
            // added term is 0 in value.
            let inside = d.f_abs()?.f_lt(knee)?.f_to_kind(d.kind())?;
            slope = slope.f_add(&inside.f_mul(&d.f_sub(&d.f_detach()?)?)?.f_mul_scalar(inner)?)?;
        }
        Ok(slope.f_mul(&norm)?.f_mul(&widen(g)?)?)
    })
}

/// libtorch 2.13's smooth-L1 kernel, `z < β ? 0.5·z·z/β : z − 0.5·β` with `z = |d|`, to the bit
/// (measured): in float32, float64 and float16 every operation rounds, β and 0.5·β included, held
/// at the dtype (in float16 β = 1e-6 is the subnormal 1.0133e-6, and a z·z that underflows gives
/// 0); bfloat16 elements are computed in float32, with β unrounded, and rounded once.
fn smooth_l1_value(input: &Tensor, target: &Tensor, d: &Tensor, beta: f64) -> Result<Tensor> {
    let kind = d.kind();
    // One pass on libtorch's threads where input and target agree in shape and dtype.
    if input.size() == target.size() && input.kind() == target.kind() {
        let (x, t) = (input.f_detach()?, target.f_detach()?);
        match kind {
            tch::Kind::Float => return map2_as::<f32>(&x, &t, smooth_l1_element!(f32, beta)),
            tch::Kind::Double => return map2_as::<f64>(&x, &t, smooth_l1_element!(f64, beta)),
            // In float32 with β unrounded, rounded once.
            tch::Kind::BFloat16 => return map2_wide::<half::bf16>(&x, &t, smooth_l1_element!(f32, beta)),
            _ => {}
        }
    }
    if kind == tch::Kind::BFloat16 {
        let wide = |t: &Tensor| t.f_detach()?.f_to_kind(tch::Kind::Float);
        let z = wide(input)?.f_sub(&wide(target)?)?.f_abs()?;
        let quadratic = z.f_mul_scalar(0.5)?.f_mul(&z)?.f_div_scalar(beta)?;
        let linear = z.f_sub_scalar(0.5 * beta)?;
        return Ok(quadratic.f_where_self(&z.f_lt(beta)?, &linear)?.f_to_kind(kind)?);
    }
    let z = d.f_abs()?;
    if beta == 1.0 {
        // With β = 1 the clamp form (z − m/2)·m, m = min(z, 1), is the same operations bit for
        // bit ((z/2)·z below the knee, (z − 0.5)·1 above), and needs no `where`.
        return huber_value(&z, 1.0);
    }
    let mut quadratic = z.f_mul_scalar(0.5)?;
    let _ = quadratic.f_mul_(&z)?;
    if kind == tch::Kind::Half {
        // A Rust scalar would stay in float32 against a float16 tensor; libtorch holds β at the
        // dtype.
        let beta = Tensor::from(beta).f_to_kind(kind)?;
        let _ = quadratic.f_div_(&beta)?;
        let linear = z.f_sub(&beta.f_mul_scalar(0.5)?)?;
        return Ok(quadratic.f_where_self(&z.f_lt_tensor(&beta)?, &linear)?);
    }
    // float32 and float64 round a Rust scalar to the dtype, as libtorch's β.
    let _ = quadratic.f_div_scalar_(beta)?;
    let linear = z.f_sub_scalar(0.5 * beta)?;
    Ok(quadratic.f_where_self(&z.f_lt(beta)?, &linear)?)
}

/// With `z = |x − t|`: `0.5·z²/β` where `z < β`, else `z − 0.5·β`, as `torch.nn.SmoothL1Loss`
/// (Girshick, *Fast R-CNN*, 2015); a negative β is rejected. β defaults to 1.
///
/// β = 0 is L1 in value. Its gradient is libtorch's smooth-L1 backward at β = 0, which is −1
/// (not 0) at a tie x = t, for the input and the target alike; Python's `F.smooth_l1_loss`
/// switches to `l1_loss` for β = 0 and gives 0 there.
pub fn smooth_l1_loss(
    input: &Tensor,
    target: &Tensor,
    options: SmoothL1Options,
    reduction: Reduction,
) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let beta = options.beta;
    if beta < 0.0 {
        return invalid!("beta must not be negative, got {beta}");
    }
    let d = difference(input, target)?.f_detach()?;
    let value = if beta == 0.0 { d.f_abs()? } else { smooth_l1_value(input, target, &d, beta)? };
    // libtorch's backward: −1 for x ≤ −β, 1 for x ≥ β, x/β between. Written out, because
    // autograd through the unused branch multiplies 0 by z/β, which overflows for tiny β.
    let slope = move |x: &Tensor| -> Result<Tensor> {
        if beta == 0.0 {
            let one = x.f_ones_like()?;
            Ok(one.f_where_self(&x.f_gt(0.0)?, &one.f_neg()?)?)
        } else {
            Ok(x.f_div_scalar(beta)?.f_clamp(-1.0, 1.0)?)
        }
    };
    let wide = matches!(d.kind(), tch::Kind::Half | tch::Kind::BFloat16);
    let inner = if beta == 0.0 { 0.0 } else { 1.0 / beta };
    let kernel = Kernel { wide, knee: beta, inner, piece: Piece::SmoothL1 { beta } };
    piecewise("SmoothL1LossBackward", (input, target), d, value, reduction, kernel, slope)
}

/// With `z = |x − t|`: `0.5·z²` where `z < δ`, else `δ·(z − 0.5·δ)`, as `torch.nn.HuberLoss`;
/// equal to δ·SmoothL1(β = δ) (Huber, *Robust Estimation of a Location Parameter*, 1964). δ
/// defaults to 1; δ ≤ 0 is rejected.
pub fn huber_loss(input: &Tensor, target: &Tensor, options: HuberOptions, reduction: Reduction) -> Result<Tensor> {
    // Row-major copies of inputs laid out otherwise (no-ops for contiguous ones): the result
    // does not depend on layout, bit for bit (`check --layouts`).
    let input = &super::row_major(input)?;
    let target = &super::row_major(target)?;
    let delta = options.delta;
    if delta.is_nan() || delta <= 0.0 {
        return invalid!("delta must be positive, got {delta}");
    }
    // libtorch's Huber loss has the input's dtype (MSE, L1 and smooth L1 promote instead): a
    // target of another float dtype is cast to it.
    check_floating("target", target)?;
    let target = &target.f_to_kind(input.kind())?;
    let d = difference(input, target)?.f_detach()?;
    // Measured against libtorch 2.13's kernel: float16 elements are computed in float (the
    // difference included) and rounded once; bfloat16 ones round after every operation.
    let value = match input.kind() {
        tch::Kind::Half if input.size() == target.size() => {
            // One pass over blocks widened through F16C, where the tensor ops make six over
            // float32 copies.
            let element = huber_element!(f32, delta);
            map2_wide::<half::f16>(&input.f_detach()?, &target.f_detach()?, move |x, t| element((x - t).abs()))?
        }
        tch::Kind::Half => {
            let wide = input.f_detach()?.f_to_kind(tch::Kind::Float)?.f_sub(&target.f_to_kind(tch::Kind::Float)?)?;
            huber_value(&wide.f_abs()?, delta)?.f_to_kind(tch::Kind::Half)?
        }
        _ => huber_value(&d.f_abs()?, delta)?,
    };
    let slope = move |x: &Tensor| -> Result<Tensor> { Ok(x.f_clamp(-delta, delta)?) };
    let kernel = Kernel { wide: false, knee: delta, inner: 1.0, piece: Piece::Huber { delta } };
    piecewise("HuberLossBackward", (input, target), d, value, reduction, kernel, slope)
}

#[cfg(test)]
#[path = "regression_tests.rs"]
mod tests;
