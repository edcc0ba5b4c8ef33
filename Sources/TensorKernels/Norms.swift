import Foundation

/// LLaMA's RMSNorm over the last dimension: `x / sqrt(mean(x²) + eps) · weight`.
/// Accumulates in fp32 as the reference does. `x`: `[rows, dim]`, `weight`: `[dim]`.
public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
    let dim = x.lastDim
    precondition(weight.count == dim, "rmsNorm: weight \(weight.shape) vs width \(dim)")
    var y = x
    y.storage.withUnsafeMutableBufferPointer { yp in
        weight.storage.withUnsafeBufferPointer { wp in
            let out = UncheckedSendable(yp.baseAddress!), w = UncheckedSendable(wp.baseAddress!)
            parallelChunks(x.rows, minimumPerWorker: max(1, 16_384 / max(1, dim))) { rows in
                for r in rows {
                    let row = out.value + r * dim
                    var ss: Float = 0
                    for i in 0..<dim { ss += row[i] * row[i] }
                    let inv = 1 / (ss / Float(dim) + eps).squareRoot()
                    for i in 0..<dim { row[i] = row[i] * inv * w.value[i] }
                }
            }
        }
    }
    return y
}

/// LayerNorm over the last dimension: `(x − mean) / sqrt(var + eps) · weight + bias`
/// (biased variance, as `torch.nn.LayerNorm`). `x`: `[rows, dim]`.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
    let dim = x.lastDim
    precondition(weight.count == dim && bias.count == dim, "layerNorm: params vs width \(dim)")
    var y = x
    y.storage.withUnsafeMutableBufferPointer { yp in
        weight.storage.withUnsafeBufferPointer { wp in
            bias.storage.withUnsafeBufferPointer { bp in
                for r in 0..<x.rows {
                    let row = yp.baseAddress! + r * dim
                    var sum: Float = 0
                    for i in 0..<dim { sum += row[i] }
                    let mean = sum / Float(dim)
                    var sq: Float = 0
                    for i in 0..<dim { let d = row[i] - mean; sq += d * d }
                    let inv = 1 / (sq / Float(dim) + eps).squareRoot()
                    for i in 0..<dim { row[i] = (row[i] - mean) * inv * wp[i] + bp[i] }
                }
            }
        }
    }
    return y
}
