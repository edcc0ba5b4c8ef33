#include "weight_kernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

// ---- scalar bodies (also the tails of the SIMD ones) -------------------------------------

static inline float bf16_value(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_dot_scalar(const uint16_t *w, const float *x, long n) {
    float acc = 0;
    for (long c = 0; c < n; c++) acc += bf16_value(w[c]) * x[c];
    return acc;
}

static float f32_dot_scalar(const float *w, const float *x, long n) {
    float acc = 0;
    for (long c = 0; c < n; c++) acc += w[c] * x[c];
    return acc;
}

static float q8_dot_scalar(const int8_t *q, const float *scales, const float *x, long n) {
    float acc = 0;
    for (long b = 0; b * 32 < n; b++) {
        long end = n - b * 32 < 32 ? n - b * 32 : 32;
        float s = 0;
        for (long i = 0; i < end; i++) s += (float)q[b * 32 + i] * x[b * 32 + i];
        acc += scales[b] * s;
    }
    return acc;
}

// ---- AVX2 + FMA bodies --------------------------------------------------------------------

// Every GEMV below also prefetches each weight stream this many bytes ahead of its loads.
// The hardware prefetcher alone kept too few lines in flight: in one process, old against new,
// a 7B block's seven decode GEMVs went from 17.2 to 18.8 GB/s on one core for Q8_0 and from
// 26.6 to 29.2 on two; bf16 gained 3-10 %, fp32 0-5 % (scripts/weight_gemv_ab.c). 512, 1024
// and 2048 bytes measured alike.
#define WK_AHEAD 1024
#if defined(__x86_64__)
#define WK_AVX2 __attribute__((target("avx2,fma")))

WK_AVX2 static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

WK_AVX2 static inline __m256 bf16x8(const uint16_t *p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

WK_AVX2 static inline __m256 q8x8(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

// Eight rows per pass: eight weight streams in flight is what lets one core pull bytes at the
// rate OpenBLAS's sgemv does (one or two streams measured 0.6-0.7 of it; twelve or more spill
// registers). The eight rows are `ldw` apart: the driver walks eight bands of the matrix
// together, so each stream runs on from one row into the next instead of eight new streams
// starting every pass (see the Q8_0 × Q8_0 kernel below; here one core went from 0.87-1.10 to
// 1.04-1.22 of sgemv's bytes/s, two threads from 0.83-1.00 to 1.01-1.17).
// Each 32-byte load holds 16 bf16: shifting each 32-bit lane left by 16 gives the even-indexed
// weights as fp32, masking the low half gives the odd ones, so `xd` holds x de-interleaved per
// 16 columns (8 even, then 8 odd) and no widening shuffle is needed.
// One accumulator per row (two FMAs per 16 columns); eight rows make eight independent chains.
// One prefetch per 64-byte line of each row (a line is two steps of 16 bf16).
WK_AVX2 static void bf16_rows8(const uint16_t *w, long ldw, const float *xd, const float *x, float *y,
                               long ystride, long cols, float beta) {
    long body = cols & ~15L;
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
#define WK_ROW(acc, i) do { \
        if ((c & 31) == 0) _mm_prefetch((const char *)(w + (i) * ldw + c) + WK_AHEAD, _MM_HINT_T0); \
        __m256i v = _mm256_loadu_si256((const __m256i *)(w + (i) * ldw + c)); \
        acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), xe, acc); \
        acc = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, high)), xo, acc); \
    } while (0)
    for (long c = 0; c < body; c += 16) {
        __m256 xe = _mm256_loadu_ps(xd + c), xo = _mm256_loadu_ps(xd + c + 8);
        WK_ROW(a0, 0); WK_ROW(a1, 1); WK_ROW(a2, 2); WK_ROW(a3, 3);
        WK_ROW(a4, 4); WK_ROW(a5, 5); WK_ROW(a6, 6); WK_ROW(a7, 7);
    }
#undef WK_ROW
    __m256 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int i = 0; i < 8; i++) {
        float s = hsum256(acc[i]) + bf16_dot_scalar(w + i * ldw + body, x + body, cols - body);
        y[i * ystride] = beta == 0 ? s : beta * y[i * ystride] + s;
    }
}

