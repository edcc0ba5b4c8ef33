import Dispatch
import TensorKernels

/// This machine's memory read bandwidth: the yardstick for decode, which streams every weight
/// once per token. Measured in the same run as what it is compared with.
public enum StreamBandwidth {
    /// GB/s of summing a `megabytes`-MB fp32 array (far larger than the caches) on `threads`
    /// threads, one sample per repeat after a warm-up pass.
    public static func measure(megabytes: Int = 512, threads: Int, repeats: Int) -> Summary {
        let count = megabytes * 1_048_576 / 4
        let data = [Float](repeating: 1, count: count)
        var samples: [Double] = []
        data.withUnsafeBufferPointer { p in
            let base = UncheckedSendable(p.baseAddress!)
            for i in 0...repeats {
                var sinks = [Float](repeating: 0, count: threads)
                let s = secondsTaken {
                    sinks.withUnsafeMutableBufferPointer { out in
                        let sink = UncheckedSendable(out.baseAddress!)
                        DispatchQueue.concurrentPerform(iterations: threads) { w in
                            let start = count * w / threads, end = count * (w + 1) / threads
                            sink.value[w] = sum(base.value + start, count: end - start)
                        }
                    }
                }
                precondition(sinks.reduce(0, +) > 0, "bandwidth probe read nothing")
                if i > 0 { samples.append(Double(count * 4) / s / 1e9) }
            }
        }
        return Summary(samples)
    }

    /// Eight independent SIMD accumulators keep the loads in flight.
    @inline(never)
    static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var acc = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 32 <= count {
            acc.0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc.1 += raw.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
            acc.2 += raw.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD8<Float>.self)
            acc.3 += raw.loadUnaligned(fromByteOffset: (i + 24) * 4, as: SIMD8<Float>.self)
            i += 32
        }
        var total = (acc.0 + acc.1 + acc.2 + acc.3).sum()
        while i < count { total += p[i]; i += 1 }
        return total
    }
}
