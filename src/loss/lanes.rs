//! Row sums in the order libtorch's vectorized CPU kernels add, and the softmax family's backward
//! over the last dimension built on them.
//!
//! libtorch 2.13's softmax kernels (`SoftMaxKernel.cpp`, compiled for AVX-512 where the CPU has
//! it) reduce a row with `at::vec::reduce_all` and `map2_reduce_all`: one accumulator per vector
//! lane, a partial vector at the row's end merged into the first lanes, then the lanes combined.
//! A tensor `sum` adds in another order (a cascade), which moves the odd element by a rounding;
//! these follow the kernels' order instead, so the backward agrees with libtorch's bit for bit
//! (`tests/bit_for_bit.rs`), and in one pass over memory rather than the seven of a composition.

use super::scalar_loop::{bf16_from_f32, by_float_kind, elements, Disjoint};
use crate::error::{invalid, Result};
use crate::ffi::{Capability, VectorMath};
use half::slice::HalfFloatSliceExt;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};
use tch::Tensor;

/// The widest vector libtorch uses: 16 float32 lanes (AVX-512).
const MAX_LANES: usize = 16;

/// A type libtorch's vectors compute in: float32 (also for float16 and bfloat16) or float64.
pub(crate) trait Lane:
    Copy
    + Default
    + Send
    + Sync
    + PartialOrd
    + VectorMath
    + Add<Output = Self>
    + AddAssign
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    /// Whether `at::vec` combines a vector's lanes with shuffles (`VecReduceAllSIMD`, float32
    /// only) rather than in order.
    const SHUFFLES: bool;
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    fn abs(self) -> Self;
    /// `x` rounded to this type.
    fn from_f64(x: f64) -> Self;
    /// The C library's `exp` (what libtorch's scalar tails call).
    fn exp(self) -> Self;
    fn recip(self) -> Self;
    /// `c − a·b` rounded once (a fused multiply-add).
    fn fused_negative_multiply_add(a: Self, b: Self, c: Self) -> Self;
    /// `at::vec::vec_reduce_all(op, v)` over a whole vector of `v.len()` lanes. With shuffles
    /// (float32 in the SIMD builds): lane i added to lane i ^ (w/2), then i ^ (w/4), … down to
    /// i ^ 1, the result in lane 0. Otherwise (float64, and libtorch's plain C++ build) in order.
    fn combine_lanes(v: &mut [Self]) -> Self {
        if !Self::SHUFFLES || crate::ffi::cpu_capability() == crate::ffi::Capability::Default {
            return in_order(v);
        }
        let mut half = v.len() / 2;
        while half > 0 {
            for i in 0..half {
                let other = v[i + half];
                v[i] += other;
            }
            half /= 2;
        }
        v[0]
    }
}

macro_rules! lane {
    ($t:ty, shuffles: $shuffles:expr) => {
        impl Lane for $t {
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            const SHUFFLES: bool = $shuffles;
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn abs(self) -> $t {
                <$t>::abs(self)
            }
            fn from_f64(x: f64) -> $t {
                x as $t
            }
            fn exp(self) -> $t {
                <$t>::exp(self)
            }
            fn recip(self) -> $t {
                1.0 / self
            }
            #[inline(always)]
            fn fused_negative_multiply_add(a: $t, b: $t, c: $t) -> $t {
                (-a).mul_add(b, c)
            }
        }
    };
}
lane!(f32, shuffles: true);
lane!(f64, shuffles: false);

/// `vec_reduce_all(op, v, size)` with an explicit size: lane 0, plus lane 1, … in order.
fn in_order<A: Lane>(v: &[A]) -> A {
    v[1..].iter().fold(v[0], |acc, &x| acc + x)
}

/// `at::vec::map2_reduce_all` with `+`: `Σ term(a[i], b[i])` over a row of a type that is its own
/// compute type (float32, float64), in vectors of `W` lanes: lane by lane over whole vectors,
/// the rest of the row (`Vec::set`) into the first lanes only, then the lanes combined. A row
/// shorter than one vector is added in order.
#[inline]
fn sum_in_lanes<A: Lane, const W: usize>(a: &[A], b: &[A], term: impl Fn(A, A) -> A) -> A {
    let n = a.len();
    let b = &b[..n];
    if n < W {
        return (1..n).fold(term(a[0], b[0]), |acc, i| acc + term(a[i], b[i]));
    }
    let mut acc: [A; W] = std::array::from_fn(|i| term(a[i], b[i]));
    let whole = n - n % W;
    for (ca, cb) in a[W..whole].chunks_exact(W).zip(b[W..whole].chunks_exact(W)) {
        for i in 0..W {
            acc[i] += term(ca[i], cb[i]);
        }
    }
    for (i, (&x, &y)) in a[whole..].iter().zip(&b[whole..]).enumerate() {
        acc[i] += term(x, y);
    }
    A::combine_lanes(&mut acc)
}

/// The same for float16 and bfloat16 (`functional_bfloat16.h`): a vector of the half type holds
/// 2W elements, widened into two float32 vectors of `W` lanes with an accumulator each, which
/// are added lane by lane before the lanes are combined. Rows shorter than 2W: the two halves
/// added into the first (the second's lanes only as far as the row goes), then the lanes in order.
#[inline]
fn sum_in_half_lanes<A: Lane, const W: usize>(a: &[A], b: &[A], term: impl Fn(A, A) -> A) -> A {
    let n = a.len();
    let b = &b[..n];
    if n <= W {
        return (1..n).fold(term(a[0], b[0]), |acc, i| acc + term(a[i], b[i]));
    }
    if n < 2 * W {
        let mut low: [A; W] = std::array::from_fn(|i| term(a[i], b[i]));
        for i in 0..n - W {
            low[i] += term(a[W + i], b[W + i]);
        }
        return in_order(&low);
    }
    let mut low: [A; W] = std::array::from_fn(|i| term(a[i], b[i]));
    let mut high: [A; W] = std::array::from_fn(|i| term(a[W + i], b[W + i]));
    let whole = n - n % (2 * W);
    for (ca, cb) in a[2 * W..whole].chunks_exact(2 * W).zip(b[2 * W..whole].chunks_exact(2 * W)) {
        for i in 0..W {
            low[i] += term(ca[i], cb[i]);
            high[i] += term(ca[W + i], cb[W + i]);
        }
    }
    let (ra, rb) = (&a[whole..], &b[whole..]);
    for (i, (&x, &y)) in ra.iter().zip(rb).enumerate() {
        if i < W {
            low[i] += term(x, y);
        } else {
            high[i - W] += term(x, y);
        }
    }
    for i in 0..W {
        low[i] += high[i];
    }
    A::combine_lanes(&mut low)
}

