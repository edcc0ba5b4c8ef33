import CWeightKernels

/// `y[m] = A[m, n] · x[n] + beta · y` for fp32 `A` (row-major, leading dimension `lda` ≥ n):
/// the decode GEMV of fp32 weights, which must stream each weight once.
///
/// Rows go to `BLAS.threads` workers as `balancedChunks` hands them out (four chunks per
/// worker), and each chunk runs `wk_f32_gemv` (eight row streams per pass). It replaces
/// OpenBLAS's sgemv on this path: on one thread the two read memory alike
/// (`scripts/weight_gemv_bench.c`: ours 0.88-0.95 of sgemv's time), but sgemv's own two-thread
/// split reached only 0.69 of stream bandwidth in a 7B block's decode, and a descheduled
/// OpenBLAS thread holds its whole half of the step.
public func gemvF32(m: Int, n: Int, a: UnsafePointer<Float>, lda: Int? = nil,
                    x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, beta: Float = 0) {
    let ld = lda ?? n
    let ws = UncheckedSendable(a), xs = UncheckedSendable(x), ys = UncheckedSendable(y)
    balancedChunks(m, minimumPerChunk: max(8, 32_768 / max(1, n)), alignment: 8) { part in
        wk_f32_gemv(ws.value + part.lowerBound * ld, ld, xs.value, ys.value + part.lowerBound, part.count, n, beta)
    }
}
