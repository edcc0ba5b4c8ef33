// Would fused projections help prefill? Times OpenBLAS sgemm on a 600-token LLaMA-7B prefill:
// q, k, v as three [600,4096]·[4096,4096]ᵀ calls against one [600,4096]·[12288,4096]ᵀ call, and
// gate, up as two [600,4096]·[11008,4096]ᵀ calls against one [600,4096]·[22016,4096]ᵀ call.
// Minimum of 5. Decode needs no such test: its GEMVs stream the same bytes fused or not.
//
//   clang -O3 scripts/fused_projection_bench.c -lopenblas -o /tmp/fused_projection_bench
//   /tmp/fused_projection_bench 2; /tmp/fused_projection_bench 1
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    int th = atoi(argv[1]); openblas_set_num_threads(th);
    long T = 600, H = 4096, N = 11008;
    float *x = malloc(T * H * 4), *w = malloc(2 * N * H * 4), *y = malloc(T * 2 * N * 4);
    for (long i = 0; i < T * H; i++) x[i] = 0.01f * (i % 13);
    for (long i = 0; i < 2 * N * H; i++) w[i] = 0.001f * (i % 17);
    double b[4] = {1e9, 1e9, 1e9, 1e9};
    for (int r = 0; r < 5; r++) {
        double t = now();
        for (int k = 0; k < 3; k++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, H, H, 1, x, H, w + k * H * H, H, 0, y + k * H, 3 * H);
        double d = now() - t; if (d < b[0]) b[0] = d;
        t = now(); cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, 3 * H, H, 1, x, H, w, H, 0, y, 3 * H); d = now() - t; if (d < b[1]) b[1] = d;
        t = now();
        for (int k = 0; k < 2; k++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, H, 1, x, H, w + k * N * H, H, 0, y + k * N, 2 * N);
        d = now() - t; if (d < b[2]) b[2] = d;
        t = now(); cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, 2 * N, H, 1, x, H, w, H, 0, y, 2 * N); d = now() - t; if (d < b[3]) b[3] = d;
    }
    printf("%d threads: qkv 3 sgemms %.1f ms, fused %.1f ms; gate/up 2 sgemms %.1f ms, fused %.1f ms\n", th, b[0]*1e3, b[1]*1e3, b[2]*1e3, b[3]*1e3);
}
