import AdaptiveInference
import TensorKernels

/// FLOPs a plan executes, derived from shapes alone: the paper's notion of cost, which the
/// measured latency is compared against.
extension LlamaConfig {
    /// FLOPs of one block with `heads` query heads, `kvHeads` KV heads and `neurons` MLP
    /// neurons active, for `tokens` new tokens over `context` positions (same counting as
    /// `blockFLOPs`: every GEMM the engine executes).
    public func blockFLOPs(tokens: Int, context: Int, heads: Int, kvHeads: Int, neurons: Int) -> Double {
        let t = Double(tokens), h = Double(hiddenSize), d = Double(headDim)
        let projections = 2 * t * h * d * Double(2 * heads + 2 * kvHeads)
        let mlp = 2 * t * h * Double(3 * neurons)
        let attention = 2 * 2 * causalAttentionPairs(tokens: tokens, context: context) * Double(heads) * d
        return projections + mlp + attention
    }

    /// Prefill FLOPs of `plan` on a prompt of `tokens` tokens of which `imageTokens` are
    /// visual (FastV drops visual tokens from block K on), plus `lm_head` of the last position.
    /// `extraTokens` counts a latency token.
    public func prefillFLOPs(plan: ExecutionPlan?, layout: KnobLayout, tokens: Int, imageTokens: Int,
                             extraTokens: Int = 0) -> Double {
        var total = 2 * Double(hiddenSize * vocabSize)
        var seq = tokens + extraTokens
        for layer in 0..<numHiddenLayers {
            if case let .fastV(k, r)? = plan?.tokenSelection, layer == k, imageTokens > 0 {
                let kept = FastV.keptIndices(scores: [Float](repeating: 0, count: imageTokens), keepRatio: r).count
                seq -= imageTokens - kept
            }
            guard let plan else {
                total += blockFLOPs(tokens: seq, context: seq)
                continue
            }
            let units = plan.activeUnits(layer: layer, layout: layout)
            guard !units.isEmpty else { continue }
            let heads = units.reduce(0) { $0 + layout.unitHeadRange($1).count }
            let kv = units.reduce(0) { $0 + layout.unitKVHeadRange($1).count }
            let neurons = units.reduce(0) { $0 + layout.unitNeuronRange($1).count }
            total += blockFLOPs(tokens: seq, context: seq, heads: heads, kvHeads: kv, neurons: neurons)
        }
        return total
    }
}