// The rows left after the groups of eight, one at a time.
WK_AVX2 static void bf16_row1(const uint16_t *w, const float *xd, const float *x, float *y, long cols, float beta) {
    long body = cols & ~15L;
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    __m256 a = _mm256_setzero_ps(), b = a;
    for (long c = 0; c < body; c += 16) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(w + c));
        a = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), _mm256_loadu_ps(xd + c), a);
        b = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, high)), _mm256_loadu_ps(xd + c + 8), b);
    }
    float s = hsum256(_mm256_add_ps(a, b)) + bf16_dot_scalar(w + body, x + body, cols - body);
    *y = beta == 0 ? s : beta * *y + s;
}

WK_AVX2 static void bf16_gemv_avx2(const uint16_t *w, long ldw, const float *x, float *y, long rows, long cols, float beta) {
    long body = cols & ~15L;
    float stack[4096];
    float *xd = body <= 4096 ? stack : malloc(body * sizeof(float));
    for (long c = 0; c < body; c += 16)
        for (int i = 0; i < 8; i++) { xd[c + i] = x[c + 2 * i]; xd[c + 8 + i] = x[c + 2 * i + 1]; }
    long band = rows / 8, r = 0;
    for (; r < band; r++) bf16_rows8(w + r * ldw, band * ldw, xd, x, y + r, band, cols, beta);
    for (r = band * 8; r < rows; r++) bf16_row1(w + r * ldw, xd, x, y + r, cols, beta);
    if (xd != stack) free(xd);
}

// fp32 weights, same shape of loop as the bf16 kernel: eight rows per pass, `ldw` apart
// (eight bands walked together, so each weight stream runs on from one row into the next),
// two accumulators per row over 16 columns. Why not OpenBLAS's sgemv: its two-thread split
// reached 0.69 of stream bandwidth on a 7B block's decode (one thread: 0.96), and it cannot
// take our `balancedChunks` hand-out of rows, which keeps a descheduled core from holding
// the whole step.
WK_AVX2 static void f32_rows8(const float *w, long ldw, const float *x, float *y, long ystride, long cols, float beta) {
    long body = cols & ~7L;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (long c = 0; c < body; c += 8) {
        if ((c & 15) == 0)   // one prefetch per 64-byte line of each row
            for (int i = 0; i < 8; i++) _mm_prefetch((const char *)(w + i * ldw + c) + WK_AHEAD, _MM_HINT_T0);
        __m256 xv = _mm256_loadu_ps(x + c);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + c), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + ldw + c), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 2 * ldw + c), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 3 * ldw + c), xv, a3);
        a4 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 4 * ldw + c), xv, a4);
        a5 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 5 * ldw + c), xv, a5);
        a6 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 6 * ldw + c), xv, a6);
        a7 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 7 * ldw + c), xv, a7);
    }
    __m256 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int i = 0; i < 8; i++) {
        float s = hsum256(acc[i]) + f32_dot_scalar(w + i * ldw + body, x + body, cols - body);
        y[i * ystride] = beta == 0 ? s : beta * y[i * ystride] + s;
    }
}

WK_AVX2 static void f32_row1(const float *w, const float *x, float *y, long cols, float beta) {
    long body = cols & ~7L;
    __m256 a = _mm256_setzero_ps();
    for (long c = 0; c < body; c += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(w + c), _mm256_loadu_ps(x + c), a);
    float s = hsum256(a) + f32_dot_scalar(w + body, x + body, cols - body);
    *y = beta == 0 ? s : beta * *y + s;
}

WK_AVX2 static void f32_gemv_avx2(const float *w, long ldw, const float *x, float *y, long rows, long cols, float beta) {
    long band = rows / 8, r = 0;
    for (; r < band; r++) f32_rows8(w + r * ldw, band * ldw, x, y + r, band, cols, beta);
    for (r = band * 8; r < rows; r++) f32_row1(w + r * ldw, x, y + r, cols, beta);
}

WK_AVX2 static void bf16_to_f32_avx2(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bf16x8(src + i));
    for (; i < n; i++) dst[i] = bf16_value(src[i]);
}

