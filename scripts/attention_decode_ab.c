// Old against new decode-attention kernels in one process: one query of a 7B block (32 heads
// of 128) against a KV cache of `context` positions in 2 MB pages, `wk_attn_scores` then
// `wk_attn_values` per worker over its range of heads (as `decodeAttention` splits them), on 1
// or 2 pthreads, old and new back to back in alternating order every repeat. Prints median and
// quartiles and the K+V bytes/s.
//
//   (old kernels in /tmp/wk_old.o, renamed old_*, as in scripts/weight_gemv_ab.c)
//   clang -O3 -c -ISources/CWeightKernels/include Sources/CWeightKernels/weight_kernels.c -o /tmp/wk_new.o
//   clang -O3 -march=native -ISources/CWeightKernels/include scripts/attention_decode_ab.c \
//       /tmp/wk_new.o /tmp/wk_old.o -lpthread -lm -o /tmp/attention_decode_ab
//   /tmp/attention_decode_ab threads context repeats      (e.g. 2 4096 21)
#define _GNU_SOURCE
#include "weight_kernels.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
void old_wk_attn_scores(const float*,const float*,long,long,long,long,long,long,float,float*);
void old_wk_attn_values(const float*,const float*,long,long,long,long,long,long,float*);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void*alloc(size_t n){ size_t al=2<<20; size_t m=(n+al-1)/al*al; void*p=mmap(0,m+al,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
 char*q=(char*)(((unsigned long)p+al-1)&~(al-1)); madvise(q,m,MADV_HUGEPAGE); return q;}
static float *K,*V,*Q,*O,*S[2]; static long ctx; static int nth,mode; static pthread_barrier_t bar;
static void*work(void*a){long w=(long)a; for(;;){pthread_barrier_wait(&bar); if(mode<0)return 0;
  long h0=32*w/nth,h1=32*(w+1)/nth;
  if(mode==0){old_wk_attn_scores(Q,K,4096,ctx,h0,h1,1,128,0.088f,S[w]); old_wk_attn_values(S[w],V,4096,ctx,h0,h1,1,128,O);}
  else {wk_attn_scores(Q,K,4096,ctx,h0,h1,1,128,0.088f,S[w]); wk_attn_values(S[w],V,4096,ctx,h0,h1,1,128,O);}
  pthread_barrier_wait(&bar);} }
static int cmp(const void*a,const void*b){double d=*(double*)a-*(double*)b;return d<0?-1:d>0;}
int main(int argc,char**argv){
 if(argc!=4){fprintf(stderr,"usage: %s threads context repeats\n",argv[0]);return 2;}
 nth=atoi(argv[1]); ctx=atol(argv[2]); int reps=atoi(argv[3]);
 if(nth<1||nth>2||ctx<1||ctx>65536||reps<1||reps>100){fprintf(stderr,"threads 1-2, context 1-65536, repeats 1-100\n");return 2;}
 K=alloc(ctx*4096*4);V=alloc(ctx*4096*4); for(long i=0;i<ctx*4096;i++){K[i]=(i%7)*0.01f;V[i]=(i%5)*0.01f;}
 Q=malloc(4096*4);O=malloc(4096*4); for(int i=0;i<4096;i++)Q[i]=0.01f; for(int w=0;w<2;w++)S[w]=malloc(32*ctx*4);
 pthread_barrier_init(&bar,0,nth+1); pthread_t th[2]; for(long t=0;t<nth;t++)pthread_create(&th[t],0,work,(void*)t);
 static double T[2][100];
 for(int k=0;k<reps;k++)for(int m0=0;m0<2;m0++){int m=(k&1)?1-m0:m0; mode=m; double t=now(); pthread_barrier_wait(&bar);pthread_barrier_wait(&bar); T[m][k]=now()-t;}
 for(int m=0;m<2;m++){qsort(T[m],reps,8,cmp); printf("%d thr ctx %ld %s median %.2f ms q1 %.2f q3 %.2f  %.1f GB/s\n",nth,ctx,m?"new":"old",T[m][reps/2]*1e3,T[m][reps/4]*1e3,T[m][3*reps/4]*1e3,ctx*4096*8.0/T[m][reps/2]/1e9);}
 mode=-1; pthread_barrier_wait(&bar); return 0;}
