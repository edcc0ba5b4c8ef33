import Foundation
import TensorKernels

/// LLaVA-PruMerge / PruMerge+ (Shang et al., "LLaVA-PruMerge: Adaptive Token Reduction for
/// Efficient Large Multimodal Models"): keep the CLIP patch tokens the CLS token attends to
/// unusually much, fold the information of similar tokens into them, and (PruMerge+) add a
/// spatially uniform sample.
///
/// What the reference code does (GitHub `42Shawn/LLaVA-PruMerge`, read at commit 097c041,
/// file `llava/model/multimodal_encoder/clip_encoder.py`):
///
/// - **Which q/k.** Forward hooks on `vision_model.encoder.layers[23].self_attn.{q,k}_proj`
///   — the *last* CLIP ViT-L layer — capture the projection outputs `[B, 577, 1024]`
///   (bias included, heads **not** split). The patch features themselves are the usual LLaVA
///   ones: `hidden_states[-2]` (output of layer 22) without CLS, `[B, 576, 1024]`. So the engine
///   must run layer 23's `layer_norm1` + `q_proj` + `k_proj` (nothing else of layer 23), which
///   plain LLaVA-1.5 never computes.
/// - **CLS attention.** `attn = softmax(q · kᵀ · C^-0.5)` over all 577 keys (CLS included),
///   with the full 1024-wide q/k as one head and `C` = 1024 (the feature width); `cls_attn =
///   attn[:, 0, 1:]` — the CLS row restricted to the 576 patches, *not* renormalised and *not*
///   averaged over heads (there are no heads). `clsAttention(clsQuery:keys:)` computes exactly this.
/// - **Adaptive ratio** (`outlier_dectection`): `np.percentile(attn, 25/75)` (numpy's default
///   linear interpolation, in float32), `upper = Q3 + 1.5·IQR`, outliers are `attn > upper`
///   (strict; no lower bound), and it returns `ratio = #outliers / N`. Then
///   `topk(cls_attn, int(N · ratio))` — exactly the outliers, since every value above the bound
///   outranks every value below it. (`reduction_ratio = 1/8` is only the non-adaptive default;
///   the shipped `forward` calls `token_prune_merge_advanced_plus(if_adaptive=True)`.)
/// - **Merge** (`token_prune_merge_advanced`, same loop in `_plus`): keys are L2-normalised
///   (`F.normalize`, eps 1e-12). For each kept token i, the candidates are *every other token* —
///   the other kept ones **and** the pruned ones; the 32 with the highest key cosine similarity
///   to i are taken (`torch.topk(k=32)`), and i's feature becomes
///   `x_i + Σ_j cls_attn[j] · x_j` — raw attention weights, no normalisation (the
///   `/ torch.sum(weights)` is commented out), computed from the *unmerged* features.
/// - **Extra token.** Both versions then append one more token,
///   `Σ_{j pruned} cls_attn[j] · x_j`, after the kept ones: the output has `kept + 1` rows.
/// - **Order.** The reference emits kept tokens in `topk` order (attention descending), then
///   (PruMerge+) the spatial samples ascending, then the extra token. This API returns them in
///   ascending patch order instead (the API contract), extra token last.
/// - **PruMerge+** (`token_prune_merge_advanced_plus`, adaptive branch, "version 24/03/2024"):
///   `step_length = int(1 / ratio)`, samples `arange(0, 575, int(step_length / 3))` — every
///   `⌊⌊N/k⌋/3⌋`-th patch, i.e. about 3× as many samples as outliers — minus those already kept,
///   appended to the kept set; the samples are then merged exactly like the outliers.
///   The stop 575 is hard-coded (= N − 1 for 576 patches, so patch 575 is never sampled); here
///   it is `N − 1`. (The non-adaptive "training" branch instead adds
///   `arange(step/2, 575, step)` unfiltered; not implemented.)
///
/// Degenerate inputs, where the reference fails or is undefined, and what this code does:
/// - no outliers (e.g. all-equal attention): the reference keeps 0 tokens (PruMerge then
///   outputs only the extra token; PruMerge+ divides by zero). Here the single highest-attention
///   token is kept (lowest index on ties), and PruMerge+ uses ratio 1/N.
/// - ratio > 1/3 makes the reference's sampling step 0 (`arange` error); here the step is ≥ 1.
/// - fewer than 32 other tokens (`topk` error in the reference): merge with all of them.
/// - `torch.topk` tie order is unspecified; here ties go to the lower patch index.
/// - NaN attention / similarity ranks below every number.
public enum PruMerge {
    /// Neighbours merged into each kept token (`torch.topk(cos_sim_matrix, k=int(32))`).
    public static let neighbours = 32
    /// The CLIP layer whose q/k the reference hooks (0-based, of 24 in ViT-L/14-336): the last.
    public static let referenceLayer = 23

