import TensorKernels

/// LLaVA's `mlp2x_gelu` multimodal projector (`OpName.projector`):
/// `[tokens, visionWidth] → linear_1 → act → linear_2 → [tokens, textHidden]`.
public struct Projector: Sendable {
    let weight1, weight2: Tensor
    let bias1, bias2: Tensor?
    let activation: Activation

    public static func load(from source: WeightSource, config c: LlavaConfig) throws -> Projector {
        let p = WeightName.projector, h = c.textConfig.hiddenSize
        return Projector(
            weight1: try source.tensor("\(p).linear_1.weight", shape: [h, c.projectorInputWidth]),
            weight2: try source.tensor("\(p).linear_2.weight", shape: [h, h]),
            bias1: c.multimodalProjectorBias ? try source.tensor("\(p).linear_1.bias", shape: [h]) : nil,
            bias2: c.multimodalProjectorBias ? try source.tensor("\(p).linear_2.bias", shape: [h]) : nil,
            activation: Activation(huggingFaceName: c.projectorHiddenAct) ?? .gelu)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = linear(x, weight: weight1, bias: bias1)
        activation.apply(&h)
        return linear(h, weight: weight2, bias: bias2)
    }
}
