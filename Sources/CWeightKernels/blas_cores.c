#define _GNU_SOURCE
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "blas_cores.h"

/* OpenBLAS 0.3.21 (Debian 12's) picks its kernels from a table of CPU models it knew when it
 * was released; on a newer one it falls back to "Prescott", SSE3 kernels. On this project's
 * Intel Xeon VM (family 6 model 207, AVX-512 + BF16) that made 2-thread cblas_sgemm 2048³
 * run at 31 GFLOP/s instead of 193 (SkylakeX) or 197 (Cooperlake). So we choose from what
 * the CPU reports (cpuid) rather than from its model number. */

#if defined(__x86_64__)
static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

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

/* The instruction set each known OpenBLAS core type's kernels use: 0 before AVX, 1 AVX,
 * 2 AVX2 + FMA, 3 AVX-512, 4 AVX-512 with BF16; -1 for names not listed (left alone). */
static int rank_of(const char *name) {
    static const char *const ranks[][6] = {
        {"unknown", "katmai", "coppermine", "northwood", "prescott", "banias"},
        {"sandybridge", "bulldozer", "piledriver", "steamroller", "excavator", 0},
        {"haswell", "zen", 0},
        {"skylakex", 0},
        {"cooperlake", "sapphirerapids", 0},
    };
    static const char *const old[] = {"atom", "core2", "penryn", "dunnington", "nehalem", "athlon", "opteron",
                                      "opteron_sse3", "barcelona", "nano", "bobcat", 0};
    if (!name) return -1;
    for (int i = 0; old[i]; i++) if (!strcasecmp(name, old[i])) return 0;
    for (int r = 0; r < 5; r++)
        for (int i = 0; i < 6 && ranks[r][i]; i++) if (!strcasecmp(name, ranks[r][i])) return r;
    return -1;
}

const char *adallava_blas_upgrade(const char *detected, const char *best, const char *user) {
    if (user && *user) return NULL;
    int have = rank_of(detected), can = rank_of(best);
    return have >= 0 && can > have ? best : NULL;
}

static char detected_core[32], active_core[32];

static void copy_core(char *dst, const char *src) {
    strncpy(dst, src ? src : "unknown", 31);
    dst[31] = 0;
}

/* Runs when this program is loaded, after libopenblas's own constructor chose its kernels
 * (shared libraries are initialised before the program that needs them) and before `main`.
 * When OpenBLAS chose older kernels than the CPU supports, the program starts over with
 * OPENBLAS_CORETYPE set, the variable OpenBLAS reads at load: its supported way of choosing.
 * (Switching in place through its exported `gotoblas_dynamic_quit` / `_init` was tried: it
 * raced OpenBLAS's just-started worker threads and crashed about one start in 40, and calls
 * from other threads when done later.) ADALLAVA_OPENBLAS_GUESSED carries what OpenBLAS had
 * chosen, so the restarted program can say so; glibc passes argv to constructors. */
__attribute__((constructor)) static void choose_blas_core(int argc, char **argv, char **envp) {
    (void)argc; (void)envp;
    char *(*corename)(void) = (char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_corename");
    if (!corename) return;
    copy_core(active_core, corename());
    const char *guessed = getenv("ADALLAVA_OPENBLAS_GUESSED");
    copy_core(detected_core, guessed && *guessed ? guessed : active_core);
    if (guessed && *guessed) return;
    const char *target = adallava_blas_upgrade(active_core, adallava_cpu_blas_core(), getenv("OPENBLAS_CORETYPE"));
    if (!target || !argv) return;
    setenv("ADALLAVA_OPENBLAS_GUESSED", active_core, 1);
    setenv("OPENBLAS_CORETYPE", target, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with OpenBLAS's own choice, and say nothing was switched */
    unsetenv("ADALLAVA_OPENBLAS_GUESSED");
    unsetenv("OPENBLAS_CORETYPE");
}

const char *adallava_blas_core_detected(void) { return detected_core[0] ? detected_core : "unknown"; }
const char *adallava_blas_core_active(void) { return active_core[0] ? active_core : "unknown"; }
