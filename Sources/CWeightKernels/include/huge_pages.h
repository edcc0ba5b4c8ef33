#ifndef ADALLAVA_HUGE_PAGES_H
#define ADALLAVA_HUGE_PAGES_H

#include <stddef.h>

/// Asks the kernel to back the whole 2 MB pages inside [p, p + bytes) with transparent huge
/// pages when they are next touched (madvise MADV_HUGEPAGE), after dropping whatever pages
/// they hold now (MADV_DONTNEED: they read as zeros afterwards). Only for a buffer whose
/// contents do not matter yet, e.g. just allocated. Returns the bytes advised: 0 when the
/// range holds no whole 2 MB page or the kernel refused (THP "never", an old kernel).
size_t adallava_advise_huge_pages(void *p, size_t bytes);

#endif
