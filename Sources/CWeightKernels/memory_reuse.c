#include <malloc.h>
#include "memory_reuse.h"

/* Allocator settings for inference (see TensorKernels' MemoryReuse): keep freed activation
 * buffers in the heap rather than unmapping them, so the next request does not fault them in
 * again. 32 MB is glibc's largest mmap threshold on 64-bit. */
void adallava_keep_freed_memory(void) {
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
#endif
}
