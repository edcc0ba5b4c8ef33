/// The unit the engine builds, the profiler times, the cost model predicts and reports show.
///
/// One vocabulary everywhere: grep for `"llm.attn"` and you find every place that means the
/// attention half of a decoder block.
public enum OpName: String, Codable, CaseIterable, Sendable {
    /// Patch embedding + class/position embeddings + pre-LayerNorm.
    case visionEmbed = "vision.embed"
    /// One CLIP encoder layer (LN → attention → LN → MLP, both residual).
    case visionBlock = "vision.block"
    /// The two-layer multimodal projector.
    case projector = "projector"
    /// Token embedding lookup and image-feature scatter.
    case llmEmbed = "llm.embed"
    /// RMSNorm → Q/K/V → RoPE → attention over the KV cache → O, plus the residual.
    case llmAttention = "llm.attn"
    /// RMSNorm → gate/up → SiLU·up → down, plus the residual.
    case llmMLP = "llm.mlp"
    /// A whole decoder block (`llm.attn` then `llm.mlp`).
    case llmBlock = "llm.block"
    /// Final RMSNorm and the vocabulary projection.
    case lmHead = "lm_head"
    /// FastV's token selection: rank the visual tokens by the last token's attention and
    /// gather the kept rows of the hidden states (the probe itself runs inside `llm.attn`).
    case fastVSelect = "token.fastv"
    /// PruMerge / PruMerge+: CLS attention from the last CLIP layer's q/k, IQR selection and
    /// the merge of each kept token with its nearest neighbours.
    case pruMergeSelect = "token.prumerge"
}

/// Whether an op processes the prompt (many tokens at once) or one generated token.
public enum Phase: String, Codable, CaseIterable, Sendable {
    case prefill, decode
}
