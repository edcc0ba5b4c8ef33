import CWeightKernels

/// How a weight matrix is stored. Every kernel computes and accumulates in fp32; narrower
/// storage only means fewer bytes to stream (decode is bound by those bytes).
public enum WeightDType: String, CaseIterable, Codable, Sendable {
    /// 4 bytes a weight, as checkpoints in F32 and the reference implementation hold them.
    case f32
    /// The top 16 bits of an fp32 (round to nearest even): 2 bytes a weight, widened exactly.
    case bf16
    /// llama.cpp's Q8_0 idea: blocks of 32 int8 with one scale, `w = scale · q`, `scale =
    /// max|w| / 127`. Our scale is an fp32 (llama.cpp's is fp16): 36 bytes per 32 weights.
    case q8_0 = "q8_0"

    /// Bytes one weight occupies on average.
    public var bytesPerWeight: Double {
        switch self {
        case .f32: 4
        case .bf16: 2
        case .q8_0: 36.0 / 32.0
        }
    }
}

/// A `[rows, cols]` linear-layer weight (PyTorch `nn.Linear` layout) in one of `WeightDType`'s
/// formats. fp32 weights keep their `Tensor`, so fp32 runs take exactly the BLAS path they
/// always did; bf16 and Q8_0 weights go through `CWeightKernels` (see `WeightLinear.swift`).
public struct WeightMatrix: Sendable {
    /// The stored values.
    public enum Storage: Sendable {
        case f32(Tensor)
        /// `rows × cols` bf16 bit patterns, row-major.
        case bf16([UInt16])
        /// `rows × q8Stride` int8 values (each row padded with zeros to whole blocks of 32)
        /// and `rows × q8Stride / 32` scales.
        case q8_0(quants: [Int8], scales: [Float])
    }

    public let rows: Int
    public let cols: Int
    public let storage: Storage

    /// Wraps an fp32 `[rows, cols]` tensor without copying.
    public init(_ tensor: Tensor) {
        precondition(tensor.rank == 2, "WeightMatrix needs a 2-D tensor, got shape \(tensor.shape)")
        rows = tensor.shape[0]
        cols = tensor.shape[1]
        storage = .f32(tensor)
    }

    /// Stored bf16 bit patterns (e.g. straight from a BF16 checkpoint).
    public init(rows: Int, cols: Int, bf16 bits: [UInt16]) {
        precondition(bits.count == rows * cols, "bf16 weight: \(bits.count) values for [\(rows), \(cols)]")
        self.rows = rows
        self.cols = cols
        storage = .bf16(bits)
    }

    /// Q8_0 blocks as laid out by `Storage.q8_0`.
    public init(rows: Int, cols: Int, quants: [Int8], scales: [Float]) {
        let stride = (cols + 31) / 32 * 32
        precondition(quants.count == rows * stride && scales.count == rows * stride / 32, "q8_0 weight: wrong block count")
        self.rows = rows
        self.cols = cols
        storage = .q8_0(quants: quants, scales: scales)
    }

    /// `tensor` (`[rows, cols]`) stored as `dtype`: rounded to bf16, or quantized per block.
    public init(_ tensor: Tensor, as dtype: WeightDType) {
        switch dtype {
        case .f32:
            self.init(tensor)
        case .bf16:
            precondition(tensor.rank == 2, "WeightMatrix needs a 2-D tensor, got shape \(tensor.shape)")
            let bits = HugePages.array(count: tensor.count) { (dst: UnsafeMutableBufferPointer<UInt16>) in
                tensor.storage.withUnsafeBufferPointer { src in
                    let s = UncheckedSendable(src.baseAddress!), d = UncheckedSendable(dst.baseAddress!)
                    parallelChunks(src.count, minimumPerWorker: 1 << 20) { r in
                        wk_f32_to_bf16(s.value + r.lowerBound, d.value + r.lowerBound, r.count)
                    }
                }
            }
            self.init(rows: tensor.shape[0], cols: tensor.shape[1], bf16: bits)
        case .q8_0:
            precondition(tensor.rank == 2, "WeightMatrix needs a 2-D tensor, got shape \(tensor.shape)")
            let (q, s) = quantizeQ8_0(tensor.storage, rows: tensor.shape[0], cols: tensor.shape[1])
            self.init(rows: tensor.shape[0], cols: tensor.shape[1], quants: q, scales: s)
        }
    }

