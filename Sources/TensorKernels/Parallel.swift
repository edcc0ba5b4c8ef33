import Dispatch

/// Splits `0..<count` into contiguous chunks run on up to `BLAS.threads` workers, so the
/// elementwise work between GEMMs uses the same cores the GEMMs do. Small jobs run inline:
/// below `minimumPerWorker` items per worker, a thread hand-off costs more than it saves.
@inline(__always)
public func parallelChunks(_ count: Int, minimumPerWorker: Int = 16_384, _ body: (Range<Int>) -> Void) {
    let workers = min(BLAS.threads, count / max(1, minimumPerWorker))
    guard workers > 1 else {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let start = count * w / workers, end = count * (w + 1) / workers
            box.value(start..<end)
        }
    }
}

/// Carries a value into `concurrentPerform`, whose closure must be `Sendable`; callers ensure
/// the workers touch disjoint data.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
