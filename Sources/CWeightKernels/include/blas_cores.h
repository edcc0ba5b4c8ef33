#ifndef ADALLAVA_BLAS_CORES_H
#define ADALLAVA_BLAS_CORES_H

/// The OpenBLAS (0.3.21) core type whose kernels this CPU's instruction set and OS support
/// best: "Cooperlake" (AVX-512 with BF16), "SkylakeX" (AVX-512 F/BW/DQ/VL), "Haswell"
/// (AVX2 + FMA), or NULL when none of these applies.
const char *adallava_cpu_blas_core(void);

/// The decision, without side effects: `best` when the core type OpenBLAS `detected` uses an
/// older instruction set than `best` (both known names, case-insensitive) and the user set no
/// `OPENBLAS_CORETYPE` (`user` NULL or empty); else NULL.
const char *adallava_blas_upgrade(const char *detected, const char *best, const char *user);

/// The core type OpenBLAS chose by itself when the program was loaded, and the one whose
/// kernels run: a load-time constructor applies `adallava_blas_upgrade` by restarting the
/// program with OPENBLAS_CORETYPE set (child processes inherit the choice). "unknown"
/// without OpenBLAS.
const char *adallava_blas_core_detected(void);
const char *adallava_blas_core_active(void);

#endif
