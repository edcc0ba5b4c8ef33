import Dispatch
import TensorKernels

/// Deterministic synthetic weights: the same `(seed, name)` always gives the same tensor, on
/// any machine, whether the whole model or one block is built.
///
/// Values are uniform with the standard deviation of the reference's `initializer_range`
/// (0.02); norm scales are 1 and biases 0, as a freshly initialised model has. Latency does
/// not depend on the values, only on real compute at the real shapes.
public struct SyntheticWeights: WeightSource {
    public let seed: UInt64
    /// Standard deviation of the uniform weights.
    public let std: Float

    public init(seed: UInt64, std: Float = 0.02) {
        self.seed = seed
        self.std = std
    }

    public func contains(_ name: String) -> Bool { true }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        let count = shape.reduce(1, *)
        if name.hasSuffix(".bias") { return Tensor(zeros: shape) }
        if Self.isNormScale(name) {
            return Tensor(shape: shape, storage: [Float](repeating: 1, count: count))
        }
        let base = seed ^ fnv1a(name)
        let amplitude = std * 3.0.squareRoot().float
        // Fixed-size chunks, each with its own stream, so the values do not depend on how
        // many threads fill them. Weights live long and decode streams them: huge pages.
        let chunk = 1 << 16
        let chunks = (count + chunk - 1) / chunk
        let values = HugePages.array(count: count) { (p: UnsafeMutableBufferPointer<Float>) in
            let out = UnsafeMutableSendablePointer(p.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                var mixer = SplitMix64(seed: base &+ UInt64(c) &* 0xD1B5_4A32_D192_ED03)
                var state = mixer.next()
                let start = c * chunk, end = min(count, start + chunk)
                for i in start..<end {
                    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    let bits = UInt32(truncatingIfNeeded: (state ^ (state >> 22)) >> 22) & 0xFF_FFFF
                    out.pointer[i] = (Float(bits) * (2.0 / 16_777_216.0) - 1) * amplitude
                }
            }
        }
        return Tensor(shape: shape, storage: values)
    }

    /// LayerNorm/RMSNorm scales (`…norm.weight`, `…layer_norm1.weight`, `…pre_layrnorm.weight`).
    static func isNormScale(_ name: String) -> Bool {
        name.hasSuffix(".weight") && (name.contains("norm") || name.contains("layrnorm"))
    }
}

/// A pointer that may cross into `concurrentPerform` (each iteration writes its own range).
struct UnsafeMutableSendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { pointer = p }
}

/// FNV-1a, a stable string hash (Swift's `Hasher` is randomised per process).
func fnv1a(_ s: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}


private extension Double { var float: Float { Float(self) } }
