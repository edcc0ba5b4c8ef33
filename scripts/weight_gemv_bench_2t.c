// Two-thread GEMV yardstick: OpenBLAS sgemv on 2 threads against CWeightKernels' bf16 GEMV and
// Q8_0 × Q8_0 GEMV, each run by two persistent pthreads on half the rows (barrier start/stop, as
// the engine's row split does), interleaved; prints the minimum time and bytes/s in each stored
// format, and each kernel's bytes/s ÷ sgemv's. x is pre-quantized for Q8_0 (decode quantizes it
// once per GEMV, a few µs).
//
//   clang -O3 -ISources/CWeightKernels/include scripts/weight_gemv_bench_2t.c \
//       Sources/CWeightKernels/weight_kernels.c -lopenblas -lpthread -o /tmp/weight_gemv_bench_2t
//   /tmp/weight_gemv_bench_2t [rows] [cols] [repeats]
#include "weight_kernels.h"
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static long rows,cols,blocks; static int8_t*q,*xq; static float*s,*xs,*y; static uint16_t*wb; static float*x; static int mode;
static pthread_barrier_t bar; static int reps;
static void*work(void*a){long t=(long)a; long r0=rows*t/2,r1=rows*(t+1)/2;
 for(int k=0;k<reps*2;k++){pthread_barrier_wait(&bar);
  if(mode==0) wk_q8_0_q8_gemv(q+r0*blocks*32,s+r0*blocks,blocks*32,xq,xs,y+r0,r1-r0,cols,0);
  else wk_bf16_gemv(wb+r0*cols,cols,x,y+r0,r1-r0,cols,0);
  pthread_barrier_wait(&bar);} return 0;}
int main(int argc,char**argv){rows=argc>1?atol(argv[1]):11008;cols=argc>2?atol(argv[2]):4096;reps=argc>3?atoi(argv[3]):20;
 long n=rows*cols;blocks=cols/32; q=malloc(n);s=malloc(rows*blocks*4);xq=malloc(cols);xs=malloc(blocks*4);y=malloc(rows*4);x=malloc(cols*4);wb=malloc(n*2);
 float*wf=malloc(n*4); for(long i=0;i<n;i++){q[i]=(int8_t)(i*2654435761u%255-127);wf[i]=q[i]/127.f;} for(long i=0;i<rows*blocks;i++)s[i]=1/127.f;
 for(long i=0;i<cols;i++){x[i]=1;} wk_f32_to_bf16(wf,wb,n); wk_quantize_q8_0(x,cols,xq,xs);
 openblas_set_num_threads(2);
 pthread_barrier_init(&bar,0,3); pthread_t th[2]; for(long t=0;t<2;t++)pthread_create(&th[t],0,work,(void*)t);
 double bq=1e9,bb=1e9,bs=1e9;
 for(int k=0;k<reps;k++){ double t;
  mode=0; t=now(); pthread_barrier_wait(&bar); pthread_barrier_wait(&bar); t=now()-t; if(t<bq)bq=t;
  mode=1; t=now(); pthread_barrier_wait(&bar); pthread_barrier_wait(&bar); t=now()-t; if(t<bb)bb=t;
  t=now(); cblas_sgemv(CblasRowMajor,CblasNoTrans,rows,cols,1,wf,cols,x,1,0,y,1); t=now()-t; if(t<bs)bs=t; }
 printf("%ldx%ld 2 threads min of %d: sgemv %.2f ms %.1f GB/s | bf16 %.2f ms %.1f GB/s (%.2f) | q8q8 %.2f ms %.1f GB/s (%.2f)\n",rows,cols,reps,
  bs*1e3,n*4/bs/1e9,bb*1e3,n*2/bb/1e9,(n*2/bb)/(n*4/bs),bq*1e3,n*1.125/bq/1e9,(n*1.125/bq)/(n*4/bs));
 return 0;}
