import CGSL

/// Held-out error of a set of predictions, relative to the measurement.
public struct ErrorMetrics: Codable, Sendable, Equatable {
    public var points: Int
    /// Mean absolute percentage error, as a fraction (0.05 = 5%).
    public var mape: Double
    /// 95th percentile of the absolute percentage error, as a fraction.
    public var p95: Double
    /// Share of points predicted within ±10% of the measurement, a fraction.
    public var within10: Double

    enum CodingKeys: String, CodingKey {
        case points, mape, p95 = "p95_ape", within10 = "within_10pct"
    }

    /// Metrics of signed relative errors `predicted/measured − 1`; nil when empty.
    public init?(relativeErrors e: [Double]) {
        guard !e.isEmpty else { return nil }
        let abs = e.map { Swift.abs($0) }.sorted()
        points = e.count
        mape = abs.reduce(0, +) / Double(e.count)
        p95 = quantile(sorted: abs, 0.95)
        within10 = Double(abs.filter { $0 <= 0.10 }.count) / Double(e.count)
    }
}

/// Idle and contended points of one evaluation, kept apart because their targets differ.
public struct SplitMetrics: Codable, Sendable, Equatable {
    public var all: ErrorMetrics?
    public var idle: ErrorMetrics?
    public var contended: ErrorMetrics?

    init(_ residuals: [Residual]) {
        all = ErrorMetrics(relativeErrors: residuals.map(\.error))
        idle = ErrorMetrics(relativeErrors: residuals.filter { !$0.contended }.map(\.error))
        contended = ErrorMetrics(relativeErrors: residuals.filter(\.contended).map(\.error))
    }
}

/// One held-out prediction: `predicted/measured − 1`, and whether it ran under contention.
struct Residual: Sendable {
    var error: Double
    var contended: Bool
    /// `measured/predicted − 1`: how much to add to a prediction to cover the measurement.
    var shortfall: Double { 1 / (1 + error) - 1 }
}

/// Quantile of sorted data by GSL (linear interpolation between order statistics).
func quantile(sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted.withUnsafeBufferPointer { gsl_stats_quantile_from_sorted_data($0.baseAddress, 1, sorted.count, q) }
}
