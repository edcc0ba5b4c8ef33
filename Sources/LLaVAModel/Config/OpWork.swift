import TensorKernels

/// The work one op does at one shape: floating-point operations (2 per multiply-add, counting
/// what the engine executes) and the bytes it must move at least once (weights it reads,
/// KV cache it reads, activations in and out), all fp32. The profiler stores both with every
/// sample, so a cost model can regress time on work instead of on raw shapes.
public struct OpWork: Sendable, Equatable {
    public var flops: Double
    public var bytes: Double

    public init(flops: Double, bytes: Double) {
        self.flops = flops
        self.bytes = bytes
    }
}

extension LlavaConfig {
    /// Work of `op` for `tokens` new tokens over `context` keys, with `heads`/`kvHeads` active
    /// attention heads and `neurons` active MLP neurons (LLM ops; pass the full counts when
    /// nothing is sliced). Token-selection ops: `tokens` is the sequence (FastV) or patch count
    /// (PruMerge), `context` the tokens kept.
    public func work(_ op: OpName, tokens: Int, context: Int, heads: Int, kvHeads: Int, neurons: Int) -> OpWork {
        let f = 4.0   // bytes per fp32
        let t = Double(tokens), c = Double(context)
        let text = textConfig, vision = visionConfig
        let h = Double(text.hiddenSize), d = Double(text.headDim)
        switch op {
        case .llmAttention:
            let projected = d * Double(2 * heads + 2 * kvHeads)   // q, k, v rows + o columns
            let scores = 4 * causalAttentionPairs(tokens: tokens, context: context) * Double(heads) * d
            return OpWork(flops: 2 * t * h * projected + scores,
                          bytes: f * (h * projected + 2 * c * Double(kvHeads) * d + 2 * t * h))
        case .llmMLP:
            let n = Double(neurons)
            return OpWork(flops: 6 * t * h * n, bytes: f * (3 * h * n + 2 * t * h))
        case .llmBlock:
            let a = work(.llmAttention, tokens: tokens, context: context, heads: heads, kvHeads: kvHeads, neurons: neurons)
            let m = work(.llmMLP, tokens: tokens, context: context, heads: heads, kvHeads: kvHeads, neurons: neurons)
            return OpWork(flops: a.flops + m.flops, bytes: a.bytes + m.bytes)
        case .llmEmbed:
            return OpWork(flops: 0, bytes: f * 2 * t * h)
        case .lmHead:
            // Prefill and decode alike project one row (the last position) onto the vocabulary.
            let v = Double(text.vocabSize)
            return OpWork(flops: 2 * h * v, bytes: f * (v * h + h + v))
        case .visionEmbed:
            let p = Double(vision.numPatches), vh = Double(vision.hiddenSize)
            let patch = Double(vision.numChannels * vision.patchSize * vision.patchSize)
            return OpWork(flops: 2 * p * patch * vh,
                          bytes: f * (vh * patch + (p + 1) * vh + p * patch + (p + 1) * vh))
        case .visionBlock:
            let vh = Double(vision.hiddenSize), m = Double(vision.intermediateSize)
            return OpWork(flops: 2 * t * vh * vh * 4 + 2 * t * vh * m * 2 + 2 * 2 * t * t * vh,
                          bytes: f * (Double(visionLayerParameters) + 2 * t * vh))
        case .projector:
            let input = Double(projectorInputWidth)
            return OpWork(flops: 2 * t * (input * h + h * h), bytes: f * (input * h + h * h + t * (input + h)))
        case .fastVSelect:
            // Ranking is O(n log n) comparisons, not floating point; the cost is the gather.
            return OpWork(flops: 0, bytes: f * 2 * c * h)
        case .pruMergeSelect:
            let vh = Double(vision.hiddenSize), width = Double(projectorInputWidth)
            let neighbours = min(32.0, max(0, t - 1))
            let qk = 2 * 2 * (t + 1) * vh * vh                     // q/k projections of CLS + patches
            let similarity = 2 * c * t * vh                          // cosine similarity kept × all
            let merge = 2 * c * neighbours * width + 2 * (t - c) * width
            return OpWork(flops: qk + 2 * (t + 1) * vh + similarity + merge,
                          bytes: f * (2 * vh * vh + (t + 1) * vh * 3 + t * width + (c + 1) * width))
        }
    }
}
