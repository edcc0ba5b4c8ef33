import TensorKernels

/// This machine's fp32 GEMM throughput through the same OpenBLAS the engine uses: the
/// yardstick every achieved GFLOP/s is divided by, measured in the same run.
public enum SgemmPeak {
    /// GFLOP/s of `cblas_sgemm` on `n × n × n` (row-major, B transposed as the engine calls it)
    /// with `threads` threads, one sample per repeat after a warm-up call.
    public static func measure(n: Int = 2048, threads: Int, repeats: Int) -> Summary {
        BLAS.setThreads(threads)
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        let flops = 2 * Double(n) * Double(n) * Double(n)
        var samples: [Double] = []
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    for i in 0...repeats {
                        let s = secondsTaken {
                            BLAS.sgemm(m: n, n: n, k: n, a: ap.baseAddress!, b: bp.baseAddress!,
                                       transposeB: true, c: cp.baseAddress!)
                        }
                        if i > 0 { samples.append(flops / s / 1e9) }
                    }
                }
            }
        }
        return Summary(samples)
    }
}
