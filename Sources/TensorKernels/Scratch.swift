import Synchronization

/// Reused fp32 buffers for kernels that need working space (bf16/Q8_0 prefill panels), so the
/// hot path does not allocate per call. Callers running at once each get their own buffer; a
/// buffer grows when a caller needs more and is kept for the next one.
public final class Scratch: Sendable {
    /// The process-wide pool.
    public static let shared = Scratch()

    private let free = Mutex<[Buffer]>([])

    final class Buffer: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<Float>
        let capacity: Int
        init(capacity: Int) {
            self.capacity = capacity
            pointer = .allocate(capacity: capacity)
        }
        deinit { pointer.deallocate() }
    }

    /// Runs `body` with at least `count` floats of scratch (contents undefined).
    public func withBuffer<R>(count: Int, _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
        var buffer = free.withLock { pool -> Buffer? in
            guard let i = pool.indices.max(by: { pool[$0].capacity < pool[$1].capacity }) else { return nil }
            return pool.remove(at: i)
        }
        if buffer == nil || buffer!.capacity < count { buffer = Buffer(capacity: max(count, 1)) }
        let held = buffer!
        defer { free.withLock { $0.append(held) } }
        return body(held.pointer)
    }
}
