#ifndef ADALLAVA_WEIGHT_KERNELS_H
#define ADALLAVA_WEIGHT_KERNELS_H

#include <stdint.h>

/// Kernels for weights stored narrower than fp32 (BF16, Q8_0), each widening weights to fp32 in
/// registers and accumulating in fp32, and the fp32 decode GEMV. Every entry point picks an AVX2+FMA body when the CPU has
/// those (checked once at run time) and a portable scalar body otherwise.

/// `y[r] = beta * y[r] + Σ_c w[r * ldw + c] * x[c]` for `r < rows`, `c < cols`; `w` is bf16
/// (the top 16 bits of an fp32). Streams each weight row once.
void wk_bf16_gemv(const uint16_t *w, long ldw, const float *x, float *y, long rows, long cols, float beta);

/// `y[r] = beta * y[r] + Σ_c w[r * ldw + c] * x[c]` for `r < rows`, `c < cols`, fp32 weights:
/// the decode GEMV the engine runs instead of OpenBLAS's sgemv (see weight_kernels.c).
void wk_f32_gemv(const float *w, long ldw, const float *x, float *y, long rows, long cols, float beta);

/// `dst[i] = (float)src[i]` for bf16 `src` (exact).
void wk_bf16_to_f32(const uint16_t *src, float *dst, long n);

/// `dst[i] = bf16(src[i])`, rounded to nearest even (NaN stays NaN).
void wk_f32_to_bf16(const float *src, uint16_t *dst, long n);

/// Q8_0 rows: `q` holds `rows` rows of `ldq` int8 values (ldq a multiple of 32), `scales` one
/// float per block of 32 (`ldq / 32` per row); weight `[r, c] = scales[r * ldq/32 + c/32] *
/// q[r * ldq + c]`. `y[r] = beta * y[r] + Σ_{c < cols} weight[r, c] * x[c]`. `q` and `scales`
/// must point at the start of a block.
void wk_q8_0_gemv(const int8_t *q, const float *scales, long ldq, const float *x, float *y,
                  long rows, long cols, float beta);

/// `x[0..<n]` as Q8_0 blocks: `xs[b] = max|x in block b| / 127`, `xq = round(x / xs[b])`, the
/// last block padded with zeros to 32 values (`xq` holds `32 · ⌈n/32⌉`, `xs` `⌈n/32⌉`).
void wk_quantize_q8_0(const float *x, long n, int8_t *xq, float *xs);

/// Like `wk_q8_0_gemv`, with x already quantized by `wk_quantize_q8_0` (Q8_0 × Q8_0 as
/// llama.cpp computes it): `y[r] = beta * y[r] + Σ_b scales[r, b] · xs[b] · Σ_i q[r, 32b+i] ·
/// xq[32b+i]`, integer dot products per block. Columns past `cols` in the last block meet
/// zeros in `xq`, so a `cols` that ends mid-block is fine.
void wk_q8_0_q8_gemv(const int8_t *q, const float *scales, long ldq, const int8_t *xq, const float *xs, float *y,
                     long rows, long cols, float beta);

/// Widens `n` values of one Q8_0 row (starting at a block boundary) to fp32.
void wk_q8_0_to_f32(const int8_t *q, const float *scales, float *dst, long n);

/// One decode query against a KV cache, heads `[h0, h1)` (query head `h` reads KV head
/// `h / group`); `k`, `v` are `[context, ·]` with row stride `kvStride`, head `g` at column
/// `g · headDim`; `q` and `out` are one `[heads · headDim]` row. Both walk the cache token by
/// token, so each touches one contiguous stretch of a K or V row per token for all its heads
/// (a per-head GEMV reads `headDim` floats every `kvStride`).
/// `scores[(h - h0) · context + t] = scale · q_h · k[t, g]` for `t < context`.
void wk_attn_scores(const float *q, const float *k, long kvStride, long context, long h0, long h1,
                    long group, long headDim, float scale, float *scores);
/// `out_h = Σ_t p[(h - h0) · context + t] · v[t, g]` for `h0 ≤ h < h1` (overwrites `out_h`).
void wk_attn_values(const float *p, const float *v, long kvStride, long context, long h0, long h1,
                    long group, long headDim, float *out);

#endif
