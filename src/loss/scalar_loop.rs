//! Plain Rust arithmetic, element by element: what reproduces the libtorch kernels that are
//! scalar loops rather than vectorized ones (BCE's forward, 2.13). Those call the C library's
//! `log` and `log1p` per element, which round differently from the vectorized (SLEEF) functions
//! behind tensor ops in a few percent of float32 elements; Rust's `f32::ln` and `f32::ln_1p`
//! call the same C library, and Rust's arithmetic rounds after each operation as C++'s does.
//! float16 and bfloat16 elements go through float32 per operation and round back, as
//! `c10::Half` and `c10::BFloat16` arithmetic does.

use crate::error::{invalid, Result};
use std::ops::{Add, Div, Mul, Neg, Sub};
use tch::{Kind, Tensor};

/// `$body` with the type alias `$T` naming the element type of the floating dtype `$kind`
/// (float32, float64, float16, bfloat16), or an error naming `$what` for any other dtype: the
/// one dispatch from a tensor's dtype to a generic Rust loop.
macro_rules! by_float_kind {
    ($kind:expr, $what:expr, |$T:ident| $body:expr) => {
        match $kind {
            tch::Kind::Float => {
                type $T = f32;
                $body
            }
            tch::Kind::Double => {
                type $T = f64;
                $body
            }
            tch::Kind::Half => {
                type $T = half::f16;
                $body
            }
            tch::Kind::BFloat16 => {
                type $T = half::bf16;
                $body
            }
            kind => $crate::error::invalid!("{}: {kind:?} is not a floating dtype", $what),
        }
    };
}
pub(crate) use by_float_kind;

/// An element type with C++'s scalar semantics.
pub(crate) trait Scalar:
    tch::kind::Element
    + Copy
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// The dtype of a tensor of this element type. Not tch's `Element::KIND`: tch 0.26 gives
    /// `half::bf16` the kind `Half` (tch-rs#995, `tests/libtorch_quirks.rs`).
    const DTYPE: Kind;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `std::log`: through float32 for the half types.
    fn ln(self) -> Self;
    /// `std::log1p`: through float32 for the half types.
    fn ln_1p(self) -> Self;
    /// `std::max(self, other)`: `self` unless `self < other` (so NaN stays).
    fn max_of(self, other: Self) -> Self;
}

macro_rules! native {
    ($t:ty, $kind:expr) => {
        impl Scalar for $t {
            const DTYPE: Kind = $kind;
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            fn max_of(self, other: Self) -> Self {
                if self < other {
                    other
                } else {
                    self
                }
            }
        }
    };
}
native!(f32, Kind::Float);
native!(f64, Kind::Double);

macro_rules! half {
    ($t:ty, $kind:expr) => {
        impl Scalar for $t {
            const DTYPE: Kind = $kind;
            fn from_f64(x: f64) -> Self {
                <$t>::from_f64(x)
            }
            fn to_f64(self) -> f64 {
                <$t>::to_f64(self)
            }
            fn ln(self) -> Self {
                <$t>::from_f32(self.to_f32().ln())
            }
            fn ln_1p(self) -> Self {
                <$t>::from_f32(self.to_f32().ln_1p())
            }
            fn max_of(self, other: Self) -> Self {
                if self < other {
                    other
                } else {
                    self
                }
            }
        }
    };
}
half!(half::f16, Kind::Half);
half!(half::bf16, Kind::BFloat16);

/// A float32 rounded to bfloat16 as `c10::BFloat16` rounds it: to nearest, ties to even, and
/// every NaN to 0x7FC0 (half's `bf16::from_f32` keeps a NaN's sign and payload instead). A few
/// integer operations, which vectorize: a loop over bfloat16 through this costs about what the
/// float32 loop does, where float16's conversions are slow in software.
#[inline(always)]
pub(crate) fn bf16_from_f32(x: f32) -> half::bf16 {
    if x.is_nan() {
        return half::bf16::from_bits(0x7FC0);
    }
    let bits = x.to_bits();
    half::bf16::from_bits((bits.wrapping_add(((bits >> 16) & 1) + 0x7FFF) >> 16) as u16)
}

/// Below this many elements libtorch runs a kernel on one thread (`at::internal::GRAIN_SIZE`);
/// above, `at::parallel_for` splits the work.
pub(crate) const GRAIN_SIZE: usize = 32768;

/// An output buffer written from several threads, each in its own range.
pub(crate) struct Disjoint<T>(pub(crate) *mut T);
// SAFETY: each thread writes only the elements of the range it is handed.
unsafe impl<T> Sync for Disjoint<T> {}

