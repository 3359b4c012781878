// scripts/gemm512-check.sh bits: gemm512.c bit for bit against the plain FMA chain (every case) and
// against cblas_sgemm (the cases MesaTensor's SmallGemm.takes; its rule is repeated in `routed` below).
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "CSupport.h"
static unsigned long long s=12345;
static float rnd(void){ s = s*6364136223846793005ULL+1442695040888963407ULL; return (float)((double)(s>>11)/(double)(1ULL<<53)*2-1); }
static float val(int mode){ float r=rnd(); if(mode==1){ if(r>0.5f) return 0.0f; if(r<-0.7f) return -0.0f; if (r > 0.3f) return r*1e-30f; } return r; }
int main(int argc,char**argv){
  openblas_set_num_threads(1);
  printf("core %s\n", openblas_get_corename());
  long total=0, bad=0; int cases=0, skipped=0, skippedBad=0; long oursBad=0;
  int Ms[]={1,2,3,7,8,9,15,16,17,31,33,64,100,257,500,600}; int Ns[]={1,2,5,15,16,17,31,32,33,40,47,48,49,64,95,96,97,120,160,240,256,300};
  int Ks[]={1,2,3,7,16,20,40,63,64,100,120,160,200,240,255,256};
  for(int mi=0;mi<16;mi++) for(int ni=0;ni<22;ni++) for(int ki=0;ki<16;ki++){
    
    int M=Ms[mi],N=Ns[ni],K=Ks[ki];
    for(int tb=0;tb<2;tb++) for(int beta=0;beta<2;beta++){
      int mode = (mi+ni+ki+tb+beta)%2;
      long lda=K+(mi%3), ldb=(tb?K:N)+(ni%2)*3, ldc=N+(ki%3);
      float *A=malloc(4L*M*lda), *B=malloc(4L*(tb?N:K)*ldb), *C=malloc(4L*M*ldc), *D=malloc(4L*M*ldc), *E=malloc(4L*M*ldc);
      for(long i=0;i<M*lda;i++)A[i]=val(mode); for(long i=0;i<(tb?N:K)*ldb;i++)B[i]=val(mode);
      if(mode==1){ for(long p=0;p<K;p++) A[p]=0.0f; /* zero row 0 */ }
      for(long i=0;i<M*ldc;i++){ C[i]=val(mode); if(mode==1 && i%7==0) C[i]=-0.0f; D[i]=C[i]; E[i]=C[i]; }
      if(beta==0) for(long i=0;i<M*ldc;i++) if(i%5==0){ C[i]=NAN; D[i]=NAN; }
      cblas_sgemm(CblasRowMajor,CblasNoTrans,tb?CblasTrans:CblasNoTrans,M,N,K,1.0f,A,lda,B,ldb,(float)beta,C,ldc);
      mesa512_sgemm_small(tb,M,N,K,A,lda,B,ldb,beta,D,ldc);
      long d=0, dr=0; for(long i=0;i<M;i++) for(long j=0;j<N;j++){ float acc=0; for(long p=0;p<K;p++){ float bb = tb? B[j*ldb+p] : B[p*ldb+j]; acc=fmaf(A[i*lda+p], bb, acc);} float r = beta? acc + E[i*ldc+j] : acc + 0.0f;
  if(memcmp(&r,&D[i*ldc+j],4)) dr++; }
  for(long i=0;i<M*ldc;i++) if(memcmp(&C[i],&D[i],4)) d++;
  if(dr) printf("OURS vs ref: %ld\n", dr); oursBad+=dr;
      double mnk=(double)M*N*K; int routed = mnk > 1e6 || (tb && ((long)M*N > 1200 || K < 32));
      if(!routed){ skipped++; if(d) skippedBad++; d=0; }
      if(routed) total+=(long)M*N; bad+=d; cases++;
      if(d) printf("M %d N %d K %d tb %d beta %d mode %d: %ld differ\n",M,N,K,tb,beta,mode,d);
      free(A);free(B);free(C);free(D);free(E);
    }
  }
  printf("not taken: %d cases (in %d of them OpenBLAS is off the FMA chain)\n", skipped, skippedBad); printf("gemm512 vs the FMA chain, all cases: %ld elements differ\n", oursBad); printf("taken: %d cases,  %ld elements, %ld differ from cblas_sgemm\n",cases-skipped,total,bad);
}