/// A floating element type, with the type libtorch's vectorized kernels compute it in.
pub(crate) trait Element: Copy + Send + Sync + 'static {
    type Compute: Lane;
    /// float16 and bfloat16: computed in float32, rounded once.
    const REDUCED: bool;
    /// The row widened into `buffer` (for float32 and float64, copied).
    fn widen_into(row: &[Self], buffer: &mut [Self::Compute]);
    fn narrow(row: &[Self::Compute], into: &mut [Self]);
    /// A compute-type value rounded to this type and back (the identity for float32, float64).
    fn round(x: Self::Compute) -> Self::Compute;
    /// The row in the compute type: widened into `buffer` (float32 and float64 lend the row).
    #[inline(always)]
    fn widen<'a>(row: &'a [Self], buffer: &'a mut [Self::Compute]) -> &'a [Self::Compute] {
        Self::widen_into(row, buffer);
        buffer
    }
    /// `compute(row)` on a compute-type row that ends up in `out`: `scratch` narrowed into `out`
    /// afterwards (float32 and float64 compute in `out` itself).
    #[inline(always)]
    fn compute_into(out: &mut [Self], scratch: &mut [Self::Compute], compute: impl FnOnce(&mut [Self::Compute])) {
        compute(scratch);
        Self::narrow(scratch, out);
    }
    /// `Σ term(a[i], b[i])` as libtorch's `reduce_all` of this type adds, in vectors of `lanes`
    /// lanes of the compute type.
    fn row_sum(
        lanes: usize,
        a: &[Self::Compute],
        b: &[Self::Compute],
        term: impl Fn(Self::Compute, Self::Compute) -> Self::Compute,
    ) -> Self::Compute {
        match (Self::REDUCED, lanes) {
            (true, 16) => sum_in_half_lanes::<Self::Compute, 16>(a, b, term),
            (true, _) => sum_in_half_lanes::<Self::Compute, 8>(a, b, term),
            (false, 16) => sum_in_lanes::<Self::Compute, 16>(a, b, term),
            (false, 8) => sum_in_lanes::<Self::Compute, 8>(a, b, term),
            (false, _) => sum_in_lanes::<Self::Compute, 4>(a, b, term),
        }
    }
    /// [`Element::round`] over a slice (float16: eight at a time through F16C).
    #[inline(always)]
    fn round_block(xs: &mut [Self::Compute]) {
        if Self::REDUCED {
            for x in xs {
                *x = Self::round(*x);
            }
        }
    }
    /// `out[i] = round(round(a[i] − b[i]) + eps)` in the compute type, each step rounded to this
    /// type as libtorch's `sub` and then `add(Scalar)` round it (`eps` already in this type).
    fn difference_into(a: &[Self], b: &[Self], eps: Self::Compute, out: &mut [Self::Compute]) {
        difference_in_passes(a, b, eps, out);
    }
}

/// [`Element::difference_into`] a pass per operation over blocks of [`BLOCK`].
fn difference_in_passes<E: Element>(a: &[E], b: &[E], eps: E::Compute, out: &mut [E::Compute]) {
    let mut wide_b = [E::Compute::ZERO; BLOCK];
    for ((a, b), out) in a.chunks(BLOCK).zip(b.chunks(BLOCK)).zip(out.chunks_mut(BLOCK)) {
        E::widen_into(a, out);
        let wide_b = &mut wide_b[..b.len()];
        E::widen_into(b, wide_b);
        for (x, &y) in out.iter_mut().zip(wide_b.iter()) {
            *x = *x - y;
        }
        E::round_block(out);
        for x in out.iter_mut() {
            *x += eps;
        }
        E::round_block(out);
    }
}

/// float32 and float64: their own compute type, so rows are lent rather than copied.
macro_rules! native_element {
    ($t:ty) => {
        impl Element for $t {
            type Compute = $t;
            const REDUCED: bool = false;
            fn widen_into(row: &[$t], buffer: &mut [$t]) {
                buffer.copy_from_slice(row);
            }
            fn narrow(row: &[$t], into: &mut [$t]) {
                into.copy_from_slice(row);
            }
            fn round(x: $t) -> $t {
                x
            }
            fn widen<'a>(row: &'a [$t], _: &'a mut [$t]) -> &'a [$t] {
                row
            }
            fn compute_into(out: &mut [$t], _: &mut [$t], compute: impl FnOnce(&mut [$t])) {
                compute(out);
            }
        }
    };
}
native_element!(f32);
native_element!(f64);

impl Element for half::f16 {
    type Compute = f32;
    const REDUCED: bool = true;
    fn round(x: f32) -> f32 {
        half::f16::from_f32(x).to_f32()
    }
    /// To float16 and back, eight at a time through the CPU's F16C instructions.
    fn round_block(xs: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("f16c") {
            // SAFETY: the CPU has F16C (and so AVX).
            return unsafe { f16c::round(xs) };
        }
        let mut narrow = [half::f16::ZERO; BLOCK];
        for chunk in xs.chunks_mut(BLOCK) {
            let narrow = &mut narrow[..chunk.len()];
            narrow.convert_from_f32_slice(chunk);
            narrow.convert_to_f32_slice(chunk);
        }
    }
    /// Exact.
    fn widen_into(row: &[half::f16], buffer: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("f16c") {
            // SAFETY: the CPU has F16C (and so AVX).
            return unsafe { f16c::widen(row, buffer) };
        }
        row.convert_to_f32_slice(buffer);
    }
    /// To nearest, ties to even, as the kernels' `_mm512_cvtps_ph` rounds.
    fn narrow(row: &[f32], into: &mut [half::f16]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("f16c") {
            // SAFETY: the CPU has F16C (and so AVX).
            return unsafe { f16c::narrow(row, into) };
        }
        into.convert_from_f32_slice(row);
    }
    /// Eight at a time through F16C, in one pass.
    fn difference_into(a: &[half::f16], b: &[half::f16], eps: f32, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("f16c") {
            // SAFETY: the CPU has F16C (and so AVX).
            return unsafe { f16c::difference(a, b, eps, out) };
        }
        difference_in_passes(a, b, eps, out);
    }
}

