#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include "blas_cores.h"

/* OpenBLAS 0.3.21 (Debian 12's) picks its kernels from a table of CPU models it knew when it
 * was released; on a newer one it falls back to "Prescott", SSE3 kernels. On this project's
 * Intel Xeon VM (family 6 model 207, AVX-512 + BF16) that made 2-thread cblas_sgemm 2048³
 * run at 31 GFLOP/s instead of 193 (SkylakeX) or 197 (Cooperlake). So we choose from what
 * the CPU reports (cpuid) rather than from its model number. */

static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

const char *adallava_cpu_blas_core(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return NULL;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return NULL;
    uint64_t xcr = xcr0();
    if ((xcr & 0x6) != 0x6) return NULL;                  /* the OS saves SSE and AVX state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return NULL;
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); /* F DQ BW VL */
    if (avx512 && (xcr & 0xe0) == 0xe0) {                 /* and the opmask / ZMM state */
        unsigned a1 = 0, b1, c1, d1;
        __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
        return ((a1 >> 5) & 1) ? "Cooperlake" : "SkylakeX"; /* AVX512_BF16 */
    }
    if (avx2 && fma) return "Haswell";
#endif
    return NULL;
}

int adallava_openblas_use_core(const char *name) {
    /* Exported by every DYNAMIC_ARCH OpenBLAS: `quit` forgets the kernel table, `init` picks
     * one again, honouring OPENBLAS_CORETYPE, exactly as the library's constructor did. */
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!quit || !init || !name) return 0;
    setenv("OPENBLAS_CORETYPE", name, 1);
    quit();
    init();
    return 1;
}