impl<T> Disjoint<T> {
    /// SAFETY: `begin..end` lies in the buffer, and no other thread touches it meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn range(&self, begin: usize, end: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(begin), end - begin)
    }
}

/// All `t.numel()` elements of a tensor as a slice of E; an empty tensor (which may have no
/// storage: a null data pointer) as an empty slice.
///
/// SAFETY: `t` is a contiguous CPU tensor whose elements have E's size and layout, alive and not
/// written for as long as the slice is used.
pub(crate) unsafe fn elements<E>(t: &Tensor) -> &[E] {
    match t.numel() {
        0 => &[],
        n => std::slice::from_raw_parts(t.data_ptr() as *const E, n),
    }
}

/// `f(a[i], b[i])` for two tensors of one shape and one floating dtype, into a new tensor.
pub(crate) fn map2(a: &Tensor, b: &Tensor, f: impl ScalarFn2) -> Result<Tensor> {
    if a.size() != b.size() || a.kind() != b.kind() {
        return invalid!("map2: {:?} {:?} against {:?} {:?}", a.kind(), a.size(), b.kind(), b.size());
    }
    by_float_kind!(a.kind(), "map2", |T| run::<T>(a, b, |x, y| f.call(x, y)))
}

/// A function of two elements, generic over the element type (a closure cannot be).
pub(crate) trait ScalarFn2: Sync {
    fn call<T: Scalar>(&self, a: T, b: T) -> T;
}

fn run<T: Scalar>(a: &Tensor, b: &Tensor, f: impl Fn(T, T) -> T + Sync) -> Result<Tensor> {
    let (a, b) = (a.f_detach()?.f_contiguous()?, b.f_detach()?.f_contiguous()?);
    let out = a.f_empty_like()?;
    let n = a.numel();
    if n == 0 {
        return Ok(out);
    }
    // SAFETY: `a`, `b` and `out` are contiguous CPU tensors of n elements of T (their dtype was
    // matched to T above), alive for this scope, and `out` is a new tensor no one else sees.
    let (xs, ys, zs) =
        unsafe { (elements::<T>(&a), elements::<T>(&b), std::slice::from_raw_parts_mut(out.data_ptr() as *mut T, n)) };
    // On libtorch's own threads, split as its kernels are: Rust threads of their own would
    // compete with its OpenMP workers, which spin for a while after each parallel op.
    let zs = Disjoint(zs.as_mut_ptr());
    crate::ffi::parallel_for(n, GRAIN_SIZE, |begin, end| {
        // SAFETY: parallel_for hands out disjoint ranges of 0..n; `out` has n elements.
        let out = unsafe { zs.range(begin, end) };
        // Zipped slices, no indices: the compiler vectorizes a simple `f`.
        for ((z, x), y) in out.iter_mut().zip(&xs[begin..end]).zip(&ys[begin..end]) {
            *z = f(*x, *y);
        }
    });
    Ok(out)
}

/// `f(a[i], b[i])` for two tensors of one shape whose dtype is `T`'s, with a function written
/// for that type (a plain closure the compiler can vectorize, where [`map2`]'s generic one calls
/// through [`Scalar`]).
pub(crate) fn map2_as<T: Scalar>(a: &Tensor, b: &Tensor, f: impl Fn(T, T) -> T + Sync) -> Result<Tensor> {
    if a.size() != b.size() || a.kind() != T::DTYPE || b.kind() != T::DTYPE {
        return invalid!("map2_as: {:?} {:?} against {:?} {:?}", a.kind(), a.size(), b.kind(), b.size());
    }
    run::<T>(a, b, f)
}

fn run3<T: Scalar>(a: &Tensor, b: &Tensor, c: &Tensor, f: impl Fn(T, T, T) -> T + Sync) -> Result<Tensor> {
    let (a, b, c) = (a.f_detach()?.f_contiguous()?, b.f_detach()?.f_contiguous()?, c.f_detach()?.f_contiguous()?);
    let out = a.f_empty_like()?;
    let n = a.numel();
    if n == 0 {
        return Ok(out);
    }
    let m = c.numel();
    // SAFETY: as in `run`; `c` holds m (1 or n) elements of T.
    let (xs, ys, zs, out_ptr) =
        unsafe { (elements::<T>(&a), elements::<T>(&b), elements::<T>(&c), Disjoint(out.data_ptr() as *mut T)) };
    crate::ffi::parallel_for(n, GRAIN_SIZE, |begin, end| {
        // SAFETY: disjoint ranges of 0..n, and `out` has n elements.
        let out = unsafe { out_ptr.range(begin, end) };
        let (xs, ys) = (&xs[begin..end], &ys[begin..end]);
        if m == 1 {
            let z = zs[0];
            for ((o, x), y) in out.iter_mut().zip(xs).zip(ys) {
                *o = f(*x, *y, z);
            }
        } else {
            for (((o, x), y), z) in out.iter_mut().zip(xs).zip(ys).zip(&zs[begin..end]) {
                *o = f(*x, *y, *z);
            }
        }
    });
    Ok(out)
}