/// `f()`, compiled for AVX2 (eight float32 lanes where the baseline x86-64 target has four)
/// when the CPU has it: `f` is inlined into a function built for AVX2, and the loops in it
/// vectorize for that. Values do not change: AVX2 adds no instruction that rounds otherwise
/// (FMA is not enabled, and Rust never contracts a multiply and an add).
#[inline(always)]
fn wide_vectors<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// float16 ⇄ float32 with the F16C instructions libtorch's kernels use (`vcvtph2ps`,
/// `vcvtps2ph` rounding to nearest, ties to even), eight elements at a time, a partial eight
/// through a padded buffer. Compiled for F16C as a whole so that the intrinsics inline: the
/// `half` crate's slice conversions call a function per eight elements, and five such round
/// trips per element made smooth L1's float16 value ten times slower than the tensor ops.
#[cfg(target_arch = "x86_64")]
mod f16c {
    use std::arch::x86_64::{
        __m128i, __m256, _mm256_add_ps, _mm256_cvtph_ps, _mm256_cvtps_ph, _mm256_loadu_ps, _mm256_set1_ps,
        _mm256_storeu_ps, _mm256_sub_ps, _mm_loadu_si128, _mm_storeu_si128, _MM_FROUND_TO_NEAREST_INT,
    };

    /// `dst[i] = src[i]` widened, for `min(len)` elements.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn widen(src: &[half::f16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let whole = n - n % 8;
        for i in (0..whole).step_by(8) {
            let h = _mm_loadu_si128(src.as_ptr().add(i) as *const __m128i);
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
        if whole < n {
            let mut h = [half::f16::ZERO; 8];
            h[..n - whole].copy_from_slice(&src[whole..n]);
            let mut f = [0f32; 8];
            _mm256_storeu_ps(f.as_mut_ptr(), _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr() as *const __m128i)));
            dst[whole..n].copy_from_slice(&f[..n - whole]);
        }
    }

    /// `dst[i] = src[i]` rounded to float16, for `min(len)` elements.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn narrow(src: &[f32], dst: &mut [half::f16]) {
        let n = src.len().min(dst.len());
        let whole = n - n % 8;
        for i in (0..whole).step_by(8) {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(src.as_ptr().add(i)));
            _mm_storeu_si128(dst.as_mut_ptr().add(i) as *mut __m128i, h);
        }
        if whole < n {
            let mut f = [0f32; 8];
            f[..n - whole].copy_from_slice(&src[whole..n]);
            let mut h = [half::f16::ZERO; 8];
            let packed = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(f.as_ptr()));
            _mm_storeu_si128(h.as_mut_ptr() as *mut __m128i, packed);
            dst[whole..n].copy_from_slice(&h[..n - whole]);
        }
    }

    /// `out[i] = round(round(a[i] − b[i]) + eps)`, rounding to float16, for `min(len)` elements.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn difference(a: &[half::f16], b: &[half::f16], eps: f32, out: &mut [f32]) {
        let round = |v: __m256| _mm256_cvtph_ps(_mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v));
        let step = |x: __m128i, y: __m128i| {
            let d = round(_mm256_sub_ps(_mm256_cvtph_ps(x), _mm256_cvtph_ps(y)));
            round(_mm256_add_ps(d, _mm256_set1_ps(eps)))
        };
        let n = a.len().min(b.len()).min(out.len());
        let whole = n - n % 8;
        for i in (0..whole).step_by(8) {
            let x = _mm_loadu_si128(a.as_ptr().add(i) as *const __m128i);
            let y = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
            _mm256_storeu_ps(out.as_mut_ptr().add(i), step(x, y));
        }
        if whole < n {
            let (mut x, mut y) = ([half::f16::ZERO; 8], [half::f16::ZERO; 8]);
            x[..n - whole].copy_from_slice(&a[whole..n]);
            y[..n - whole].copy_from_slice(&b[whole..n]);
            let mut f = [0f32; 8];
            let load = |h: &[half::f16; 8]| _mm_loadu_si128(h.as_ptr() as *const __m128i);
            _mm256_storeu_ps(f.as_mut_ptr(), step(load(&x), load(&y)));
            out[whole..n].copy_from_slice(&f[..n - whole]);
        }
    }

    /// Each value rounded to float16 and widened back.
    #[target_feature(enable = "avx,f16c")]
    pub(super) unsafe fn round(xs: &mut [f32]) {
        let n = xs.len();
        let whole = n - n % 8;
        for i in (0..whole).step_by(8) {
            let p = xs.as_mut_ptr().add(i);
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(p));
            _mm256_storeu_ps(p, _mm256_cvtph_ps(h));
        }
        if whole < n {
            let mut f = [0f32; 8];
            f[..n - whole].copy_from_slice(&xs[whole..]);
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(f.as_ptr()));
            _mm256_storeu_ps(f.as_mut_ptr(), _mm256_cvtph_ps(h));
            xs[whole..].copy_from_slice(&f[..n - whole]);
        }
    }
}

impl Element for half::bf16 {
    type Compute = f32;
    const REDUCED: bool = true;
    #[inline(always)]
    fn round(x: f32) -> f32 {
        bf16_from_f32(x).to_f32()
    }
    #[inline(always)]
    fn widen_into(row: &[half::bf16], buffer: &mut [f32]) {
        for (w, x) in buffer.iter_mut().zip(row) {
            *w = x.to_f32();
        }
    }
    #[inline(always)]
    fn narrow(row: &[f32], into: &mut [half::bf16]) {
        for (n, &x) in into.iter_mut().zip(row) {
            *n = bf16_from_f32(x);
        }
    }
}

/// The gradient of softmax (`log = false`) or log_softmax (`log = true`) along the last
/// dimension of rows of `dim_size`, from the upstream gradient `g` and the output `y`, as
/// libtorch's `_vec_host_softmax_backward_lastdim` computes it per row: softmax `(g − Σ g·y)·y`,
/// log_softmax `g − exp(y)·Σ g` (one fused multiply-add, with the kernel's exp), the sums in its
/// lanes' order, in float32 for float16 and bfloat16, rounded once.
pub(crate) fn softmax_backward_lastdim(g: &Tensor, y: &Tensor, log: bool, dim_size: usize) -> Result<Tensor> {
    if g.size() != y.size() || g.kind() != y.kind() || !g.is_contiguous() || !y.is_contiguous() {
        return invalid!(
            "softmax backward: gradient {:?} {:?}, output {:?} {:?}",
            g.kind(),
            g.size(),
            y.kind(),
            y.size()
        );
    }
    by_float_kind!(g.kind(), "softmax backward", |E| rows::<E>(g, y, log, dim_size))
}

