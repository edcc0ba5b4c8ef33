import TensorKernels

/// This machine's memory read bandwidth: the yardstick for decode, which streams every weight
/// once per token. Measured in the same run as what it is compared with.
///
/// The probe is OpenBLAS `sgemv` over a matrix far larger than the caches: the same streaming
/// access a decode step makes, through the same library (a plain summing loop reached only
/// about half of it here: ~17 GB/s vs ~28 GB/s on 2 threads), from the same kind of pages.
public enum StreamBandwidth {
    /// GB/s of reading a `megabytes`-MB fp32 matrix once (`y = A·x`, A `[rows, 4096]`) with
    /// `threads` BLAS threads, one sample per repeat after a warm-up pass.
    public static func measure(megabytes: Int = 512, threads: Int, repeats: Int) -> Summary {
        BLAS.setThreads(threads)
        let columns = 4096, rows = max(1, megabytes * 1_048_576 / 4 / columns)
        // In the same 2 MB pages as the weights it is compared with (`HugePages`).
        let a = HugePages.array(count: rows * columns) { (p: UnsafeMutableBufferPointer<Float>) in p.initialize(repeating: 0.5) }
        let x = [Float](repeating: 1, count: columns)
        var y = [Float](repeating: 0, count: rows)
        var samples: [Double] = []
        a.withUnsafeBufferPointer { ap in
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    for i in 0...repeats {
                        let s = secondsTaken {
                            BLAS.sgemv(m: rows, n: columns, a: ap.baseAddress!, x: xp.baseAddress!, y: yp.baseAddress!)
                        }
                        if i > 0 { samples.append(Double(rows * columns * 4) / s / 1e9) }
                    }
                }
            }
        }
        precondition(y[0] == Float(columns) * 0.5, "bandwidth probe computed the wrong sum")
        return Summary(samples)
    }
}
