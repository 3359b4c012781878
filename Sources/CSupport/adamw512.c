// AdamW's element-wise update in 16 (AVX-512) or 8 (AVX2) Float32 lanes, bit for bit MesaNN's
// `adamwElementsReference` (Optim/AdamW.swift) one element at a time:
//   g ← min(max(g·sc, −ec), ec)         Swift's max(x, lo) = lo >= x ? lo : x, then min(·, hi) = hi < y ? hi : y
//   m ← b1·m + a1·g                      a1 = 1 − b1 in Float
//   v ← b2·v + (a2·g)·g                  a2 = 1 − b2 in Float
//   p ← p − rate·((m·ic1)/(√(v·ic2) + eps) + decay·p)
// Every operation is correctly rounded and done in the reference's order, without fused
// multiply-adds (contraction off, as Swift compiles the reference), so every lane width gives
// the reference's bits (Tests/MesaNNTests/AdamWKernelTests.swift). The profile behind it: the
// Swift SIMD8 loop compiled its two masked replacements into per-lane branches, ~50 ns an element,
// and ran on the calling thread alone (BENCHMARKS.md, "Stop 15").
#pragma clang fp contract(off)

#include "CSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MESA_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define MESA_AVX2 __attribute__((target("avx2,fma")))

static void adamwTail(long from, long to, const float *g, float *m, float *v, float *p, const MesaAdamWConstants *c) {
    const float a1 = 1.0f - c->b1, a2 = 1.0f - c->b2;
    for (long j = from; j < to; j++) {
        float x = g[j] * c->sc;
        const float lo = -c->ec;
        x = lo >= x ? lo : x;
        x = c->ec < x ? c->ec : x;
        m[j] = c->b1 * m[j] + a1 * x;
        v[j] = c->b2 * v[j] + a2 * x * x;
        const float mHat = m[j] * c->ic1, vHat = v[j] * c->ic2;
        p[j] -= c->rate * (mHat / (__builtin_sqrtf(vHat) + c->eps) + c->decay * p[j]);
    }
}

MESA_AVX512 void mesa512_adamw(long n, const float *g, float *m, float *v, float *p, const MesaAdamWConstants *c) {
    const __m512 b1 = _mm512_set1_ps(c->b1), b2 = _mm512_set1_ps(c->b2);
    const __m512 a1 = _mm512_set1_ps(1.0f - c->b1), a2 = _mm512_set1_ps(1.0f - c->b2);
    const __m512 eps = _mm512_set1_ps(c->eps), rate = _mm512_set1_ps(c->rate), ic1 = _mm512_set1_ps(c->ic1);
    const __m512 ic2 = _mm512_set1_ps(c->ic2), decay = _mm512_set1_ps(c->decay), sc = _mm512_set1_ps(c->sc);
    const __m512 ec = _mm512_set1_ps(c->ec), nec = _mm512_set1_ps(-c->ec);
    const long full = n / 16 * 16;
    for (long j = 0; j < full; j += 16) {
        __m512 x = _mm512_mul_ps(_mm512_loadu_ps(g + j), sc);
        x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(nec, x, _CMP_GE_OQ), x, nec);
        x = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ec, x, _CMP_LT_OQ), x, ec);
        const __m512 mj = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + j)), _mm512_mul_ps(a1, x));
        const __m512 vj = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + j)), _mm512_mul_ps(_mm512_mul_ps(a2, x), x));
        _mm512_storeu_ps(m + j, mj);
        _mm512_storeu_ps(v + j, vj);
        const __m512 mHat = _mm512_mul_ps(mj, ic1), vHat = _mm512_mul_ps(vj, ic2);
        const __m512 pj = _mm512_loadu_ps(p + j);
        const __m512 step = _mm512_add_ps(_mm512_div_ps(mHat, _mm512_add_ps(_mm512_sqrt_ps(vHat), eps)), _mm512_mul_ps(decay, pj));
        _mm512_storeu_ps(p + j, _mm512_sub_ps(pj, _mm512_mul_ps(rate, step)));
    }
    adamwTail(full, n, g, m, v, p, c);
}

MESA_AVX2 void mesa_adamw_avx2(long n, const float *g, float *m, float *v, float *p, const MesaAdamWConstants *c) {
    const __m256 b1 = _mm256_set1_ps(c->b1), b2 = _mm256_set1_ps(c->b2);
    const __m256 a1 = _mm256_set1_ps(1.0f - c->b1), a2 = _mm256_set1_ps(1.0f - c->b2);
    const __m256 eps = _mm256_set1_ps(c->eps), rate = _mm256_set1_ps(c->rate), ic1 = _mm256_set1_ps(c->ic1);
    const __m256 ic2 = _mm256_set1_ps(c->ic2), decay = _mm256_set1_ps(c->decay), sc = _mm256_set1_ps(c->sc);
    const __m256 ec = _mm256_set1_ps(c->ec), nec = _mm256_set1_ps(-c->ec);
    const long full = n / 8 * 8;
    for (long j = 0; j < full; j += 8) {
        __m256 x = _mm256_mul_ps(_mm256_loadu_ps(g + j), sc);
        x = _mm256_blendv_ps(x, nec, _mm256_cmp_ps(nec, x, _CMP_GE_OQ));
        x = _mm256_blendv_ps(x, ec, _mm256_cmp_ps(ec, x, _CMP_LT_OQ));
        const __m256 mj = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + j)), _mm256_mul_ps(a1, x));
        const __m256 vj = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + j)), _mm256_mul_ps(_mm256_mul_ps(a2, x), x));
        _mm256_storeu_ps(m + j, mj);
        _mm256_storeu_ps(v + j, vj);
        const __m256 mHat = _mm256_mul_ps(mj, ic1), vHat = _mm256_mul_ps(vj, ic2);
        const __m256 pj = _mm256_loadu_ps(p + j);
        const __m256 step = _mm256_add_ps(_mm256_div_ps(mHat, _mm256_add_ps(_mm256_sqrt_ps(vHat), eps)), _mm256_mul_ps(decay, pj));
        _mm256_storeu_ps(p + j, _mm256_sub_ps(pj, _mm256_mul_ps(rate, step)));
    }
    adamwTail(full, n, g, m, v, p, c);
}

#else  // not x86-64: MesaNN's Swift loop always runs.

void mesa512_adamw(long n, const float *g, float *m, float *v, float *p, const MesaAdamWConstants *c) {}
void mesa_adamw_avx2(long n, const float *g, float *m, float *v, float *p, const MesaAdamWConstants *c) {}

#endif
