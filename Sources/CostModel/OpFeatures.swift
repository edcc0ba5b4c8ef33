import LLaVAModel
import TensorKernels

/// The shapes of a model the features need, stored with the fitted model so a prediction
/// uses the very dimensions the fit used.
public struct ModelDims: Codable, Sendable, Equatable {
    public var hidden: Int, headDim: Int, heads: Int, kvHeads: Int, intermediate: Int, vocab: Int
    public var visionHidden: Int, visionIntermediate: Int, visionPatchInputs: Int
    public var projectorInput: Int

    public init(_ c: LlavaConfig) {
        let t = c.textConfig, v = c.visionConfig
        hidden = t.hiddenSize; headDim = t.headDim; heads = t.numAttentionHeads; kvHeads = t.numKeyValueHeads
        intermediate = t.intermediateSize; vocab = t.vocabSize
        visionHidden = v.hiddenSize; visionIntermediate = v.intermediateSize
        visionPatchInputs = v.numChannels * v.patchSize * v.patchSize
        projectorInput = c.projectorInputWidth
    }

    enum CodingKeys: String, CodingKey {
        case hidden, headDim = "head_dim", heads, kvHeads = "kv_heads", intermediate, vocab
        case visionHidden = "vision_hidden", visionIntermediate = "vision_intermediate"
        case visionPatchInputs = "vision_patch_inputs", projectorInput = "projector_input"
    }
}

/// Where an op runs: new tokens, keys attended, active heads and neurons. Doubles, so a run of
/// decode steps can be summarised by its mean context (every decode feature is affine in it).
public struct OpShape: Sendable, Hashable {
    public var tokens: Double, context: Double, heads: Double, neurons: Double
    public init(tokens: Double, context: Double, heads: Double, neurons: Double) {
        self.tokens = tokens; self.context = context; self.heads = heads; self.neurons = neurons
    }
}

/// The regressors of one op: a row of X, plus the work (FLOPs, bytes) that decides how much
/// background memory traffic hurts it.
struct FeatureRow {
    var x: [Double]
    var flops: Double
    var bytes: Double
}

/// Features that follow from the work, per op and phase. Units keep coefficients readable:
/// GFLOP (coefficient = ms per GFLOP), MB (ms per MB), M elements (elementwise passes).
/// Columns are ordered by importance: with fewer points than columns, the tail is dropped.
enum OpFeatures {
    static func names(_ op: OpName, _ phase: Phase) -> [String] {
        switch (op, phase) {
        case (.llmAttention, .prefill), (.llmBlock, .prefill):
            return ["1", "gemm_gflop", "attn_pair_gflop", "elementwise_melem"]
        case (.llmAttention, .decode), (.llmBlock, .decode):
            return op == .llmAttention ? ["1", "weight_mb", "kv_mb", "context_k"] : ["1", "weight_mb", "kv_mb"]
        case (.llmMLP, .prefill): return ["1", "gemm_gflop", "elementwise_melem", "gemm_gflop_x_width", "neurons_k"]
        case (.llmMLP, .decode): return ["1", "weight_mb"]
        case (.visionBlock, _): return ["1", "gemm_gflop", "attn_pair_gflop"]
        case (.visionEmbed, _), (.projector, _), (.lmHead, _): return ["1", "gemm_gflop"]
        case (.llmEmbed, _): return ["1", "elementwise_melem"]
        default: return ["1", "tokens", "tokens_x_context"]
        }
    }

