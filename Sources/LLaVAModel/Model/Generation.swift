import Foundation
import TensorKernels

/// Wall-clock time of each phase of one request, in milliseconds.
public struct PhaseTimings: Codable, Sendable, Equatable {
    /// Vision tower (embeddings + encoder layers), `vision.*` ops.
    public var visionMs: Double = 0
    /// Multimodal projector.
    public var projectorMs: Double = 0
    /// Prompt embedding + all decoder blocks over the prompt + `lm_head` of the last position.
    public var prefillMs: Double = 0
    /// Every decode step after the first token (each: one token through all blocks + `lm_head`).
    public var decodeMs: Double = 0
    /// From the request's start to the first generated token (vision + projector + prefill).
    public var timeToFirstTokenMs: Double = 0

    enum CodingKeys: String, CodingKey {
        case visionMs = "vision_ms", projectorMs = "projector_ms", prefillMs = "prefill_ms"
        case decodeMs = "decode_ms", timeToFirstTokenMs = "time_to_first_token_ms"
    }
}

/// What one greedy generation produced.
public struct GenerationResult: Sendable {
    /// Generated token ids (without the prompt).
    public var tokens: [Int]
    /// Prompt length after image-token expansion.
    public var promptTokens: Int
    /// Image feature tokens in the prompt (0 without an image).
    public var imageTokens: Int
    public var timings: PhaseTimings
    /// Logits of the last prompt position (the first generated token's distribution), `[vocab]`.
    public var firstLogits: Tensor
}

/// Greedy-decoding options.
public struct GenerationOptions: Sendable {
    public var maxNewTokens: Int
    /// Stop after emitting `text_config.eos_token_id` (the reference's default).
    public var stopAtEOS: Bool
    /// Sees each block's output during prefill (index, `[tokens, hidden]`), for probes/tests.
    public var observePrefill: (@Sendable (Int, Tensor) -> Void)?

    public init(maxNewTokens: Int = 16, stopAtEOS: Bool = true, observePrefill: (@Sendable (Int, Tensor) -> Void)? = nil) {
        self.maxNewTokens = maxNewTokens
        self.stopAtEOS = stopAtEOS
        self.observePrefill = observePrefill
    }
}

extension LlavaModel {
    /// Runs the full pipeline on one prompt (and image) and decodes greedily.
    ///
    /// Prefill computes `lm_head` for the last prompt position only, as serving engines do.
    public func generate(prompt: [Int], pixels: Tensor?, options: GenerationOptions) throws -> GenerationResult {
        let ids = try preparePrompt(prompt, hasImage: pixels != nil)
        let capacity = ids.count + max(0, options.maxNewTokens)
        guard capacity <= config.textConfig.maxPositionEmbeddings else {
            throw LLaVAModelError.invalidPrompt(reason: "\(ids.count) prompt tokens + \(options.maxNewTokens) new tokens exceed max_position_embeddings \(config.textConfig.maxPositionEmbeddings)")
        }
        var timings = PhaseTimings()
        let start = DispatchTime.now()
        var features: Tensor?
        if let pixels {
            let visionFeatures = measure(&timings.visionMs) { vision.features(pixels) }
            features = measure(&timings.projectorMs) { projector(visionFeatures) }
        }
        var caches = language.makeCaches(capacity: capacity)
        var logits = measure(&timings.prefillMs) { () -> Tensor in
            let x = inputEmbeddings(ids, imageFeatures: features)
            let normed = language.forward(x, positions: Array(0..<ids.count), caches: &caches,
                                          observe: options.observePrefill)
            return language.logits(normed, row: ids.count - 1)
        }
        timings.timeToFirstTokenMs = milliseconds(since: start)
        let firstLogits = logits
        var tokens: [Int] = []
        let decodeStart = DispatchTime.now()
        while tokens.count < options.maxNewTokens {
            let next = argmax(logits)
            tokens.append(next)
            if options.stopAtEOS, next == config.textConfig.eosTokenId { break }
            if tokens.count == options.maxNewTokens { break }
            let position = ids.count + tokens.count - 1
            let normed = language.forward(language.embed([next]), positions: [position], caches: &caches)
            logits = language.logits(normed, row: 0)
        }
        timings.decodeMs = milliseconds(since: decodeStart)
        return GenerationResult(tokens: tokens, promptTokens: ids.count, imageTokens: features?.rows ?? 0,
                                timings: timings, firstLogits: firstLogits)
    }
}

/// Index of the largest value (first one on ties, as `torch.argmax`).
public func argmax(_ t: Tensor) -> Int {
    var best = 0
    for i in 1..<t.count where t.storage[i] > t.storage[best] { best = i }
    return best
}

func milliseconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
}

/// Runs `body` and adds its wall time to `ms`.
func measure<T>(_ ms: inout Double, _ body: () throws -> T) rethrows -> T {
    let start = DispatchTime.now()
    defer { ms += milliseconds(since: start) }
    return try body()
}
