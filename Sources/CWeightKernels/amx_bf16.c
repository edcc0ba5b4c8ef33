#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "amx_bf16.h"
#include "weight_kernels.h"
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

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

#if defined(__x86_64__)

/* Sixteen floats to bf16, nearest even, NaN kept NaN (as `wk_f32_to_bf16`). */
__attribute__((target("avx512f,avx512bw")))
static inline __m256i bf16x16(__m512 f) {
    __m512i u = _mm512_castps_si512(f);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

__attribute__((target("avx512f,avx512bw")))
void wk_amx_pack_a(const float *x, long ldx, long m0, long m1, long k, uint16_t *a, long kpad) {
    for (long i = m0; i < m1; i++) {
        const float *src = x + i * ldx;
        uint16_t *dst = a + i * kpad;
        long l = 0;
        for (; l + 16 <= k; l += 16) _mm256_storeu_si256((__m256i *)(dst + l), bf16x16(_mm512_loadu_ps(src + l)));
        wk_f32_to_bf16(src + l, dst + l, k - l);
        l = k;
        for (; l < kpad; l++) dst[l] = 0;
    }
}

void wk_amx_zero_rows(uint16_t *a, long m0, long m1, long kpad) {
    if (m1 > m0) memset(a + m0 * kpad, 0, (size_t)(m1 - m0) * (size_t)kpad * 2);
}

/* Packs weight rows [j0, j0 + 32) (rows past n and columns past k as zeros) into `panel`:
 * for each 32-wide step s of k, two 1 KB tiles (columns j0..j0+15, then j0+16..j0+31), tile
 * row p holding the 16 pairs (w[j, 32s + 2p], w[j, 32s + 2p + 1]) as 32-bit words. A tile row
 * is one 32-bit word from each of 16 weight rows: a 16-lane gather (the scalar scatter this
 * replaces took about a third of a 7B block's prefill). */
static void pack_panel_scalar(const uint16_t *w, long ldw, long n, long k, long kpad, long j0, uint32_t *panel) {
    long pairs = kpad / 2;
    for (long jj = 0; jj < 32; jj++) {
        long j = j0 + jj;
        uint32_t *col = panel + (jj / 16) * 256 + (jj % 16);   /* word (s, t, p, jj%16) */
        const uint16_t *row = w + j * ldw;
        for (long p = 0; p < pairs; p++) {
            uint32_t lo = j < n && 2 * p < k ? row[2 * p] : 0, hi = j < n && 2 * p + 1 < k ? row[2 * p + 1] : 0;
            col[(p / 16) * 512 + (p % 16) * 16] = lo | hi << 16;
        }
    }
}

__attribute__((target("avx512f")))
static void pack_panel(const uint16_t *w, long ldw, long n, long k, long kpad, long j0, uint32_t *panel) {
    /* The gathers read whole words of 16 full rows; edges (fewer rows, odd k, the last
     * partial step) take the scalar path, which zero-fills. */
    if (j0 + 32 > n || (k & 1) || ldw % 2 || ldw / 2 > (1L << 26)) {
        pack_panel_scalar(w, ldw, n, k, kpad, j0, panel);
        return;
    }
    long whole = k / 32;                      /* steps with all 32 values of k present */
    const __m512i lanes = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)(ldw / 2)));
    for (int t = 0; t < 2; t++) {
        const int *base = (const int *)(w + (j0 + 16 * t) * ldw);
        for (long s = 0; s < whole; s++) {
            uint32_t *tile = panel + s * 512 + t * 256;
            for (int p = 0; p < 16; p++) {
                __m512i v = _mm512_i32gather_epi32(lanes, base + s * 16 + p, 4);
                _mm512_storeu_si512((void *)(tile + p * 16), v);
            }
        }
    }
    if (whole * 32 < kpad) {                  /* last partial step: scalar, zero-filled */
        for (long jj = 0; jj < 32; jj++) {
            const uint16_t *row = w + (j0 + jj) * ldw;
            uint32_t *col = panel + (jj / 16) * 256 + (jj % 16);
            for (long p = whole * 16; p < kpad / 2; p++) {
                uint32_t lo = 2 * p < k ? row[2 * p] : 0, hi = 2 * p + 1 < k ? row[2 * p + 1] : 0;
                col[(p / 16) * 512 + (p % 16) * 16] = lo | hi << 16;
            }
        }
    }
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* Rows of `a` longer than this are multiplied a stretch at a time, each stretch adding into
 * c: a 32-token block of a longer row and a group of panels no longer fit L2 together (the
 * 11008-wide input of the MLP's down projection ran at 236 GFLOP/s on one core in one go). */
#ifndef WK_AMX_STRETCH
#define WK_AMX_STRETCH 4096
#endif

/* How many 32-row weight panels to pack and keep at once: about 1 MB of them, so that each
 * 32-token block of activations (read from L3: all of `a` is several MB) serves every panel
 * of the group from L2 before the next block comes in. */
long wk_amx_panel_group(long kpad) {
    if (kpad > WK_AMX_STRETCH) kpad = WK_AMX_STRETCH;
    long g = (1L << 20) / (64 * kpad);
    return g < 1 ? 1 : g > 8 ? 8 : g;
}

/* Q8_0 weights for the same kernel: each group's rows are widened to bf16 (q · scale, rounded
 * to nearest even: at most a quarter of a quantization step, as |q| ≤ 127 < 2⁸) into scratch,
 * then packed like bf16 rows. */
typedef struct {
    const int8_t *q;        /* row 0, at a block boundary */
    const float *scales;    /* the scale of q's first block; ldq / 32 per row */
    long ldq;
} q8_rows;

__attribute__((target("avx512f,avx512bw")))
static void q8_to_bf16_rows(q8_rows src, long j0, long rows, long k0, long kv, long kpad, uint16_t *dst) {
    for (long j = 0; j < rows; j++) {
        const int8_t *q = src.q + (j0 + j) * src.ldq + k0;
        const float *sc = src.scales + (j0 + j) * (src.ldq / 32) + k0 / 32;
        uint16_t *d = dst + j * kpad;
        long l = 0;
        for (; l + 16 <= kv; l += 16) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + l))));
            _mm256_storeu_si256((__m256i *)(d + l), bf16x16(_mm512_mul_ps(v, _mm512_set1_ps(sc[l / 32]))));
        }
        for (; l < kv; l++) {
            float v = (float)q[l] * sc[l / 32];
            wk_f32_to_bf16(&v, d + l, 1);
        }
        for (; l < kpad; l++) d[l] = 0;
    }
}

