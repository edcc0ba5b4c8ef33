import CWeightKernels
import Foundation

/// Arrays for long-lived weights, backed by 2 MB transparent huge pages where the kernel allows.
///
/// A decode step reads every weight once. In 4 KB pages that is a TLB miss every 4 KB and a
/// hardware prefetcher that stops at every page boundary; in 2 MB pages neither. On this
/// machine kind (THP mode `madvise`, so nothing gets huge pages unless it asks) a 7B block's
/// seven decode GEMVs on 2 threads, 4 KB and 2 MB pages alternating in one run, took a median
/// 0.93 (fp32), 0.97 (bf16) and 0.96 (Q8_0) of the 4 KB time over seven runs, faster in 6, 5
/// and 6 of them (`scripts/huge_pages_gemv_bench.c`; BENCHMARKS.md, stop 18). llama.cpp's
/// memory-mapped GGUF weights get 2 MB mappings from the page cache without asking.
///
/// The advice must come before the pages are first touched (afterwards only the kernel's
/// background `khugepaged` would merge them, slowly), so these arrays are created uninitialised,
/// their whole 2 MB pages emptied and advised, then filled. (Emptied because a buffer under
/// glibc's 32 MB mmap threshold may reuse heap memory already touched in 4 KB pages: before
/// that, a 7B Q8_0 block, whose 4096×4096 projections are 17 MB, had 104 of 227 MB in 2 MB pages.)
public enum HugePages {
    /// Below this an array is not worth advising: it holds at most one whole 2 MB page.
    public static let minimumBytes = 4 << 20

    /// An array of `count` elements whose whole 2 MB pages are advised as huge before `fill`
    /// writes every element (`fill` must initialise all `count`).
    public static func array<T: BitwiseCopyable>(
        count: Int, fill: (UnsafeMutableBufferPointer<T>) throws -> Void
    ) rethrows -> [T] {
        let bytes = count * MemoryLayout<T>.stride
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialised in
            // Uninitialised, so the pages' old contents may be dropped (heap memory reused).
            if bytes >= minimumBytes, let base = buffer.baseAddress {
                _ = adallava_advise_huge_pages(base, bytes)
            }
            try fill(buffer)
            initialised = count
        }
    }

    /// `count` zeros, in advised pages (zeroing is what first touches them).
    public static func zeros<T: BitwiseCopyable & Numeric>(_ type: T.Type = T.self, count: Int) -> [T] {
        array(count: count) { (buffer: UnsafeMutableBufferPointer<T>) in
            buffer.initialize(repeating: 0)
        }
    }

    /// Bytes of this process's memory in anonymous huge pages (`AnonHugePages` of
    /// `/proc/self/smaps_rollup`), or nil where that file is not available.
    public static func residentBytes() -> Int? {
        // Read to the end (`String(contentsOfFile:)` stops after 4 KB of a /proc file).
        guard let data = FileHandle(forReadingAtPath: "/proc/self/smaps_rollup")?.readDataToEndOfFile() else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("AnonHugePages:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kb = Int(fields[1]) { return kb * 1024 }
        }
        return nil
    }
}