    public var dtype: WeightDType {
        switch storage {
        case .f32: .f32
        case .bf16: .bf16
        case .q8_0: .q8_0
        }
    }

    public var shape: [Int] { [rows, cols] }

    /// Int8 values per stored Q8_0 row (whole blocks of 32).
    public var q8Stride: Int { (cols + 31) / 32 * 32 }

    /// Bytes the stored values occupy (what one decode step streams).
    public var storedBytes: Int {
        switch storage {
        case .f32(let t): t.count * 4
        case .bf16(let b): b.count * 2
        case .q8_0(let q, let s): q.count + s.count * 4
        }
    }

    /// The weights as fp32 (exactly what the kernels multiply with).
    public func dequantized() -> Tensor {
        if case .f32(let t) = storage { return t }
        var out = [Float](repeating: 0, count: rows * cols)
        out.withUnsafeMutableBufferPointer { dst in
            for r in 0..<rows { widenRow(r, columns: 0..<cols, into: dst.baseAddress! + r * cols) }
        }
        return Tensor(shape: [rows, cols], storage: out)
    }

    /// Writes fp32 values of row `r`, columns `columns`, to `dst` (`columns.count` values).
    /// For Q8_0 a range that does not start on a block boundary widens from the boundary into
    /// a temporary, so any range works.
    func widenRow(_ r: Int, columns: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        switch storage {
        case .f32(let t):
            t.storage.withUnsafeBufferPointer { (dst).update(from: $0.baseAddress! + r * cols + columns.lowerBound, count: columns.count) }
        case .bf16(let bits):
            bits.withUnsafeBufferPointer { wk_bf16_to_f32($0.baseAddress! + r * cols + columns.lowerBound, dst, columns.count) }
        case .q8_0(let quants, let scales):
            let start = columns.lowerBound / 32 * 32, skip = columns.lowerBound - start
            quants.withUnsafeBufferPointer { q in
                scales.withUnsafeBufferPointer { s in
                    let qp = q.baseAddress! + r * q8Stride + start, sp = s.baseAddress! + (r * q8Stride + start) / 32
                    if skip == 0 {
                        wk_q8_0_to_f32(qp, sp, dst, columns.count)
                    } else {
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: columns.count + skip) { tmp in
                            wk_q8_0_to_f32(qp, sp, tmp.baseAddress!, columns.count + skip)
                            dst.update(from: tmp.baseAddress! + skip, count: columns.count)
                        }
                    }
                }
            }
        }
    }

    /// Rows `ranges` (ascending, disjoint), concatenated, in the same format.
    public func selectingRows(_ ranges: [Range<Int>]) -> WeightMatrix {
        let n = ranges.reduce(0) { $0 + $1.count }
        /// Copies the rows `ranges` of a row-major matrix with `width` values a row.
        func gather<T: BitwiseCopyable>(_ values: [T], width: Int) -> [T] {
            values.withUnsafeBufferPointer { src in
                HugePages.array(count: n * width) { (dst: UnsafeMutableBufferPointer<T>) in
                    var at = 0
                    for r in ranges {
                        (dst.baseAddress! + at).initialize(from: src.baseAddress! + r.lowerBound * width, count: r.count * width)
                        at += r.count * width
                    }
                }
            }
        }
        switch storage {
        case .f32(let t):
            return WeightMatrix(Tensor(shape: [n, cols], storage: gather(t.storage, width: cols)))
        case .bf16(let bits):
            return WeightMatrix(rows: n, cols: cols, bf16: gather(bits, width: cols))
        case .q8_0(let quants, let scales):
            return WeightMatrix(rows: n, cols: cols, quants: gather(quants, width: q8Stride), scales: gather(scales, width: q8Stride / 32))
        }
    }

    /// Columns `ranges` (ascending, disjoint), concatenated, in the same format. Q8_0 blocks
    /// are copied when every range lies on block boundaries; otherwise the selected values are
    /// quantized again in new blocks (a second rounding).
    public func selectingColumns(_ ranges: [Range<Int>]) -> WeightMatrix {
        let n = ranges.reduce(0) { $0 + $1.count }
        switch storage {
        case .f32, .bf16:
            if case .bf16(let bits) = storage {
                var out = HugePages.zeros(UInt16.self, count: rows * n)
                var at = 0
                for r in 0..<rows {
                    for range in ranges {
                        for c in range { out[at] = bits[r * cols + c]; at += 1 }
                    }
                }
                return WeightMatrix(rows: rows, cols: n, bf16: out)
            }
            let t = dequantized()
            var out = HugePages.zeros(Float.self, count: rows * n)
            var at = 0
            for r in 0..<rows { for range in ranges { for c in range { out[at] = t.storage[r * cols + c]; at += 1 } } }
            return WeightMatrix(Tensor(shape: [rows, n], storage: out))
        case .q8_0(let quants, let scales):
            let aligned = ranges.allSatisfy { $0.lowerBound % 32 == 0 && ($0.upperBound % 32 == 0 || $0.upperBound == cols) }
                && ranges.dropLast().allSatisfy { $0.upperBound % 32 == 0 }
            guard aligned else {
                let t = dequantized()
                var out = [Float](repeating: 0, count: rows * n)
                var at = 0
                for r in 0..<rows { for range in ranges { for c in range { out[at] = t.storage[r * cols + c]; at += 1 } } }
                return WeightMatrix(Tensor(shape: [rows, n], storage: out), as: .q8_0)
            }
            let newStride = (n + 31) / 32 * 32
            var q = HugePages.zeros(Int8.self, count: rows * newStride), s = HugePages.zeros(Float.self, count: rows * newStride / 32)
            for r in 0..<rows {
                var at = 0
                for range in ranges {
                    let blocks = (range.count + 31) / 32
                    for i in 0..<(blocks * 32) where at + i < newStride {
                        q[r * newStride + at + i] = quants[r * q8Stride + range.lowerBound + i]
                    }
                    for b in 0..<blocks { s[(r * newStride + at) / 32 + b] = scales[(r * q8Stride + range.lowerBound) / 32 + b] }
                    at += range.count
                }
            }
            return WeightMatrix(rows: rows, cols: n, quants: q, scales: s)
        }
    }
}