fn rows<E: Element>(g: &Tensor, y: &Tensor, log: bool, n: usize) -> Result<Tensor> {
    let out = g.f_empty_like()?;
    let total = g.numel();
    if total == 0 || n == 0 {
        return Ok(out);
    }
    let lanes = crate::ffi::vector_bytes() / std::mem::size_of::<E::Compute>();
    // SAFETY: `g`, `y` and `out` are contiguous CPU tensors of `total` elements of E (their dtype
    // was matched to E by the caller), alive for this scope; `out` is new and written in
    // disjoint rows.
    let (gs, ys, outs) = unsafe { (elements::<E>(g), elements::<E>(y), Disjoint(out.data_ptr() as *mut E)) };
    crate::ffi::parallel_for(total / n, rows_per_task(n), |begin, end| {
        let (mut g_buffer, mut y_buffer, mut result) =
            (vec![E::Compute::default(); n], vec![E::Compute::default(); n], vec![E::Compute::default(); n]);
        for row in begin..end {
            let span = row * n..(row + 1) * n;
            let gw = E::widen(&gs[span.clone()], &mut g_buffer);
            let yw = E::widen(&ys[span.clone()], &mut y_buffer);
            // SAFETY: rows begin..end are this chunk's alone, and lie in `out`.
            let out_row = unsafe { outs.range(span.start, span.end) };
            E::compute_into(out_row, &mut result, |result| {
                if log {
                    let s = E::row_sum(lanes, gw, gw, |x, _| x);
                    result.copy_from_slice(yw);
                    E::Compute::exp_in_place(result, crate::ffi::cpu_capability());
                    minus_product(result, gw, s);
                } else {
                    let s = E::row_sum(lanes, gw, yw, |x, y| x * y);
                    for ((r, &gi), &yi) in result.iter_mut().zip(gw).zip(yw) {
                        *r = (gi - s) * yi;
                    }
                }
            });
        }
    });
    Ok(out)
}

/// `e ← g − e·s` element by element, each rounded once as a fused multiply-add: the compiler
/// contracts libtorch's `x - y.exp() * Vec(sum)` into one (computed as two roundings, 2–17 % of
/// float32 and float64 elements differed from libtorch's; `tests/bit_for_bit.rs`).
/// libtorch's plain C++ build is compiled without FMA, so nothing is fused there.
fn minus_product<A: Lane>(e: &mut [A], g: &[A], s: A) {
    if crate::ffi::cpu_capability() == crate::ffi::Capability::Default {
        for (ei, &gi) in e.iter_mut().zip(g) {
            *ei = gi - *ei * s;
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the FMA instructions this copy is compiled for.
        return unsafe { minus_product_fma(e, g, s) };
    }
    // Elsewhere `mul_add` calls the C library's fma: the same values, more slowly.
    for (ei, &gi) in e.iter_mut().zip(g) {
        *ei = A::fused_negative_multiply_add(*ei, s, gi);
    }
}

/// [`minus_product`] compiled with FMA, so that `mul_add` is one instruction, not a call.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn minus_product_fma<A: Lane>(e: &mut [A], g: &[A], s: A) {
    for (ei, &gi) in e.iter_mut().zip(g) {
        *ei = A::fused_negative_multiply_add(*ei, s, gi);
    }
}

/// Rows per task on libtorch's threads: enough for `at::internal::GRAIN_SIZE` elements. The
/// kernels split rows among threads however small the tensor (a grain of 0); rows are
/// independent, so the split changes no value, and a small tensor stays on the calling thread
/// rather than wake a worker that then spins on the other core.
fn rows_per_task(row_length: usize) -> usize {
    (super::scalar_loop::GRAIN_SIZE / row_length.max(1)).max(1)
}

/// softmax (`log = false`) or log_softmax (`log = true`) along the last dimension of `x`, a
/// contiguous tensor of rows of `dim_size`, as libtorch's `lastdim` kernels compute them, one
/// pass over each row:
/// - the row shifted by its maximum (taken as 0 where it is not finite, as the composition in
///   `loss::softmax` does, so that a row of −inf gives NaN rather than inf − inf);
/// - `e = exp(x − max)` with the kernels' own vectorized exp (SLEEF's, `ffi::VectorMath`);
/// - softmax: `e · (1 / Σ e)`, the sum in the kernel's lane order; for float16 and bfloat16 over
///   whole float32 vectors only, the last `dim_size mod lanes` elements' exp then taken by the C
///   library and added one by one, as the kernel's scalar tail does;
/// - log_softmax: `(x − max) − log Σ e`, the sum and its log rounded to the dtype in between (the
///   kernel keeps them in an array of it).
///
/// float16 and bfloat16 compute in float32 and round once.
pub(crate) fn softmax_forward_lastdim(x: &Tensor, dim_size: usize, log: bool) -> Result<Tensor> {
    if !x.is_contiguous() || x.dim() == 0 || x.size().last() != Some(&(dim_size as i64)) {
        return invalid!("softmax forward: {:?} {:?} is not contiguous rows of {dim_size}", x.kind(), x.size());
    }
    by_float_kind!(x.kind(), "softmax forward", |E| forward_rows::<E>(x, dim_size, log))
}

/// A row's maximum as the shift: 0 where it is not finite, NaN included (a row holding a NaN
/// has maximum NaN, as `at::vec::maximum` propagates it). In lanes, so that it vectorizes.
fn shift_of<A: Lane>(row: &[A]) -> A {
    const W: usize = 16;
    let mut max = [row[0]; W];
    // The larger, or the NaN: a lane that holds NaN keeps it (nothing compares greater).
    let larger = |m: A, v: A| if v > m || v.is_nan() { v } else { m };
    let chunks = row.chunks_exact(W);
    let rest = chunks.remainder();
    for chunk in chunks {
        for i in 0..W {
            max[i] = larger(max[i], chunk[i]);
        }
    }
    for (i, &v) in rest.iter().enumerate() {
        max[i] = larger(max[i], v);
    }
    let max = max.iter().fold(max[0], |m, &v| larger(m, v));
    if max.is_finite() {
        max
    } else {
        A::ZERO
    }
}