    /// IQR outliers: indices whose value > Q3 + 1.5·IQR (quartiles computed as the reference does — e.g. numpy/torch quantile
    /// linear interpolation), ascending.
    ///
    /// Quartiles follow `np.percentile(x, 25/75)` on a float32 array: linear interpolation at
    /// virtual index `q·(n−1)` using numpy's two-sided lerp, all in Float. Empty input, or any
    /// NaN (numpy's quartiles become NaN, so nothing compares greater), gives `[]`.
    public static func iqrOutliers(_ values: [Float]) -> [Int] {
        guard !values.isEmpty, !values.contains(where: { $0.isNaN }) else { return [] }
        let sorted = values.sorted()
        let q1 = quantile(sorted: sorted, 0.25)
        let q3 = quantile(sorted: sorted, 0.75)
        let iqr = q3 - q1
        let upper = q3 + 1.5 * iqr
        return values.indices.filter { values[$0] > upper }
    }

    /// `np.quantile(sorted, q)` with the default "linear" method, in Float like numpy on a
    /// float32 array: `a + (b−a)·t` when `t < 0.5`, `b − (b−a)·(1−t)` otherwise.
    static func quantile(sorted: [Float], _ q: Double) -> Float {
        let n = sorted.count
        precondition(n > 0)
        let virtual = q * Double(n - 1)
        let lo = min(max(Int(virtual.rounded(.down)), 0), n - 1)
        let hi = min(lo + 1, n - 1)
        let t = Float(virtual - Double(lo))
        let a = sorted[lo], b = sorted[hi]
        let diff = b - a
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t
    }

    /// The reference's CLS attention over the patches.
    ///
    /// - clsQuery: `[d]` — row 0 (CLS) of the hooked layer's `q_proj` output (bias included).
    /// - keys: `[N + 1, d]` — the same layer's `k_proj` output for CLS (row 0) and the N patches.
    /// - scale: defaults to `d^-0.5` (the reference uses `C^-0.5`, C = feature width = 1024 = d
    ///   for CLIP ViT-L).
    /// - returns: `[N]`, `softmax(keys · clsQuery · scale)` over all N + 1 keys, CLS entry dropped.
    public static func clsAttention(clsQuery: [Float], keys: Tensor, scale: Float? = nil) -> [Float] {
        let d = keys.lastDim
        precondition(keys.rank == 2 && clsQuery.count == d,
                     "PruMerge.clsAttention: query width \(clsQuery.count) vs keys \(keys.shape)")
        let rows = keys.shape[0]
        guard rows > 1 else { return [] }
        let s = scale ?? (d > 0 ? 1 / Float(d).squareRoot() : 1)
        var logits = [Float](repeating: 0, count: rows)
        keys.storage.withUnsafeBufferPointer { kp in
            for r in 0..<rows {
                var acc: Float = 0
                for c in 0..<d { acc += kp[r * d + c] * clsQuery[c] }
                logits[r] = acc * s
            }
        }
        logits.withUnsafeMutableBufferPointer { softmaxInPlace($0.baseAddress!, count: rows) }
        return Array(logits[1...])
    }

    /// PruMerge+'s spatially uniform samples, given the adaptive kept count `k` of `n` patches:
    /// `stride(0, n − 1, max(1, ⌊⌊1/(k/n)⌋ / 3⌋))` (the reference's `arange(0, 575, …)`),
    /// before removing the already-kept ones.
    static func uniformSamples(keptCount k: Int, n: Int) -> [Int] {
        guard k > 0, n > 1 else { return [] }
        let ratio = Double(k) / Double(n)
        let stepLength = Int(1.0 / ratio)       // Python int(1/reduction_ratio)
        let step = max(1, stepLength / 3)       // int(step_length/3); 0 would crash the reference
        return Array(stride(from: 0, to: n - 1, by: step))
    }

