//! The vectorized `exp` and `log` libtorch's CPU kernels call: `at::vec::Vectorized<float>::exp()`
//! is SLEEF's `Sleef_expf16_u10` with AVX-512 (`Sleef_expf8_u10` with AVX2), and so on, and
//! libtorch_cpu exports those functions. Tensor ops such as `exp` take another route (MKL's VML
//! for contiguous float32), which rounds differently in the last bit of some elements; a Rust
//! loop that stands in for a kernel calls these to compute what the kernel computes.
//!
//! Rust cannot pass SIMD vectors through FFI: `sleef.cpp` maps a slice in place, a vector at a
//! time, a partial vector at the end padded with zeros as `Vectorized::loadu(ptr, count)` pads it.

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
    }
}

/// An element type SLEEF has vector functions for.
pub trait VectorMath: Sized {
    /// `exp` of every element, as `Vectorized<T>::exp()` computes it on this CPU.
    fn exp_in_place(xs: &mut [Self]);
    /// `log` of every element, as `Vectorized<T>::log()` computes it on this CPU.
    fn log_in_place(xs: &mut [Self]);
}

macro_rules! vector_math {
    ($t:ty, $exp512:ident, $exp256:ident, $log512:ident, $log256:ident) => {
        impl VectorMath for $t {
            fn exp_in_place(xs: &mut [$t]) {
                match super::cpu_capability() {
                    // SAFETY: libtorch dispatched its kernels to these instructions, so the CPU
                    // has them; the SLEEF functions are libtorch_cpu's, which torch-sys links.
                    #[cfg(target_arch = "x86_64")]
                    super::Capability::Avx512 => unsafe { x86::$exp512(xs.as_mut_ptr(), xs.len() as i64) },
                    #[cfg(target_arch = "x86_64")]
                    super::Capability::Avx2 => unsafe { x86::$exp256(xs.as_mut_ptr(), xs.len() as i64) },
                    // at::vec's plain C++ build calls the C library per lane, as Rust's exp does.
                    _ => xs.iter_mut().for_each(|x| *x = x.exp()),
                }
            }
            fn log_in_place(xs: &mut [$t]) {
                match super::cpu_capability() {
                    // SAFETY: as for exp.
                    #[cfg(target_arch = "x86_64")]
                    super::Capability::Avx512 => unsafe { x86::$log512(xs.as_mut_ptr(), xs.len() as i64) },
                    #[cfg(target_arch = "x86_64")]
                    super::Capability::Avx2 => unsafe { x86::$log256(xs.as_mut_ptr(), xs.len() as i64) },
                    _ => xs.iter_mut().for_each(|x| *x = x.ln()),
                }
            }
        }
    };
}
vector_math!(f32, tp_exp_f32_512, tp_exp_f32_256, tp_log_f32_512, tp_log_f32_256);
vector_math!(f64, tp_exp_f64_512, tp_exp_f64_256, tp_log_f64_512, tp_log_f64_256);