fn forward_rows<E: Element>(x: &Tensor, n: usize, log: bool) -> Result<Tensor> {
    let out = x.f_empty_like()?;
    let total = x.numel();
    if total == 0 || n == 0 {
        return Ok(out);
    }
    let lanes = crate::ffi::vector_bytes() / std::mem::size_of::<E::Compute>();
    // SAFETY: `x` is a contiguous CPU tensor of `total` elements of E (matched by the caller),
    // `out` a new one like it, both alive for this function; each chunk writes its own rows.
    let xs = unsafe { elements::<E>(x) };
    let outs = Disjoint(out.data_ptr() as *mut E);
    crate::ffi::parallel_for(total / n, rows_per_task(n), |begin, end| {
        let (mut x_buffer, mut e) = (vec![E::Compute::default(); n], vec![E::Compute::default(); n]);
        if log {
            // As the kernel does: the rows' sums of exp first, then their logs together (one
            // vector call for many rows), then each row's output.
            const ROWS: usize = 64;
            let (mut shifts, mut log_sums) = ([E::Compute::ZERO; ROWS], [E::Compute::ZERO; ROWS]);
            for first in (begin..end).step_by(ROWS) {
                let last = (first + ROWS).min(end);
                for r in first..last {
                    let row = E::widen(&xs[r * n..(r + 1) * n], &mut x_buffer);
                    let shift = shift_of(row);
                    for (ei, &v) in e.iter_mut().zip(row) {
                        *ei = v - shift;
                    }
                    E::Compute::exp_in_place(&mut e, crate::ffi::cpu_capability());
                    shifts[r - first] = shift;
                    log_sums[r - first] = E::round(E::row_sum(lanes, &e, &e, |x, _| x));
                }
                E::Compute::log_in_place(&mut log_sums[..last - first], crate::ffi::cpu_capability());
                for r in first..last {
                    let row = E::widen(&xs[r * n..(r + 1) * n], &mut x_buffer);
                    let (shift, log_sum) = (shifts[r - first], E::round(log_sums[r - first]));
                    // SAFETY: row r is this chunk's, and lies in `out`.
                    let out_row = unsafe { outs.range(r * n, (r + 1) * n) };
                    E::compute_into(out_row, &mut e, |o| {
                        for (o, &v) in o.iter_mut().zip(row) {
                            *o = v - shift - log_sum;
                        }
                    });
                }
            }
            return;
        }
        for r in begin..end {
            let row = E::widen(&xs[r * n..(r + 1) * n], &mut x_buffer);
            let shift = shift_of(row);
            // SAFETY: row r is this chunk's, and lies in `out`.
            let out_row = unsafe { outs.range(r * n, (r + 1) * n) };
            E::compute_into(out_row, &mut e, |e| {
                for (ei, &v) in e.iter_mut().zip(row) {
                    *ei = v - shift;
                }
                let sum = if E::REDUCED {
                    // Whole vectors in lanes, then the scalar tail in order, with its own exp.
                    let whole = n - n % lanes;
                    E::Compute::exp_in_place(&mut e[..whole], crate::ffi::cpu_capability());
                    let mut acc = [E::Compute::ZERO; MAX_LANES];
                    for chunk in e[..whole].chunks_exact(lanes) {
                        for (a, &v) in acc.iter_mut().zip(chunk) {
                            *a += v;
                        }
                    }
                    let mut sum = E::Compute::combine_lanes(&mut acc[..lanes]);
                    for ei in &mut e[whole..] {
                        *ei = ei.exp();
                        sum += *ei;
                    }
                    sum
                } else {
                    E::Compute::exp_in_place(e, crate::ffi::cpu_capability());
                    E::row_sum(lanes, e, e, |x, _| x)
                };
                let scale = sum.recip();
                for ei in e.iter_mut() {
                    *ei = *ei * scale;
                }
            });
        }
    });
    Ok(out)
}

/// Where a row kernel's rows come from: a tensor's elements, or the difference `a − b + eps`
/// computed on the fly as libtorch's `sub` and then `add(Scalar)` compute it in the dtype
/// (each step rounded to it; the caller rounds `eps` to it first, as the scalar is), the one
/// `torch.pairwise_distance` takes the norm of, never stored.
#[derive(Clone, Copy)]
enum Rows<'a, E: Element> {
    Of(&'a [E]),
    Difference { a: &'a [E], b: &'a [E], eps: E::Compute },
}

impl<'a, E: Element> Rows<'a, E> {
    /// Elements `from..to` in the compute type, in `buffer` (float32 and float64 lend a
    /// tensor's own).
    fn get<'b>(self, from: usize, to: usize, buffer: &'b mut [E::Compute]) -> &'b [E::Compute]
    where
        'a: 'b,
    {
        match self {
            Rows::Of(xs) => E::widen(&xs[from..to], buffer),
            Rows::Difference { a, b, eps } => {
                E::difference_into(&a[from..to], &b[from..to], eps, buffer);
                buffer
            }
        }
    }
}

/// `eps` as a `kind` tensor holds it: converted by libtorch (through float32 for the half
/// dtypes, as a Scalar is), so that the difference rounds as `add(Scalar)` does.
fn scalar_in<E: Element>(eps: f64, kind: tch::Kind) -> Result<E::Compute> {
    Ok(E::Compute::from_f64(Tensor::from(eps).f_to_kind(kind)?.f_double_value(&[])?))
}

/// Checks for the row kernels: each of `rows_of` contiguous and `rows · row_length` long, each
/// of `per_row` contiguous and `rows` long, all of one dtype.
fn check_rows(what: &str, rows_of: &[&Tensor], per_row: &[&Tensor], row_length: usize) -> Result<()> {
    let rows = per_row[0].numel();
    let kind = rows_of[0].kind();
    let fits =
        |ts: &[&Tensor], len: usize| ts.iter().all(|t| t.numel() == len && t.is_contiguous() && t.kind() == kind);
    if !fits(rows_of, rows * row_length) || !fits(per_row, rows) {
        let shapes: Vec<_> = rows_of.iter().chain(per_row).map(|t| (t.kind(), t.size())).collect();
        return invalid!("{what}: {shapes:?} are not contiguous rows of {row_length} of one dtype");
    }
    Ok(())
}

/// libtorch's `norm_backward` for p = 2 over the last dimension, `g·(x/‖x‖)` with `x/‖x‖` taken
/// as 0 where the norm is 0 (`grad * (self / norm).masked_fill_(norm == 0, 0)`), one pass per
/// row where the tensor ops make three: `x` contiguous rows of `row_length`, `g` and `norm`
/// contiguous, one value per row, all of one dtype; the quotient and the product each rounded
/// to it.
pub(crate) fn norm_two_backward_rows(x: &Tensor, g: &Tensor, norm: &Tensor, row_length: usize) -> Result<Tensor> {
    check_rows("norm backward", &[x], &[g, norm], row_length)?;
    by_float_kind!(x.kind(), "norm backward", |E| {
        // SAFETY: a contiguous CPU tensor of E (checked above), alive for the call.
        scaled_rows::<E>(Rows::Of(unsafe { elements::<E>(x) }), x, g, norm, row_length)
    })
}

