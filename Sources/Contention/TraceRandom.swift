import Foundation
import TensorKernels

/// The distributions synthetic traces draw from, on the project's one seeded generator
/// (TensorKernels' `SplitMix64`), so every trace reproduces from its seed.
extension SplitMix64 {
    /// Uniform in `range`.
    public mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * unit()
    }

    /// Exponentially distributed with the given mean.
    public mutating func exponential(mean: Double) -> Double { -mean * log(1 - unit()) }
}