/// `f(a[i], b[i], c[i])` for two tensors of one shape whose dtype is `T`'s and a third that is
/// either of that shape or a single element (a reduced loss's upstream gradient), into a new
/// tensor, on libtorch's threads, with a function written for `T` (as [`map2_as`]).
pub(crate) fn map3_as<T: Scalar>(
    a: &Tensor,
    b: &Tensor,
    c: &Tensor,
    f: impl Fn(T, T, T) -> T + Sync,
) -> Result<Tensor> {
    let broadcast = c.numel() == 1;
    let kinds = a.kind() == T::DTYPE && b.kind() == T::DTYPE && c.kind() == T::DTYPE;
    if a.size() != b.size() || !kinds || !(broadcast || c.size() == a.size()) {
        return invalid!(
            "map3_as: {:?} {:?}, {:?} {:?}, {:?} {:?}",
            a.kind(),
            a.size(),
            b.kind(),
            b.size(),
            c.kind(),
            c.size()
        );
    }
    run3::<T>(a, b, c, f)
}

/// `out.scatter_(dim, index, src)` where `out`, `index` and `src` are contiguous and `index` and
/// `src` have `out`'s shape with `dim` of size 1 (one position along `dim` per row): each value
/// copied as it is, bit for bit. libtorch's `scatter_` widens a float16 or bfloat16 `out` into a
/// float32 buffer and back (its accumulation buffer), two passes over all of `out` to write one
/// element per row; that was most of NLL's backward in half precision.
pub(crate) fn scatter_rows_(out: &mut Tensor, dim: i64, index: &Tensor, src: &Tensor) -> Result<()> {
    let sizes = out.size();
    let d = dim as usize;
    let mut row_sizes = sizes.clone();
    row_sizes[d] = 1;
    let layouts = out.is_contiguous() && index.is_contiguous() && src.is_contiguous();
    if !layouts || index.kind() != Kind::Int64 || index.size() != row_sizes || src.size() != row_sizes {
        return invalid!("scatter_rows_: {:?} {:?}, index {:?}, src {:?}", out.kind(), sizes, index.size(), src.size());
    }
    if src.kind() != out.kind() {
        return invalid!("scatter_rows_: src is {:?}, out {:?}", src.kind(), out.kind());
    }
    let (outer, along) = (sizes[..d].iter().product::<i64>() as usize, sizes[d] as usize);
    let inner = sizes[d + 1..].iter().product::<i64>() as usize;
    match out.kind().elt_size_in_bytes() {
        2 => scatter_copy::<u16>(out, index, src, (outer, along, inner)),
        4 => scatter_copy::<u32>(out, index, src, (outer, along, inner)),
        8 => scatter_copy::<u64>(out, index, src, (outer, along, inner)),
        _ => invalid!("scatter_rows_: {:?} is not a float dtype", out.kind()),
    }
}

fn scatter_copy<B: Copy>(
    out: &mut Tensor,
    index: &Tensor,
    src: &Tensor,
    (outer, along, inner): (usize, usize, usize),
) -> Result<()> {
    let rows = outer * inner;
    if rows == 0 {
        return Ok(());
    }
    // SAFETY: the three are contiguous CPU tensors of the sizes checked by the caller, with
    // elements of B's size (the dtype's), alive for this scope; `out` is borrowed mutably.
    let (targets, values, out) = unsafe {
        (
            elements::<i64>(index),
            elements::<B>(src),
            std::slice::from_raw_parts_mut(out.data_ptr() as *mut B, outer * along * inner),
        )
    };
    for (row, (&t, &v)) in targets.iter().zip(values).enumerate() {
        if !(0..along as i64).contains(&t) {
            return invalid!("scatter_rows_: index {t} is out of range for a dimension of size {along}");
        }
        let (o, i) = (row / inner, row % inner);
        out[(o * along + t as usize) * inner + i] = v;
    }
    Ok(())
}

