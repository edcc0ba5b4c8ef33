import TensorKernels
import Foundation

extension LlavaConfig {
    /// Top-level `model_type`s this engine implements.
    public static let supportedModelTypes = ["llava"]
    /// `text_config.model_type`s with the LLaMA block structure.
    public static let supportedTextModelTypes = ["llama"]
    /// `vision_config.model_type`s with the CLIP ViT block structure.
    public static let supportedVisionModelTypes = ["clip_vision_model"]

    /// Reads and validates a `config.json`; every problem names the file and the field.
    public static func load(path: String) throws -> LlavaConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw LLaVAModelError.fileUnreadable(path: path, reason: exists ? "not readable" : "no such file")
        }
        return try decode(data, path: path)
    }

    /// Decodes and validates config JSON; `path` is only used in error messages.
    public static func decode(_ data: Data, path: String) throws -> LlavaConfig {
        let config: LlavaConfig
        do {
            config = try JSONDecoder().decode(LlavaConfig.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, path: path)
        }
        try config.validate(path: path)
        return config
    }

    /// Turns a `DecodingError` into one line naming the dotted field path.
    static func describe(_ error: DecodingError, path: String) -> LLaVAModelError {
        func field(_ keys: [CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case let .typeMismatch(type, ctx):
            return .invalidConfig(path: path, field: field(ctx.codingPath), reason: "expected \(readable(type))")
        case let .valueNotFound(type, ctx):
            return .invalidConfig(path: path, field: field(ctx.codingPath), reason: "expected \(readable(type)), found null")
        case let .keyNotFound(key, ctx):
            return .invalidConfig(path: path, field: field(ctx.codingPath + [key]), reason: "missing")
        case let .dataCorrupted(ctx):
            let name = ctx.codingPath.isEmpty ? "(document)" : field(ctx.codingPath)
            return .invalidConfig(path: path, field: name, reason: "not valid JSON (\(ctx.underlyingError.map { "\($0.localizedDescription)" } ?? ctx.debugDescription))")
        @unknown default:
            return .invalidConfig(path: path, field: "(document)", reason: "\(error)")
        }
    }

    private static func readable(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is Double.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(type)"
        }
    }

    /// Checks the relations the architecture relies on, so a bad config fails here and not
    /// as a precondition deep in a kernel.
    public func validate(path: String) throws {
        func bad(_ field: String, _ reason: String) -> LLaVAModelError {
            .invalidConfig(path: path, field: field, reason: reason)
        }
        guard Self.supportedModelTypes.contains(modelType) else {
            throw LLaVAModelError.unsupportedModelType(path: path, field: "model_type", found: modelType, expected: Self.supportedModelTypes)
        }
        guard Self.supportedTextModelTypes.contains(textConfig.modelType) else {
            throw LLaVAModelError.unsupportedModelType(path: path, field: "text_config.model_type", found: textConfig.modelType, expected: Self.supportedTextModelTypes)
        }
        guard Self.supportedVisionModelTypes.contains(visionConfig.modelType) else {
            throw LLaVAModelError.unsupportedModelType(path: path, field: "vision_config.model_type", found: visionConfig.modelType, expected: Self.supportedVisionModelTypes)
        }
        let v = visionConfig, t = textConfig
        let positives: [(String, Int)] = [
            ("vision_config.hidden_size", v.hiddenSize), ("vision_config.intermediate_size", v.intermediateSize),
            ("vision_config.num_hidden_layers", v.numHiddenLayers), ("vision_config.num_attention_heads", v.numAttentionHeads),
            ("vision_config.image_size", v.imageSize), ("vision_config.patch_size", v.patchSize),
            ("vision_config.num_channels", v.numChannels),
            ("text_config.vocab_size", t.vocabSize), ("text_config.hidden_size", t.hiddenSize),
            ("text_config.intermediate_size", t.intermediateSize), ("text_config.num_hidden_layers", t.numHiddenLayers),
            ("text_config.num_attention_heads", t.numAttentionHeads), ("text_config.num_key_value_heads", t.numKeyValueHeads),
            ("text_config.head_dim", t.headDim), ("text_config.max_position_embeddings", t.maxPositionEmbeddings),
        ]
        for (name, value) in positives where value <= 0 {
            throw bad(name, "must be a positive integer, found \(value)")
        }
        // Guard the products the engine allocates by, so absurd configs fail here.
        for (name, value) in positives where value > 1 << 20 {
            throw bad(name, "\(value) is implausibly large (limit \(1 << 20))")
        }
        if v.hiddenSize % v.numAttentionHeads != 0 {
            throw bad("vision_config.hidden_size", "\(v.hiddenSize) is not divisible by num_attention_heads \(v.numAttentionHeads)")
        }
        if v.imageSize % v.patchSize != 0 {
            throw bad("vision_config.image_size", "\(v.imageSize) is not divisible by patch_size \(v.patchSize)")
        }
        if t.numAttentionHeads % t.numKeyValueHeads != 0 {
            throw bad("text_config.num_key_value_heads", "\(t.numKeyValueHeads) does not divide num_attention_heads \(t.numAttentionHeads)")
        }
        if t.headDim % 2 != 0 { throw bad("text_config.head_dim", "RoPE needs an even head_dim, found \(t.headDim)") }
        if t.ropeType != "default" {
            throw bad("text_config.rope_scaling", "RoPE type '\(t.ropeType)' is not implemented (only default RoPE)")
        }
        if t.rmsNormEps <= 0 { throw bad("text_config.rms_norm_eps", "must be positive, found \(t.rmsNormEps)") }
        if t.ropeTheta <= 0 { throw bad("text_config.rope_theta", "must be positive, found \(t.ropeTheta)") }
        for (name, act) in [("vision_config.hidden_act", v.hiddenAct), ("text_config.hidden_act", t.hiddenAct),
                            ("projector_hidden_act", projectorHiddenAct)] where Activation(huggingFaceName: act) == nil {
            throw bad(name, "unknown activation '\(act)' (expected one of: \(Activation.huggingFaceNames.joined(separator: ", ")))")
        }
        guard ["default", "full"].contains(visionFeatureSelectStrategy) else {
            throw bad("vision_feature_select_strategy", "'\(visionFeatureSelectStrategy)' (expected default or full)")
        }
        guard !visionFeatureLayers.isEmpty else { throw bad("vision_feature_layer", "empty list") }
        for layer in visionFeatureLayers where layer < -(v.numHiddenLayers + 1) || layer > v.numHiddenLayers {
            throw bad("vision_feature_layer", "\(layer) is outside the \(v.numHiddenLayers + 1) vision hidden states")
        }
        if imageTokenIndex < 0 { throw bad("image_token_index", "must be non-negative, found \(imageTokenIndex)") }
    }
}
