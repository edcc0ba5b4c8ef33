import Foundation

/// LLaMA rotary position embedding in the Hugging Face ("rotate_half") layout: dimension `i`
/// of each head is paired with dimension `i + headDim/2`, rotated by `pos · θ^(−2i/headDim)`.
public struct RotaryEmbedding: Sendable {
    public let headDim: Int
    public let theta: Double
    /// `[headDim/2]` inverse frequencies, computed in fp32 as the reference does.
    public let inverseFrequencies: [Float]

    public init(headDim: Int, theta: Double) {
        precondition(headDim % 2 == 0, "RoPE needs an even head dimension, got \(headDim)")
        self.headDim = headDim
        self.theta = theta
        inverseFrequencies = (0..<(headDim / 2)).map { i in
            1 / Float(pow(theta, Double(2 * i) / Double(headDim)))
        }
    }

    /// Rotates `x` (`[tokens, heads · headDim]`) in place; token `t` sits at `positions[t]`.
    public func apply(_ x: inout Tensor, heads: Int, positions: [Int]) {
        let half = headDim / 2, width = heads * headDim
        precondition(x.lastDim == width && x.rows == positions.count, "RoPE: shape \(x.shape)")
        var cosines = [Float](repeating: 0, count: half), sines = cosines
        x.storage.withUnsafeMutableBufferPointer { p in
            for (t, pos) in positions.enumerated() {
                for i in 0..<half {
                    // The angle is an fp32 product, as in the reference's fp32 matmul.
                    let angle = Float(pos) * inverseFrequencies[i]
                    cosines[i] = Float(cos(Double(angle)))
                    sines[i] = Float(sin(Double(angle)))
                }
                for h in 0..<heads {
                    let head = p.baseAddress! + t * width + h * headDim
                    for i in 0..<half {
                        let a = head[i], b = head[i + half]
                        head[i] = a * cosines[i] - b * sines[i]
                        head[i + half] = b * cosines[i] + a * sines[i]
                    }
                }
            }
        }
    }
}