/// [`norm_two_backward_rows`] of `x = a − b + eps` (see [`difference_norms`]) without `x`: the
/// gradient with respect to `a`; `b`'s is its negation. One pass where the tensor ops make five.
pub(crate) fn difference_norm_backward_rows(
    (a, b, eps): (&Tensor, &Tensor, f64),
    g: &Tensor,
    norm: &Tensor,
    row_length: usize,
) -> Result<Tensor> {
    check_rows("pairwise distance backward", &[a, b], &[g, norm], row_length)?;
    by_float_kind!(a.kind(), "pairwise distance backward", |E| {
        // SAFETY: contiguous CPU tensors of E (checked above), alive for the call.
        let (a_, b_) = unsafe { (elements::<E>(a), elements::<E>(b)) };
        let rows = Rows::Difference { a: a_, b: b_, eps: scalar_in::<E>(eps, a.kind())? };
        scaled_rows::<E>(rows, a, g, norm, row_length)
    })
}

/// `g·round(x/norm)` per row (0 where the norm is 0), shaped as `like`.
fn scaled_rows<E: Element>(xs: Rows<'_, E>, like: &Tensor, g: &Tensor, norm: &Tensor, n: usize) -> Result<Tensor> {
    let out = like.f_empty_like()?;
    let rows = g.numel();
    if rows == 0 || n == 0 {
        return Ok(out);
    }
    // SAFETY: contiguous CPU tensors of E of `rows` elements (checked by the caller), alive for
    // this function; `out` is new and written in disjoint rows.
    let (gs, norms) = unsafe { (elements::<E>(g), elements::<E>(norm)) };
    let outs = Disjoint(out.data_ptr() as *mut E);
    row_tasks(
        rows,
        n,
        #[inline(always)]
        |begin, end| {
            let block = rows_per_block(n);
            let (mut x_buffer, mut scratch) =
                (vec![E::Compute::default(); block * n], vec![E::Compute::default(); block * n]);
            let (mut gw, mut normw) =
                (vec![E::Compute::default(); end - begin], vec![E::Compute::default(); end - begin]);
            E::widen_into(&gs[begin..end], &mut gw);
            E::widen_into(&norms[begin..end], &mut normw);
            for (first, last) in row_blocks(begin, end, n) {
                let (from, to) = (first * n, last * n);
                let xb = xs.get(from, to, &mut x_buffer[..to - from]);
                let scalars = || gw[first - begin..last - begin].iter().zip(&normw[first - begin..last - begin]);
                // SAFETY: rows first..last are this chunk's, and lie in `out`.
                let out_rows = unsafe { outs.range(from, to) };
                E::compute_into(out_rows, &mut scratch[..to - from], |o| {
                    for ((o, x), (_, &norm)) in o.chunks_exact_mut(n).zip(xb.chunks_exact(n)).zip(scalars()) {
                        for (o, &x) in o.iter_mut().zip(x) {
                            *o = x / norm;
                        }
                    }
                    E::round_block(o);
                    for (o, (&g, &norm)) in o.chunks_exact_mut(n).zip(scalars()) {
                        if norm == E::Compute::ZERO {
                            o.fill(E::Compute::ZERO);
                        }
                        for o in o.iter_mut() {
                            *o = g * *o;
                        }
                    }
                });
            }
        },
    );
    Ok(out)
}

/// Rows of `row_length` widened, computed and narrowed together: about 2 048 elements, so that
/// the conversions run over long slices (rows of 100 would each end in a partial vector) and
/// the buffers stay in L1.
fn rows_per_block(row_length: usize) -> usize {
    (2048 / row_length.max(1)).max(1)
}

/// `task(begin, end)` over chunks of `rows` rows of `row_length` on libtorch's threads, split as
/// its row kernels split, compiled for AVX2 where the CPU has it ([`wide_vectors`]; mark the
/// task `#[inline(always)]` so that its loops are compiled there).
fn row_tasks(rows: usize, row_length: usize, task: impl Fn(usize, usize) + Sync) {
    crate::ffi::parallel_for(rows, rows_per_task(row_length), |begin, end| {
        wide_vectors(
            #[inline(always)]
            || task(begin, end),
        )
    });
}

/// The blocks of whole rows, `(first, last)`, of the rows `begin..end`.
fn row_blocks(begin: usize, end: usize, row_length: usize) -> impl Iterator<Item = (usize, usize)> {
    let block = rows_per_block(row_length);
    (begin..end).step_by(block).map(move |first| (first, (first + block).min(end)))
}

/// `‖x‖₂` over the last dimension of a contiguous float16 or bfloat16 tensor of rows of
/// `row_length`, one pass per row: the squares (exact in float32) summed in float32, sixteen
/// lanes then the lanes in order, the square root rounded once to the dtype. libtorch adds in
/// another order, but the float32 sum's error is far below a float16 or bfloat16 rounding, so
/// the two norms differ only where the exact norm sits almost on a rounding boundary, by one
/// rounding (measured: 1 float16 row in 120 240, none in bfloat16), and without the float32
/// copy and squares a tensor sum reads from. Shaped as the input without its last dimension
/// (kept as 1 with `keepdim`).
pub(crate) fn half_row_norms(x: &Tensor, row_length: usize, keepdim: bool) -> Result<Tensor> {
    let out = row_norms_like(x, row_length, keepdim)?;
    match x.kind() {
        // SAFETY (both): a contiguous CPU tensor of that dtype (checked), alive for the call.
        tch::Kind::Half => norm_rows::<half::f16>(Rows::Of(unsafe { elements(x) }), &out, row_length)?,
        tch::Kind::BFloat16 => norm_rows::<half::bf16>(Rows::Of(unsafe { elements(x) }), &out, row_length)?,
        kind => return invalid!("row norms: {kind:?} is not float16 or bfloat16"),
    }
    Ok(out)
}

/// `‖a − b + eps‖₂` over the last dimension of two float16 or bfloat16 tensors of one shape
/// (contiguous rows of `row_length`), as `torch.pairwise_distance(a, b, 2, eps)`: the
/// difference rounded as libtorch's `sub` and `add(Scalar)` round it, computed in the same pass
/// as the norm instead of stored (bit for bit [`half_row_norms`] of the stored difference).
pub(crate) fn difference_norms(a: &Tensor, b: &Tensor, eps: f64, row_length: usize) -> Result<Tensor> {
    let out = row_norms_like(a, row_length, false)?;
    check_rows("pairwise distance", &[a, b], &[&out], row_length)?;
    match a.kind() {
        tch::Kind::Half => difference_norm_rows::<half::f16>(a, b, eps, &out, row_length)?,
        tch::Kind::BFloat16 => difference_norm_rows::<half::bf16>(a, b, eps, &out, row_length)?,
        kind => return invalid!("pairwise distance: {kind:?} is not float16 or bfloat16"),
    }
    Ok(out)
}