    /// PruMerge / PruMerge+ on one image.
    /// - clsAttention: [N] CLS query's attention over the N patch tokens (softmax already applied, averaged over heads)
    /// - keys: [N, d] the patch tokens' keys from the same layer (heads concatenated)
    /// - features: [N, f] the patch features that go to the projector
    /// - plus: PruMerge+ (adds spatially uniform samples as the reference does)
    /// - appendPrunedSummary: append the reference's extra token `Σ_{j pruned} attn[j]·x_j`
    ///   as the last row (default true, as the reference always does; it is all zeros when
    ///   nothing was pruned). With it, `features` has `indices.count + 1` rows (none when N = 0).
    /// - returns: the kept indices (ascending) and the merged features [kept, f] (+1 row, see above),
    ///   row r belonging to `indices[r]`.
    ///
    /// In the reference, `clsAttention` is not head-averaged: see `clsAttention(clsQuery:keys:)`.
    public static func select(clsAttention: [Float], keys: Tensor, features: Tensor, plus: Bool,
                              appendPrunedSummary: Bool = true) -> (indices: [Int], features: Tensor) {
        let n = clsAttention.count
        precondition(keys.rank == 2 && keys.shape[0] == n,
                     "PruMerge.select: keys \(keys.shape) vs \(n) attention values")
        precondition(features.rank == 2 && features.shape[0] == n,
                     "PruMerge.select: features \(features.shape) vs \(n) attention values")
        let f = features.shape[1], d = keys.shape[1]
        guard n > 0 else { return ([], Tensor(zeros: [0, f])) }

        // 1. Adaptive keep set: the IQR outliers, as topk(int(N · ratio)) like the reference.
        let outliers = iqrOutliers(clsAttention)
        let ratio = Double(outliers.count) / Double(n)
        let left = Int(Double(n) * ratio)
        let ranked = FastV.rankDescending(clsAttention)
        var kept = Array(ranked.prefix(left))
        if kept.isEmpty { kept = [ranked[0]] }        // fallback: the reference would keep none

        // 2. PruMerge+: spatially uniform samples not already kept.
        if plus {
            let already = Set(kept)
            kept += uniformSamples(keptCount: kept.count, n: n).filter { !already.contains($0) }
        }
        kept.sort()
        let m = kept.count

        // 3. Cosine similarity of each kept token's key with every token's key: [m, n].
        var sims = [Float](repeating: 0, count: m * n)
        if d > 0 {
            let unit = normalizedRows(keys)
            var keptUnit = Tensor(zeros: [m, d])
            for (r, t) in kept.enumerated() {
                keptUnit.storage.replaceSubrange(r * d..<(r + 1) * d, with: unit.storage[t * d..<(t + 1) * d])
            }
            sims = linear(keptUnit, weight: unit).storage
        }

        // 4. Merge: x_i + Σ over the (up to) 32 most similar other tokens of attn[j] · x_j.
        let total = m + (appendPrunedSummary ? 1 : 0)
        var out = [Float](repeating: 0, count: total * f)
        let x = features.storage
        let k = min(neighbours, n - 1)
        for (r, t) in kept.enumerated() {
            let rowSims = Array(sims[r * n..<(r + 1) * n])
            let others = (0..<n).filter { $0 != t }
            let nearest = topK(others, k: k, by: rowSims)
            let o = r * f
            for c in 0..<f { out[o + c] = x[t * f + c] }
            for j in nearest {
                let w = clsAttention[j]
                for c in 0..<f { out[o + c] += w * x[j * f + c] }
            }
        }

        // 5. The extra token: attention-weighted sum of the pruned tokens.
        if appendPrunedSummary {
            let keptSet = Set(kept)
            let o = m * f
            for j in 0..<n where !keptSet.contains(j) {
                let w = clsAttention[j]
                for c in 0..<f { out[o + c] += w * x[j * f + c] }
            }
        }
        return (kept, Tensor(shape: [total, f], storage: out))
    }

    /// Rows of `t` scaled to unit L2 norm (`F.normalize(p=2, eps=1e-12)`: divide by max(‖x‖, eps)).
    static func normalizedRows(_ t: Tensor) -> Tensor {
        var out = t
        let d = t.lastDim
        out.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<t.rows {
                var ss: Float = 0
                for c in 0..<d { ss += p[r * d + c] * p[r * d + c] }
                let inv = 1 / max(ss.squareRoot(), 1e-12)
                for c in 0..<d { p[r * d + c] *= inv }
            }
        }
        return out
    }

    /// The `k` candidates with the highest `score[candidate]`; ties → lower index, NaN last.
    static func topK(_ candidates: [Int], k: Int, by score: [Float]) -> [Int] {
        guard k < candidates.count else { return candidates }
        let ranked = candidates.sorted { a, b in
            let va = score[a], vb = score[b]
            if va.isNaN || vb.isNaN {
                if va.isNaN != vb.isNaN { return vb.isNaN }
                return a < b
            }
            if va != vb { return va > vb }
            return a < b
        }
        return Array(ranked.prefix(k))
    }
}
