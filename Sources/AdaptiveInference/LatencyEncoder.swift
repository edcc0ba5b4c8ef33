import Foundation
import TensorKernels

/// Budget → latency token: the one extra prompt row through which AdaLLaVA tells the LLM how
/// much compute it may use.
///
/// What the authors' code does (Jav1Star/AdaLLaVA-X, mirror of zhuoyan-xu/AdaLLaVA; paths
/// under `src/adallava/model/`):
///
/// - `scheduler/scheduler_utils.py` `latency_quantizing(latency, prefix, total)`: rejects a
///   budget outside [0, 1], then `units = relu(floor(total · b) − prefix)` and the *encoded
///   value* `units / (total − prefix + 1)`. L: total/prefix = layers (32/16 for 7B → `k/17`);
///   H: both multiplied by `heads / scheduler_rank` (128/64 for 7B → `k/65`). This type takes
///   the encoded value, already quantised: ``KnobLayout/encodedBudget(budget:mode:)``
///   computes it (`k / (knobCount + 1)`).
/// - `scheduler/simple_scheduler.py` `SimpleScheduler_L/H.latency_encoding`: `value · 2 · π`,
///   128 frequencies `1 / 10000^(i / 128)` for `i = 0..<128` (divisor 128, not 127: the
///   unused `posemb_sincos_1d` helper in `scheduler_utils.py` divides by 127, the scheduler
///   does not), then `cat(sin, cos)` — **sin first** — → 256 values, then
///   `scheduler_up_proj = FeedForward(256, hidden, hidden)` whose `net` is
///   `Sequential(LayerNorm(256), Linear(256, hidden), GELU(), Linear(hidden, hidden))`:
///   `nn.LayerNorm` default eps **1e-5**, `nn.GELU()` default = **exact (erf)** GELU, both
///   Linears with bias.
/// - `ada_llava_llama.py`: the module is `self.scheduler` on `AdaLlavaLlamaForCausalLM`, i.e.
///   on the checkpoint *root* next to `lm_head` (not under `model.`), so the tensors are
///   `scheduler.scheduler_up_proj.net.{0,1,3}.{weight,bias}` (index 2 is the parameterless
///   GELU). L and H checkpoints use the same names; only the scheduler head's width differs.
///
/// Differences on purpose: the authors compute in the model dtype (bf16/fp16 after casting
/// the budget); here the sinusoid is evaluated in `Double` and rounded once to fp32, and the
/// MLP runs in fp32.
public struct LatencyEncoder: Sendable {
    /// Sinusoid frequencies; the embedding is `2 · frequencies` = 256 wide (sin ‖ cos).
    public static let frequencies = 128
    /// Width of ``sinusoidalEmbedding(_:)``: 256.
    public static let embeddingWidth = 2 * frequencies
    /// `nn.LayerNorm` default.
    public static let layerNormEps: Float = 1e-5
    /// `nn.GELU()` default (exact, erf).
    public static let activation: Activation = .gelu

    /// Checkpoint names (the authors' state-dict keys, relative to the checkpoint root).
    public static let normWeightName = "scheduler.scheduler_up_proj.net.0.weight"
    public static let normBiasName = "scheduler.scheduler_up_proj.net.0.bias"
    public static let upWeightName = "scheduler.scheduler_up_proj.net.1.weight"
    public static let upBiasName = "scheduler.scheduler_up_proj.net.1.bias"
    public static let outWeightName = "scheduler.scheduler_up_proj.net.3.weight"
    public static let outBiasName = "scheduler.scheduler_up_proj.net.3.bias"

    /// The LLM's hidden size: width of the latency token.
    public let hidden: Int
    /// LayerNorm(256): `[256]` each.
    public let normWeight: Tensor
    public let normBias: Tensor
    /// Linear(256 → hidden): `[hidden, 256]`, `[hidden]`.
    public let upWeight: Tensor
    public let upBias: Tensor
    /// Linear(hidden → hidden): `[hidden, hidden]`, `[hidden]`.
    public let outWeight: Tensor
    public let outBias: Tensor

