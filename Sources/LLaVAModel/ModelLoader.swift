import Foundation
import TensorKernels

/// Resolves a `--model` argument (checkpoint directory or preset name) to a config and a
/// weight source, and refuses models that cannot fit in memory before allocating them.
public struct ModelSpec: Sendable {
    /// What the user named (`tiny`, `/path/to/llava-1.5-7b-hf`, …).
    public let name: String
    public let config: LlavaConfig
    public let weights: WeightSource
    /// `synthetic(seed)` for presets, the directory for checkpoints.
    public let origin: String
    /// How the decoder's projection weights and `lm_head` are held in memory.
    public var dtype: WeightDType = .f32

    /// A preset with synthetic weights from `seed`, or a checkpoint directory; decoder weights
    /// held as `dtype` (synthetic values rounded to it, a checkpoint's converted unless stored so).
    public static func resolve(_ model: String, seed: UInt64 = 0, dtype: WeightDType = .f32) throws -> ModelSpec {
        if let preset = Preset(rawValue: model) {
            return ModelSpec(name: model, config: preset.config, weights: SyntheticWeights(seed: seed),
                             origin: "synthetic weights, seed \(seed)", dtype: dtype)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory) else {
            throw LLaVAModelError.unknownModel(name: model, presets: Preset.names)
        }
        guard isDirectory.boolValue else {
            throw LLaVAModelError.fileUnreadable(path: model, reason: "expected a checkpoint directory holding config.json and *.safetensors")
        }
        let config = try LlavaConfig.load(path: (model as NSString).appendingPathComponent("config.json"))
        return ModelSpec(name: model, config: config, weights: try CheckpointWeights(directory: model), origin: model, dtype: dtype)
    }

    /// Bytes the engine needs to run a request of `contextTokens` positions: the weights (the
    /// decoder's projections and `lm_head` at `dtype`'s size, the rest fp32) plus the KV cache
    /// plus a generous allowance for the largest activations and one prefill scratch panel.
    public func requiredBytes(contextTokens: Int) -> Int {
        let t = config.textConfig, v = config.visionConfig
        let narrow = t.numHiddenLayers * (t.decoderLayerParameters - 2 * t.hiddenSize) + t.vocabSize * t.hiddenSize
        let weights = (config.loadedParameters - narrow) * 4 + Int((Double(narrow) * dtype.bytesPerWeight).rounded(.up))
            + (dtype == .f32 ? 0 : 64 << 20)
        let kv = 2 * t.numHiddenLayers * contextTokens * t.kvWidth * 4
        let activations = 8 * contextTokens * max(t.intermediateSize, t.hiddenSize) * 4
            + 8 * (v.numPatches + 1) * v.intermediateSize * 4
            + contextTokens * contextTokens * 4   // one head's score matrix at a time
        return weights + kv + activations
    }

    /// Throws `doesNotFit` when the model would not fit in the memory available now.
    public func checkFits(contextTokens: Int, availableBytes: Int? = MemoryInfo.availableBytes()) throws {
        guard let available = availableBytes else { return }
        let required = requiredBytes(contextTokens: contextTokens)
        if required > available {
            // Name the narrowest format that would fit, if one would.
            let narrower = WeightDType.allCases.filter { $0.bytesPerWeight < dtype.bytesPerWeight }
                .sorted { $0.bytesPerWeight > $1.bytesPerWeight }
                .first { d in
                    var spec = self
                    spec.dtype = d
                    return spec.requiredBytes(contextTokens: contextTokens) <= available
                }
            let formats = narrower.map { "hold the decoder's weights as --dtype \($0.rawValue), or " } ?? ""
            throw LLaVAModelError.doesNotFit(
                model: name, requiredBytes: required, availableBytes: available,
                hint: "\(formats)use a smaller preset (\(Preset.tinyllava1_1b.rawValue), \(Preset.tiny.rawValue)) for end-to-end runs; a preset this size can still be measured one block at a time")
        }
    }

    /// Loads the whole model (after `checkFits`); knob order from `calibrationPath` when given.
    public func load(calibrationPath: String? = nil) throws -> LlavaModel {
        try LlavaModel.load(from: weights, config: config, origin: weights is SyntheticWeights ? "synthetic weights" : "checkpoint",
                            calibrationPath: calibrationPath, dtype: dtype)
    }
}

/// Memory the OS reports as available to a new allocation.
public enum MemoryInfo {
    /// `MemAvailable` from `/proc/meminfo`, in bytes; nil where it cannot be read.
    public static func availableBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}