fn difference_norm_rows<E: Element<Compute = f32>>(
    a: &Tensor,
    b: &Tensor,
    eps: f64,
    out: &Tensor,
    n: usize,
) -> Result<()> {
    // SAFETY: contiguous CPU tensors of E (checked by the caller), alive for the call.
    let (a_, b_) = unsafe { (elements::<E>(a), elements::<E>(b)) };
    norm_rows::<E>(Rows::Difference { a: a_, b: b_, eps: scalar_in::<E>(eps, a.kind())? }, out, n)
}

/// A new tensor for one norm per row of `x` (contiguous rows of `row_length`).
fn row_norms_like(x: &Tensor, row_length: usize, keepdim: bool) -> Result<Tensor> {
    let mut shape = x.size();
    if !x.is_contiguous() || shape.last() != Some(&(row_length as i64)) {
        return invalid!("row norms: {:?} {:?} is not contiguous rows of {row_length}", x.kind(), shape);
    }
    shape.pop();
    if keepdim {
        shape.push(1);
    }
    Ok(Tensor::f_empty(shape.as_slice(), (x.kind(), x.device()))?)
}

fn norm_rows<E: Element<Compute = f32>>(xs: Rows<'_, E>, out: &Tensor, n: usize) -> Result<()> {
    let rows = out.numel();
    if rows == 0 {
        return Ok(());
    }
    // `out` is a new contiguous tensor of `rows` elements; each chunk writes its own rows.
    let outs = Disjoint(out.data_ptr() as *mut E);
    row_tasks(
        rows,
        n,
        #[inline(always)]
        |begin, end| {
            let mut wide = vec![0f32; rows_per_block(n) * n];
            let mut norms = vec![0f32; end - begin];
            for (first, last) in row_blocks(begin, end, n) {
                let (from, to) = (first * n, last * n);
                let block_rows = xs.get(from, to, &mut wide[..to - from]);
                for (row, norm) in block_rows.chunks_exact(n).zip(&mut norms[first - begin..last - begin]) {
                    let mut lanes = [0f32; MAX_LANES];
                    let chunks = row.chunks_exact(MAX_LANES);
                    let rest = chunks.remainder();
                    for chunk in chunks {
                        for (l, &v) in lanes.iter_mut().zip(chunk) {
                            *l += v * v;
                        }
                    }
                    for (l, &v) in lanes.iter_mut().zip(rest) {
                        *l += v * v;
                    }
                    *norm = in_order(&lanes).sqrt();
                }
            }
            // SAFETY: rows begin..end are this chunk's, and lie in `out`.
            E::narrow(&norms, unsafe { outs.range(begin, end) });
        },
    );
    Ok(())
}

/// Elements per block of [`map_blocks`]: small enough for the buffers to stay in L1.
pub(crate) const BLOCK: usize = 512;

/// A new tensor of E whose elements `f` computes block by block from `inputs` (contiguous, of
/// E's dtype, each of `inputs[0]`'s shape or a single element, which is broadcast), each block
/// widened to the compute type; on libtorch's threads, split as its elementwise kernels split
/// (`at::internal::GRAIN_SIZE`). One pass over memory where a composition of tensor ops makes
/// one per operation.
pub(crate) fn map_blocks<E: Element>(
    inputs: &[&Tensor],
    f: impl Fn(&[&[E::Compute]], &mut [E::Compute]) + Sync,
) -> Result<Tensor> {
    let first = inputs[0];
    let total = first.numel();
    for t in inputs {
        let shaped = t.size() == first.size() || t.numel() == 1;
        if !shaped || !t.is_contiguous() || std::mem::size_of::<E>() != t.kind().elt_size_in_bytes() {
            return invalid!("map_blocks: {:?} {:?} against {:?} {:?}", t.kind(), t.size(), first.kind(), first.size());
        }
    }
    let out = first.f_empty_like()?;
    if total == 0 {
        return Ok(out);
    }
    // SAFETY: the inputs are contiguous CPU tensors of `total` (or 1) elements of E's size (the
    // caller matches E to their dtype), alive for this function; `out` is new, and each chunk
    // writes its own range.
    let slices: Vec<&[E]> = inputs.iter().map(|t| unsafe { elements::<E>(t) }).collect();
    let outs = Disjoint(out.data_ptr() as *mut E);
    crate::ffi::parallel_for(total, super::scalar_loop::GRAIN_SIZE, |begin, end| {
        let mut buffers = vec![[E::Compute::default(); BLOCK]; slices.len()];
        let mut result = [E::Compute::default(); BLOCK];
        let mut start = begin;
        while start < end {
            let len = BLOCK.min(end - start);
            for (buffer, slice) in buffers.iter_mut().zip(&slices) {
                if slice.len() == 1 {
                    let mut one = [E::Compute::default()];
                    E::widen_into(slice, &mut one);
                    buffer[..len].fill(one[0]);
                } else {
                    E::widen_into(&slice[start..start + len], &mut buffer[..len]);
                }
            }
            let blocks: Vec<&[E::Compute]> = buffers.iter().map(|b| &b[..len]).collect();
            f(&blocks, &mut result[..len]);
            // SAFETY: start..start + len lies in this chunk's range of `out`.
            E::narrow(&result[..len], unsafe { outs.range(start, start + len) });
            start += len;
        }
    });
    Ok(out)
}

/// `log σ(x) = min(x, 0) − log1p(exp(−|x|))` over a block, as libtorch's `log_sigmoid_cpu_kernel`
/// (`Activation.cpp`) computes it, with the SLEEF exp and log1p of `capability` and
/// `at::vec::minimum` (a NaN x gives NaN either way, through log1p). Its vector loop covers
/// partial vectors too, so this holds for every element.
pub(crate) fn log_sigmoid_block<A: Lane>(x: &[A], out: &mut [A], capability: Capability) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = -v.abs();
    }
    A::exp_in_place(out, capability);
    A::log1p_in_place(out, capability);
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if v < A::ZERO { v } else { A::ZERO } - *o;
    }
}

