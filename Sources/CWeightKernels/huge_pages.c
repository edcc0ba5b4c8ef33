#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include "huge_pages.h"

/* Decode streams every weight once per token, 4 KB page after 4 KB page: with 4 KB pages each
 * page costs a TLB miss, and the hardware prefetchers stop at page boundaries. On this machine
 * kind (THP "madvise") a 7B block's decode GEMVs ran 3-7 % faster in 2 MB pages (median of
 * seven runs; see HugePages.swift). */
size_t adallava_advise_huge_pages(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1), end = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (end <= start) return 0;
    if (madvise((void *)start, end - start, MADV_HUGEPAGE) != 0) return 0;
    /* Reused heap memory is already backed by 4 KB pages, which the advice alone would leave
     * in place; dropped, the range faults back in as 2 MB pages when it is filled. */
    madvise((void *)start, end - start, MADV_DONTNEED);
    return end - start;
#else
    (void)p; (void)bytes;
    return 0;
#endif
}
