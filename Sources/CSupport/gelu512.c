// 16-lane (AVX-512) Float32 GELU for the MLP's tiles (MesaNN's MLPKernel.swift), bit for bit
// MesaTensor's `geluValueAndDerivative` (Elementwise.swift) with `fastTanh` (FastMath.swift):
//   z = c·(x + ((k·x)·x)·x),  c = √(2/π), k = 0.044715
//   tanh z: z clamped to ±7.90531110763549805 (Swift's max then min, NaN kept), the odd rational
//           p(z)/q(z) of degree 13/6, every step the Swift code's multiply then add
//   gelu(x) = (½x)(1 + th),  gelu′(x) = ½(1 + th) + ((½x)(1 − th·th))·(c·(1 + ((3k)·x)·x))
// The same operations in the same order (+, −, ×, ÷ are correctly rounded, so 16 lanes give the
// bits of one), no fused multiply-adds (contraction off, as Swift compiles the reference);
// Tests/MesaNNTests/GeluKernelTests.swift compares them. Only the functions marked MESA_AVX512 use
// AVX-512; they run only after mesa_cpu_has_avx512() said yes (MesaTensor's KernelChoice).
#pragma clang fp contract(off)

#include "CSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MESA_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define MESA_INLINE static inline __attribute__((always_inline))

/// The constants exactly as the Swift reference has them: Float(Double literal) for c, k and ½;
/// the rational's coefficients as Float literals (Swift rounds a Float literal once, from its
/// decimal; C's f-suffixed literals are rounded the same way).
#define GELU_C ((float)0.7978845608028654)
#define GELU_K ((float)0.044715)

/// Swift's max(x, lo): lo >= x ? lo : x; then min(·, hi): hi < y ? hi : y (a NaN passes through).
MESA_AVX512 MESA_INLINE __m512 clampLikeSwift(__m512 x, __m512 lo, __m512 hi) {
    const __m512 y = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(lo, x, _CMP_GE_OQ), x, lo);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(hi, y, _CMP_LT_OQ), y, hi);
}

#define MUL _mm512_mul_ps
#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define SET _mm512_set1_ps

/// fastTanh(Float) on 16 lanes.
MESA_AVX512 MESA_INLINE __m512 tanh16(__m512 x) {
    const __m512 c = clampLikeSwift(x, SET(-7.90531110763549805f), SET(7.90531110763549805f));
    const __m512 x2 = MUL(c, c);
    __m512 p = SET(-2.76076847742355e-16f);
    p = ADD(MUL(p, x2), SET(2.00018790482477e-13f));
    p = SUB(MUL(p, x2), SET(8.60467152213735e-11f));
    p = ADD(MUL(p, x2), SET(5.12229709037114e-08f));
    p = ADD(MUL(p, x2), SET(1.48572235717979e-05f));
    p = ADD(MUL(p, x2), SET(6.37261928875436e-04f));
    p = ADD(MUL(p, x2), SET(4.89352455891786e-03f));
    p = MUL(p, c);
    __m512 q = SET(1.19825839466702e-06f);
    q = ADD(MUL(q, x2), SET(1.18534705686654e-04f));
    q = ADD(MUL(q, x2), SET(2.26843463243900e-03f));
    q = ADD(MUL(q, x2), SET(4.89352518554385e-03f));
    return _mm512_div_ps(p, q);
}

/// th = tanh(c·(x + ((k·x)·x)·x)).
MESA_AVX512 MESA_INLINE __m512 geluTanh(__m512 x) {
    const __m512 cube = MUL(MUL(MUL(SET(GELU_K), x), x), x);
    return tanh16(MUL(SET(GELU_C), ADD(x, cube)));
}

MESA_AVX512 MESA_INLINE __m512 geluValue16(__m512 x, __m512 th) {
    return MUL(MUL(SET(0.5f), x), ADD(SET(1.0f), th));
}

MESA_AVX512 MESA_INLINE __m512 geluDerivative16(__m512 x, __m512 th) {
    const __m512 one = SET(1.0f), half = SET(0.5f);
    const __m512 du = MUL(SET(GELU_C), ADD(one, MUL(MUL(MUL(SET(3.0f), SET(GELU_K)), x), x)));
    return ADD(MUL(half, ADD(one, th)), MUL(MUL(MUL(half, x), SUB(one, MUL(th, th))), du));
}

static inline __mmask16 geluLanes(long n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

MESA_AVX512 void mesa512_gelu(const float *x, float *value, long n) {
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = geluLanes(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(value + i, m, geluValue16(v, geluTanh(v)));
    }
}

MESA_AVX512 void mesa512_gelu_and_derivative(const float *x, float *value, float *derivative, long n) {
    for (long i = 0; i < n; i += 16) {
        const __mmask16 m = geluLanes(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i), th = geluTanh(v);
        _mm512_mask_storeu_ps(value + i, m, geluValue16(v, th));
        _mm512_mask_storeu_ps(derivative + i, m, geluDerivative16(v, th));
    }
}

#else  // not x86-64: the Swift loops always run.

void mesa512_gelu(const float *x, float *value, long n) {}
void mesa512_gelu_and_derivative(const float *x, float *value, float *derivative, long n) {}

#endif