/// NLL's reduction as libtorch's CPU kernels compute it (`nll_loss_out_frame`, and
/// `nll_loss2d_forward_out_frame` over batch × positions): a cascade of 8 partial sums in the
/// input's dtype, the first taking `−x[y]·w[y]` for each kept sample in order and each level
/// flushed into the next every 2^p samples, then the partials added in order. Returns the loss
/// sum (divided by the total weight for `mean`) and the total weight (the kept count without
/// weights), both in the input's dtype.
pub(crate) fn nll_reduction(
    picked: &Tensor,
    weights: Option<&Tensor>,
    kept: &Tensor,
    mean: bool,
) -> Result<(Tensor, Tensor)> {
    by_float_kind!(picked.kind(), "nll_reduction", |T| cascade::<T>(picked, weights, kept, mean))
}

fn cascade<T: Scalar>(
    picked: &Tensor,
    weights: Option<&Tensor>,
    kept: &Tensor,
    mean: bool,
) -> Result<(Tensor, Tensor)> {
    // Read through float64, which holds every value of the four dtypes exactly.
    let values = |t: &Tensor| -> Result<Vec<T>> {
        let wide = Vec::<f64>::try_from(t.f_detach()?.f_to_kind(Kind::Double)?.f_reshape([-1])?)?;
        Ok(wide.into_iter().map(T::from_f64).collect())
    };
    let data = values(picked)?;
    let weights = weights.map(values).transpose()?;
    let kept = Vec::<bool>::try_from(kept.f_reshape([-1])?)?;
    let (loss, total) = cascade_values(&data, weights.as_deref(), &kept, mean);
    Ok((scalar_tensor(loss, picked.kind())?, scalar_tensor(total, picked.kind())?))
}

/// A 0-d tensor of `kind` holding `v` (exactly: every value of the four dtypes is a float64).
fn scalar_tensor<T: Scalar>(v: T, kind: Kind) -> Result<Tensor> {
    Ok(Tensor::f_from_slice(&[v.to_f64()])?.f_reshape([0i64; 0].as_slice())?.f_to_kind(kind)?)
}

/// The cascade itself over the picked values, their weights (`None`: all 1) and whether each
/// sample is kept: (loss, total weight), `loss` divided by the total for `mean`.
fn cascade_values<T: Scalar>(data: &[T], weights: Option<&[T]>, kept: &[bool], mean: bool) -> (T, T) {
    const LEVELS: usize = 8;
    let n = data.len();
    // utils::CeilLog2(n) / levels, at least 4.
    let ceil_log2 = if n <= 1 { 0 } else { usize::BITS - (n - 1).leading_zeros() } as usize;
    let level_power = (ceil_log2 / LEVELS).max(4);
    let level_mask = (1usize << level_power) - 1;
    let zero = T::from_f64(0.0);
    let (mut losses, mut totals) = ([zero; LEVELS], [zero; LEVELS]);
    let mut ignored = 0usize;
    for b in 0..n {
        if !kept[b] {
            ignored += 1;
            continue;
        }
        match weights {
            Some(w) => {
                losses[0] = losses[0] - data[b] * w[b];
                totals[0] = totals[0] + w[b];
            }
            None => losses[0] = losses[0] - data[b],
        }
        for j in 0..LEVELS - 1 {
            if b & (level_mask << (j * level_power)) != 0 {
                break;
            }
            losses[j + 1] = losses[j + 1] + losses[j];
            totals[j + 1] = totals[j + 1] + totals[j];
            losses[j] = zero;
            totals[j] = zero;
        }
    }
    let total = match weights {
        Some(_) => totals.iter().fold(zero, |acc, &t| acc + t),
        None => T::from_f64((n - ignored) as f64),
    };
    let mut loss = losses.iter().fold(zero, |acc, &l| acc + l);
    if mean {
        loss = loss / total;
    }
    (loss, total)
}

/// NLL's forward over the rows of a contiguous `[N, C]` input in one pass: each row's target
/// (int64, contiguous; `ignore_index` or in [0, C)), its log-probability `x[i, y_i]` and class
/// weight, and [`nll_reduction`]'s cascade over them. Without it the same took a dozen tensor
/// ops over the N targets, several times libtorch's whole forward.
pub(crate) struct NllRows {
    /// The reduced loss and the total weight, 0-d tensors of the input's dtype.
    pub loss: Tensor,
    pub total: Tensor,
    /// Per row: the target, 0 where ignored; whether it is kept; its weight (0 where ignored).
    pub safe_target: Tensor,
    pub kept: Tensor,
    pub target_weight: Tensor,
}