    static func row(_ op: OpName, _ phase: Phase, _ s: OpShape, _ d: ModelDims) -> FeatureRow {
        let t = s.tokens, c = s.context, H = Double(d.hidden), hd = Double(d.headDim)
        let a = s.heads, kv = s.heads * Double(d.kvHeads) / Double(max(1, d.heads)), n = s.neurons
        let G = 1e-9, M = 1e-6
        // Query–key pairs the kernel scores: causal blocks in prefill, the whole cache in decode.
        let pairs = phase == .prefill && t >= 1 && c >= t
            ? causalAttentionPairs(tokens: Int(t.rounded()), context: Int(c.rounded())) : t * c
        let attnWeights = H * hd * (2 * a + 2 * kv), mlpWeights = 3 * H * n
        let attnGemm = 2 * t * attnWeights, attnPairs = 4 * pairs * a * hd, mlpGemm = 2 * t * mlpWeights
        let kvBytes = 4 * 2 * c * kv * hd
        switch (op, phase) {
        case (.llmAttention, .prefill):
            return FeatureRow(x: [1, attnGemm * G, attnPairs * G, t * H * M], flops: attnGemm + attnPairs,
                              bytes: 4 * attnWeights + kvBytes + 4 * 4 * t * H)
        case (.llmAttention, .decode):
            // context_k: per-key work outside the two GEMVs (softmax, masking), not in kv_mb's slope.
            return FeatureRow(x: [1, 4 * attnWeights * M, kvBytes * M, c * 1e-3], flops: attnGemm + attnPairs,
                              bytes: 4 * attnWeights + kvBytes)
        case (.llmBlock, .prefill):
            return FeatureRow(x: [1, (attnGemm + mlpGemm) * G, attnPairs * G, t * H * M],
                              flops: attnGemm + mlpGemm + attnPairs, bytes: 4 * (attnWeights + mlpWeights) + kvBytes + 32 * t * H)
        case (.llmBlock, .decode):
            return FeatureRow(x: [1, 4 * (attnWeights + mlpWeights) * M, kvBytes * M],
                              flops: attnGemm + mlpGemm + attnPairs, bytes: 4 * (attnWeights + mlpWeights) + kvBytes)
        case (.llmMLP, .prefill):
            // The GEMMs get slower per FLOP as the active width grows (the [tokens, neurons]
            // intermediate outgrows the caches): measured 155–160 GFLOP/s at half width vs
            // 125–140 at full width on llava-mini / tinyllava shapes. gemm × width and a width
            // term let one fit cover every H fraction (5-fold within ±10%: 0.75 → 0.89 there).
            let width = n / Double(max(1, d.intermediate))
            return FeatureRow(x: [1, mlpGemm * G, t * H * M, mlpGemm * G * width, n * 1e-3], flops: mlpGemm,
                              bytes: 4 * mlpWeights + 4 * 4 * t * (H + n))
        case (.llmMLP, .decode):
            return FeatureRow(x: [1, 4 * mlpWeights * M], flops: mlpGemm, bytes: 4 * mlpWeights)
        case (.visionBlock, _):
            let vh = Double(d.visionHidden), vm = Double(d.visionIntermediate)
            let gemm = 2 * t * (4 * vh * vh + 2 * vh * vm), attn = 4 * t * t * vh
            return FeatureRow(x: [1, gemm * G, attn * G], flops: gemm + attn, bytes: 4 * (4 * vh * vh + 2 * vh * vm))
        case (.visionEmbed, _):
            let w = Double(d.visionHidden * d.visionPatchInputs)
            return FeatureRow(x: [1, 2 * t * w * G], flops: 2 * t * w, bytes: 4 * w + 4 * t * Double(d.visionPatchInputs))
        case (.projector, _):
            let w = Double(d.projectorInput) * H + H * H
            return FeatureRow(x: [1, 2 * t * w * G], flops: 2 * t * w, bytes: 4 * w)
        case (.lmHead, _):
            let w = H * Double(d.vocab)
            return FeatureRow(x: [1, 2 * t * w * G], flops: 2 * t * w, bytes: 4 * w)
        case (.llmEmbed, _):
            return FeatureRow(x: [1, t * H * M], flops: t * H, bytes: 8 * t * H)
        default:
            return FeatureRow(x: [1, t, t * c], flops: t * c, bytes: 4 * t * H)
        }
    }
}
