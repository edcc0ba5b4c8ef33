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
    private var idle: [Double] = []
    private var loaded: [Double] = []

    public init(window: Int = 50, quantile: Double = 0.98, minimumSamples: Int = 8) {
        precondition(window > 0 && minimumSamples > 0 && (0...1).contains(quantile))
        self.window = window; self.quantile = quantile; self.minimumSamples = minimumSamples
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
    public func record(measuredMs: Double, predictedMs: Double, plannedAt level: ContentionLevel, endedAt end: ContentionLevel? = nil) {
        guard measuredMs.isFinite, predictedMs.isFinite, measuredMs > 0, predictedMs > 0 else { return }
        if let end, end.isIdle != level.isIdle { return }
        let ratio = measuredMs / predictedMs
        if level.isIdle { Self.push(ratio, into: &idle, window: window) } else { Self.push(ratio, into: &loaded, window: window) }
    }

    /// The factor to multiply a prediction by before comparing it with the budget, for a
    /// request planned at `level`; nil while that state has too few ratios.
    public func scale(at level: ContentionLevel) -> Double? { scale(at: level, quantile: quantile) }

    /// The same at another quantile (the deadline guard's floor plans for a higher one).
    public func scale(at level: ContentionLevel, quantile q: Double) -> Double? {
        let ratios = level.isIdle ? idle : loaded
        guard ratios.count >= minimumSamples else { return nil }
        let sorted = ratios.sorted()
        // Nearest rank, rounded up: conservative on a small window.
        let rank = min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[rank]
    }

    private static func push(_ value: Double, into list: inout [Double], window: Int) {
        list.append(value)
        if list.count > window { list.removeFirst(list.count - window) }
    }
}
