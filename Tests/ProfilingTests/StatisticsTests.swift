import Testing
@testable import Profiling

@Suite("summaries of repeated measurements")
struct StatisticsTests {
    @Test("median, min, max and spread of odd and even sample counts",
          arguments: [([3.0, 1, 2], 2.0, 1.0), ([4.0, 1, 3, 2], 2.5, 1.2)])
    func summary(samples: [Double], median: Double, spread: Double) {
        let s = Summary(samples)
        #expect(s.median == median)
        #expect(s.min == 1)
        #expect(s.max == samples.max())
        #expect(abs(s.spread - spread) < 1e-12)
    }

    @Test("the sgemm yardstick reports positive GFLOP/s with one sample per repeat")
    func sgemmPeak() {
        let s = SgemmPeak.measure(n: 64, threads: 1, repeats: 2)
        #expect(s.samples.count == 2)
        #expect(s.min > 0)
    }

    @Test("benchmark rows print the same columns in every format")
    func rowColumns() {
        let row = BenchmarkRow.sgemm(Summary([100, 110, 90]), n: 2048, threads: 2)
        #expect(row.fields.count == BenchmarkRow.columns.count)
        #expect(row.gflops == 100)
        #expect(row.ratioToSgemm == 1)
    }
}
