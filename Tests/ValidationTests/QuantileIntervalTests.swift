import Testing
@testable import Validation

/// The P99's distribution-free confidence interval that `validate` puts beside the
/// simulated-vs-live comparison.
@Suite("the P99's order-statistic confidence interval")
struct QuantileIntervalTests {
    @Test("111 requests: from the 5th largest, unbounded above (P(B ≤ 106) = 0.5%, P(B ≤ 107) = 2.6%)")
    func small() {
        let data = (1...111).map(Double.init)
        let i = RunStatistics.quantileInterval(data, 0.99, confidence: 0.95)
        #expect(i.lower == 107)
        #expect(i.upper == nil)
    }

    @Test("bounded above once the largest value is below the P99 with probability ≤ 2.5% (n ≥ 367)")
    func boundedFrom367() {
        // P(all n below the P99) = 0.99^n ≤ 0.025 ⇔ n ≥ 367.03.
        #expect(RunStatistics.quantileInterval((1...367).map(Double.init), 0.99, confidence: 0.95).upper == nil)
        #expect(RunStatistics.quantileInterval((1...368).map(Double.init), 0.99, confidence: 0.95).upper == 368)
    }

    @Test("on 5000 evenly spread values the interval brackets 0.99 and is narrow")
    func large() throws {
        let data = (0..<5000).map { Double($0) / 5000 }
        let i = RunStatistics.quantileInterval(data, 0.99, confidence: 0.95)
        let upper = try #require(i.upper)
        #expect(i.lower < 0.99 && 0.99 < upper)
        #expect(upper - i.lower < 0.01)
    }

    @Test("covers the true P99 of uniform draws in at least 93% of 300 seeded runs of 500")
    func coverage() {
        var state: UInt64 = 12345
        func uniform() -> Double {
            // SplitMix64, so the test is the same on every run.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        var covered = 0
        for _ in 0..<300 {
            let data = (0..<500).map { _ in uniform() }.sorted()
            let i = RunStatistics.quantileInterval(data, 0.99, confidence: 0.95)
            if i.lower <= 0.99 && 0.99 <= (i.upper ?? .infinity) { covered += 1 }
        }
        #expect(covered >= 279, "covered \(covered) of 300")
    }

    @Test("empty data gives (0, nil), never a crash")
    func empty() {
        let i = RunStatistics.quantileInterval([], 0.99, confidence: 0.95)
        #expect(i.lower == 0 && i.upper == nil)
    }
}
