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
/// `Linear` weight, `[out, in]`). `panel` is scratch for `32 · kpad` bf16 values (one packed
/// 32-row weight panel). Call only when `wk_amx_bf16_available()` returned 1.
void wk_amx_bf16_gemm(const uint16_t *a, long m, long kpad, const uint16_t *w, long ldw, long n, long k,
                      float *c, long ldc, float beta, uint16_t *panel);

#endif
