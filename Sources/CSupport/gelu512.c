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

#define MUL _mm512_mul_ps
#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define SET _mm512_set1_ps

// The kernels work on `g` vectors at once (GROUP in the main loop, 1 for the tail), each step of
// the formula applied to all g before the next step. A vector's tanh is one chain of ~30
// dependent operations; written one vector after another, the scheduler fills with the waiting
// tails of two or three chains and the core idles on their latencies; interleaved, it holds the
// heads of all g chains (BENCHMARKS.md, "Stop 17"). Lanes never mix, so the bits are the same.
#define GROUP 4
#define EACH for (int j = 0; j < g; j++)

/// fastTanh(Float) of x[0..<g]. The clamp is Swift's min(max(x, lo), hi): max(x, lo) is
/// lo >= x ? lo : x, which is MAXPS(lo, x) (lo ≠ ±0, so equal operands are the same value; a
/// NaN x is passed through), and min(y, hi) is hi < y ? hi : y, which is MINPS(hi, y).
MESA_AVX512 MESA_INLINE void tanhN(__m512 th[GROUP], const __m512 x[GROUP], const int g) {
    const __m512 lo = SET(-7.90531110763549805f), hi = SET(7.90531110763549805f);
    __m512 c[GROUP], x2[GROUP], p[GROUP], q[GROUP];
    EACH c[j] = _mm512_min_ps(hi, _mm512_max_ps(lo, x[j]));
    EACH x2[j] = MUL(c[j], c[j]);
    EACH p[j] = ADD(MUL(SET(-2.76076847742355e-16f), x2[j]), SET(2.00018790482477e-13f));
    EACH q[j] = ADD(MUL(SET(1.19825839466702e-06f), x2[j]), SET(1.18534705686654e-04f));
    EACH p[j] = SUB(MUL(p[j], x2[j]), SET(8.60467152213735e-11f));
    EACH q[j] = ADD(MUL(q[j], x2[j]), SET(2.26843463243900e-03f));
    EACH p[j] = ADD(MUL(p[j], x2[j]), SET(5.12229709037114e-08f));
    EACH q[j] = ADD(MUL(q[j], x2[j]), SET(4.89352518554385e-03f));
    EACH p[j] = ADD(MUL(p[j], x2[j]), SET(1.48572235717979e-05f));
    EACH p[j] = ADD(MUL(p[j], x2[j]), SET(6.37261928875436e-04f));
    EACH p[j] = ADD(MUL(p[j], x2[j]), SET(4.89352455891786e-03f));
    EACH th[j] = _mm512_div_ps(MUL(p[j], c[j]), q[j]);
}

/// th = tanh(c·(x + ((k·x)·x)·x)) of x[0..<g].
MESA_AVX512 MESA_INLINE void geluTanhN(__m512 th[GROUP], const __m512 x[GROUP], const int g) {
    __m512 z[GROUP];
    EACH z[j] = MUL(SET(GELU_C), ADD(x[j], MUL(MUL(MUL(SET(GELU_K), x[j]), x[j]), x[j])));
    tanhN(th, z, g);
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

/// Elements [i, i + 16g) (g = GROUP: all in range) or the one vector at i (g = 1: masked to n).
MESA_AVX512 MESA_INLINE void geluBlock(const float *x, float *value, float *derivative, long i, long n, const int g) {
    const __mmask16 m = g == 1 ? geluLanes(n - i) : (__mmask16)0xFFFF;
    __m512 v[GROUP], th[GROUP];
    EACH v[j] = _mm512_maskz_loadu_ps(m, x + i + 16 * j);
    geluTanhN(th, v, g);
    EACH _mm512_mask_storeu_ps(value + i + 16 * j, m, geluValue16(v[j], th[j]));
    if (derivative) EACH _mm512_mask_storeu_ps(derivative + i + 16 * j, m, geluDerivative16(v[j], th[j]));
}

MESA_AVX512 MESA_INLINE void geluLoop(const float *x, float *value, float *derivative, long n) {
    long i = 0;
    for (; i + 16 * GROUP <= n; i += 16 * GROUP) geluBlock(x, value, derivative, i, n, GROUP);
    for (; i < n; i += 16) geluBlock(x, value, derivative, i, n, 1);
}

MESA_AVX512 void mesa512_gelu(const float *x, float *value, long n) { geluLoop(x, value, 0, n); }

MESA_AVX512 void mesa512_gelu_and_derivative(const float *x, float *value, float *derivative, long n) {
    geluLoop(x, value, derivative, n);
}

#else  // not x86-64: the Swift loops always run.

void mesa512_gelu(const float *x, float *value, long n) {}
void mesa512_gelu_and_derivative(const float *x, float *value, float *derivative, long n) {}

#endif
