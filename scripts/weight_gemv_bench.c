// One-thread GEMV yardstick for the weight formats: OpenBLAS sgemv on fp32 against
// CWeightKernels' fp32, bf16 and Q8_0 GEMVs on the same 11008×4096 matrix (an LLaMA-7B MLP
// projection), interleaved so a busy machine disturbs all of them alike. Prints the minimum
// time of each over the repeats and bytes/s in each stored format. Q8_0 twice: with fp32
// activations (`wk_q8_0_gemv`, the reference kernel) and Q8_0 × Q8_0 (x quantized each call,
// `wk_quantize_q8_0` + `wk_q8_0_q8_gemv`: what decode runs).
//
//   clang -O3 -ISources/CWeightKernels/include scripts/weight_gemv_bench.c \
//       Sources/CWeightKernels/weight_kernels.c -lopenblas -o /tmp/weight_gemv_bench
//   /tmp/weight_gemv_bench [rows] [cols] [repeats]
#include "weight_kernels.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    long rows = argc > 1 ? atol(argv[1]) : 11008, cols = argc > 2 ? atol(argv[2]) : 4096;
    int repeats = argc > 3 ? atoi(argv[3]) : 20;
    long n = rows * cols, blocks = (cols + 31) / 32;
    float *wf = malloc(n * sizeof(float)), *x = malloc(cols * sizeof(float)), *y = malloc(rows * sizeof(float));
    uint16_t *wb = malloc(n * sizeof(uint16_t));
    int8_t *q = calloc(rows * blocks * 32, 1);
    float *s = malloc(rows * blocks * sizeof(float));
    for (long i = 0; i < n; i++) wf[i] = (float)((i * 2654435761u) % 2001) / 1000 - 1;
    for (long r = 0; r < rows; r++)
        for (long c = 0; c < cols; c++) q[r * blocks * 32 + c] = (int8_t)((r + c) % 255 - 127);
    for (long i = 0; i < rows * blocks; i++) s[i] = 1.0f / 127;
    for (long i = 0; i < cols; i++) x[i] = 1;
    wk_f32_to_bf16(wf, wb, n);
    openblas_set_num_threads(1);
    int8_t *xq = malloc(blocks * 32);
    float *xs = malloc(blocks * sizeof(float));
    double best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
    for (int k = 0; k < repeats; k++) {
        double t = now();
        cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1, wf, cols, x, 1, 0, y, 1);
        double a = now() - t;
        t = now();
        wk_bf16_gemv(wb, cols, x, y, rows, cols, 0);
        double b = now() - t;
        t = now();
        wk_q8_0_gemv(q, s, blocks * 32, x, y, rows, cols, 0);
        double c = now() - t;
        t = now();
        wk_quantize_q8_0(x, cols, xq, xs);
        wk_q8_0_q8_gemv(q, s, blocks * 32, xq, xs, y, rows, cols, 0);
        double e = now() - t;
        t = now();
        wk_f32_gemv(wf, cols, x, y, rows, cols, 0);
        double f = now() - t;
        if (f < best[4]) best[4] = f;
        if (e < best[3]) best[3] = e;
        if (a < best[0]) best[0] = a;
        if (b < best[1]) best[1] = b;
        if (c < best[2]) best[2] = c;
    }
    printf("%ld x %ld, 1 thread, min of %d\n", rows, cols, repeats);
    printf("f32  sgemv  %7.2f ms  %5.1f GB/s\n", best[0] * 1e3, n * 4.0 / best[0] / 1e9);
    printf("f32  gemv   %7.2f ms  %5.1f GB/s  (%.2f of sgemv's time; ours)\n", best[4] * 1e3, n * 4.0 / best[4] / 1e9, best[4] / best[0]);
    printf("bf16 gemv   %7.2f ms  %5.1f GB/s  (%.2f of sgemv's time)\n", best[1] * 1e3, n * 2.0 / best[1] / 1e9, best[1] / best[0]);
    printf("q8_0 gemv   %7.2f ms  %5.1f GB/s  (%.2f of sgemv's time; fp32 x)\n", best[2] * 1e3, n * 1.125 / best[2] / 1e9, best[2] / best[0]);
    printf("q8_0 q8 x   %7.2f ms  %5.1f GB/s  (%.2f of sgemv's time; x as Q8_0, as decode runs)\n", best[3] * 1e3, n * 1.125 / best[3] / 1e9, best[3] / best[0]);
    return 0;
}
