#ifndef ADALLAVA_BLAS_CORES_H
#define ADALLAVA_BLAS_CORES_H

/// The OpenBLAS (0.3.21) core type whose kernels this CPU's instruction set and OS support
/// best: "Cooperlake" (AVX-512 with BF16), "SkylakeX" (AVX-512 F/BW/DQ/VL), "Haswell"
/// (AVX2 + FMA), or NULL when none of these applies.
const char *adallava_cpu_blas_core(void);

/// Makes a DYNAMIC_ARCH OpenBLAS already loaded in this process use the kernels of core type
/// `name` from the next call on, as `OPENBLAS_CORETYPE=name` would have at start-up (it sets
/// that variable, so child processes inherit the choice). Call it before any BLAS call is in
/// flight on another thread. Returns 1 when switched, 0 when this OpenBLAS cannot switch
/// (not DYNAMIC_ARCH).
int adallava_openblas_use_core(const char *name);

#endif
