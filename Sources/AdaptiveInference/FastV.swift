import TensorKernels

/// FastV (Chen et al., "An Image is Worth 1/2 Tokens After Layer 2"): after layer K of the
/// language model, drop the image tokens that the last prompt token attends to least.
///
/// What the reference code does (GitHub `pkunlp-icler/FastV`, read at commit d165972):
///
/// - `src/transformers/src/transformers/models/llama/modeling_llama.py` (`LlamaModel.forward`,
///   the "inplace" branch the README calls the main implementation), and the same logic in
///   `src/FastV/llava-hf/transformers/src/transformers/models/llama/modeling_llama.py` (the
///   `fastv_config` path, with and without KV cache) and `src/FastV/lmms-eval/fastv_kvcache.py`:
///   - layer `K − 1` is run with `output_attentions=True`; its attention probabilities
///     `[batch, heads, seq, seq]` are averaged over heads (`torch.mean(…, dim=1)[0]`), the
///     **last token's row** is taken (`[-1]`: the last prompt token, i.e. the query position
///     that predicts the first answer token) and sliced to the image span
///     `[start, start + imageTokenLength)`.
///   - `topk` of that slice picks the image tokens to **keep**; the kept image indices are
///     concatenated with every text index before and after the image, then sorted, so the
///     original order is preserved.
///   - the hidden states are gathered with those indices before layer K runs, and
///     `position_ids = keep_indexs` — the survivors keep their **original** position ids (RoPE
///     sees gaps where tokens were dropped; nothing is renumbered). The causal mask is rebuilt
///     for the shorter sequence. Layers `0..<K` see (and, with a KV cache, store) every token.
///   - with a KV cache (llava-hf path) pruning happens once, in the prefill pass
///     (`hidden_states.shape[1] != 1`); decode steps attend to the pruned cache of layers ≥ K.
/// - **R is the ratio dropped**, not kept: llava-hf keeps `round(L · (1 − R))`;
///   `src/FastV/inference/eval/eval_aokvqa_latency_fastv_inplace.sh` says "rank equals to
///   (1-R)*N_Image_Tokens" (ranks 72/144/288/432 for R = 87.5/75/50/25 %). `fastv_kvcache.py`
///   hard-codes K = 3, keep `int(576 · 0.5)`; the README's headline setting is K = 2, R = 50 %.
///   This API takes the **keep** ratio (`1 − R`); at the default R = 50 % both readings agree.
/// - `torch.topk` breaks ties in an unspecified order; this implementation breaks them towards
///   the lower index. The reference rounds the kept count with `round`/`int`; this one uses
///   `ceil` (so a tiny ratio still keeps one token). For 576 tokens and R ∈ {25, 50, 75, 87.5} %
///   all three give the same count.
public enum FastV {
    /// FastV's headline layer: prune after layer K = 2 (layer K−1 = 1 supplies the attention).
    public static let defaultLayer = 2
    /// FastV's headline R = 50 % dropped, i.e. keep ratio 0.5.
    public static let defaultKeepRatio = 0.5

    /// How many of `n` image tokens survive: `ceil(keepRatio · n)` clamped to `1...n`
    /// (0 when `n == 0`). A non-finite or non-positive ratio keeps 1; above 1 keeps all.
    /// The product is nudged down by 1e-9 before `ceil` so `0.7 · 10` (7.000000000000001 in
    /// binary) keeps 7, not 8.
    public static func keepCount(n: Int, keepRatio: Double) -> Int {
        guard n > 0 else { return 0 }
        guard keepRatio.isFinite, keepRatio > 0 else { return 1 }
        if keepRatio >= 1 { return n }
        let raw = (keepRatio * Double(n) - 1e-9).rounded(.up)
        return min(n, max(1, Int(raw)))
    }

    /// Which image tokens survive. `scores[i]`: the attention image token i receives (as FastV ranks them — e.g. from the
    /// last prompt token, averaged over heads, at layer K−1). Keeps the ceil(keepRatio · n) highest (at least 1 when n > 0),
    /// ties → lower index first. Returns kept indices sorted ascending (original order preserved).
    ///
    /// NaN scores rank below every number.
    public static func keptIndices(scores: [Float], keepRatio: Double) -> [Int] {
        let n = scores.count
        let k = keepCount(n: n, keepRatio: keepRatio)
        guard k < n else { return Array(0..<n) }
        let ranked = rankDescending(scores)
        return ranked.prefix(k).sorted()
    }

    /// The per-image-token scores FastV ranks by, from layer K−1's attention probabilities.
    ///
    /// - lastTokenAttention: `[heads, keys]` — for each head, the softmaxed attention row of the
    ///   **last** query position (the last prompt token) over all key positions.
    /// - imageRange: the key positions holding the image tokens.
    /// - returns: `[imageRange.count]`, the head-mean of those columns (`torch.mean(dim=1)`).
    public static func scores(lastTokenAttention: Tensor, imageRange: Range<Int>) -> [Float] {
        let keys = lastTokenAttention.lastDim
        let heads = lastTokenAttention.rows
        precondition(imageRange.lowerBound >= 0 && imageRange.upperBound <= keys,
                     "FastV.scores: image range \(imageRange) outside \(keys) key positions")
        guard heads > 0 else { return [Float](repeating: 0, count: imageRange.count) }
        var out = [Float](repeating: 0, count: imageRange.count)
        lastTokenAttention.storage.withUnsafeBufferPointer { p in
            for h in 0..<heads {
                let base = h * keys
                for (j, key) in imageRange.enumerated() { out[j] += p[base + key] }
            }
        }
        let inv = 1 / Float(heads)
        for j in out.indices { out[j] *= inv }
        return out
    }

    /// Indices of `values` ordered by value, highest first; ties → lower index; NaN last.
    static func rankDescending(_ values: [Float]) -> [Int] {
        values.indices.sorted { a, b in
            let va = values[a], vb = values[b]
            if va.isNaN || vb.isNaN {
                if va.isNaN != vb.isNaN { return vb.isNaN }   // the number ranks first
                return a < b
            }
            if va != vb { return va > vb }
            return a < b
        }
    }
}