    /// Builds an encoder from its six tensors, checking every shape.
    ///
    /// Throws ``AdaptiveError/invalidLayout(_:)`` for a non-positive `hidden` or a tensor whose
    /// shape is not the one ``tensorShapes(hidden:)`` lists.
    public init(hidden: Int, normWeight: Tensor, normBias: Tensor, upWeight: Tensor, upBias: Tensor,
                outWeight: Tensor, outBias: Tensor) throws {
        guard hidden > 0 else { throw AdaptiveError.invalidLayout("latency encoder hidden size must be positive, got \(hidden)") }
        let given = [normWeight, normBias, upWeight, upBias, outWeight, outBias]
        for ((name, shape), tensor) in zip(Self.tensorShapes(hidden: hidden), given) {
            try checkSchedulerTensorShape(tensor, name: name, expected: shape)
        }
        self.hidden = hidden
        self.normWeight = normWeight
        self.normBias = normBias
        self.upWeight = upWeight
        self.upBias = upBias
        self.outWeight = outWeight
        self.outBias = outBias
    }

    /// The six tensors in checkpoint order, with their shapes for a given hidden size.
    public static func tensorShapes(hidden: Int) -> [(name: String, shape: [Int])] {
        [(normWeightName, [embeddingWidth]), (normBiasName, [embeddingWidth]),
         (upWeightName, [hidden, embeddingWidth]), (upBiasName, [hidden]),
         (outWeightName, [hidden, hidden]), (outBiasName, [hidden])]
    }

    /// Loads through a closure `(name, expected shape) → tensor`, so this module does not depend
    /// on the checkpoint reader. Errors the closure throws propagate unchanged; a tensor of the
    /// wrong shape throws ``AdaptiveError/invalidLayout(_:)``.
    public static func load(hidden: Int, tensor: (String, [Int]) throws -> Tensor) throws -> LatencyEncoder {
        guard hidden > 0 else { throw AdaptiveError.invalidLayout("latency encoder hidden size must be positive, got \(hidden)") }
        let t = try tensorShapes(hidden: hidden).map { try tensor($0.name, $0.shape) }
        return try LatencyEncoder(hidden: hidden, normWeight: t[0], normBias: t[1], upWeight: t[2],
                                  upBias: t[3], outWeight: t[4], outBias: t[5])
    }

    /// The 256-d sinusoidal embedding of an encoded budget value (already quantised, in [0, 1]):
    /// `[sin(2π·v·f_0) … sin(2π·v·f_127), cos(2π·v·f_0) … cos(2π·v·f_127)]`,
    /// `f_i = 1 / 10000^(i/128)`. Evaluated in `Double`, rounded once to fp32.
    public static func sinusoidalEmbedding(_ value: Double) -> Tensor {
        precondition(value.isFinite, "latency encoder: encoded value must be finite, got \(value)")
        let scaled = value * 2 * Double.pi
        var out = [Float](repeating: 0, count: embeddingWidth)
        for i in 0..<frequencies {
            let angle = scaled * (1 / pow(10000, Double(i) / Double(frequencies)))
            out[i] = Float(sin(angle))
            out[frequencies + i] = Float(cos(angle))
        }
        return Tensor(shape: [embeddingWidth], storage: out)
    }

    /// The `[1, hidden]` latency token for an encoded value:
    /// `Linear₂(GELU(Linear₁(LayerNorm(embedding))))`.
    public func callAsFunction(_ encodedValue: Double) -> Tensor {
        let e = Self.sinusoidalEmbedding(encodedValue).reshaped([1, Self.embeddingWidth])
        var h = linear(layerNorm(e, weight: normWeight, bias: normBias, eps: Self.layerNormEps),
                       weight: upWeight, bias: upBias)
        Self.activation.apply(&h)
        return linear(h, weight: outWeight, bias: outBias)
    }
}

/// Throws ``AdaptiveError/invalidLayout(_:)`` unless `tensor` has exactly `expected` shape.
func checkSchedulerTensorShape(_ tensor: Tensor, name: String, expected: [Int]) throws {
    guard tensor.shape == expected else {
        throw AdaptiveError.invalidLayout("tensor '\(name)' has shape \(tensor.shape), expected \(expected)")
    }
}
