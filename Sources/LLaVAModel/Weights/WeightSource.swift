import TensorKernels

/// Where a model part gets its weights: a checkpoint directory or a seeded generator.
///
/// Names are canonical (the legacy llava-hf layout, see `WeightName`); a checkpoint maps
/// them to whatever layout it stores. Parts load their tensors one by one, so a profiler can
/// build a single decoder block of a 7B model without the rest.
public protocol WeightSource: Sendable {
    /// The tensor `name`, which must have `shape`; throws `missingTensor` / `shapeMismatch`.
    func tensor(_ name: String, shape: [Int]) throws -> Tensor
    /// Whether the source has `name` (for optional tensors such as a tied `lm_head`).
    func contains(_ name: String) -> Bool
    /// The 2-D weight `name` stored as `dtype`. The default converts `tensor(_:shape:)`; a
    /// checkpoint whose tensor is already in `dtype` hands its values over unconverted.
    func matrix(_ name: String, shape: [Int], dtype: WeightDType) throws -> WeightMatrix
}

extension WeightSource {
    public func matrix(_ name: String, shape: [Int], dtype: WeightDType) throws -> WeightMatrix {
        WeightMatrix(try tensor(name, shape: shape), as: dtype)
    }
}

/// Canonical tensor names, built in one place so every part asks for the same spelling.
public enum WeightName {
    public static let text = "language_model.model"
    public static let vision = "vision_tower.vision_model"
    public static let projector = "multi_modal_projector"
    public static let lmHead = "language_model.lm_head.weight"
    public static let embedTokens = "\(text).embed_tokens.weight"
    public static let finalNorm = "\(text).norm.weight"

    /// Prefix of decoder layer `i`, e.g. `language_model.model.layers.3`.
    public static func decoderLayer(_ i: Int) -> String { "\(text).layers.\(i)" }
    /// Prefix of vision encoder layer `i`.
    public static func visionLayer(_ i: Int) -> String { "\(vision).encoder.layers.\(i)" }
}

extension CheckpointWeights: WeightSource {}
