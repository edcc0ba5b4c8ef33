import CWeightKernels
import Dispatch
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
    // Queries go in blocks: under a causal mask a block only needs keys up to its last row,
    // which skips most of the masked upper triangle (half the work for a prefill).
    let block = causalOffset == nil ? max(1, tokens) : attentionQueryBlock
    var out = Tensor(zeros: [tokens, width])
    if tokens == 1 {
        decodeAttention(q: q, k: k, v: v, kvStride: kvStride, seen: causalOffset.map { min(context, $0 + 1) } ?? context,
                        heads: heads, group: group, headDim: headDim, scale: scale, probe: probe, out: &out)
        return out
    }
    q.storage.withUnsafeBufferPointer { qp in
        out.storage.withUnsafeMutableBufferPointer { op in
            let qBase = UncheckedSendable(qp.baseAddress!), oBase = UncheckedSendable(op.baseAddress!)
            let kBase = UncheckedSendable(k), vBase = UncheckedSendable(v)
            /// One head: scores, mask, softmax and the weighted sum, block by block.
            func head(_ h: Int, scores s: UnsafeMutablePointer<Float>) {
                let g = h / group
                var i0 = 0
                while i0 < tokens {
                    let rows = min(block, tokens - i0)
                    let visible = causalOffset.map { min(context, $0 + i0 + rows) } ?? context
                    if rows == 1 {
                        // One query (decode): two GEMVs stream K and V once; sgemm with one row
                        // would pack each head's K and V first (measured ≈ 2 ms a 7B block at
                        // context 600, against ≈ 1 ms of reading them).
                        let seen = causalOffset.map { min(visible, $0 + i0 + 1) } ?? visible
                        BLAS.sgemv(m: seen, n: headDim, a: kBase.value + g * headDim, lda: kvStride,
                                   x: qBase.value + i0 * width + h * headDim, y: s, alpha: scale)
                        softmaxInPlace(s, count: seen)
                        if let probe, i0 == probe.row { probe.add(s, count: seen) }
                        BLAS.sgemvTransposed(m: seen, n: headDim, a: vBase.value + g * headDim, lda: kvStride,
                                             x: s, y: oBase.value + i0 * width + h * headDim)
                        i0 += 1
                        continue
                    }
                    BLAS.sgemm(m: rows, n: visible, k: headDim,
                               a: qBase.value + i0 * width + h * headDim, lda: width,
                               b: kBase.value + g * headDim, ldb: kvStride, transposeB: true,
                               c: s, ldc: visible, alpha: scale)
                    for r in 0..<rows {
                        let row = s + r * visible, i = i0 + r
                        let seen = causalOffset.map { min(visible, $0 + i + 1) } ?? visible
                        // Masked keys contribute exactly zero to the second GEMM.
                        for j in seen..<visible { row[j] = 0 }
                        softmaxInPlace(row, count: seen)
                        if let probe, i == probe.row { probe.add(row, count: seen) }
                    }
                    BLAS.sgemm(m: rows, n: headDim, k: visible,
                               a: s, lda: visible, b: vBase.value + g * headDim, ldb: kvStride, transposeB: false,
                               c: oBase.value + i0 * width + h * headDim, ldc: width)
                    i0 += rows
                }
            }
            // Heads run in parallel, each GEMM single-threaded: many small GEMMs scale better
            // across cores this way than one at a time on all of them.
            let workers = min(heads, BLAS.threads)
            let scratch = min(block, tokens) * context
            // (A decode step at context ≥ 512 of 128-wide heads is worth splitting too: 32 heads
            // read 20 MB of KV at a 7B shape.)
            if workers <= 1 || tokens * context * headDim < 1 << 16 {
                let s = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratch))
                defer { s.deallocate() }
                // Single-threaded too: a decode step's GEMVs at a short context are big enough
                // for OpenBLAS to wake its workers, which then spin (sched_yield) for ~0.1 s
                // beside the next weight GEMVs' own threads on the same cores.
                BLAS.singleThreaded { for h in 0..<heads { head(h, scores: s) } }
            } else {
                BLAS.singleThreaded { withoutActuallyEscaping(head) { head in
                    let run = UncheckedSendable(head)
                    DispatchQueue.concurrentPerform(iterations: workers) { w in
                        let s = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratch))
                        defer { s.deallocate() }
                        for h in stride(from: w, to: heads, by: workers) { run.value(h, s) }
                    }
                } }
            }
        }
    }
    return out
}

/// One query (a decode step): per worker a contiguous range of heads, scored against the cache
/// four positions per pass (`wk_attn_scores`), softmaxed, then summed over V likewise
/// (`wk_attn_values`), so K and V are each read once as contiguous stretches of their rows. Two
/// strided GEMVs per head (the previous path) read `headDim` floats every `kvStride` and took
/// ≈ 2.5 ms a 7B block at context 600 on one thread, for ≈ 1 ms of reading 20 MB.
private func decodeAttention(q: Tensor, k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int, seen: Int,
                             heads: Int, group: Int, headDim: Int, scale: Float, probe: AttentionProbe?,
                             out: inout Tensor) {
    // Split across threads from ≈ 20 MB of KV at 7B shapes down to 2^16 scored floats per
    // head (context 512 at headDim 128), as the per-head path did.
    let workers = seen * headDim < 1 << 16 ? 1 : min(heads, BLAS.threads)
    q.storage.withUnsafeBufferPointer { qp in
        out.storage.withUnsafeMutableBufferPointer { op in
            let qs = UncheckedSendable(qp.baseAddress!), os = UncheckedSendable(op.baseAddress!)
            let ks = UncheckedSendable(k), vs = UncheckedSendable(v)
            func run(_ w: Int) {
                let h0 = heads * w / workers, h1 = heads * (w + 1) / workers
                guard h1 > h0 else { return }
                let s = UnsafeMutablePointer<Float>.allocate(capacity: (h1 - h0) * seen)
                defer { s.deallocate() }
                wk_attn_scores(qs.value, ks.value, kvStride, seen, h0, h1, group, headDim, scale, s)
                for h in h0..<h1 {
                    softmaxInPlace(s + (h - h0) * seen, count: seen)
                    if let probe, probe.row == 0 { probe.add(s + (h - h0) * seen, count: seen) }
                }
                wk_attn_values(s, vs.value, kvStride, seen, h0, h1, group, headDim, os.value)
            }
            if workers == 1 { run(0); return }
            withoutActuallyEscaping(run) { run in
                let body = UncheckedSendable(run)
                DispatchQueue.concurrentPerform(iterations: workers) { w in body.value(w) }
            }
        }
    }
}

/// Query rows per block in causal attention.
public let attentionQueryBlock = 128

/// Query–key pairs the causal kernel scores for `tokens` new queries whose last one sees
/// `context` keys: each block of `attentionQueryBlock` rows scores up to its last row's keys.
/// Multiply by `2 · 2 · heads · headDim` for FLOPs (two GEMMs).
public func causalAttentionPairs(tokens: Int, context: Int) -> Double {
    let past = context - tokens
    var pairs = 0.0, i0 = 0
    while i0 < tokens {
        let rows = min(attentionQueryBlock, tokens - i0)
        pairs += Double(rows) * Double(min(context, past + i0 + rows))
        i0 += rows
    }
    return pairs
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