/// Q8_0 blocks of `values` (`[rows, cols]`): per block `scale = max|w| / 127`, `q = round(w /
/// scale)`; rows padded with zeros to whole blocks.
func quantizeQ8_0(_ values: [Float], rows: Int, cols: Int) -> (quants: [Int8], scales: [Float]) {
    let stride = (cols + 31) / 32 * 32
    var q = HugePages.zeros(Int8.self, count: rows * stride), s = HugePages.zeros(Float.self, count: rows * stride / 32)
    values.withUnsafeBufferPointer { src in
        q.withUnsafeMutableBufferPointer { qd in
            s.withUnsafeMutableBufferPointer { sd in
                let v = UncheckedSendable(src.baseAddress!), qp = UncheckedSendable(qd.baseAddress!),
                    sp = UncheckedSendable(sd.baseAddress!)
                parallelChunks(rows, minimumPerWorker: max(1, (1 << 18) / max(1, cols))) { rr in
                    for r in rr {
                        for b in 0..<(stride / 32) {
                            let start = b * 32, end = min(cols, start + 32)
                            var amax: Float = 0
                            for c in start..<end { amax = max(amax, abs(v.value[r * cols + c])) }
                            let scale = amax / 127, inverse: Float = scale == 0 ? 0 : 1 / scale
                            sp.value[r * stride / 32 + b] = scale
                            for c in start..<end {
                                qp.value[r * stride + c] = Int8((v.value[r * cols + c] * inverse).rounded())
                            }
                        }
                    }
                }
            }
        }
    }
    return (q, s)
}
