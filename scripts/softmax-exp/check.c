// expNonPositive16 (scorecore512.c) against the general fastExp on every input a softmax row can
// give it: all 2^31 Float bit patterns with the sign bit set (−0, negatives, −∞, negative NaNs),
// +0 and every positive NaN. Exit 1 if any result differs in its bits (NaNs alike if both NaN);
// then the time per 16 lanes of each, in cache. Run by scripts/softmax-exp-check.sh.
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <immintrin.h>
#include <math.h>
#include <time.h>
#pragma clang fp contract(off)
#define A __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
// The kernel's expNonPositive16, as the softmax rows use it (a static function of that file).
#include "../../Sources/CSupport/scorecore512.c"
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
/// The general 16-lane fastExp the softmax rows used before (MesaTensor's FastMath.swift, operation for
/// operation; WideKernelTests compared it with the Swift kernels): the reference here.
A static inline __m512 referenceExp16(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.33654f), hi = _mm512_set1_ps(88.72283f);
    const __m512 c = _mm512_min_ps(hi, _mm512_max_ps(lo, x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(c, _mm512_set1_ps(1.442695041f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(c, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    const __m512 er = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), r), _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    const __m512 y = _mm512_mul_ps(er, _mm512_castsi512_ps(bits));
    const __mmask16 below = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), above = _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ);
    return _mm512_mask_mov_ps(_mm512_mask_mov_ps(y, above, _mm512_set1_ps(INFINITY)), below, _mm512_setzero_ps());
}
A int main(void){
  uint64_t diff=0, nanpos=0, total=0;
  float in[16], o1[16], o2[16];
  // all sign-bit patterns, then +0 and positive NaNs
  for (uint64_t base=0x80000000ull; base<0x100000000ull; base+=16){
    uint32_t u[16]; for(int l=0;l<16;l++)u[l]=(uint32_t)(base+l); memcpy(in,u,64);
    __m512 x=_mm512_loadu_ps(in); _mm512_storeu_ps(o1,referenceExp16(x)); _mm512_storeu_ps(o2,expNonPositive16(0xFFFF,x));
    if(memcmp(o1,o2,64)){ for(int l=0;l<16;l++){uint32_t a,b; memcpy(&a,o1+l,4);memcpy(&b,o2+l,4); if(a!=b){ if(isnan(o1[l])&&isnan(o2[l]))nanpos++; else {if(diff<5)printf("x=%a: %a vs %a\n",in[l],o1[l],o2[l]); diff++;}}}}
    total+=16;
  }
  for (uint64_t base=0x7F800000ull; base<0x80000000ull; base+=16){
    uint32_t u[16]; for(int l=0;l<16;l++)u[l]=(uint32_t)(base+l); if(base==0x7F800000ull)u[0]=0; memcpy(in,u,64);
    __m512 x=_mm512_loadu_ps(in); _mm512_storeu_ps(o1,referenceExp16(x)); _mm512_storeu_ps(o2,expNonPositive16(0xFFFF,x));
    for(int l=0;l<16;l++){uint32_t a,b; memcpy(&a,o1+l,4);memcpy(&b,o2+l,4); if(a!=b){ if(isnan(o1[l])&&isnan(o2[l]))nanpos++; else {if(diff<5)printf("x=%a: %a vs %a\n",in[l],o1[l],o2[l]); diff++;}}}
    total+=16;
  }
  printf("%llu inputs, %llu differ, %llu NaNs with other bits\n",(unsigned long long)total,(unsigned long long)diff,(unsigned long long)nanpos);
  if (diff) return 1;
  float buf[1024]; for(int i=0;i<1024;i++)buf[i]=-(i%97)*0.37f;
  for(int round=0;round<3;round++){ double b1=1e9,b2=1e9; __m512 s=_mm512_setzero_ps();
  for(int rep=0;rep<3000;rep++){ double t0=now(); for(int i=0;i<1024;i+=64){__m512 e0=referenceExp16(_mm512_loadu_ps(buf+i)),e1=referenceExp16(_mm512_loadu_ps(buf+i+16)),e2=referenceExp16(_mm512_loadu_ps(buf+i+32)),e3=referenceExp16(_mm512_loadu_ps(buf+i+48)); s=_mm512_add_ps(s,_mm512_add_ps(_mm512_add_ps(e0,e1),_mm512_add_ps(e2,e3)));}
    double t1=now(); for(int i=0;i<1024;i+=64){__m512 e0=expNonPositive16(0xFFFF,_mm512_loadu_ps(buf+i)),e1=expNonPositive16(0xFFFF,_mm512_loadu_ps(buf+i+16)),e2=expNonPositive16(0xFFFF,_mm512_loadu_ps(buf+i+32)),e3=expNonPositive16(0xFFFF,_mm512_loadu_ps(buf+i+48)); s=_mm512_add_ps(s,_mm512_add_ps(_mm512_add_ps(e0,e1),_mm512_add_ps(e2,e3)));}
    double t2=now(); if(t1-t0<b1)b1=t1-t0; if(t2-t1<b2)b2=t2-t1;}
  float o[16]; _mm512_storeu_ps(o,s); printf("general %.2f ns, non-positive %.2f ns per 16 (ratio %.3f) %g\n",b1/64*1e9,b2/64*1e9,b2/b1,o[0]);}
  return 0;
}
