import CWeightKernels
import Dispatch

// Linear layers on `WeightMatrix` weights. fp32 weights take the `Tensor` paths unchanged
// (`gemvF32` for one token, OpenBLAS sgemm for many). bf16 and Q8_0 weights:
// - one token (decode): `CWeightKernels` GEMV that streams each stored weight once, widening
//   in registers, rows split across `BLAS.threads` workers (Q8_0: x is quantized to Q8_0
//   blocks first and the dot products are integer, as llama.cpp does);
// - many tokens (prefill): on CPUs with AMX, bf16 tiles (`AMXPrefill.swift`, activations
//   rounded to bf16); otherwise, or with `PrefillKernel.widen`, a panel of weight rows is
//   widened into reused scratch, then `cblas_sgemm` multiplies it; the panel's widening costs
//   one pass over its weights.

/// `y = x · Wᵀ + b` for any stored format. x: `[…, in]`, weight: `[out, in]` → `[…, out]`.
public func linear(_ x: Tensor, weight: WeightMatrix, bias: Tensor? = nil) -> Tensor {
    if case .f32(let w) = weight.storage { return linear(x, weight: w, bias: bias) }
    var outShape = x.shape
    outShape[outShape.count - 1] = weight.rows
    return linear(x, weight: weight, rows: [0..<weight.rows], bias: bias).reshaped(outShape)
}

/// `y = x · W[rows]ᵀ`: only output features in `rows` (ascending, disjoint), concatenated.
/// x: `[tokens, in]`, weight: `[out, in]` → `[tokens, Σ|rows|]`.
public func linear(_ x: Tensor, weight: WeightMatrix, rows: [Range<Int>], bias: Tensor? = nil) -> Tensor {
    if case .f32(let w) = weight.storage { return linear(x, weight: w, rows: rows, bias: bias) }
    let inF = weight.cols, tokens = x.rows, width = rows.reduce(0) { $0 + $1.count }
    precondition(x.lastDim == inF, "linear(rows:): input width \(x.lastDim) ≠ \(inF)")
    var y = Tensor(zeros: [tokens, width])
    y.storage.withUnsafeMutableBufferPointer { yp in
        x.storage.withUnsafeBufferPointer { xp in
            var column = 0
            for r in rows where !r.isEmpty {
                if let bias {
                    for t in 0..<tokens {
                        for j in 0..<r.count { yp[t * width + column + j] = bias.storage[r.lowerBound + j] }
                    }
                }
                let beta: Float = bias == nil ? 0 : 1
                if tokens == 1 {
                    weight.gemv(rows: r, columns: 0..<inF, x: xp.baseAddress!, y: yp.baseAddress! + column, beta: beta)
                } else {
                    weight.gemm(tokens: tokens, x: xp.baseAddress!, lda: inF, rows: r, columns: 0..<inF,
                                c: yp.baseAddress! + column, ldc: width, beta: beta)
                }
                column += r.count
            }
        }
    }
    return y
}

/// `y = x · W[:, columns]ᵀ`, `x` holding only the input features in `columns` (ascending,
/// disjoint), concatenated. x: `[tokens, Σ|columns|]`, weight: `[out, in]` → `[tokens, out]`.
public func linear(_ x: Tensor, weight: WeightMatrix, columns: [Range<Int>], bias: Tensor? = nil) -> Tensor {
    if case .f32(let w) = weight.storage { return linear(x, weight: w, columns: columns, bias: bias) }
    let outF = weight.rows, tokens = x.rows, width = x.lastDim
    precondition(width == columns.reduce(0) { $0 + $1.count }, "linear(columns:): input width \(width)")
    var y = Tensor(zeros: [tokens, outF])
    y.storage.withUnsafeMutableBufferPointer { yp in
        if let bias {
            for t in 0..<tokens { for o in 0..<outF { yp[t * outF + o] = bias.storage[o] } }
        }
        x.storage.withUnsafeBufferPointer { xp in
            var offset = 0, first = bias == nil
            for r in columns where !r.isEmpty {
                if tokens == 1 {
                    weight.gemv(rows: 0..<outF, columns: r, x: xp.baseAddress! + offset, y: yp.baseAddress!, beta: first ? 0 : 1)
                } else {
                    weight.gemm(tokens: tokens, x: xp.baseAddress! + offset, lda: width, rows: 0..<outF, columns: r,
                                c: yp.baseAddress!, ldc: outF, beta: first ? 0 : 1)
                }
                first = false
                offset += r.count
            }
        }
    }
    return y
}

