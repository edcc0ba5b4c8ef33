/// `y = x · Wᵀ + b`: the fully connected layer every projection in LLaVA is made of.
///
/// - x: `[rows, inFeatures]`
/// - weight: `[outFeatures, inFeatures]` (PyTorch `nn.Linear` layout, used as stored)
/// - bias: `[outFeatures]` or nil
/// - returns `[rows, outFeatures]` (leading dimensions of `x` kept)
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    let inF = weight.shape[1], outF = weight.shape[0]
    precondition(x.lastDim == inF, "linear: input width \(x.lastDim) ≠ weight in-features \(inF)")
    let rows = x.rows
    var outShape = x.shape
    outShape[outShape.count - 1] = outF
    var y = Tensor(zeros: outShape)
    y.storage.withUnsafeMutableBufferPointer { yp in
        if let bias {
            // Seed C with the bias so the GEMM accumulates onto it (beta = 1): no second pass.
            bias.storage.withUnsafeBufferPointer { bp in
                for r in 0..<rows {
                    (yp.baseAddress! + r * outF).update(from: bp.baseAddress!, count: outF)
                }
            }
        }
        x.storage.withUnsafeBufferPointer { xp in
            weight.storage.withUnsafeBufferPointer { wp in
                if rows == 1 {
                    // One token (decode): y = W · x streams W once.
                    gemvF32(m: outF, n: inF, a: wp.baseAddress!, x: xp.baseAddress!, y: yp.baseAddress!,
                            beta: bias == nil ? 0 : 1)
                } else {
                    BLAS.sgemm(m: rows, n: outF, k: inF, a: xp.baseAddress!, b: wp.baseAddress!,
                               transposeB: true, c: yp.baseAddress!, beta: bias == nil ? 0 : 1)
                }
            }
        }
    }
    return y
}

/// `a + b`, elementwise, in place on `a` (residual connections).
@inline(__always)
public func addInPlace(_ a: inout Tensor, _ b: Tensor) {
    precondition(a.count == b.count, "add: \(a.shape) vs \(b.shape)")
    a.storage.withUnsafeMutableBufferPointer { ap in
        b.storage.withUnsafeBufferPointer { bp in
            let x = UncheckedSendable(ap.baseAddress!), y = UncheckedSendable(bp.baseAddress!)
            parallelChunks(ap.count, minimumPerWorker: 65_536) { r in for i in r { x.value[i] += y.value[i] } }
        }
    }
}

/// `a * b`, elementwise, in place on `a` (the SwiGLU gate product).
@inline(__always)
public func multiplyInPlace(_ a: inout Tensor, _ b: Tensor) {
    precondition(a.count == b.count, "multiply: \(a.shape) vs \(b.shape)")
    a.storage.withUnsafeMutableBufferPointer { ap in
        b.storage.withUnsafeBufferPointer { bp in
            let x = UncheckedSendable(ap.baseAddress!), y = UncheckedSendable(bp.baseAddress!)
            parallelChunks(ap.count, minimumPerWorker: 65_536) { r in for i in r { x.value[i] *= y.value[i] } }
        }
    }
}
