import Foundation

/// A `LlavaForConditionalGeneration` `config.json`, in the checkpoint's own key names.
public struct LlavaConfig: Codable, Sendable, Equatable {
    public var modelType: String
    public var visionConfig: CLIPVisionConfig
    public var textConfig: LlamaConfig
    /// The prompt id that marks where image features go (`image_token_index`, or
    /// `image_token_id` in newer configs).
    public var imageTokenIndex: Int
    public var projectorHiddenAct: String
    /// Vision hidden-state index(es) whose output feeds the projector (−2: second-to-last layer).
    /// Several indices are concatenated along the feature axis, as the reference does.
    public var visionFeatureLayers: [Int]
    /// `default` drops the CLS token; `full` keeps it.
    public var visionFeatureSelectStrategy: String
    public var multimodalProjectorBias: Bool

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case visionConfig = "vision_config"
        case textConfig = "text_config"
        case imageTokenIndex = "image_token_index"
        case imageTokenId = "image_token_id"
        case projectorHiddenAct = "projector_hidden_act"
        case visionFeatureLayer = "vision_feature_layer"
        case visionFeatureSelectStrategy = "vision_feature_select_strategy"
        case multimodalProjectorBias = "multimodal_projector_bias"
    }

    public init(visionConfig: CLIPVisionConfig, textConfig: LlamaConfig, imageTokenIndex: Int) {
        modelType = "llava"
        self.visionConfig = visionConfig
        self.textConfig = textConfig
        self.imageTokenIndex = imageTokenIndex
        projectorHiddenAct = "gelu"
        visionFeatureLayers = [-2]
        visionFeatureSelectStrategy = "default"
        multimodalProjectorBias = true
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "llava"
        visionConfig = try c.decodeIfPresent(CLIPVisionConfig.self, forKey: .visionConfig) ?? .llavaDefault
        textConfig = try c.decodeIfPresent(LlamaConfig.self, forKey: .textConfig)
            ?? JSONDecoder().decode(LlamaConfig.self, from: Data("{}".utf8))
        imageTokenIndex = try c.decodeIfPresent(Int.self, forKey: .imageTokenIndex)
            ?? c.decodeIfPresent(Int.self, forKey: .imageTokenId) ?? 32000
        projectorHiddenAct = try c.decodeIfPresent(String.self, forKey: .projectorHiddenAct) ?? "gelu"
        if let layers = try? c.decodeIfPresent([Int].self, forKey: .visionFeatureLayer) {
            visionFeatureLayers = layers
        } else {
            visionFeatureLayers = [try c.decodeIfPresent(Int.self, forKey: .visionFeatureLayer) ?? -2]
        }
        visionFeatureSelectStrategy = try c.decodeIfPresent(String.self, forKey: .visionFeatureSelectStrategy) ?? "default"
        multimodalProjectorBias = try c.decodeIfPresent(Bool.self, forKey: .multimodalProjectorBias) ?? true
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(visionConfig, forKey: .visionConfig)
        try c.encode(textConfig, forKey: .textConfig)
        try c.encode(imageTokenIndex, forKey: .imageTokenIndex)
        try c.encode(projectorHiddenAct, forKey: .projectorHiddenAct)
        if visionFeatureLayers.count == 1 {
            try c.encode(visionFeatureLayers[0], forKey: .visionFeatureLayer)
        } else {
            try c.encode(visionFeatureLayers, forKey: .visionFeatureLayer)
        }
        try c.encode(visionFeatureSelectStrategy, forKey: .visionFeatureSelectStrategy)
        try c.encode(multimodalProjectorBias, forKey: .multimodalProjectorBias)
    }

    /// Image feature tokens per image after selection (576 for LLaVA-1.5 at 336 px).
    public var imageFeatureTokens: Int {
        visionConfig.numPatches + (visionFeatureSelectStrategy == "full" ? 1 : 0)
    }

    /// Width of the projector's input: the selected vision layers concatenated.
    public var projectorInputWidth: Int { visionConfig.hiddenSize * visionFeatureLayers.count }

    /// Vision encoder layers that must run to produce the selected hidden states: hidden state
    /// `i` (0 = embeddings after pre-LN) is the output of layer `i − 1`.
    public var visionLayersToRun: Int {
        visionFeatureLayers.map { $0 < 0 ? visionConfig.numHiddenLayers + 1 + $0 : $0 }.max() ?? 0
    }
}
