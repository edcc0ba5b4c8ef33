import Foundation

/// Scaled dot-product attention for `tokens` queries over `context` keys/values, with grouped
/// query heads (query head `h` reads key/value head `h / (heads / kvHeads)`).
///
/// - q: `[tokens, heads · headDim]` (row stride `heads · headDim`)
/// - k, v: `[context, kvHeads · headDim]` (row stride `kvStride`, ≥ `kvHeads · headDim`)
/// - causalOffset: when non-nil, query `i` sits at absolute position `causalOffset + i` and sees
///   keys `0 … causalOffset + i` only (decoder); nil means every query sees every key (vision).
/// - probe: when non-nil, the softmax probabilities of query row `probe.row` are added, summed
///   over heads, into `probe.sums` (`[context]`): the attention one token pays, as FastV (last
///   prompt token) and PruMerge (CLS token) rank tokens by.
/// - returns `[tokens, heads · headDim]`
///
/// Per head: `scores[tokens, context] = q_h · k_gᵀ / √headDim` and `out_h = softmax(scores) · v_g`,
/// both as strided `cblas_sgemm` calls on the caller's buffers (no copies of q, k or v).
public func attention(
    q: Tensor, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
    context: Int, heads: Int, kvHeads: Int, headDim: Int, causalOffset: Int?,
    probe: AttentionProbe? = nil
) -> Tensor {
    let tokens = q.rows, width = heads * headDim
    precondition(q.lastDim == width, "attention: q \(q.shape) vs \(heads)×\(headDim)")
    precondition(heads % kvHeads == 0, "attention: \(heads) heads not divisible by \(kvHeads) kv heads")
    let group = heads / kvHeads
    let scale = 1 / Float(headDim).squareRoot()
    var out = Tensor(zeros: [tokens, width])
    var scores = [Float](repeating: 0, count: tokens * context)
    q.storage.withUnsafeBufferPointer { qp in
        out.storage.withUnsafeMutableBufferPointer { op in
            scores.withUnsafeMutableBufferPointer { sp in
                let s = sp.baseAddress!
                for h in 0..<heads {
                    let g = h / group
                    BLAS.sgemm(m: tokens, n: context, k: headDim,
                               a: qp.baseAddress! + h * headDim, lda: width,
                               b: k + g * headDim, ldb: kvStride, transposeB: true,
                               c: s, alpha: scale)
                    for i in 0..<tokens {
                        let row = s + i * context
                        var visible = context
                        if let offset = causalOffset {
                            visible = min(context, offset + i + 1)
                            // Masked keys contribute exactly zero to the second GEMM.
                            for j in visible..<context { row[j] = 0 }
                        }
                        softmaxInPlace(row, count: visible)
                        if let probe, i == probe.row { probe.add(row, count: visible) }
                    }
                    BLAS.sgemm(m: tokens, n: headDim, k: context,
                               a: s, b: v + g * headDim, ldb: kvStride, transposeB: false,
                               c: op.baseAddress! + h * headDim, ldc: width)
                }
            }
        }
    }
    return out
}

/// Causal attention of new queries against a layer's KV cache that already holds them:
/// `q` (`[tokens, heads · headDim]`) are the last `tokens` positions of `cache`.
public func causalAttention(q: Tensor, cache: KVCache, heads: Int, probe: AttentionProbe? = nil) -> Tensor {
    let past = cache.length - q.rows
    return cache.keys.withUnsafeBufferPointer { kp in
        cache.values.withUnsafeBufferPointer { vp in
            attention(q: q, k: kp.baseAddress!, v: vp.baseAddress!, kvStride: cache.width,
                      context: cache.length, heads: heads, kvHeads: cache.kvHeads,
                      headDim: cache.headDim, causalOffset: past, probe: probe)
        }
    }
}

/// Collects the attention probabilities one query row pays to every key, averaged over heads.
public final class AttentionProbe: @unchecked Sendable {
    /// Query row (within the call's `tokens`) whose probabilities are collected.
    public let row: Int
    private var sums: [Float]
    private var heads = 0
    private let lock = NSLock()

    public init(row: Int, context: Int) {
        self.row = row
        sums = [Float](repeating: 0, count: context)
    }

    /// Adds one head's probabilities for `probe.row` (`count` visible keys).
    func add(_ probabilities: UnsafePointer<Float>, count: Int) {
        lock.lock()
        defer { lock.unlock() }
        for j in 0..<min(count, sums.count) { sums[j] += probabilities[j] }
        heads += 1
    }

    /// Mean over the heads seen of the collected probabilities (`[context]`).
    public var meanOverHeads: [Float] {
        lock.lock()
        defer { lock.unlock() }
        let n = Float(max(1, heads))
        return sums.map { $0 / n }
    }
}