/* One stretch of k (`kpad` values, a multiple of 32, of the `lda`-wide rows of `a`), weights
 * bf16 rows `w` or, when `q8.q` is set, Q8_0 rows widened through `panels`' second half. */
__attribute__((target("amx-tile,amx-bf16")))
static void gemm_stretch(const uint16_t *a, long lda, long m, long kpad, const uint16_t *w, long ldw, q8_rows q8,
                         long k0, long n, long k, float *c, long ldc, float beta, uint16_t *panels) {
    float out[32 * 32];
    long mpad = (m + 31) / 32 * 32, steps = kpad / 32, astride = lda * 2, group = wk_amx_panel_group(kpad);
    uint16_t *widened = panels + group * 32 * kpad;
    for (long g0 = 0; g0 < n; g0 += 32 * group) {
        long count = (n - g0 + 31) / 32 < group ? (n - g0 + 31) / 32 : group;
        if (q8.q) {
            long rows = n - g0 < 32 * count ? n - g0 : 32 * count;
            q8_to_bf16_rows(q8, g0, rows, k0, k, kpad, widened);
            for (long g = 0; g < count; g++)
                pack_panel(widened, kpad, rows, kpad, kpad, 32 * g, (uint32_t *)(panels + g * 32 * kpad));
        } else {
            for (long g = 0; g < count; g++)
                pack_panel(w + k0, ldw, n, k, kpad, g0 + 32 * g, (uint32_t *)(panels + g * 32 * kpad));
        }
        for (long i0 = 0; i0 < mpad; i0 += 32) {
            const uint16_t *a0 = a + i0 * lda + k0, *a1 = a0 + 16 * lda;
            long mv = m - i0 < 32 ? m - i0 : 32;
            for (long g = 0; g < count; g++) {
                const uint16_t *panel = panels + g * 32 * kpad;
                long j0 = g0 + 32 * g, nv = n - j0 < 32 ? n - j0 : 32;
                _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
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
                for (long i = 0; i < mv; i++) {
                    float *dst = c + (i0 + i) * ldc + j0;
                    const float *src = out + i * 32;
                    if (beta == 0) memcpy(dst, src, (size_t)nv * 4);
                    else for (long j = 0; j < nv; j++) dst[j] = beta * dst[j] + src[j];
                }
            }
        }
    }
}

