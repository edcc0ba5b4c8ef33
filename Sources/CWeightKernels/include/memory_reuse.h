#ifndef ADALLAVA_MEMORY_REUSE_H
#define ADALLAVA_MEMORY_REUSE_H

/// Makes glibc keep freed buffers for reuse instead of returning them to the kernel.
void adallava_keep_freed_memory(void);

#endif
