import Foundation

/// Plain scalar versions of every fast kernel, written for obviousness, not speed.
///
/// Tests run each fast kernel and its reference on the same random inputs and compare. The
/// references accumulate in Double so they are a stricter yardstick than the fp32 kernels.
public enum Reference {
    /// `y[r, o] = Σ_i x[r, i] · w[o, i] + b[o]`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let inF = weight.shape[1], outF = weight.shape[0], rows = x.rows
        var y = [Float](repeating: 0, count: rows * outF)
        for r in 0..<rows {
            for o in 0..<outF {
                var acc = Double(bias?.storage[o] ?? 0)
                for i in 0..<inF { acc += Double(x.storage[r * inF + i]) * Double(weight.storage[o * inF + i]) }
                y[r * outF + o] = Float(acc)
            }
        }
        var shape = x.shape
        shape[shape.count - 1] = outF
        return Tensor(shape: shape, storage: y)
    }

    public static func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float) -> Tensor {
        let d = x.lastDim
        var y = x.storage
        for r in 0..<x.rows {
            var ss = 0.0
            for i in 0..<d { ss += Double(x.storage[r * d + i]) * Double(x.storage[r * d + i]) }
            let inv = 1 / (ss / Double(d) + Double(eps)).squareRoot()
            for i in 0..<d { y[r * d + i] = Float(Double(x.storage[r * d + i]) * inv * Double(weight.storage[i])) }
        }
        return Tensor(shape: x.shape, storage: y)
    }

    public static func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor, eps: Float) -> Tensor {
        let d = x.lastDim
        var y = x.storage
        for r in 0..<x.rows {
            let row = (0..<d).map { Double(x.storage[r * d + $0]) }
            let mean = row.reduce(0, +) / Double(d)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
            for i in 0..<d {
                y[r * d + i] = Float((row[i] - mean) / (variance + Double(eps)).squareRoot()
                    * Double(weight.storage[i]) + Double(bias.storage[i]))
            }
        }
        return Tensor(shape: x.shape, storage: y)
    }

    public static func softmax(_ x: Tensor) -> Tensor {
        let n = x.lastDim
        var y = x.storage
        for r in 0..<x.rows {
            let row = (0..<n).map { Double(x.storage[r * n + $0]) }
            let m = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            for i in 0..<n { y[r * n + i] = Float(e[i] / s) }
        }
        return Tensor(shape: x.shape, storage: y)
    }

    public static func activation(_ a: Activation, _ x: Tensor) -> Tensor {
        let f: (Double) -> Double
        switch a {
        case .silu: f = { $0 / (1 + Foundation.exp(-$0)) }
        case .gelu: f = { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }
        case .geluTanh: f = { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }
        case .quickGelu: f = { $0 / (1 + Foundation.exp(-1.702 * $0)) }
        case .relu: f = { max(0, $0) }
        }
        return Tensor(shape: x.shape, storage: x.storage.map { Float(f(Double($0))) })
    }

    /// Rotate-half RoPE, one element pair at a time.
    public static func rope(_ x: Tensor, heads: Int, headDim: Int, positions: [Int], theta: Double) -> Tensor {
        var y = x.storage
        let half = headDim / 2, width = heads * headDim
        for (t, pos) in positions.enumerated() {
            for h in 0..<heads {
                for i in 0..<half {
                    let angle = Double(pos) / Foundation.pow(theta, Double(2 * i) / Double(headDim))
                    let a = Double(x.storage[t * width + h * headDim + i])
                    let b = Double(x.storage[t * width + h * headDim + i + half])
                    y[t * width + h * headDim + i] = Float(a * Foundation.cos(angle) - b * Foundation.sin(angle))
                    y[t * width + h * headDim + i + half] = Float(b * Foundation.cos(angle) + a * Foundation.sin(angle))
                }
            }
        }
        return Tensor(shape: x.shape, storage: y)
    }

    /// Attention with explicit loops: q `[T, H·D]`, k and v `[C, Hkv·D]` (dense).
    public static func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, kvHeads: Int,
                                 headDim: Int, causalOffset: Int?) -> Tensor {
        let t = q.rows, c = k.rows, width = heads * headDim, kvWidth = kvHeads * headDim
        var out = [Float](repeating: 0, count: t * width)
        for h in 0..<heads {
            let g = h / (heads / kvHeads)
            for i in 0..<t {
                let visible = causalOffset.map { min(c, $0 + i + 1) } ?? c
                var scores = [Double](repeating: 0, count: visible)
                for j in 0..<visible {
                    var dot = 0.0
                    for d in 0..<headDim {
                        dot += Double(q.storage[i * width + h * headDim + d]) * Double(k.storage[j * kvWidth + g * headDim + d])
                    }
                    scores[j] = dot / Double(headDim).squareRoot()
                }
                let m = scores.max() ?? 0
                let e = scores.map { Foundation.exp($0 - m) }
                let s = e.reduce(0, +)
                for d in 0..<headDim {
                    var acc = 0.0
                    for j in 0..<visible { acc += e[j] / s * Double(v.storage[j * kvWidth + g * headDim + d]) }
                    out[i * width + h * headDim + d] = Float(acc)
                }
            }
        }
        return Tensor(shape: [t, width], storage: out)
    }
}

extension Reference {
    /// The sliced linears by explicit gathering: copy the chosen rows/columns, then `linear`.
    public static func linear(_ x: Tensor, weight: Tensor, rows: [Range<Int>]) -> Tensor {
        let inF = weight.shape[1]
        let picked = rows.flatMap { r in r.flatMap { o in weight.storage[(o * inF)..<((o + 1) * inF)] } }
        return linear(x, weight: Tensor(shape: [picked.count / max(1, inF), inF], storage: picked), bias: nil)
    }

    public static func linear(_ x: Tensor, weight: Tensor, columns: [Range<Int>]) -> Tensor {
        let inF = weight.shape[1], outF = weight.shape[0]
        let cols = columns.flatMap { Array($0) }
        let picked = (0..<outF).flatMap { o in cols.map { weight.storage[o * inF + $0] } }
        return linear(x, weight: Tensor(shape: [outF, cols.count], storage: picked), bias: nil)
    }
}