// Per block of 32: Σ q·x in fp32, then one FMA with the block's scale. Six rows per pass
// share each load of x and keep six weight streams in flight (the widening, not memory, bounds
// this kernel on one core: 1 row 0.51, 4 rows 0.60, 6 rows 0.65, 8 rows 0.63 of sgemv's bytes/s
// on 11008×4096; the rows left over go one at a time).
#define WK_Q8_ROWS 6
WK_AVX2 static inline __attribute__((always_inline)) void q8_0_rows(const int8_t *q, const float *scales, long ldq, const float *x, float *y,
                              long n, long cols, float beta) {
    long blocks = cols / 32, tail = cols - blocks * 32, spr = ldq / 32;
    __m256 acc[WK_Q8_ROWS];
    for (int i = 0; i < WK_Q8_ROWS; i++) acc[i] = _mm256_setzero_ps();
    for (long b = 0; b < blocks; b++) {
        const float *xb = x + b * 32;
        __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
        __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
        for (int i = 0; i < n; i++) {
            const int8_t *p = q + i * ldq + b * 32;
            __m256 s = _mm256_mul_ps(q8x8(p), x0);
            s = _mm256_fmadd_ps(q8x8(p + 8), x1, s);
            s = _mm256_fmadd_ps(q8x8(p + 16), x2, s);
            s = _mm256_fmadd_ps(q8x8(p + 24), x3, s);
            acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(scales + i * spr + b), s, acc[i]);
        }
    }
    for (int i = 0; i < n; i++) {
        float s = hsum256(acc[i]);
        if (tail) s += q8_dot_scalar(q + i * ldq + blocks * 32, scales + i * spr + blocks, x + blocks * 32, tail);
        y[i] = beta == 0 ? s : beta * y[i] + s;
    }
}

// Constant row counts, so the compiler unrolls the row loop and keeps `acc` in registers.
WK_AVX2 static void q8_0_gemv_avx2(const int8_t *q, const float *scales, long ldq, const float *x, float *y,
                                   long rows, long cols, float beta) {
    long spr = ldq / 32, r = 0;
    for (; r + WK_Q8_ROWS <= rows; r += WK_Q8_ROWS)
        q8_0_rows(q + r * ldq, scales + r * spr, ldq, x, y + r, WK_Q8_ROWS, cols, beta);
    for (; r < rows; r++) q8_0_rows(q + r * ldq, scales + r * spr, ldq, x, y + r, 1, cols, beta);
}

// Q8_0 × Q8_0 (what llama.cpp runs for Q8_0 weights): x quantized to int8 blocks of 32 with
// one scale each, so a block's dot product is integer work, then one FMA with scale_w · scale_x.
// The fp32-activation kernel above widens every weight to fp32 and is compute-bound on this
// CPU (≈ 0.5-0.65 of sgemv's bytes/s).
//
// Per block, as `maddubs` wants one unsigned operand: |q_x| · (q_w · sign q_x) in 16-bit pairs
// (127·127·2 fits), so |q_x| and q_x are shared by every row and each row pays one `sign`
// (llama.cpp takes |q_w| and signs q_x, two per row). Four blocks per step: the four blocks'
// int32 pair sums are folded by three `hadd`s into one vector [b0 b1 b2 b3 | b0 b1 b2 b3]
// (each half holds half of a block's sum), converted once and multiplied by
// [d0 d1 d2 d3 | d0 d1 d2 d3] (d = scale_w · scale_x, four contiguous scales of the row): one
// convert and one FMA per four blocks instead of a convert, multiply and FMA per block.
// From L2 on one core (128×4096): 33 → 44 GB/s.
//
// The `n` rows of one pass are `rstride` rows apart, not adjacent: the driver cuts the matrix
// into `n` bands and walks them together, so each of the `n` weight streams runs on from one
// row into the next and the hardware prefetcher never restarts. Four adjacent rows per pass
// start four new streams every 16 KB (a 4096-wide row) and stayed at 0.64-0.73 of sgemv's
// bytes/s from memory whatever the arithmetic; banded, 1.0-1.3 (`scripts/weight_gemv_bench.c`).
#define WK_Q8Q8_ROWS 4
WK_AVX2 static inline __attribute__((always_inline)) void q8_0_q8_rows(
        const int8_t *q, const float *scales, long qstride, long sstride, const int8_t *xq, const float *xs,
        float *y, long ystride, int n, long blocks, float beta) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[WK_Q8Q8_ROWS];
    for (int i = 0; i < n; i++) acc[i] = _mm256_setzero_ps();
    long b = 0;
    for (; b + 4 <= blocks; b += 4) {
        __m256i sx[4], ax[4];
        for (int k = 0; k < 4; k++) {
            sx[k] = _mm256_loadu_si256((const __m256i *)(xq + (b + k) * 32));
            ax[k] = _mm256_sign_epi8(sx[k], sx[k]);
        }
        __m128 dx = _mm_loadu_ps(xs + b);
        for (int i = 0; i < n; i++) {
            const int8_t *row = q + i * qstride + b * 32;
            _mm_prefetch((const char *)(row + WK_AHEAD), _MM_HINT_T0);
            _mm_prefetch((const char *)(row + WK_AHEAD + 64), _MM_HINT_T0);
            __m256i m[4];
            for (int k = 0; k < 4; k++) {
                __m256i qw = _mm256_loadu_si256((const __m256i *)(row + k * 32));
                m[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(ax[k], _mm256_sign_epi8(qw, sx[k])), ones);
            }
            __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(m[0], m[1]), _mm256_hadd_epi32(m[2], m[3]));
            __m128 d = _mm_mul_ps(_mm_loadu_ps(scales + i * sstride + b), dx);
            acc[i] = _mm256_fmadd_ps(_mm256_set_m128(d, d), _mm256_cvtepi32_ps(h), acc[i]);
        }
    }
    for (; b < blocks; b++) {
        __m256i sx = _mm256_loadu_si256((const __m256i *)(xq + b * 32)), ax = _mm256_sign_epi8(sx, sx);
        __m256 dx = _mm256_broadcast_ss(xs + b);
        for (int i = 0; i < n; i++) {
            __m256i qw = _mm256_loadu_si256((const __m256i *)(q + i * qstride + b * 32));
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(qw, sx)), ones);
            acc[i] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_broadcast_ss(scales + i * sstride + b), dx),
                                     _mm256_cvtepi32_ps(p), acc[i]);
        }
    }
    for (int i = 0; i < n; i++) {
        float s = hsum256(acc[i]);
        y[i * ystride] = beta == 0 ? s : beta * y[i * ystride] + s;
    }
}