long wk_amx_panels_size(long kpad) {
    return wk_amx_panel_group(kpad) * 32 * (kpad < WK_AMX_STRETCH ? kpad : WK_AMX_STRETCH);
}

long wk_amx_q8_0_panels_size(long kpad) {
    return 2 * wk_amx_panels_size(kpad);   /* packed panels, then the group's widened rows */
}

__attribute__((target("amx-tile,amx-bf16")))
static void gemm(const uint16_t *a, long m, long kpad, const uint16_t *w, long ldw, q8_rows q8, long n, long k,
                 float *c, long ldc, float beta, uint16_t *panels) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    _tile_loadconfig(&cfg);
    for (long k0 = 0; k0 < kpad; k0 += WK_AMX_STRETCH) {
        long kp = kpad - k0 < WK_AMX_STRETCH ? kpad - k0 : WK_AMX_STRETCH, kv = k - k0 < kp ? k - k0 : kp;
        gemm_stretch(a, kpad, m, kp, w, ldw, q8, k0, n, kv, c, ldc, k0 == 0 ? beta : 1, panels);
    }
    _tile_release();
}

void wk_amx_bf16_gemm(const uint16_t *a, long m, long kpad, const uint16_t *w, long ldw, long n, long k,
                      float *c, long ldc, float beta, uint16_t *panels) {
    q8_rows none = {0, 0, 0};
    gemm(a, m, kpad, w, ldw, none, n, k, c, ldc, beta, panels);
}

void wk_amx_q8_0_gemm(const uint16_t *a, long m, long kpad, const int8_t *q, const float *scales, long ldq,
                      long n, long k, float *c, long ldc, float beta, uint16_t *panels) {
    q8_rows src = {q, scales, ldq};
    gemm(a, m, kpad, 0, 0, src, n, k, c, ldc, beta, panels);
}
#else
/* Not x86: no AMX. `wk_amx_bf16_available` says 0, so `PrefillKernel` never picks these. */
void wk_amx_pack_a(const float *x, long ldx, long m0, long m1, long k, uint16_t *a, long kpad) {
    (void)x; (void)ldx; (void)m0; (void)m1; (void)k; (void)a; (void)kpad;
}
void wk_amx_zero_rows(uint16_t *a, long m0, long m1, long kpad) { (void)a; (void)m0; (void)m1; (void)kpad; }
long wk_amx_panel_group(long kpad) { (void)kpad; return 0; }
long wk_amx_panels_size(long kpad) { (void)kpad; return 0; }
long wk_amx_q8_0_panels_size(long kpad) { (void)kpad; return 0; }
void wk_amx_bf16_gemm(const uint16_t *a, long m, long kpad, const uint16_t *w, long ldw, long n, long k,
                      float *c, long ldc, float beta, uint16_t *panels) {
    (void)a; (void)m; (void)kpad; (void)w; (void)ldw; (void)n; (void)k; (void)c; (void)ldc; (void)beta; (void)panels;
}
void wk_amx_q8_0_gemm(const uint16_t *a, long m, long kpad, const int8_t *q, const float *scales, long ldq,
                      long n, long k, float *c, long ldc, float beta, uint16_t *panels) {
    (void)a; (void)m; (void)kpad; (void)q; (void)scales; (void)ldq; (void)n; (void)k; (void)c; (void)ldc;
    (void)beta; (void)panels;
}
#endif
