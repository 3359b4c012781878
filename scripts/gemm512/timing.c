// scripts/gemm512-check.sh timing: one call per model shape, OpenBLAS against gemm512.c, thread CPU time;
// then the weight gradients C += Aᵀ·B (A [K × M], B [K × N]; β 1, the last one β 0) the same way.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "CSupport.h"
static double cpu(void){ struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9; }
int main(int argc,char**argv){
  openblas_set_num_threads(1);
  int shapes[][4]={{500,120,40,1},{500,40,40,1},{500,40,120,0},{500,40,40,0},{500,160,40,1},{500,40,160,1},{500,160,40,0},{500,40,160,0},{500,240,40,1},{500,40,240,0},{2000,120,40,1},{64,10,40,1}};
  int ns=sizeof(shapes)/sizeof(shapes[0]);
  for(int s=0;s<ns;s++){
    int M=shapes[s][0],N=shapes[s][1],K=shapes[s][2],tb=shapes[s][3];
    float *A=malloc(4L*M*K),*B=malloc(4L*N*K),*C=malloc(4L*M*N);
    for(long i=0;i<(long)M*K;i++)A[i]=rand()/(float)RAND_MAX; for(long i=0;i<(long)N*K;i++)B[i]=rand()/(float)RAND_MAX;
    long reps = 2e8/((double)M*N*K)+1; double tb_=1e9, tm=1e9;
    for(int round=0; round<7; round++){
      double t0=cpu(); for(long r=0;r<reps;r++) cblas_sgemm(CblasRowMajor,CblasNoTrans,tb?CblasTrans:CblasNoTrans,M,N,K,1.0f,A,K,B,tb?K:N,0.0f,C,N); double t1=cpu();
      for(long r=0;r<reps;r++) mesa512_sgemm_small(tb,M,N,K,A,K,B,tb?K:N,0,C,N); double t2=cpu();
      if(t1-t0<tb_)tb_=t1-t0; if(t2-t1<tm)tm=t2-t1;
    }
    double fl=2.0*M*N*K*reps;
    printf("M %4d N %3d K %3d %s: openblas %.1f us (%.0f GF/s)  mesa %.1f us (%.0f GF/s)  ratio %.2f\n",M,N,K,tb?"NT":"NN",tb_/reps*1e6,fl/tb_*1e-9,tm/reps*1e6,fl/tm*1e-9,tm/tb_);
  }
  int tn[][4]={{240,40,500,1},{120,40,500,1},{40,80,500,1},{40,40,500,1},{40,160,500,1},{160,40,500,1},{240,40,37,1},{40,40,6400,0}};
  for(int s=0;s<(int)(sizeof(tn)/sizeof(tn[0]));s++){
    int M=tn[s][0],N=tn[s][1],K=tn[s][2],beta=tn[s][3];
    float *A=malloc(4L*M*K),*B=malloc(4L*N*K),*C=malloc(4L*M*N);
    for(long i=0;i<(long)M*K;i++)A[i]=rand()/(float)RAND_MAX; for(long i=0;i<(long)N*K;i++)B[i]=rand()/(float)RAND_MAX;
    for(long i=0;i<(long)M*N;i++)C[i]=0;
    long q=(double)M*N*K>1e6?448:0;
    long reps = 2e8/((double)M*N*K)+1; double tb_=1e9, tm=1e9;
    for(int round=0; round<7; round++){
      double t0=cpu(); for(long r=0;r<reps;r++) cblas_sgemm(CblasRowMajor,CblasTrans,CblasNoTrans,M,N,K,1.0f,A,M,B,N,(float)beta,C,N); double t1=cpu();
      for(long r=0;r<reps;r++) mesa512_sgemm_tn(M,N,K,A,M,B,N,beta,q,16,C,N); double t2=cpu();
      if(t1-t0<tb_)tb_=t1-t0; if(t2-t1<tm)tm=t2-t1;
    }
    double fl=2.0*M*N*K*reps;
    printf("M %4d N %3d K %4d TN beta %d: openblas %.1f us (%.0f GF/s)  mesa %.1f us (%.0f GF/s)  ratio %.2f\n",M,N,K,beta,tb_/reps*1e6,fl/tb_*1e-9,tm/reps*1e6,fl/tm*1e-9,tm/tb_);
    free(A);free(B);free(C);
  }
}