WK_AVX2 static void q8_0_q8_gemv_avx2(const int8_t *q, const float *scales, long ldq, const int8_t *xq,
                                      const float *xs, float *y, long rows, long blocks, float beta) {
    long spr = ldq / 32, band = rows / WK_Q8Q8_ROWS, r = 0;
    for (; r < band; r++)
        q8_0_q8_rows(q + r * ldq, scales + r * spr, band * ldq, band * spr, xq, xs, y + r, band,
                     WK_Q8Q8_ROWS, blocks, beta);
    for (r = band * WK_Q8Q8_ROWS; r < rows; r++)
        q8_0_q8_rows(q + r * ldq, scales + r * spr, ldq, spr, xq, xs, y + r, 1, 1, blocks, beta);
}

WK_AVX2 static void q8_0_to_f32_avx2(const int8_t *q, const float *scales, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_mul_ps(q8x8(q + i), _mm256_set1_ps(scales[i / 32])));
    for (; i < n; i++) dst[i] = scales[i / 32] * (float)q[i];
}

// Decode attention, one query against `context` cached positions, this worker's heads h0..h1.
// Positions go four at a time: each pass reads the same stretch (this worker's heads) of four
// K (then V) rows, four streams in flight as in the weight GEMVs, and prefetches the next four
// rows' stretches. A pass gives each head its four scores at once (one horizontal sum for four,
// stored as four adjacent floats of that head's row of `scores`), and adds four weighted V rows
// into the head's output per load and store of it (one at a time was a load and a store per
// position). 7B attention at context 4096: one position at a time read 8.7 GB/s on one core and
// 15.9 on two; prefetching the next position made it 11.1 and 21.1; four per pass 13.1-14.6 and
// 26.3-27.0 (scripts/attention_decode_ab.c).
WK_AVX2 static inline __m128 hsum4x256(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

WK_AVX2 static void attn_scores_avx2(const float *q, const float *k, long kvStride, long context, long h0, long h1,
                                     long group, long hd, float scale, float *scores) {
    long body = hd & ~7L, t = 0;
    for (; t + 4 <= context; t += 4) {
        const float *row = k + t * kvStride;
        for (long h = h0; h < h1; h++) {
            const float *kh = row + (h / group) * hd, *qh = q + h * hd;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            long d = 0;
            for (; d < body; d += 8) {
                if ((d & 15) == 0)
                    for (int i = 4; i < 8; i++) _mm_prefetch((const char *)(kh + i * kvStride + d), _MM_HINT_T0);
                __m256 x = _mm256_loadu_ps(qh + d);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(kh + d), x, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(kh + kvStride + d), x, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(kh + 2 * kvStride + d), x, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(kh + 3 * kvStride + d), x, a3);
            }
            __m128 s = hsum4x256(a0, a1, a2, a3);
            if (d < hd) {
                float tail[4];
                for (int i = 0; i < 4; i++) tail[i] = f32_dot_scalar(kh + i * kvStride + d, qh + d, hd - d);
                s = _mm_add_ps(s, _mm_loadu_ps(tail));
            }
            _mm_storeu_ps(scores + (h - h0) * context + t, _mm_mul_ps(s, _mm_set1_ps(scale)));
        }
    }
    for (; t < context; t++)
        for (long h = h0; h < h1; h++) {
            const float *kh = k + t * kvStride + (h / group) * hd, *qh = q + h * hd;
            __m256 a = _mm256_setzero_ps();
            long d = 0;
            for (; d < body; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(kh + d), _mm256_loadu_ps(qh + d), a);
            scores[(h - h0) * context + t] = scale * (hsum256(a) + f32_dot_scalar(kh + d, qh + d, hd - d));
        }
}