extension WeightMatrix {
    /// `y[i] = beta · y[i] + Σ_j W[rows.lowerBound + i, columns.lowerBound + j] · x[j]`, rows
    /// split across `BLAS.threads` workers; each stored weight is read once.
    func gemv(rows: Range<Int>, columns: Range<Int>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, beta: Float) {
        let n = columns.count, cols = self.cols
        let xs = UncheckedSendable(x), ys = UncheckedSendable(y)
        let perWorker = max(8, 32_768 / max(1, n))
        switch storage {
        case .f32(let t):
            t.storage.withUnsafeBufferPointer { w in
                gemvF32(m: rows.count, n: n, a: w.baseAddress! + rows.lowerBound * cols + columns.lowerBound, lda: cols,
                        x: x, y: y, beta: beta)
            }
        case .bf16(let bits):
            bits.withUnsafeBufferPointer { w in
                let ws = UncheckedSendable(w.baseAddress! + rows.lowerBound * cols + columns.lowerBound)
                balancedChunks(rows.count, minimumPerChunk: perWorker, alignment: 8) { part in
                    wk_bf16_gemv(ws.value + part.lowerBound * cols, cols, xs.value, ys.value + part.lowerBound,
                                 part.count, n, beta)
                }
            }
        case .q8_0(let quants, let scales):
            let stride = q8Stride
            guard columns.lowerBound % 32 == 0 else {
                // A range inside a block (rare: H slicing at odd widths): widen each row.
                balancedChunks(rows.count, minimumPerChunk: perWorker) { part in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { row in
                        for i in part {
                            widenRow(rows.lowerBound + i, columns: columns, into: row.baseAddress!)
                            var acc: Float = 0
                            for j in 0..<n { acc += row[j] * xs.value[j] }
                            ys.value[i] = beta == 0 ? acc : beta * ys.value[i] + acc
                        }
                    }
                }
                return
            }
            // Q8_0 × Q8_0, as llama.cpp computes Q8_0 weights: x quantized once per call into
            // blocks of 32, integer dot products per block (see `wk_q8_0_q8_gemv`).
            let blocks = (n + 31) / 32
            withUnsafeTemporaryAllocation(of: Int8.self, capacity: blocks * 32) { xq in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: blocks) { xScales in
                    wk_quantize_q8_0(x, n, xq.baseAddress!, xScales.baseAddress!)
                    let xqs = UncheckedSendable(UnsafePointer(xq.baseAddress!))
                    let xss = UncheckedSendable(UnsafePointer(xScales.baseAddress!))
                    quants.withUnsafeBufferPointer { q in
                        scales.withUnsafeBufferPointer { s in
                            let qs = UncheckedSendable(q.baseAddress!), ss = UncheckedSendable(s.baseAddress!)
                            balancedChunks(rows.count, minimumPerChunk: perWorker, alignment: 4) { part in
                                let first = rows.lowerBound + part.lowerBound
                                wk_q8_0_q8_gemv(qs.value + first * stride + columns.lowerBound,
                                                ss.value + (first * stride + columns.lowerBound) / 32, stride,
                                                xqs.value, xss.value, ys.value + part.lowerBound, part.count, n, beta)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `C[tokens, |rows|] = x[tokens, |columns|] · W[rows, columns]ᵀ + beta · C`, through
    /// fp32 panels of W widened into scratch and `cblas_sgemm`.
    func gemm(tokens: Int, x: UnsafePointer<Float>, lda: Int, rows: Range<Int>, columns: Range<Int>,
              c: UnsafeMutablePointer<Float>, ldc: Int, beta: Float) {
        let n = columns.count
        if PrefillKernel.current == .amx {
            let cs = UncheckedSendable(c)
            switch storage {
            case .bf16(let bits):
                bits.withUnsafeBufferPointer { w in
                    let ws = UncheckedSendable(w.baseAddress! + rows.lowerBound * cols + columns.lowerBound)
                    amxGemm(tokens: tokens, x: x, lda: lda, n: rows.count, k: n, panels: wk_amx_panels_size) { a, kpad, part, panels in
                        wk_amx_bf16_gemm(a, tokens, kpad, ws.value + part.lowerBound * cols, cols, part.count, n,
                                         cs.value + part.lowerBound, ldc, beta, panels)
                    }
                }
                return
            case .q8_0(let quants, let scales) where columns.lowerBound % 32 == 0:
                let stride = q8Stride
                quants.withUnsafeBufferPointer { q in
                    scales.withUnsafeBufferPointer { sc in
                        let first = rows.lowerBound * stride + columns.lowerBound
                        let qs = UncheckedSendable(q.baseAddress! + first), ss = UncheckedSendable(sc.baseAddress! + first / 32)
                        amxGemm(tokens: tokens, x: x, lda: lda, n: rows.count, k: n, panels: wk_amx_q8_0_panels_size) { a, kpad, part, panels in
                            wk_amx_q8_0_gemm(a, tokens, kpad, qs.value + part.lowerBound * stride,
                                             ss.value + part.lowerBound * stride / 32, stride, part.count, n,
                                             cs.value + part.lowerBound, ldc, beta, panels)
                        }
                    }
                }
                return
            default:
                break
            }
        }
        // ≈ 64 MB of fp32 per panel (3 panels for a 7B MLP weight): few sgemm calls, so the
        // activations are packed few times and the widening (our threads) and the GEMM
        // (OpenBLAS's threads) trade the cores rarely; 16 MB panels measured slower on 2
        // threads. Still reused scratch, not a second copy of the weight.
        let panel = max(16, min(rows.count, (1 << 24) / max(1, n)))
        Scratch.shared.withBuffer(count: panel * n) { buffer in
            let b = UncheckedSendable(buffer)
            var start = rows.lowerBound
            while start < rows.upperBound {
                let p = min(panel, rows.upperBound - start), first = start
                parallelChunks(p, minimumPerWorker: max(1, 65_536 / max(1, n))) { part in
                    for i in part { widenRow(first + i, columns: columns, into: b.value + i * n) }
                }
                BLAS.sgemm(m: tokens, n: p, k: n, a: x, lda: lda, b: buffer, ldb: n, transposeB: true,
                           c: c + (start - rows.lowerBound), ldc: ldc, beta: beta)
                start += p
            }
        }
    }
}

/// Like `parallelChunks`, but cuts `0..<count` into four chunks per worker that the workers
/// take as they free up: on a shared machine a descheduled worker then delays a quarter of
/// its share, not all of it (a decode GEMV is over in milliseconds, so one late half doubles it).
/// Interior chunk boundaries fall on multiples of `alignment`, the rows a kernel handles per
/// pass, so only the last chunk has leftover rows.
@inline(__always)
func balancedChunks(_ count: Int, minimumPerChunk: Int, alignment: Int = 1, _ body: (Range<Int>) -> Void) {
    let threads = BLAS.threads
    let chunks = min(threads * 4, count / max(1, minimumPerChunk))
    guard threads > 1, chunks > 1 else {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            func edge(_ k: Int) -> Int { k == chunks ? count : count * k / chunks / alignment * alignment }
            box.value(edge(i)..<edge(i + 1))
        }
    }
}
