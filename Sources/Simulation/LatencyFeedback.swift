import Contention

/// What the live engine has actually taken relative to the cost model's predictions, learned
/// from the requests that just completed: the contention-aware planner's safety margin, measured
/// online instead of assumed.
///
/// Why: the offline fit's residual margin (per-op P95 on the profiling grid) does not see what a
/// request adds on this machine — the stress child's cache and scheduler effects, the BLAS
/// threads' wake-ups after an idle gap, a sensed load the contention term under-rates. In the
/// llava-mini replays the live engine took 1.17–1.45× the prediction with the static margin
/// planning for ≈ 1.1×. A high quantile of the recent measured ÷ predicted ratios covers bias
/// and spread at once, and follows the machine as it changes.
///
/// Ratios are kept apart for requests planned at idle and under a sensed load: the two
/// differ (the contention term is where the model is weakest) and one would hide the other.
public final class LatencyFeedback: @unchecked Sendable {
    /// Ratios remembered per state (the most recent ones).
    public let window: Int
    /// The quantile of the window used as the scale (0.98 of 50 ≈ the second largest).
    public let quantile: Double
    /// Fewer ratios than this in a state: no scale, the planner keeps the fit's static margin.
    public let minimumSamples: Int
    /// Ratios older than this (seconds of replay time) are forgotten by `expire(now:)`, down to
    /// the `minimumSamples` most recent.
    ///
    /// Why: a window counted in requests only refreshes as fast as requests are admitted. In
    /// the stop-15 llava-mini replay (3800 requests) a few slow idle requests pushed the
    /// guard's floor (the window's maximum) to ≈ 1.9; the floor then rejected most idle
    /// requests, so the window took minutes to refill and 80–90% of the idle requests between
    /// 100 s and 500 s were rejected, while those admitted ran at a median 1.2× their
    /// prediction. The machine's pace drifts over minutes (that run's idle median moved
    /// 1.03 → 1.23 → 1.04 over 20 minutes), so a minute-old ratio describes another machine.
    public let maxAgeS: Double
    private var idle: [(ratio: Double, at: Double)] = []
    private var loaded: [(ratio: Double, at: Double)] = []

    public init(window: Int = 50, quantile: Double = 0.98, minimumSamples: Int = 8, maxAgeS: Double = 60) {
        precondition(window > 0 && minimumSamples > 0 && (0...1).contains(quantile) && maxAgeS > 0)
        self.window = window; self.quantile = quantile; self.minimumSamples = minimumSamples; self.maxAgeS = maxAgeS
    }

    /// Records one completed request: its measured engine time against the prediction for the
    /// plan it ran, under the level it was planned at. `endedAt` is the level when it finished:
    /// a request that started idle and ended loaded (or the reverse) is not recorded.
    ///
    /// Why: the windows measure the model's error at a steady load; a burst that begins
    /// mid-request is the deadline guard's business. Measured in a llava-mini replay, a request
    /// caught by a burst's onset ran at 1.5–2× its idle prediction; about 2% of idle requests are
    /// (8 s bursts every ~28 s, 0.5 s requests), so the slowest of the last 50 idle ratios was an
    /// onset most of the time, and the guard's floor rejected idle requests the engine then ran
    /// at 0.7–1.1× their prediction.
    /// `at` is the replay time it finished (seconds), for `expire(now:)`.
    public func record(measuredMs: Double, predictedMs: Double, plannedAt level: ContentionLevel, endedAt end: ContentionLevel? = nil,
                       at seconds: Double = 0) {
        guard measuredMs.isFinite, predictedMs.isFinite, measuredMs > 0, predictedMs > 0 else { return }
        if let end, end.isIdle != level.isIdle { return }
        let entry = (ratio: measuredMs / predictedMs, at: seconds)
        if level.isIdle { Self.push(entry, into: &idle, window: window) } else { Self.push(entry, into: &loaded, window: window) }
    }

    /// Forgets ratios recorded more than `maxAgeS` before `now`, keeping at least the
    /// `minimumSamples` most recent of each state (so a state never falls back to the static
    /// margin just because nothing was admitted for a while).
    public func expire(now: Double) {
        let cutoff = now - maxAgeS
        for state in [\LatencyFeedback.idle, \LatencyFeedback.loaded] {
            let list = self[keyPath: state]
            let old = list.prefix { $0.at < cutoff }.count
            let drop = min(old, max(0, list.count - minimumSamples))
            if drop > 0 { self[keyPath: state].removeFirst(drop) }
        }
    }

    /// The factor to multiply a prediction by before comparing it with the budget, for a
    /// request planned at `level`; nil while that state has too few ratios.
    public func scale(at level: ContentionLevel) -> Double? { scale(at: level, quantile: quantile) }

    /// The same at another quantile (the deadline guard's floor plans for a higher one).
    public func scale(at level: ContentionLevel, quantile q: Double) -> Double? {
        let ratios = level.isIdle ? idle : loaded
        guard ratios.count >= minimumSamples else { return nil }
        let sorted = ratios.map(\.ratio).sorted()
        // Nearest rank, rounded up: conservative on a small window.
        let rank = min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[rank]
    }

    private static func push(_ value: (ratio: Double, at: Double), into list: inout [(ratio: Double, at: Double)], window: Int) {
        list.append(value)
        if list.count > window { list.removeFirst(list.count - window) }
    }
}
