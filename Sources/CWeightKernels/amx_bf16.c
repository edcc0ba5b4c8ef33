#define _GNU_SOURCE
#include <cpuid.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <immintrin.h>
#include "amx_bf16.h"

/* Prefill with bf16 weights, on CPUs with AMX (Intel Sapphire Rapids and later): the
 * activations are rounded to bf16 once per call and multiplied by the stored bf16 weights in
 * 16×16 fp32 tiles (TDPBF16PS: 16 × 16 × 32 multiply-adds per instruction). The other bf16
 * prefill path widens every weight to fp32 and runs OpenBLAS's sgemm, so it can never beat
 * the fp32 peak; this one keeps the activations' bf16 rounding error instead (as llama.cpp's
 * BF16 path does), which the golden-fixture tests bound.
 *
 * Tiles: 0-3 accumulate a 32 × 32 block of c (2 × 2 tiles of 16 × 16), 4-5 hold 32 rows of a
 * (16 × 32 bf16 each), 6-7 hold 32 columns of w in the pair-interleaved ("VNNI") layout AMX
 * wants: tile row p, column 2j + h = w[j, 2p + h]. Per 32 values of k: four tile loads, four
 * TDPBF16PS. */

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_ok;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;

static void amx_probe(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    if (!((d >> 22) & 1) || !((d >> 24) & 1)) return;          /* AMX-BF16, AMX-TILE */
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return;
    amx_ok = 1;
#endif
}

int wk_amx_bf16_available(void) {
    pthread_once(&amx_once, amx_probe);
    return amx_ok;
}

static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);   /* NaN stays NaN */
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

void wk_amx_pack_a(const float *x, long ldx, long m0, long m1, long k, uint16_t *a, long kpad) {
    for (long i = m0; i < m1; i++) {
        const float *src = x + i * ldx;
        uint16_t *dst = a + i * kpad;
        for (long l = 0; l < k; l++) dst[l] = to_bf16(src[l]);
        for (long l = k; l < kpad; l++) dst[l] = 0;
    }
}

void wk_amx_zero_rows(uint16_t *a, long m0, long m1, long kpad) {
    if (m1 > m0) memset(a + m0 * kpad, 0, (size_t)(m1 - m0) * (size_t)kpad * 2);
}

/* Packs weight rows [j0, j0 + 32) (rows past n and columns past k as zeros) into `panel`:
 * for each 32-wide step s of k, two 1 KB tiles (columns j0..j0+15, then j0+16..j0+31), tile
 * row p holding the 16 pairs (w[j, 32s + 2p], w[j, 32s + 2p + 1]) as 32-bit words. */
static void pack_panel(const uint16_t *w, long ldw, long n, long k, long kpad, long j0, uint32_t *panel) {
    long pairs = kpad / 2, whole = k / 2;
    for (long jj = 0; jj < 32; jj++) {
        long j = j0 + jj;
        uint32_t *col = panel + (jj / 16) * 256 + (jj % 16);   /* word (s, t, p, jj%16) */
        if (j >= n) {
            for (long p = 0; p < pairs; p++) col[(p / 16) * 512 + (p % 16) * 16] = 0;
            continue;
        }
        const uint16_t *row = w + j * ldw;
        for (long p = 0; p < whole; p++) {
            uint32_t v;
            memcpy(&v, row + 2 * p, 4);
            col[(p / 16) * 512 + (p % 16) * 16] = v;
        }
        for (long p = whole; p < pairs; p++) {
            uint32_t lo = 2 * p < k ? row[2 * p] : 0;
            col[(p / 16) * 512 + (p % 16) * 16] = lo;
        }
    }
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

__attribute__((target("amx-tile,amx-bf16")))
void wk_amx_bf16_gemm(const uint16_t *a, long m, long kpad, const uint16_t *w, long ldw, long n, long k,
                      float *c, long ldc, float beta, uint16_t *panel) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
    float out[32 * 32];
    long mpad = (m + 31) / 32 * 32, steps = kpad / 32, astride = kpad * 2;
    for (long j0 = 0; j0 < n; j0 += 32) {
        pack_panel(w, ldw, n, k, kpad, j0, (uint32_t *)panel);
        long nv = n - j0 < 32 ? n - j0 : 32;
        for (long i0 = 0; i0 < mpad; i0 += 32) {
            _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
            const uint16_t *a0 = a + i0 * kpad, *a1 = a0 + 16 * kpad;
            for (long s = 0; s < steps; s++) {
                _tile_loadd(4, a0 + s * 32, astride);
                _tile_loadd(5, a1 + s * 32, astride);
                _tile_loadd(6, panel + s * 1024, 64);
                _tile_loadd(7, panel + s * 1024 + 512, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(1, 4, 7);
                _tile_dpbf16ps(2, 5, 6);
                _tile_dpbf16ps(3, 5, 7);
            }
            _tile_stored(0, out, 128);
            _tile_stored(1, out + 16, 128);
            _tile_stored(2, out + 16 * 32, 128);
            _tile_stored(3, out + 16 * 32 + 16, 128);
            long mv = m - i0 < 32 ? m - i0 : 32;
            for (long i = 0; i < mv; i++) {
                float *dst = c + (i0 + i) * ldc + j0;
                const float *src = out + i * 32;
                if (beta == 0) memcpy(dst, src, (size_t)nv * 4);
                else for (long j = 0; j < nv; j++) dst[j] = beta * dst[j] + src[j];
            }
        }
    }
    _tile_release();
}
