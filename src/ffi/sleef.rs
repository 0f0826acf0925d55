//! The vectorized `exp` and `log` libtorch's CPU kernels call: `at::vec::Vectorized<float>::exp()`
//! is SLEEF's `Sleef_expf16_u10` with AVX-512 (`Sleef_expf8_u10` with AVX2), and so on, and
//! libtorch_cpu exports those functions. Tensor ops such as `exp` take another route (MKL's VML
//! for contiguous float32), which rounds differently in the last bit of some elements; a Rust
//! loop that stands in for a kernel calls these to compute what the kernel computes.
//!
//! Rust cannot pass SIMD vectors through FFI: `sleef.cpp` maps a slice in place, a vector at a
//! time, a partial vector at the end padded with zeros as `Vectorized::loadu(ptr, count)` pads it.

use super::Capability;

#[cfg(target_arch = "x86_64")]
mod x86 {
    // In sleef.cpp; each requires the instructions its name says (512: AVX-512F, 256: AVX2 and
    // FMA), and maps `n` elements at `xs` in place.
    extern "C" {
        pub(super) fn tp_exp_f32_512(xs: *mut f32, n: i64);
        pub(super) fn tp_exp_f64_512(xs: *mut f64, n: i64);
        pub(super) fn tp_log_f32_512(xs: *mut f32, n: i64);
        pub(super) fn tp_log_f64_512(xs: *mut f64, n: i64);
        pub(super) fn tp_exp_f32_256(xs: *mut f32, n: i64);
        pub(super) fn tp_exp_f64_256(xs: *mut f64, n: i64);
        pub(super) fn tp_log_f32_256(xs: *mut f32, n: i64);
        pub(super) fn tp_log_f64_256(xs: *mut f64, n: i64);
        pub(super) fn tp_log1p_f32_512(xs: *mut f32, n: i64);
        pub(super) fn tp_log1p_f64_512(xs: *mut f64, n: i64);
        pub(super) fn tp_log1p_f32_256(xs: *mut f32, n: i64);
        pub(super) fn tp_log1p_f64_256(xs: *mut f64, n: i64);
    }
}

/// An element type SLEEF has vector functions for. Each maps a slice in place as
/// `Vectorized<T>::exp()` (`log()`, `log1p()`) computes it in a kernel compiled for `capability`:
/// libtorch compiles most kernels for AVX2 at most, and a few (softmax's) for AVX-512 too.
pub trait VectorMath: Sized {
    fn exp_in_place(xs: &mut [Self], capability: Capability);
    fn log_in_place(xs: &mut [Self], capability: Capability);
    fn log1p_in_place(xs: &mut [Self], capability: Capability);
}

macro_rules! vector_function {
    ($name:ident, $t:ty, $f512:ident, $f256:ident, $scalar:ident) => {
        fn $name(xs: &mut [$t], capability: Capability) {
            match capability {
                // SAFETY: libtorch dispatched its kernels to these instructions, so the CPU has
                // them; the SLEEF functions are libtorch_cpu's, which torch-sys links.
                #[cfg(target_arch = "x86_64")]
                Capability::Avx512 => unsafe { x86::$f512(xs.as_mut_ptr(), xs.len() as i64) },
                #[cfg(target_arch = "x86_64")]
                Capability::Avx2 => unsafe { x86::$f256(xs.as_mut_ptr(), xs.len() as i64) },
                // at::vec's plain C++ build calls the C library per lane, as Rust's functions do.
                _ => xs.iter_mut().for_each(|x| *x = x.$scalar()),
            }
        }
    };
}

impl VectorMath for f32 {
    vector_function!(exp_in_place, f32, tp_exp_f32_512, tp_exp_f32_256, exp);
    vector_function!(log_in_place, f32, tp_log_f32_512, tp_log_f32_256, ln);
    vector_function!(log1p_in_place, f32, tp_log1p_f32_512, tp_log1p_f32_256, ln_1p);
}

impl VectorMath for f64 {
    vector_function!(exp_in_place, f64, tp_exp_f64_512, tp_exp_f64_256, exp);
    vector_function!(log_in_place, f64, tp_log_f64_512, tp_log_f64_256, ln);
    vector_function!(log1p_in_place, f64, tp_log1p_f64_512, tp_log1p_f64_256, ln_1p);
}