/// log σ's gradient over a block, as libtorch's `log_sigmoid_backward` kernel computes it from
/// the buffer `z = exp(−|x|)` its forward kept in E: `(max − sign·z/(1 + z))·g` with max 1 and
/// sign 1 where x < 0, else 0 and −1; that is `(1 − r)·g` or `r·g` with `r = z/(1 + z)` (the
/// product by ±1 is exact, fused or not). float16 and bfloat16: in float32, rounded once.
pub(crate) fn log_sigmoid_backward_block<E: Element>(
    x: &[E::Compute],
    g: &[E::Compute],
    out: &mut [E::Compute],
    capability: Capability,
) {
    type A<E> = <E as Element>::Compute;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = -v.abs();
    }
    A::<E>::exp_in_place(out, capability);
    E::round_block(out);
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(g) {
        let r = *o / (A::<E>::ONE + *o);
        *o = if v < A::<E>::ZERO { A::<E>::ONE - r } else { r } * g;
    }
}

#[cfg(test)]
mod tests {
    use super::Element;
    use half::f16;

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// The block conversions against `half`'s element conversions: every float16 widened, and
    /// float32 values at and around every point where rounding to float16 changes (each float16,
    /// each midpoint between neighbours and the float32 values either side of it, overflow,
    /// subnormals, NaN), in slices of every length up to 17 so that each partial eight is hit.
    #[test]
    fn float16_block_conversions_round_as_element_conversions() {
        let every: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let mut wide = vec![0f32; every.len()];
        f16::widen_into(&every, &mut wide);
        assert!(every.iter().zip(&wide).all(|(h, &w)| same(h.to_f32(), w)));

        let finite: Vec<f32> = every.iter().filter(|h| h.is_finite()).map(|h| h.to_f32()).collect();
        let mut values = vec![f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MAX, 65520.0, 1e-9, -1e-9];
        let mut sorted = finite.clone();
        sorted.sort_by(f32::total_cmp);
        for pair in sorted.windows(2) {
            let middle = ((pair[0] as f64 + pair[1] as f64) / 2.0) as f32;
            values.extend([pair[0], middle, middle.next_up(), middle.next_down()]);
        }
        for len in 1..=17 {
            for chunk in values.chunks(len) {
                let mut narrow = vec![f16::ZERO; chunk.len()];
                f16::narrow(chunk, &mut narrow);
                let mut rounded = chunk.to_vec();
                f16::round_block(&mut rounded);
                for ((&x, n), &r) in chunk.iter().zip(&narrow).zip(&rounded) {
                    let expected = f16::from_f32(x);
                    assert!(same(n.to_f32(), expected.to_f32()), "{x:e} narrowed to {n}, not {expected}");
                    assert!(same(r, expected.to_f32()), "{x:e} rounded to {r:e}, not {expected}");
                }
            }
        }
    }
}

#[cfg(test)]
mod norm_tests {
    use tch::{Kind, Tensor};

    /// The one-pass half-dtype norms against libtorch's own (`pairwise_distance` from 0, p = 2,
    /// eps 0), which adds in another order: rows of 1 to 300 elements at scales from 1e-3 to
    /// 1e3, 30 060 rows per dtype from a fixed generator. No norm is more than one rounding from
    /// libtorch's, and at most one in 5 000 differs at all (here 1 float16 row, no bfloat16 row;
    /// over 120 240 rows drawn by libtorch, 1 float16 row, and 3 for the float32 tensor sum this
    /// replaced).
    #[test]
    fn half_row_norms_are_libtorch_norms_but_at_rare_ties() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for kind in [Kind::Half, Kind::BFloat16] {
            let (mut rows, mut differing) = (0usize, 0usize);
            for n in [1usize, 3, 16, 17, 100, 300] {
                for scale in [1e-3, 1.0, 1e3] {
                    for _ in 0..5 {
                        let values: Vec<f64> = (0..334 * n).map(|_| uniform() * scale).collect();
                        let x = Tensor::from_slice(&values).view([334, n as i64]).to_kind(kind);
                        let mine = super::half_row_norms(&x, n, false).unwrap();
                        let theirs = Tensor::pairwise_distance(&x, &x.zeros_like(), 2.0, 0.0, false);
                        let bits = |t: &Tensor| -> Vec<i64> {
                            let v = Vec::<f32>::try_from(t.to_kind(Kind::Float)).unwrap();
                            match kind {
                                Kind::Half => v.iter().map(|&x| half::f16::from_f32(x).to_bits() as i64).collect(),
                                _ => v.iter().map(|&x| half::bf16::from_f32(x).to_bits() as i64).collect(),
                            }
                        };
                        for (a, b) in bits(&mine).into_iter().zip(bits(&theirs)) {
                            assert!((a - b).abs() <= 1, "{kind:?} rows of {n} at {scale}: {a:#x} against {b:#x}");
                            differing += usize::from(a != b);
                        }
                        rows += 334;
                    }
                }
            }
            assert!(differing * 5000 <= rows, "{kind:?}: {differing} of {rows} norms differ from libtorch's");
        }
    }

    /// The pairwise distance computed with its difference against the norm of the difference as
    /// libtorch's `sub` and `add(Scalar)` store it, bit for bit: rows of 1 to 300, scales from
    /// 1e-7 (where eps = 1e-6 dominates and its own rounding in the dtype shows) to 1e3, eps 0,
    /// 1e-6 and 0.1, and a row holding an infinity and a NaN.
    #[test]
    fn difference_norms_are_norms_of_the_stored_difference() {
        for kind in [Kind::Half, Kind::BFloat16] {
            for n in [1i64, 7, 16, 100, 300] {
                for scale in [1e-7, 1.0, 1e3] {
                    for eps in [0.0, 1e-6, 0.1] {
                        let draw = || (Tensor::randn([67, n], (Kind::Float, tch::Device::Cpu)) * scale).to_kind(kind);
                        let (a, b) = (draw(), draw());
                        let _ = a.get(2).get(0).fill_(f64::INFINITY);
                        let _ = b.get(4).get(n - 1).fill_(f64::NAN);
                        let mine = super::difference_norms(&a, &b, eps, n as usize).unwrap();
                        let stored = (&a - &b).g_add_scalar(eps);
                        let theirs = super::half_row_norms(&stored, n as usize, false).unwrap();
                        let bits = |t: &Tensor| Vec::<i16>::try_from(t.view_dtype(Kind::Int16)).unwrap();
                        assert_eq!(bits(&mine), bits(&theirs), "{kind:?} rows of {n} at {scale}, eps {eps}");
                    }
                }
            }
        }
    }
}
