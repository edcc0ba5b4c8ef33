import CWeightKernels

/// Process-wide allocator settings for inference.
public enum MemoryReuse {
    /// Keeps freed activation buffers in the heap for the next request instead of returning
    /// them to the kernel. With glibc's defaults every buffer above the (dynamic) mmap threshold
    /// is mmapped on allocation and unmapped on free, so each request re-faults and re-zeroes its
    /// activations: `bench plans` on llava-mini took ~13k minor page faults (≈ 50 MB) per
    /// 185-token prefill, and 1.5–1.8 s of its 7 s of CPU in the kernel; with these settings the
    /// faults after loading are gone. Weight tensors (> 32 MB) are still mmapped: they live long.
    /// Call once at start-up, before the model is built.
    public static func keepFreedMemory() {
        adallava_keep_freed_memory()
    }
}
