/// One decoder layer's key/value cache.
///
/// Keys and values are stored as `[capacity, kvHeads · headDim]` row-major, so appending a
/// step is one contiguous copy and head `g` is a strided `[length, headDim]` view that the
/// attention GEMMs read directly (leading dimension `kvHeads · headDim`).
public struct KVCache: Sendable {
    public let kvHeads: Int
    public let headDim: Int
    public let capacity: Int
    /// Positions filled so far.
    public private(set) var length: Int = 0
    public private(set) var keys: [Float]
    public private(set) var values: [Float]

    /// Width of one cached row, `kvHeads · headDim`.
    public var width: Int { kvHeads * headDim }

    public init(kvHeads: Int, headDim: Int, capacity: Int) {
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = capacity
        // Decode reads the whole cache every step (134 MB per 7B block at 4096 positions), so
        // large caches go in 2 MB pages like the weights (`HugePages`; small ones are unchanged).
        keys = HugePages.zeros(Float.self, count: capacity * kvHeads * headDim)
        values = HugePages.zeros(Float.self, count: capacity * kvHeads * headDim)
    }

    /// Appends `k`, `v` (`[tokens, kvHeads · headDim]`, RoPE already applied to `k`).
    public mutating func append(keys k: Tensor, values v: Tensor) {
        let t = k.rows
        precondition(k.lastDim == width && v.lastDim == width && v.rows == t, "KV append: \(k.shape) \(v.shape)")
        precondition(length + t <= capacity, "KV cache overflow: \(length) + \(t) > \(capacity)")
        let offset = length * width
        keys.withUnsafeMutableBufferPointer { kp in
            k.storage.withUnsafeBufferPointer { (kp.baseAddress! + offset).update(from: $0.baseAddress!, count: $0.count) }
        }
        values.withUnsafeMutableBufferPointer { vp in
            v.storage.withUnsafeBufferPointer { (vp.baseAddress! + offset).update(from: $0.baseAddress!, count: $0.count) }
        }
        length += t
    }

    /// Forgets every cached position (keeps the allocation).
    public mutating func reset() { length = 0 }

    /// Forgets the positions from `newLength` on (keeps the allocation): lets a benchmark
    /// repeat one decode step over the same past.
    public mutating func truncate(to newLength: Int) {
        precondition(newLength >= 0 && newLength <= length, "KV truncate to \(newLength) of \(length)")
        length = newLength
    }
}
