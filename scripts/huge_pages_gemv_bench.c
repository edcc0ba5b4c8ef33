// Huge-page yardstick: a 7B block's seven decode GEMVs (q, k, v, o 4096×4096; gate, up
// 11008×4096; down 4096×11008) run by CWeightKernels' fp32, bf16 and Q8_0 × Q8_0 GEMVs on 1 or 2
// persistent pthreads (half the rows each, barriers between GEMVs as the engine's row split),
// with the weights in 4 KB pages (plain malloc) and in 2 MB pages (mmap + MADV_HUGEPAGE before
// the first touch), alternating page kinds per repeat so a busy machine disturbs both alike;
// beside each, OpenBLAS sgemv over the two gate-sized fp32 matrices of the same page kind.
// Prints the median (and minimum) block time and bytes/s ÷ that sgemv's.
//
//   clang -O3 -march=native -ISources/CWeightKernels/include scripts/huge_pages_gemv_bench.c \
//       Sources/CWeightKernels/weight_kernels.c -lopenblas -lpthread -lm -o /tmp/huge_pages_gemv_bench
//   /tmp/huge_pages_gemv_bench [threads=2] [repeats=15]
#define _GNU_SOURCE
#include "weight_kernels.h"
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void*alloc(size_t n,int huge){ if(!huge){void*p=malloc(n); return p;}
 size_t al=2<<20; size_t m=(n+al-1)/al*al; void*p=mmap(0,m+al,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
 char*q=(char*)(((unsigned long)p+al-1)&~(al-1)); madvise(q,m,MADV_HUGEPAGE); return q;}
// shapes: q,k,v,o 4096x4096; gate, up 11008x4096; down 4096x11008
static long R[7]={4096,4096,4096,4096,11008,11008,4096}, C[7]={4096,4096,4096,4096,4096,4096,11008};
typedef struct{float*f[7];uint16_t*b[7];int8_t*q[7];float*s[7];} W;
static W w[2]; static float*x,*y,*xs; static int8_t*xq; static int mode,kind,nth; static pthread_barrier_t bar; static int reps;
static void*work(void*a){long t=(long)a;
 for(;;){pthread_barrier_wait(&bar); if(mode<0)return 0;
  for(int m=0;m<7;m++){long r0=R[m]*t/nth,r1=R[m]*(t+1)/nth; long bl=C[m]/32;
   if(mode==0) wk_f32_gemv(w[kind].f[m]+r0*C[m],C[m],x,y+r0,r1-r0,C[m],0);
   else if(mode==1) wk_bf16_gemv(w[kind].b[m]+r0*C[m],C[m],x,y+r0,r1-r0,C[m],0);
   else wk_q8_0_q8_gemv(w[kind].q[m]+r0*C[m],w[kind].s[m]+r0*bl,C[m],xq,xs,y+r0,r1-r0,C[m],0);
   pthread_barrier_wait(&bar);} }
}
static int cmp(const void*a,const void*b){double d=*(double*)a-*(double*)b;return d<0?-1:d>0;}
int main(int argc,char**argv){nth=argc>1?atoi(argv[1]):2; reps=argc>2?atoi(argv[2]):15;
 if(nth<1||nth>2||reps<1||reps>64){fprintf(stderr,"threads must be 1 or 2, repeats 1-64\n");return 2;}
 x=malloc(11008*4);y=malloc(11008*4);xq=malloc(11008);xs=malloc(11008/32*4); for(int i=0;i<11008;i++)x[i]=1; wk_quantize_q8_0(x,11008,xq,xs);
 for(int h=0;h<2;h++)for(int m=0;m<7;m++){long n=R[m]*C[m]; w[h].f[m]=alloc(n*4,h); w[h].b[m]=alloc(n*2,h); w[h].q[m]=alloc(n,h); w[h].s[m]=alloc(n/32*4,h);
  for(long i=0;i<n;i++){w[h].f[m][i]=(float)((i*2654435761u)%2001)/1000-1; w[h].q[m][i]=(int8_t)(i%255-127);} wk_f32_to_bf16(w[h].f[m],w[h].b[m],n); for(long i=0;i<n/32;i++)w[h].s[m][i]=1/127.f;}
 FILE*f=fopen("/proc/meminfo","r");char line[256];while(fgets(line,256,f))if(strstr(line,"AnonHuge"))fputs(line,stdout);fclose(f);
 long fb=0; for(int m=0;m<7;m++)fb+=R[m]*C[m];
 pthread_barrier_init(&bar,0,nth+1); pthread_t th[2]; for(long t=0;t<nth;t++)pthread_create(&th[t],0,work,(void*)t);
 double best[2][3],med[2][3][64],sg[2][64]; for(int h=0;h<2;h++)for(int m=0;m<3;m++)best[h][m]=1e9;
 openblas_set_num_threads(nth);
 for(int k=0;k<reps;k++) for(int hh=0;hh<2;hh++){int h=(k&1)?1-hh:hh; kind=h;
  for(int md=0;md<3;md++){mode=md; double t=now(); for(int m=0;m<8;m++)pthread_barrier_wait(&bar); t=now()-t; med[h][md][k]=t; if(t<best[h][md])best[h][md]=t;}
  double t=now(); cblas_sgemv(CblasRowMajor,CblasNoTrans,11008,4096,1,w[h].f[4],4096,x,1,0,y,1); cblas_sgemv(CblasRowMajor,CblasNoTrans,11008,4096,1,w[h].f[5],4096,x,1,0,y,1); sg[h][k]=now()-t; }
 const char*nm[3]={"f32","bf16","q8q8"}; double by[3]={4,2,1.125};
 for(int h=0;h<2;h++){ qsort(sg[h],reps,8,cmp); double sgb=2*11008*4096*4.0/sg[h][reps/2]/1e9;
  printf("%s pages, %d thr: sgemv(2 gate-size) median %.1f GB/s\n",h?"huge":"4K",nth,sgb);
  for(int md=0;md<3;md++){qsort(med[h][md],reps,8,cmp); double m=med[h][md][reps/2];
   printf("  %-5s block median %7.2f ms (min %7.2f) %5.1f GB/s  ratio to sgemv %.2f\n",nm[md],m*1e3,best[h][md]*1e3,fb*by[md]/m/1e9,fb*by[md]/m/1e9/sgb);} }
 mode=-1; pthread_barrier_wait(&bar); return 0;}
