// The SLEEF functions libtorch's CPU kernels compute exp and log with: at::vec's
// Vectorized<float>::exp() is Sleef_expf16_u10 in AVX-512 kernels and Sleef_expf8_u10 in AVX2
// ones, and so on for log and for double. libtorch_cpu exports them. Rust cannot pass SIMD
// vectors through FFI, so these wrappers map an array in place, a vector at a time, a partial
// vector at the end padded with zeros as Vectorized::loadu(ptr, count) pads it (lanes do not
// affect one another). Each wrapper is compiled for the instructions its SLEEF function needs;
// the Rust side calls it only on a CPU that has them.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

extern "C" {
__m512 Sleef_expf16_u10(__m512);
__m512d Sleef_expd8_u10(__m512d);
__m512 Sleef_logf16_u10(__m512);
__m512d Sleef_logd8_u10(__m512d);
__m256 Sleef_expf8_u10(__m256);
__m256d Sleef_expd4_u10(__m256d);
__m256 Sleef_logf8_u10(__m256);
__m256d Sleef_logd4_u10(__m256d);
__m512 Sleef_log1pf16_u10(__m512);
__m512d Sleef_log1pd8_u10(__m512d);
__m256 Sleef_log1pf8_u10(__m256);
__m256d Sleef_log1pd4_u10(__m256d);
}

#define TP_SLEEF(name, T, V, N, instructions, sleef)                          \
  extern "C" __attribute__((target(instructions))) void name(T* xs, int64_t n) { \
    int64_t i = 0;                                                            \
    for (; i + N <= n; i += N) {                                              \
      V v;                                                                    \
      std::memcpy(&v, xs + i, sizeof(V));                                     \
      v = sleef(v);                                                           \
      std::memcpy(xs + i, &v, sizeof(V));                                     \
    }                                                                         \
    if (i < n) {                                                              \
      alignas(64) T lanes[N] = {};                                            \
      std::memcpy(lanes, xs + i, (n - i) * sizeof(T));                        \
      V v;                                                                    \
      std::memcpy(&v, lanes, sizeof(V));                                      \
      v = sleef(v);                                                           \
      std::memcpy(lanes, &v, sizeof(V));                                      \
      std::memcpy(xs + i, lanes, (n - i) * sizeof(T));                        \
    }                                                                         \
  }

TP_SLEEF(tp_exp_f32_512, float, __m512, 16, "avx512f", Sleef_expf16_u10)
TP_SLEEF(tp_exp_f64_512, double, __m512d, 8, "avx512f", Sleef_expd8_u10)
TP_SLEEF(tp_log_f32_512, float, __m512, 16, "avx512f", Sleef_logf16_u10)
TP_SLEEF(tp_log_f64_512, double, __m512d, 8, "avx512f", Sleef_logd8_u10)
TP_SLEEF(tp_exp_f32_256, float, __m256, 8, "avx2,fma", Sleef_expf8_u10)
TP_SLEEF(tp_exp_f64_256, double, __m256d, 4, "avx2,fma", Sleef_expd4_u10)
TP_SLEEF(tp_log_f32_256, float, __m256, 8, "avx2,fma", Sleef_logf8_u10)
TP_SLEEF(tp_log_f64_256, double, __m256d, 4, "avx2,fma", Sleef_logd4_u10)
TP_SLEEF(tp_log1p_f32_512, float, __m512, 16, "avx512f", Sleef_log1pf16_u10)
TP_SLEEF(tp_log1p_f64_512, double, __m512d, 8, "avx512f", Sleef_log1pd8_u10)
TP_SLEEF(tp_log1p_f32_256, float, __m256, 8, "avx2,fma", Sleef_log1pf8_u10)
TP_SLEEF(tp_log1p_f64_256, double, __m256d, 4, "avx2,fma", Sleef_log1pd4_u10)
