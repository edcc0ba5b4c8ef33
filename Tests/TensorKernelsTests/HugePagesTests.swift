import Foundation
import Testing
@testable import TensorKernels

/// The THP mode this kernel runs with (`always`, `madvise` or `never`), nil off Linux.
private let thpMode: String? = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8))
    .flatMap { text in text.split(separator: " ").first { $0.hasPrefix("[") }.map { String($0.dropFirst().prefix { $0 != "]" }) } }

/// `AnonHugePages` summed over the mappings in `/proc/self/smaps` that overlap `range`, in
/// bytes. (A buffer spans several: `madvise` splits off the advised whole 2 MB pages.)
private func hugeBytes(overlapping range: Range<UInt>) -> Int? {
    // Read to the end: `String(contentsOfFile:)` stops after the first 4 KB of a /proc file.
    guard let data = FileHandle(forReadingAtPath: "/proc/self/smaps")?.readDataToEndOfFile() else { return nil }
    var inside = false, total = 0
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard let first = fields.first else { continue }
        if !first.hasSuffix(":") {
            let ends = first.split(separator: "-").compactMap { UInt($0, radix: 16) }
            inside = ends.count == 2 && range.overlaps(ends[0]..<ends[1])
        } else if inside, first == "AnonHugePages:", fields.count >= 2, let kb = Int(fields[1]) {
            total += kb * 1024
        }
    }
    return total
}

/// The addresses `array`'s elements occupy.
private func addresses<T>(of array: [T]) -> Range<UInt> {
    array.withUnsafeBufferPointer { p in
        let start = UInt(bitPattern: p.baseAddress!)
        return start..<(start + UInt(p.count * MemoryLayout<T>.stride))
    }
}

@Suite("Weights in transparent huge pages")
struct HugePagesTests {
    @Test("array hands fill the whole uninitialised buffer, small or large; zeros are zeros")
    func fillsEveryElement() {
        for count in [0, 1, 1000, HugePages.minimumBytes / 4 + 777] {
            let a = HugePages.array(count: count) { (p: UnsafeMutableBufferPointer<Float>) in
                for i in p.indices { p[i] = Float(i % 1013) }
            }
            #expect(a.count == count)
            #expect(a.enumerated().allSatisfy { $0.element == Float($0.offset % 1013) })
            let z = HugePages.zeros(Int8.self, count: count)
            #expect(z.count == count && z.allSatisfy { $0 == 0 })
        }
    }

    @Test("a 64 MB weight array lies in 2 MB pages when the kernel's THP mode allows it",
          .enabled(if: thpMode == "madvise" || thpMode == "always", "THP is \(thpMode ?? "unavailable") here"))
    func weightsGetHugePages() throws {
        let count = 64 << 20
        let a = HugePages.zeros(UInt8.self, count: count)
        let huge = try #require(hugeBytes(overlapping: addresses(of: a)))
        // All whole 2 MB pages inside the buffer (at most two partial ones at its ends), unless
        // the kernel found no free 2 MB page at all; on this machine kind it always has.
        #expect(huge >= count - (4 << 20), "only \(huge >> 20) MB of \(count >> 20) MB in huge pages")
        // The same size of plain Swift array, for contrast: in `madvise` mode it gets none.
        if thpMode == "madvise" {
            let plain = [UInt8](repeating: 1, count: count)
            #expect(hugeBytes(overlapping: addresses(of: plain)) == 0)
        }
    }

    @Test("a 16 MB weight array gets 2 MB pages even where freed heap memory of that size waits for reuse",
          .enabled(if: thpMode == "madvise" || thpMode == "always", "THP is \(thpMode ?? "unavailable") here"))
    func weightsSkipReusedHeap() throws {
        // As the CLI runs: buffers up to 32 MB come from the heap and are kept there when freed.
        MemoryReuse.keepFreedMemory()
        for _ in 0..<3 {
            // 20 MB touched in 4 KB pages, then freed: a heap chunk the next 16 MB would reuse.
            var plain = [UInt8](repeating: 1, count: 20 << 20)
            plain[0] = 2
            _ = plain.withUnsafeBufferPointer { $0.last }
        }
        let count = 16 << 20
        let a = HugePages.zeros(UInt8.self, count: count)
        let huge = try #require(hugeBytes(overlapping: addresses(of: a)))
        #expect(huge >= count - (4 << 20), "only \(huge >> 20) MB of \(count >> 20) MB in huge pages")
    }

    @Test("bf16 and Q8_0 weights built from a large tensor keep their values in advised pages")
    func weightMatrixStillExact() {
        let w = randomTensor([1100, 1024], seed: 5, scale: 1)   // 4.5 MB fp32, 2.2 MB bf16
        let bf16 = WeightMatrix(w, as: .bf16)
        #expect(bf16.dequantized().storage.map(\.bitPattern) == Reference.stored(w, as: .bf16).storage.map(\.bitPattern))
        let rows = bf16.selectingRows([3..<9, 500..<1100])
        #expect(rows.dequantized().storage == Array(bf16.dequantized().storage[(3 * 1024)..<(9 * 1024)] + bf16.dequantized().storage[(500 * 1024)...]))
        let q = WeightMatrix(w, as: .q8_0)
        #expect(q.dequantized().storage == Reference.stored(w, as: .q8_0).storage)
    }
}
