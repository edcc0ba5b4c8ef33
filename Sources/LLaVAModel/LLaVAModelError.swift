import Foundation

/// Everything that can go wrong when loading or running a model on user input.
///
/// Each case names the file and the field or tensor at fault and says what was expected, so
/// the CLI can print it as one line (`error: …`) and exit with status 2.
public enum LLaVAModelError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// A file could not be read at all (missing, unreadable, a directory).
    case fileUnreadable(path: String, reason: String)
    /// An output file (logits dump, export) could not be written.
    case fileUnwritable(path: String, reason: String)
    /// `config.json` is not valid JSON or a field has the wrong type.
    case invalidConfig(path: String, field: String, reason: String)
    /// `model_type` (top level or inside a sub-config) is not one this engine implements.
    case unsupportedModelType(path: String, field: String, found: String, expected: [String])
    /// The safetensors header or layout is malformed.
    case invalidSafetensors(path: String, reason: String)
    /// A tensor is stored with a dtype the engine cannot convert.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// A tensor the architecture needs is not in the checkpoint (any accepted key layout).
    case missingTensor(path: String, tensor: String)
    /// A tensor exists but its shape differs from what the config implies.
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    /// A prompt token id is outside `[0, vocab_size)`.
    case tokenOutOfRange(token: Int, index: Int, vocabSize: Int)
    /// The pixel tensor does not have the shape the vision config requires.
    case invalidPixels(path: String, reason: String)
    /// The prompt and the image do not fit together (image tokens without pixels, etc.).
    case invalidPrompt(reason: String)
    /// The model would not fit in memory; raised before anything large is allocated.
    case doesNotFit(model: String, requiredBytes: Int, availableBytes: Int, hint: String)
    /// A preset name or model path that is neither a directory nor a known preset.
    case unknownModel(name: String, presets: [String])

    public var description: String {
        switch self {
        case let .fileUnreadable(path, reason):
            return "\(path): cannot read file: \(reason)"
        case let .fileUnwritable(path, reason):
            return "\(path): cannot write file: \(reason)"
        case let .invalidConfig(path, field, reason):
            return "\(path): field '\(field)': \(reason)"
        case let .unsupportedModelType(path, field, found, expected):
            return "\(path): field '\(field)': unsupported model_type '\(found)' (expected one of: \(expected.joined(separator: ", ")))"
        case let .invalidSafetensors(path, reason):
            return "\(path): invalid safetensors file: \(reason)"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor '\(tensor)': unsupported dtype \(dtype) (expected F32, F16 or BF16)"
        case let .missingTensor(path, tensor):
            return "\(path): missing tensor '\(tensor)'"
        case let .shapeMismatch(path, tensor, expected, found):
            return "\(path): tensor '\(tensor)': shape \(found), expected \(expected)"
        case let .tokenOutOfRange(token, index, vocabSize):
            return "token id \(token) at position \(index) is out of range: expected 0 ≤ id < \(vocabSize) (vocab_size)"
        case let .invalidPixels(path, reason):
            return "\(path): tensor 'pixel_values': \(reason)"
        case let .invalidPrompt(reason):
            return "invalid prompt: \(reason)"
        case let .doesNotFit(model, required, available, hint):
            let gib = { (b: Int) in String(format: "%.1f GiB", Double(b) / 1_073_741_824) }
            return "\(model) needs \(gib(required)) of weights and activations, but only \(gib(available)) of memory is available; \(hint)"
        case let .unknownModel(name, presets):
            return "'\(name)' is neither a checkpoint directory nor a preset (presets: \(presets.joined(separator: ", ")))"
        }
    }

    public var errorDescription: String? { description }
}