pub(crate) fn nll_rows<T: Scalar>(
    input: &Tensor,
    target: &Tensor,
    weight: Option<&Tensor>,
    ignore_index: i64,
    mean: bool,
) -> Result<NllRows> {
    let sizes = input.size();
    let (n, c) = match sizes[..] {
        [n, c] => (n as usize, c as usize),
        _ => return invalid!("nll_rows: input {sizes:?} is not [N, C]"),
    };
    let layouts = input.is_contiguous() && target.is_contiguous() && weight.is_none_or(|w| w.is_contiguous());
    let weight_shape = weight.is_none_or(|w| w.size() == [c as i64] && w.kind() == input.kind());
    if !layouts || !weight_shape || target.kind() != Kind::Int64 || target.size() != [n as i64] {
        return invalid!("nll_rows: input {sizes:?}, target {:?} {:?}", target.kind(), target.size());
    }
    // SAFETY: contiguous CPU tensors of the sizes and dtypes checked above (the input's elements
    // of T's size, as the caller matched T to its dtype), alive for this function.
    let (xs, ts, ws) = unsafe { (elements::<T>(input), elements::<i64>(target), weight.map(|w| elements::<T>(w))) };
    let zero = T::from_f64(0.0);
    let (mut picked, mut weights, mut kept, mut safe) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for (i, &t) in ts.iter().enumerate() {
        if t == ignore_index {
            picked.push(zero);
            weights.push(zero);
            kept.push(false);
            safe.push(0i64);
            continue;
        }
        if !(0..c as i64).contains(&t) {
            return invalid!("target {t} is out of bounds for {c} classes (ignore_index {ignore_index})");
        }
        picked.push(xs[i * c + t as usize]);
        weights.push(ws.map_or(T::from_f64(1.0), |w| w[t as usize]));
        kept.push(true);
        safe.push(t);
    }
    let (loss, total) = cascade_values(&picked, ws.map(|_| weights.as_slice()), &kept, mean);
    let kind = input.kind();
    let wide: Vec<f64> = weights.iter().map(|w| w.to_f64()).collect();
    Ok(NllRows {
        loss: scalar_tensor(loss, kind)?,
        total: scalar_tensor(total, kind)?,
        safe_target: Tensor::f_from_slice(&safe)?,
        kept: Tensor::f_from_slice(&kept)?,
        target_weight: Tensor::f_from_slice(&wide)?.f_to_kind(kind)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values libtorch's `scatter_` puts in place, bit for bit (NaN and −0 included), in every
    /// float dtype, along the first, a middle and the last dimension.
    #[test]
    fn scatter_rows_writes_what_libtorch_scatter_writes() {
        let special = Tensor::from_slice(&[f64::NAN, -0.0, f64::INFINITY, 1e-40, -3.5]);
        for kind in [Kind::Float, Kind::Double, Kind::Half, Kind::BFloat16] {
            for (sizes, dim) in [(vec![7i64], 0i64), (vec![5, 4], 1), (vec![3, 6, 2], 1), (vec![2, 3, 4], 2)] {
                let mut rows = sizes.clone();
                rows[dim as usize] = 1;
                let n: i64 = rows.iter().product();
                let index = Tensor::randint(sizes[dim as usize], rows.as_slice(), (Kind::Int64, tch::Device::Cpu));
                let src = Tensor::randn(rows.as_slice(), (Kind::Double, tch::Device::Cpu))
                    .view([-1])
                    .slice(0, 0, n, 1)
                    .index_copy(
                        0,
                        &Tensor::arange(n.min(5), (Kind::Int64, tch::Device::Cpu)),
                        &special.slice(0, 0, n.min(5), 1),
                    )
                    .view(rows.as_slice())
                    .to_kind(kind);
                let mut mine = Tensor::zeros(sizes.as_slice(), (kind, tch::Device::Cpu));
                scatter_rows_(&mut mine, dim, &index, &src).unwrap();
                let theirs = Tensor::zeros(sizes.as_slice(), (kind, tch::Device::Cpu)).scatter(dim, &index, &src);
                // Any NaN for a NaN: libtorch's round trip through float32 changes a bfloat16
                // NaN's bits (0x7FC0 to 0xFFFF).
                let wide = |t: &Tensor| Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap();
                let (a, b) = (wide(&mine), wide(&theirs));
                let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
                assert!(same, "{kind:?} {sizes:?} {dim}: {a:?} against {b:?}");
            }
        }
    }

    #[test]
    fn scatter_rows_refuses_an_index_out_of_range() {
        let mut out = Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu));
        let index = Tensor::from_slice(&[0i64, 3]).view([2, 1]);
        let src = Tensor::from_slice(&[1.0f32, 2.0]).view([2, 1]);
        let error = scatter_rows_(&mut out, 1, &index, &src).unwrap_err().to_string();
        assert!(error.contains("index 3 is out of range for a dimension of size 3"), "{error}");
    }
}
