/// Built-in model shapes, for when no checkpoint is at hand. Weights are synthetic
/// (`SyntheticWeights`), the architecture and every shape are the real ones.
public enum Preset: String, CaseIterable, Sendable {
    /// A few-megabyte model for tests and a first run.
    case tiny
    /// A LLaVA-shaped model for live replays: one request (~32 prompt tokens + image, 8 new
    /// tokens) takes a fraction of a second on 2 threads. CLIP ViT-S/14 at 168 px (6 layers,
    /// hidden 384, 144 patches) + a 12-layer LLaMA (hidden 768, MLP 2048, 12 heads), vocab 32064.
    case llavaMini = "llava-mini"
    /// TinyLLaVA-1.1B: CLIP ViT-L/14-336 + TinyLlama-1.1B (22 layers, hidden 2048, GQA 32/4).
    case tinyllava1_1b = "tinyllava-1.1b"
    /// LLaVA-1.5-7B: CLIP ViT-L/14-336 + Vicuna-7B (32 layers, hidden 4096, MLP 11008).
    case llava1_5_7b = "llava-1.5-7b"
    /// LLaVA-1.5-13B: CLIP ViT-L/14-336 + Vicuna-13B (40 layers, hidden 5120, MLP 13824).
    case llava1_5_13b = "llava-1.5-13b"

    /// The preset's `config.json`, as the matching Hugging Face checkpoint spells it.
    public var config: LlavaConfig {
        switch self {
        case .tiny:
            return LlavaConfig(
                visionConfig: CLIPVisionConfig(hiddenSize: 64, intermediateSize: 128, numHiddenLayers: 3,
                                               numAttentionHeads: 4, imageSize: 56, patchSize: 14),
                textConfig: LlamaConfig(vocabSize: 1024, hiddenSize: 128, intermediateSize: 256, numHiddenLayers: 4,
                                        numAttentionHeads: 4, numKeyValueHeads: 2, maxPositionEmbeddings: 1024),
                imageTokenIndex: 1000)
        case .llavaMini:
            return LlavaConfig(
                visionConfig: CLIPVisionConfig(hiddenSize: 384, intermediateSize: 1536, numHiddenLayers: 6,
                                               numAttentionHeads: 6, imageSize: 168, patchSize: 14),
                textConfig: LlamaConfig(vocabSize: 32064, hiddenSize: 768, intermediateSize: 2048, numHiddenLayers: 12,
                                        numAttentionHeads: 12, maxPositionEmbeddings: 2048),
                imageTokenIndex: 32000)
        case .tinyllava1_1b:
            return LlavaConfig(
                visionConfig: .llavaDefault,
                textConfig: LlamaConfig(vocabSize: 32064, hiddenSize: 2048, intermediateSize: 5632, numHiddenLayers: 22,
                                        numAttentionHeads: 32, numKeyValueHeads: 4, maxPositionEmbeddings: 2048),
                imageTokenIndex: 32000)
        case .llava1_5_7b:
            return LlavaConfig(
                visionConfig: .llavaDefault,
                textConfig: LlamaConfig(vocabSize: 32064, hiddenSize: 4096, intermediateSize: 11008, numHiddenLayers: 32,
                                        numAttentionHeads: 32, maxPositionEmbeddings: 4096),
                imageTokenIndex: 32000)
        case .llava1_5_13b:
            return LlavaConfig(
                visionConfig: .llavaDefault,
                textConfig: LlamaConfig(vocabSize: 32064, hiddenSize: 5120, intermediateSize: 13824, numHiddenLayers: 40,
                                        numAttentionHeads: 40, maxPositionEmbeddings: 4096),
                imageTokenIndex: 32000)
        }
    }

    public static var names: [String] { allCases.map(\.rawValue) }
}
