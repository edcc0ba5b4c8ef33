import Foundation

/// The activation functions LLaVA-1.5's parts use, named as Hugging Face configs name them
/// (`hidden_act`, `projector_hidden_act`).
public enum Activation: String, Sendable, Codable, CaseIterable {
    /// `x · σ(x)`: LLaMA's SwiGLU gate (`silu`, alias `swish`).
    case silu
    /// Exact GELU, `0.5·x·(1 + erf(x/√2))` (`gelu`): LLaVA's projector.
    case gelu
    /// Tanh-approximated GELU (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    case geluTanh = "gelu_pytorch_tanh"
    /// `x · σ(1.702·x)` (`quick_gelu`): OpenAI CLIP's MLP.
    case quickGelu = "quick_gelu"
    /// `max(0, x)`.
    case relu

    /// Maps a Hugging Face `ACT2FN` key to an activation; nil when the engine has none.
    public init?(huggingFaceName name: String) {
        switch name {
        case "silu", "swish": self = .silu
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "quick_gelu": self = .quickGelu
        case "relu": self = .relu
        default: return nil
        }
    }

    /// Names accepted by `init(huggingFaceName:)`, for error messages.
    public static let huggingFaceNames = ["silu", "swish", "gelu", "gelu_new", "gelu_pytorch_tanh",
                                          "gelu_fast", "quick_gelu", "relu"]

    /// Applies the activation to every element in place.
    public func apply(_ x: inout Tensor) {
        x.storage.withUnsafeMutableBufferPointer { buffer in
            let base = UncheckedSendable(buffer.baseAddress!)
            parallelChunks(buffer.count) { range in
                apply(UnsafeMutableBufferPointer(rebasing: UnsafeMutableBufferPointer(start: base.value, count: range.upperBound)[range]))
            }
        }
    }

    /// Applies the activation to a contiguous run of values.
    private func apply(_ p: UnsafeMutableBufferPointer<Float>) {
        do {
            switch self {
            case .silu: for i in 0..<p.count { let v = p[i]; p[i] = v / (1 + expf(-v)) }
            case .gelu: for i in 0..<p.count { let v = p[i]; p[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
            case .geluTanh:
                for i in 0..<p.count {
                    let v = p[i]
                    p[i] = 0.5 * v * (1 + tanhf(0.79788456080286536 * (v + 0.044715 * v * v * v)))
                }
            case .quickGelu: for i in 0..<p.count { let v = p[i]; p[i] = v / (1 + expf(-1.702 * v)) }
            case .relu: for i in 0..<p.count { p[i] = max(0, p[i]) }
            }
        }
    }

    /// Returns the activated copy.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        apply(&y)
        return y
    }
}