WK_AVX2 static void attn_values_avx2(const float *p, const float *v, long kvStride, long context, long h0, long h1,
                                     long group, long hd, float *out) {
    long body = hd & ~7L, t = 0;
    memset(out + h0 * hd, 0, (size_t)((h1 - h0) * hd) * sizeof(float));
    for (; t + 4 <= context; t += 4) {
        const float *row = v + t * kvStride;
        for (long h = h0; h < h1; h++) {
            const float *vh = row + (h / group) * hd, *ph = p + (h - h0) * context + t;
            float *oh = out + h * hd;
            __m256 p0 = _mm256_set1_ps(ph[0]), p1 = _mm256_set1_ps(ph[1]), p2 = _mm256_set1_ps(ph[2]),
                   p3 = _mm256_set1_ps(ph[3]);
            long d = 0;
            for (; d < body; d += 8) {
                if ((d & 15) == 0)
                    for (int i = 4; i < 8; i++) _mm_prefetch((const char *)(vh + i * kvStride + d), _MM_HINT_T0);
                __m256 o = _mm256_fmadd_ps(p0, _mm256_loadu_ps(vh + d), _mm256_loadu_ps(oh + d));
                o = _mm256_fmadd_ps(p1, _mm256_loadu_ps(vh + kvStride + d), o);
                o = _mm256_fmadd_ps(p2, _mm256_loadu_ps(vh + 2 * kvStride + d), o);
                _mm256_storeu_ps(oh + d, _mm256_fmadd_ps(p3, _mm256_loadu_ps(vh + 3 * kvStride + d), o));
            }
            for (; d < hd; d++)
                oh[d] += ph[0] * vh[d] + ph[1] * vh[kvStride + d] + ph[2] * vh[2 * kvStride + d] + ph[3] * vh[3 * kvStride + d];
        }
    }
    for (; t < context; t++)
        for (long h = h0; h < h1; h++) {
            const float *vh = v + t * kvStride + (h / group) * hd;
            float *oh = out + h * hd, w = p[(h - h0) * context + t];
            long d = 0;
            for (; d < body; d += 8)
                _mm256_storeu_ps(oh + d, _mm256_fmadd_ps(_mm256_set1_ps(w), _mm256_loadu_ps(vh + d), _mm256_loadu_ps(oh + d)));
            for (; d < hd; d++) oh[d] += w * vh[d];
        }
}

static int has_avx2(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return known;
}
#else
static int has_avx2(void) { return 0; }
#endif

// ---- entry points -------------------------------------------------------------------------

void wk_bf16_gemv(const uint16_t *w, long ldw, const float *x, float *y, long rows, long cols, float beta) {
#if defined(__x86_64__)
    if (has_avx2()) { bf16_gemv_avx2(w, ldw, x, y, rows, cols, beta); return; }
#endif
    for (long r = 0; r < rows; r++) {
        float s = bf16_dot_scalar(w + r * ldw, x, cols);
        y[r] = beta == 0 ? s : beta * y[r] + s;
    }
}

void wk_f32_gemv(const float *w, long ldw, const float *x, float *y, long rows, long cols, float beta) {
#if defined(__x86_64__)
    if (has_avx2()) { f32_gemv_avx2(w, ldw, x, y, rows, cols, beta); return; }
#endif
    for (long r = 0; r < rows; r++) {
        float s = f32_dot_scalar(w + r * ldw, x, cols);
        y[r] = beta == 0 ? s : beta * y[r] + s;
    }
}

void wk_bf16_to_f32(const uint16_t *src, float *dst, long n) {
#if defined(__x86_64__)
    if (has_avx2()) { bf16_to_f32_avx2(src, dst, n); return; }
#endif
    for (long i = 0; i < n; i++) dst[i] = bf16_value(src[i]);
}

