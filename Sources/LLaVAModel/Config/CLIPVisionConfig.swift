/// The CLIP vision tower's shape, as `vision_config` in a LLaVA `config.json` spells it.
///
/// Absent keys take `transformers.CLIPVisionConfig`'s defaults, as the reference does.
public struct CLIPVisionConfig: Codable, Sendable, Equatable {
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: String
    public var layerNormEps: Double

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels"
        case imageSize = "image_size"
        case patchSize = "patch_size"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
    }

    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                imageSize: Int, patchSize: Int, numChannels: Int = 3, hiddenAct: String = "quick_gelu",
                layerNormEps: Double = 1e-5) {
        modelType = "clip_vision_model"
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numChannels = numChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    /// What `LlavaConfig` uses when `vision_config` is absent: CLIP ViT-L/14 at 336 px.
    public static let llavaDefault = CLIPVisionConfig(
        hiddenSize: 1024, intermediateSize: 4096, numHiddenLayers: 24, numAttentionHeads: 16,
        imageSize: 336, patchSize: 14)

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "clip_vision_model"
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 768
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 3072
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 12
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 12
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? 3
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? 224
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? 32
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "quick_gelu"
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? 1e-5
    }

    /// Patches per side, `imageSize / patchSize` (24 for ViT-L/14 at 336 px).
    public var patchesPerSide: Int { imageSize / patchSize }
    /// Patch tokens, without CLS (576 for ViT-L/14 at 336 px).
    public var numPatches: Int { patchesPerSide * patchesPerSide }
    /// Per-head width.
    public var headDim: Int { hiddenSize / numAttentionHeads }
}
