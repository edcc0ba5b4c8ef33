#ifndef ADALLAVA_AMX_BF16_H
#define ADALLAVA_AMX_BF16_H

#include <stdint.h>

/// 1 when this CPU and OS let this process run AMX BF16 tile instructions (Intel Sapphire
/// Rapids and later). The first call asks the kernel for the tile state (process-wide).
int wk_amx_bf16_available(void);

/// Rounds rows `[m0, m1)` of `x` (fp32, `k` columns, row stride `ldx`) to bf16 (nearest even)
/// into `a`, rows of `kpad` values (`kpad` = `k` rounded up to 32; the padding is zeroed).
/// `a` must hold `mpad · kpad` values, `mpad` = rows rounded up to 32; rows past `m` are the
/// caller's to zero (`wk_amx_zero_rows`).
void wk_amx_pack_a(const float *x, long ldx, long m0, long m1, long k, uint16_t *a, long kpad);

/// Zeroes rows `[m0, m1)` of a packed `a` (`kpad` values per row).
void wk_amx_zero_rows(uint16_t *a, long m0, long m1, long kpad);

/// `c[i, j] = beta · c[i, j] + Σ_{l < k} a[i, l] · w[j, l]` for `i < m`, `j < n`: bf16 × bf16
/// products accumulated in fp32 by AMX tiles (TDPBF16PS). `a` is packed by `wk_amx_pack_a`
/// (`⌈m/32⌉·32` rows of `kpad` values), `w` holds `n` bf16 rows of stride `ldw` (a PyTorch
/// `Linear` weight, `[out, in]`). `panels` is scratch for `wk_amx_panels_size(kpad)` bf16
/// values (packed 32-row weight panels). Call only when `wk_amx_bf16_available()` returned 1.
void wk_amx_bf16_gemm(const uint16_t *a, long m, long kpad, const uint16_t *w, long ldw, long n, long k,
                      float *c, long ldc, float beta, uint16_t *panels);

/// Like `wk_amx_bf16_gemm` for Q8_0 weights (`q`: `n` rows of `ldq` int8 values from a block
/// boundary, `scales`: the scale of `q`'s first block, `ldq / 32` per row): each weight is
/// widened to bf16(q · scale) on the way into the tiles. `panels` must hold
/// `wk_amx_q8_0_panels_size(kpad)` bf16 values.
void wk_amx_q8_0_gemm(const uint16_t *a, long m, long kpad, const int8_t *q, const float *scales, long ldq,
                      long n, long k, float *c, long ldc, float beta, uint16_t *panels);

/// How many 32-row weight panels `wk_amx_bf16_gemm` packs at once for rows of `kpad` values.
long wk_amx_panel_group(long kpad);

/// The bf16 values of `panels` scratch `wk_amx_bf16_gemm` needs for rows of `kpad` values.
long wk_amx_panels_size(long kpad);

/// The bf16 values of `panels` scratch `wk_amx_q8_0_gemm` needs for rows of `kpad` values.
long wk_amx_q8_0_panels_size(long kpad);

#endif
