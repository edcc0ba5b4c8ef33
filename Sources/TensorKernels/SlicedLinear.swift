/// Linear layers restricted to parts of their weight, computed by GEMMs on strided sub-blocks
/// of the full weight (no copies): how AdaLLaVA-H runs a block with some heads and neurons off.

/// `y = x · W[rows]ᵀ`: only output features in `rows` (ascending, disjoint), concatenated.
/// - x: `[tokens, in]`, weight: `[out, in]` → `[tokens, Σ|rows|]`
public func linear(_ x: Tensor, weight: Tensor, rows: [Range<Int>], bias: Tensor? = nil) -> Tensor {
    let inF = weight.shape[1], tokens = x.rows
    let width = rows.reduce(0) { $0 + $1.count }
    precondition(x.lastDim == inF, "linear(rows:): input width \(x.lastDim) ≠ \(inF)")
    var y = Tensor(zeros: [tokens, width])
    y.storage.withUnsafeMutableBufferPointer { yp in
        x.storage.withUnsafeBufferPointer { xp in
            weight.storage.withUnsafeBufferPointer { wp in
                var column = 0
                for r in rows where !r.isEmpty {
                    if let bias {
                        for t in 0..<tokens {
                            for j in 0..<r.count { yp[t * width + column + j] = bias.storage[r.lowerBound + j] }
                        }
                    }
                    // Rows r of W are one contiguous [|r|, in] block: C columns column..<column+|r|.
                    if tokens == 1 {
                        gemvF32(m: r.count, n: inF, a: wp.baseAddress! + r.lowerBound * inF, x: xp.baseAddress!,
                                y: yp.baseAddress! + column, beta: bias == nil ? 0 : 1)
                    } else {
                        BLAS.sgemm(m: tokens, n: r.count, k: inF, a: xp.baseAddress!, b: wp.baseAddress! + r.lowerBound * inF,
                                   transposeB: true, c: yp.baseAddress! + column, ldc: width, beta: bias == nil ? 0 : 1)
                    }
                    column += r.count
                }
            }
        }
    }
    return y
}

/// `y = x · W[:, columns]ᵀ`, where `x` holds only the input features in `columns` (ascending,
/// disjoint), concatenated: the output projection after a sliced layer.
/// - x: `[tokens, Σ|columns|]`, weight: `[out, in]` → `[tokens, out]`
public func linear(_ x: Tensor, weight: Tensor, columns: [Range<Int>], bias: Tensor? = nil) -> Tensor {
    let inF = weight.shape[1], outF = weight.shape[0], tokens = x.rows, width = x.lastDim
    precondition(width == columns.reduce(0) { $0 + $1.count }, "linear(columns:): input width \(width)")
    var y = Tensor(zeros: [tokens, outF])
    y.storage.withUnsafeMutableBufferPointer { yp in
        if let bias {
            for t in 0..<tokens { for o in 0..<outF { yp[t * outF + o] = bias.storage[o] } }
        }
        x.storage.withUnsafeBufferPointer { xp in
            weight.storage.withUnsafeBufferPointer { wp in
                var offset = 0, first = bias == nil
                for r in columns where !r.isEmpty {
                    // W[:, r] is a strided [out, |r|] view (leading dimension in); accumulate.
                    if tokens == 1 {
                        gemvF32(m: outF, n: r.count, a: wp.baseAddress! + r.lowerBound, lda: inF,
                                x: xp.baseAddress! + offset, y: yp.baseAddress!, beta: first ? 0 : 1)
                    } else {
                        BLAS.sgemm(m: tokens, n: outF, k: r.count, a: xp.baseAddress! + offset, lda: width,
                                   b: wp.baseAddress! + r.lowerBound, ldb: inF, transposeB: true,
                                   c: yp.baseAddress!, beta: first ? 0 : 1)
                    }
                    first = false
                    offset += r.count
                }
            }
        }
    }
    return y
}
