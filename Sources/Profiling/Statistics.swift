/// Median and spread of repeated measurements: this machine has 2 noisy cores, so every
/// figure is reported as a median with its range, never as a single sample.
public struct Summary: Codable, Sendable, Equatable {
    public var samples: [Double]
    public var median: Double
    public var min: Double
    public var max: Double

    public init(_ samples: [Double]) {
        precondition(!samples.isEmpty, "Summary of no samples")
        self.samples = samples
        let sorted = samples.sorted()
        let n = sorted.count
        median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        min = sorted[0]
        max = sorted[n - 1]
    }

    /// `(max − min) / median`, the relative spread.
    public var spread: Double { median > 0 ? (max - min) / median : 0 }
}
