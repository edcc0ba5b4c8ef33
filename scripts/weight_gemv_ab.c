// Old against new GEMV kernels in one process: a 7B block's seven decode GEMVs (q, k, v, o
// 4096×4096; gate, up 11008×4096; down 4096×11008) in 2 MB pages, fp32, bf16 and Q8_0 × Q8_0,
// each kind's old and new kernel back to back in alternating order every repeat (so a noisy
// spell of this VM hits both alike), on 1 or 2 pthreads (half the rows each, a barrier between
// GEMVs, as the engine splits rows); beside them OpenBLAS sgemv over 512 MB, the bench's
// read yardstick. Prints median and quartiles of the block time and bytes/s ÷ sgemv's.
//
//   rev=HEAD~1   # the kernels to compare against
//   git show $rev:Sources/CWeightKernels/weight_kernels.c > /tmp/wk_old.c
//   clang -O3 -c -ISources/CWeightKernels/include /tmp/wk_old.c -o /tmp/wk_old.o
//   objcopy $(nm /tmp/wk_old.o | awk '$2=="T"{print "--redefine-sym "$3"=old_"$3}') /tmp/wk_old.o
//   clang -O3 -c -ISources/CWeightKernels/include Sources/CWeightKernels/weight_kernels.c -o /tmp/wk_new.o
//   clang -O3 -march=native -ISources/CWeightKernels/include scripts/weight_gemv_ab.c \
//       /tmp/wk_new.o /tmp/wk_old.o -lopenblas -lpthread -lm -o /tmp/weight_gemv_ab
//   OPENBLAS_CORETYPE=Cooperlake /tmp/weight_gemv_ab [threads=2] [repeats=15]
// (OPENBLAS_CORETYPE: Debian's OpenBLAS takes some new CPUs for Prescott; see README.)
#define _GNU_SOURCE
#include "weight_kernels.h"
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
void old_wk_f32_gemv(const float*,long,const float*,float*,long,long,float);
void old_wk_bf16_gemv(const uint16_t*,long,const float*,float*,long,long,float);
void old_wk_q8_0_q8_gemv(const int8_t*,const float*,long,const int8_t*,const float*,float*,long,long,float);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void*alloc(size_t n){ size_t al=2<<20; size_t m=(n+al-1)/al*al; void*p=mmap(0,m+al,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
 char*q=(char*)(((unsigned long)p+al-1)&~(al-1)); madvise(q,m,MADV_HUGEPAGE); return q;}
static long R[7]={4096,4096,4096,4096,11008,11008,4096}, C[7]={4096,4096,4096,4096,4096,4096,11008};
static float*f[7];static uint16_t*b[7];static int8_t*q[7];static float*s[7];
static float*x,*y,*xs; static int8_t*xq; static int mode,nth; static pthread_barrier_t bar;
static void*work(void*a){long t=(long)a;
 for(;;){pthread_barrier_wait(&bar); if(mode<0)return 0;
  for(int m=0;m<7;m++){long r0=R[m]*t/nth,r1=R[m]*(t+1)/nth; r0&=~7L; if(t==nth-1)r1=R[m]; else r1&=~7L; long bl=C[m]/32;
   switch(mode){
   case 0: old_wk_f32_gemv(f[m]+r0*C[m],C[m],x,y+r0,r1-r0,C[m],0);break;
   case 1: wk_f32_gemv(f[m]+r0*C[m],C[m],x,y+r0,r1-r0,C[m],0);break;
   case 2: old_wk_bf16_gemv(b[m]+r0*C[m],C[m],x,y+r0,r1-r0,C[m],0);break;
   case 3: wk_bf16_gemv(b[m]+r0*C[m],C[m],x,y+r0,r1-r0,C[m],0);break;
   case 4: old_wk_q8_0_q8_gemv(q[m]+r0*C[m],s[m]+r0*bl,C[m],xq,xs,y+r0,r1-r0,C[m],0);break;
   case 5: wk_q8_0_q8_gemv(q[m]+r0*C[m],s[m]+r0*bl,C[m],xq,xs,y+r0,r1-r0,C[m],0);break;}
   pthread_barrier_wait(&bar);} }
}
static int cmp(const void*a,const void*b){double d=*(double*)a-*(double*)b;return d<0?-1:d>0;}
int main(int argc,char**argv){nth=argc>1?atoi(argv[1]):2; int reps=argc>2?atoi(argv[2]):15;
 if(nth<1||nth>2||reps<1||reps>64){fprintf(stderr,"threads must be 1 or 2, repeats 1-64\n");return 2;}
 x=malloc(11008*4);y=malloc(11008*4);xq=malloc(11008);xs=malloc(11008/32*4); for(int i=0;i<11008;i++)x[i]=1; wk_quantize_q8_0(x,11008,xq,xs);
 long fb=0; for(int m=0;m<7;m++){long n=R[m]*C[m]; fb+=n; f[m]=alloc(n*4); b[m]=alloc(n*2); q[m]=alloc(n); s[m]=alloc(n/32*4);
  for(long i=0;i<n;i++){f[m][i]=(float)((i*2654435761u)%2001)/1000-1; q[m][i]=(int8_t)(i%255-127);} wk_f32_to_bf16(f[m],b[m],n); for(long i=0;i<n/32;i++)s[m][i]=1/127.f;}
 float*A=alloc(512L<<20); float*ya=malloc(40000*4); for(long i=0;i<(512L<<20)/4;i++)A[i]=0.5f; long ar=(512L<<20)/4/4096;
 pthread_barrier_init(&bar,0,nth+1); pthread_t th[2]; for(long t=0;t<nth;t++)pthread_create(&th[t],0,work,(void*)t);
 openblas_set_num_threads(nth); static double T[7][64];
 for(int k=0;k<reps;k++){ for(int md0=0;md0<6;md0++){int md=(k&1)?(md0^1):md0; mode=md; double t=now(); for(int m=0;m<8;m++)pthread_barrier_wait(&bar); T[md][k]=now()-t;}
   double t=now(); cblas_sgemv(CblasRowMajor,CblasNoTrans,ar,4096,1,A,4096,x,1,0,ya,1); T[6][k]=now()-t; }
 const char*nm[7]={"f32 old","f32 new","bf16 old","bf16 new","q8 old","q8 new","sgemv512"}; double by[7]={4,4,2,2,1.125,1.125,0};
 qsort(T[6],reps,8,cmp); double sg=(512L<<20)/T[6][reps/2]/1e9;
 for(int md=0;md<7;md++){qsort(T[md],reps,8,cmp); double bb=md==6?(512L<<20):fb*by[md];
  printf("%d thr %-9s median %7.2f ms  q1 %7.2f q3 %7.2f  %5.1f GB/s  ratio %.2f\n",nth,nm[md],T[md][reps/2]*1e3,T[md][reps/4]*1e3,T[md][3*reps/4]*1e3,bb/T[md][reps/2]/1e9,bb/T[md][reps/2]/1e9/sg);}
 mode=-1; pthread_barrier_wait(&bar); return 0;}
