import CGSL
import Foundation

/// Repeats a measurement until its median is stable: a warm-up, then timed repeats until the
/// 95% confidence interval of the median is narrower than `ciTarget` of it (relative
/// half-width), with at least `minRepeats` and at most `maxRepeats` repeats, and no new repeat
/// started after `capSeconds` once `minRepeats` are in.
public struct RepeatPolicy: Sendable, Equatable {
    public var ciTarget: Double
    public var minRepeats: Int
    public var maxRepeats: Int
    public var capSeconds: Double

    public init(ciTarget: Double, minRepeats: Int, maxRepeats: Int, capSeconds: Double) {
        self.ciTarget = ciTarget; self.minRepeats = minRepeats; self.maxRepeats = maxRepeats; self.capSeconds = capSeconds
    }

    /// Times `body` (ms per call). Bodies faster than 2 ms are looped inside one sample so the
    /// clock's resolution and call overhead do not dominate. Returns nil when `stop()` says so
    /// before `minRepeats` are in (the point is then not stored).
    public func measure(stop: () -> Bool, _ body: () -> Void) -> SampleStats? {
        let start = DispatchTime.now().uptimeNanoseconds
        let warm = secondsTaken(body)
        let inner = warm >= 0.002 ? 1 : min(10_000, max(1, Int((0.002 / max(warm, 1e-7)).rounded(.up))))
        if inner > 1 { for _ in 0..<inner { body() } }   // warm the caches at the looped rate too
        var times: [Double] = []
        while times.count < maxRepeats {
            if stop() { return nil }
            let s = secondsTaken { for _ in 0..<inner { body() } }
            times.append(s * 1000 / Double(inner))
            guard times.count >= minRepeats else { continue }
            if Self.medianCIHalfWidth(times) <= ciTarget * Self.stats(times).medianMs { break }
            if Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 >= capSeconds { break }
        }
        return Self.stats(times)
    }

    /// Min, median, mean, standard deviation, p90, p99 (GSL's quantiles of sorted data:
    /// linear interpolation between order statistics).
    public static func stats(_ samples: [Double]) -> SampleStats {
        precondition(!samples.isEmpty, "statistics of no samples")
        let sorted = samples.sorted()
        return sorted.withUnsafeBufferPointer { p in
            let base = p.baseAddress!, n = p.count
            return SampleStats(minMs: sorted[0], medianMs: gsl_stats_median_from_sorted_data(base, 1, n),
                               meanMs: gsl_stats_mean(base, 1, n), stdMs: n > 1 ? gsl_stats_sd(base, 1, n) : 0,
                               p90Ms: gsl_stats_quantile_from_sorted_data(base, 1, n, 0.90),
                               p99Ms: gsl_stats_quantile_from_sorted_data(base, 1, n, 0.99), n: n)
        }
    }

    /// Half-width of the distribution-free 95% CI of the median: the order statistics
    /// `x(j)`, `x(k)` with `j, k = n/2 ∓ 1.96·√n/2` (binomial normal approximation), clamped to
    /// the sample. With 5 or fewer samples this is half the whole range — conservative.
    public static func medianCIHalfWidth(_ samples: [Double]) -> Double {
        let sorted = samples.sorted(), n = Double(sorted.count)
        let spread = 1.96 * n.squareRoot() / 2
        let j = max(1, Int((n / 2 - spread).rounded(.down))), k = min(sorted.count, Int((n / 2 + spread).rounded(.up)) + 1)
        return (sorted[k - 1] - sorted[j - 1]) / 2
    }
}
