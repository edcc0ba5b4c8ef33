#ifndef ADALLAVA_WEIGHT_KERNELS_H
#define ADALLAVA_WEIGHT_KERNELS_H

#include <stdint.h>

/// Kernels for weights stored narrower than fp32 (BF16, Q8_0): each widens weights to fp32 in
/// registers and accumulates in fp32. Every entry point picks an AVX2+FMA body when the CPU has
/// those (checked once at run time) and a portable scalar body otherwise.

/// `y[r] = beta * y[r] + Σ_c w[r * ldw + c] * x[c]` for `r < rows`, `c < cols`; `w` is bf16
/// (the top 16 bits of an fp32). Streams each weight row once.
void wk_bf16_gemv(const uint16_t *w, long ldw, const float *x, float *y, long rows, long cols, float beta);

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

/// Widens `n` values of one Q8_0 row (starting at a block boundary) to fp32.
void wk_q8_0_to_f32(const int8_t *q, const float *scales, float *dst, long n);

#endif
