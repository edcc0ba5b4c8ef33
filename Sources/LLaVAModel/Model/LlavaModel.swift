import AdaptiveInference
import TensorKernels

/// A whole `LlavaForConditionalGeneration`: vision tower → projector → LLaMA decoder.
public final class LlavaModel: Sendable {
    public let config: LlavaConfig
    public let vision: VisionTower
    public let projector: Projector
    public let language: LanguageModel
    /// How the decoder is cut into AdaLLaVA knobs.
    public let layout: KnobLayout
    /// Where the knob order comes from for budgets below 1.
    public let ranking: KnobRanking

    public init(config: LlavaConfig, vision: VisionTower, projector: Projector, language: LanguageModel,
                layout: KnobLayout, ranking: KnobRanking) {
        self.config = config
        self.vision = vision
        self.projector = projector
        self.language = language
        self.layout = layout
        self.ranking = ranking
    }

    /// Loads every part from `source`, checking each tensor's shape against `config`; the knob
    /// ranking comes from scheduler weights in `source`, a calibration file, or the default order.
    /// `dtype` is how the decoder's projections and `lm_head` are stored (the vision tower and
    /// projector stay fp32: they run once per image, as GEMMs).
    public static func load(from source: WeightSource, config: LlavaConfig, origin: String = "checkpoint",
                            calibrationPath: String? = nil, dtype: WeightDType = .f32) throws -> LlavaModel {
        let layout = try config.knobLayout()
        return LlavaModel(config: config,
                          vision: try .load(from: source, config: config),
                          projector: try .load(from: source, config: config),
                          language: try .load(from: source, config: config.textConfig, dtype: dtype),
                          layout: layout,
                          ranking: try .load(from: source, config: config, layout: layout, origin: origin,
                                             calibrationPath: calibrationPath))
    }

    /// Checks a pixel tensor against the vision config: `[1, channels, imageSize, imageSize]`.
    public func validatePixels(_ pixels: Tensor, path: String) throws {
        let v = config.visionConfig
        let expected = [1, v.numChannels, v.imageSize, v.imageSize]
        guard pixels.shape == expected else {
            throw LLaVAModelError.invalidPixels(path: path, reason: "shape \(pixels.shape), expected \(expected) (one preprocessed image)")
        }
        if let bad = pixels.storage.firstIndex(where: { !$0.isFinite }) {
            throw LLaVAModelError.invalidPixels(path: path, reason: "value \(pixels.storage[bad]) at flat index \(bad) is not finite")
        }
    }

    /// A deterministic pseudo-random image `[1, channels, imageSize, imageSize]` with values in
    /// the range of CLIP-normalised pixels (about ±2), for timing runs without an image file.
    public func syntheticPixels(seed: UInt64) -> Tensor {
        let v = config.visionConfig
        let shape = [1, v.numChannels, v.imageSize, v.imageSize]
        // Uniform with std 1.2 spans about ±2, like CLIP-normalised pixels.
        return (try? SyntheticWeights(seed: seed, std: 1.2).tensor("synthetic.pixel_values", shape: shape)) ?? Tensor(zeros: shape)
    }

    /// Range-checks `prompt` and expands its image token for the config's full feature count
    /// (see `expandPrompt`).
    public func preparePrompt(_ prompt: [Int], hasImage: Bool) throws -> [Int] {
        try checkPromptTokens(prompt)
        return try expandPrompt(prompt, imageFeatures: hasImage ? config.imageFeatureTokens : nil)
    }

    /// Throws when `prompt` is empty or holds an id outside `[0, vocab_size)` (the image token
    /// excepted).
    public func checkPromptTokens(_ prompt: [Int]) throws {
        guard !prompt.isEmpty else { throw LLaVAModelError.invalidPrompt(reason: "no tokens") }
        let vocab = config.textConfig.vocabSize, image = config.imageTokenIndex
        for (i, id) in prompt.enumerated() where id != image && (id < 0 || id >= vocab) {
            throw LLaVAModelError.tokenOutOfRange(token: id, index: i, vocabSize: vocab)
        }
    }

    /// Expands the image token as the Hugging Face processor does: one image token (or a run
    /// already expanded to the config's full feature count) becomes `imageFeatures` copies —
    /// fewer than the full count after PruMerge. `imageFeatures` nil means no image.
    public func expandPrompt(_ prompt: [Int], imageFeatures: Int?) throws -> [Int] {
        let image = config.imageTokenIndex, full = config.imageFeatureTokens
        let count = prompt.filter { $0 == image }.count
        guard let features = imageFeatures else {
            if count == 0 { return prompt }
            throw LLaVAModelError.invalidPrompt(reason: "the prompt holds image token \(image) but no pixels were given (--pixels)")
        }
        guard count > 0 else {
            throw LLaVAModelError.invalidPrompt(reason: "pixels were given but the prompt holds no image token (id \(image), image_token_index)")
        }
        guard count == 1 || count == full else {
            throw LLaVAModelError.invalidPrompt(reason: "the prompt holds \(count) image tokens (id \(image)); expected 1 or \(full), one per image feature")
        }
        if count == features { return prompt }   // already expanded: features scatter in place
        let first = prompt.firstIndex(of: image)!
        return Array(prompt[..<first]) + Array(repeating: image, count: features)
            + prompt[(first + 1)...].filter { $0 != image }
    }

    /// Input embeddings for prepared `ids`, with `imageFeatures` (`[n, hidden]`) scattered
    /// over the image-token positions in order (Hugging Face's `masked_scatter`).
    public func inputEmbeddings(_ ids: [Int], imageFeatures: Tensor?) -> Tensor {
        let image = config.imageTokenIndex, h = config.textConfig.hiddenSize
        // Image positions are overwritten below; an image id outside the vocabulary (as in
        // checkpoints whose image token was appended after vocab_size) is looked up as row 0.
        var x = language.embed(ids.map { $0 == image && $0 >= config.textConfig.vocabSize ? 0 : $0 })
        if let features = imageFeatures {
            var next = 0
            for (t, id) in ids.enumerated() where id == image {
                for d in 0..<h { x.storage[t * h + d] = features.storage[next * h + d] }
                next += 1
            }
        }
        return x
    }
}