void wk_f32_to_bf16(const float *src, uint16_t *dst, long n) {
    for (long i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) { dst[i] = (uint16_t)((u >> 16) | 0x40); continue; }  // quiet NaN
        u += 0x7fffu + ((u >> 16) & 1u);
        dst[i] = (uint16_t)(u >> 16);
    }
}

void wk_q8_0_gemv(const int8_t *q, const float *scales, long ldq, const float *x, float *y,
                  long rows, long cols, float beta) {
#if defined(__x86_64__)
    if (has_avx2()) { q8_0_gemv_avx2(q, scales, ldq, x, y, rows, cols, beta); return; }
#endif
    for (long r = 0; r < rows; r++) {
        float s = q8_dot_scalar(q + r * ldq, scales + r * (ldq / 32), x, cols);
        y[r] = beta == 0 ? s : beta * y[r] + s;
    }
}

void wk_quantize_q8_0(const float *x, long n, int8_t *xq, float *xs) {
    long blocks = (n + 31) / 32;
    for (long b = 0; b < blocks; b++) {
        long end = n - b * 32 < 32 ? n - b * 32 : 32;
        float amax = 0;
        for (long i = 0; i < end; i++) { float a = x[b * 32 + i] < 0 ? -x[b * 32 + i] : x[b * 32 + i]; if (a > amax) amax = a; }
        float scale = amax / 127;
        xs[b] = scale;
        for (long i = 0; i < 32; i++) {
            // Divided (not multiplied by 1/scale) so ties round as `Reference.stored` does.
            float v = i < end && scale != 0 ? x[b * 32 + i] / scale : 0;
            xq[b * 32 + i] = (int8_t)(v < 0 ? -(long)(-v + 0.5f) : (long)(v + 0.5f));
        }
    }
}

void wk_q8_0_q8_gemv(const int8_t *q, const float *scales, long ldq, const int8_t *xq, const float *xs, float *y,
                     long rows, long cols, float beta) {
    long blocks = (cols + 31) / 32;
#if defined(__x86_64__)
    if (has_avx2()) { q8_0_q8_gemv_avx2(q, scales, ldq, xq, xs, y, rows, blocks, beta); return; }
#endif
    for (long r = 0; r < rows; r++) {
        float acc = 0;
        for (long b = 0; b < blocks; b++) {
            int32_t dot = 0;
            long end = cols - b * 32 < 32 ? cols - b * 32 : 32;
            for (long i = 0; i < end; i++) dot += (int32_t)q[r * ldq + b * 32 + i] * xq[b * 32 + i];
            acc += scales[r * (ldq / 32) + b] * xs[b] * (float)dot;
        }
        y[r] = beta == 0 ? acc : beta * y[r] + acc;
    }
}

void wk_q8_0_to_f32(const int8_t *q, const float *scales, float *dst, long n) {
#if defined(__x86_64__)
    if (has_avx2()) { q8_0_to_f32_avx2(q, scales, dst, n); return; }
#endif
    for (long i = 0; i < n; i++) dst[i] = scales[i / 32] * (float)q[i];
}

void wk_attn_scores(const float *q, const float *k, long kvStride, long context, long h0, long h1,
                    long group, long headDim, float scale, float *scores) {
#if defined(__x86_64__)
    if (has_avx2()) { attn_scores_avx2(q, k, kvStride, context, h0, h1, group, headDim, scale, scores); return; }
#endif
    for (long t = 0; t < context; t++)
        for (long h = h0; h < h1; h++) {
            const float *kh = k + t * kvStride + (h / group) * headDim, *qh = q + h * headDim;
            float s = 0;
            for (long d = 0; d < headDim; d++) s += kh[d] * qh[d];
            scores[(h - h0) * context + t] = scale * s;
        }
}

void wk_attn_values(const float *p, const float *v, long kvStride, long context, long h0, long h1,
                    long group, long headDim, float *out) {
#if defined(__x86_64__)
    if (has_avx2()) { attn_values_avx2(p, v, kvStride, context, h0, h1, group, headDim, out); return; }
#endif
    memset(out + h0 * headDim, 0, (size_t)((h1 - h0) * headDim) * sizeof(float));
    for (long t = 0; t < context; t++)
        for (long h = h0; h < h1; h++) {
            const float *vh = v + t * kvStride + (h / group) * headDim;
            float w = p[(h - h0) * context + t];
            for (long d = 0; d < headDim; d++) out[h * headDim + d] += w * vh[d];
        }
}
