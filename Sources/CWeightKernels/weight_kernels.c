#include "weight_kernels.h"
#include <immintrin.h>
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

// Two rows per pass share each load of x; four accumulators per row hide FMA latency.
WK_AVX2 static void bf16_gemv_avx2(const uint16_t *w, long ldw, const float *x, float *y, long rows, long cols, float beta) {
    long body = cols & ~31L;
    long r = 0;
    for (; r + 1 < rows; r += 2) {
        const uint16_t *w0 = w + r * ldw, *w1 = w0 + ldw;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (long c = 0; c < body; c += 32) {
            __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
            __m256 x2 = _mm256_loadu_ps(x + c + 16), x3 = _mm256_loadu_ps(x + c + 24);
            a0 = _mm256_fmadd_ps(bf16x8(w0 + c), x0, a0);
            a1 = _mm256_fmadd_ps(bf16x8(w0 + c + 8), x1, a1);
            a2 = _mm256_fmadd_ps(bf16x8(w0 + c + 16), x2, a2);
            a3 = _mm256_fmadd_ps(bf16x8(w0 + c + 24), x3, a3);
            b0 = _mm256_fmadd_ps(bf16x8(w1 + c), x0, b0);
            b1 = _mm256_fmadd_ps(bf16x8(w1 + c + 8), x1, b1);
            b2 = _mm256_fmadd_ps(bf16x8(w1 + c + 16), x2, b2);
            b3 = _mm256_fmadd_ps(bf16x8(w1 + c + 24), x3, b3);
        }
        float s0 = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)))
                 + bf16_dot_scalar(w0 + body, x + body, cols - body);
        float s1 = hsum256(_mm256_add_ps(_mm256_add_ps(b0, b1), _mm256_add_ps(b2, b3)))
                 + bf16_dot_scalar(w1 + body, x + body, cols - body);
        y[r] = beta == 0 ? s0 : beta * y[r] + s0;
        y[r + 1] = beta == 0 ? s1 : beta * y[r + 1] + s1;
    }
    for (; r < rows; r++) {
        const uint16_t *w0 = w + r * ldw;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (long c = 0; c < body; c += 32) {
            a0 = _mm256_fmadd_ps(bf16x8(w0 + c), _mm256_loadu_ps(x + c), a0);
            a1 = _mm256_fmadd_ps(bf16x8(w0 + c + 8), _mm256_loadu_ps(x + c + 8), a1);
            a2 = _mm256_fmadd_ps(bf16x8(w0 + c + 16), _mm256_loadu_ps(x + c + 16), a2);
            a3 = _mm256_fmadd_ps(bf16x8(w0 + c + 24), _mm256_loadu_ps(x + c + 24), a3);
        }
        float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)))
                + bf16_dot_scalar(w0 + body, x + body, cols - body);
        y[r] = beta == 0 ? s : beta * y[r] + s;
    }
}

WK_AVX2 static void bf16_to_f32_avx2(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bf16x8(src + i));
    for (; i < n; i++) dst[i] = bf16_value(src[i]);
}

// Per block of 32: Σ q·x in fp32, then one FMA with the block's scale.
WK_AVX2 static void q8_0_gemv_avx2(const int8_t *q, const float *scales, long ldq, const float *x, float *y,
                                   long rows, long cols, float beta) {
    long blocks = cols / 32, tail = cols - blocks * 32, spr = ldq / 32;
    for (long r = 0; r < rows; r++) {
        const int8_t *qr = q + r * ldq;
        const float *sr = scales + r * spr;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
        long b = 0;
        for (; b + 1 < blocks; b += 2) {
            const int8_t *p = qr + b * 32;
            const float *xb = x + b * 32;
            __m256 s0 = _mm256_mul_ps(q8x8(p), _mm256_loadu_ps(xb));
            s0 = _mm256_fmadd_ps(q8x8(p + 8), _mm256_loadu_ps(xb + 8), s0);
            s0 = _mm256_fmadd_ps(q8x8(p + 16), _mm256_loadu_ps(xb + 16), s0);
            s0 = _mm256_fmadd_ps(q8x8(p + 24), _mm256_loadu_ps(xb + 24), s0);
            __m256 s1 = _mm256_mul_ps(q8x8(p + 32), _mm256_loadu_ps(xb + 32));
            s1 = _mm256_fmadd_ps(q8x8(p + 40), _mm256_loadu_ps(xb + 40), s1);
            s1 = _mm256_fmadd_ps(q8x8(p + 48), _mm256_loadu_ps(xb + 48), s1);
            s1 = _mm256_fmadd_ps(q8x8(p + 56), _mm256_loadu_ps(xb + 56), s1);
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(sr[b]), s0, acc0);
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(sr[b + 1]), s1, acc1);
        }
        for (; b < blocks; b++) {
            const int8_t *p = qr + b * 32;
            const float *xb = x + b * 32;
            __m256 s0 = _mm256_mul_ps(q8x8(p), _mm256_loadu_ps(xb));
            s0 = _mm256_fmadd_ps(q8x8(p + 8), _mm256_loadu_ps(xb + 8), s0);
            s0 = _mm256_fmadd_ps(q8x8(p + 16), _mm256_loadu_ps(xb + 16), s0);
            s0 = _mm256_fmadd_ps(q8x8(p + 24), _mm256_loadu_ps(xb + 24), s0);
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(sr[b]), s0, acc0);
        }
        float s = hsum256(_mm256_add_ps(acc0, acc1));
        if (tail) s += q8_dot_scalar(qr + blocks * 32, sr + blocks, x + blocks * 32, tail);
        y[r] = beta == 0 ? s : beta * y[r] + s;
    }
}

WK_AVX2 static void q8_0_to_f32_avx2(const int8_t *q, const float *scales, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_mul_ps(q8x8(q + i), _mm256_set1_ps(scales[i / 32])));
    for (; i < n; i++) dst[i] = scales[i / 32] * (float)q[i];
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

void wk_q8_0_to_f32(const int8_t *q, const float *scales, float *dst, long n) {
#if defined(__x86_64__)
    if (has_avx2()) { q8_0_to_f32_avx2(q, scales, dst, n); return; }
#endif
    for (long i = 0; i < n; i++) dst[i] = scales[i / 32] * (float)q[i];
}
