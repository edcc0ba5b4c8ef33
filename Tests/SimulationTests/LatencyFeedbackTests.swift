import Contention
import Testing
@testable import Simulation

@Suite("measured margin (latency feedback)")
struct LatencyFeedbackTests {
    let busy = ContentionLevel(cpuBusyCores: 0.6, memBandwidthGBps: 0)

    @Test("no scale until enough ratios; then the window's high quantile, per state")
    func quantilePerState() {
        let f = LatencyFeedback(window: 10, quantile: 0.9, minimumSamples: 4)
        for r in [1.1, 1.2, 1.3] { f.record(measuredMs: 100 * r, predictedMs: 100, plannedAt: .idle) }
        #expect(f.scale(at: .idle) == nil)
        f.record(measuredMs: 140, predictedMs: 100, plannedAt: .idle)
        // Nearest rank ⌈0.9·4⌉ = 4th of [1.1, 1.2, 1.3, 1.4].
        #expect(abs(f.scale(at: .idle)! - 1.4) < 1e-12)
        #expect(f.scale(at: busy) == nil, "loaded requests have their own window")
        for i in 0..<20 { f.record(measuredMs: Double(200 + i), predictedMs: 100, plannedAt: busy) }
        // Only the last 10 (2.10…2.19) remain; ⌈0.9·10⌉ = 9th = 2.18.
        #expect(abs(f.scale(at: busy)! - 2.18) < 1e-12)
        #expect(abs(f.scale(at: .idle)! - 1.4) < 1e-12)
        // Other quantiles of the same window: the median (the guard's k) and the slowest (its floor).
        #expect(abs(f.scale(at: .idle, quantile: 0.5)! - 1.2) < 1e-12)
        #expect(abs(f.scale(at: busy, quantile: 1)! - 2.19) < 1e-12)
    }

    @Test("a request whose load changed part-way is not learnt from, in either direction")
    func skipsTransitions() {
        let f = LatencyFeedback(window: 10, quantile: 1, minimumSamples: 1)
        f.record(measuredMs: 100, predictedMs: 100, plannedAt: .idle, endedAt: .idle)
        // A burst began mid-request: 1.9× the idle prediction says nothing about idle error.
        f.record(measuredMs: 190, predictedMs: 100, plannedAt: .idle, endedAt: busy)
        #expect(f.scale(at: .idle) == 1.0)
        // The burst ended mid-request: the loaded window skips it too.
        f.record(measuredMs: 60, predictedMs: 100, plannedAt: busy, endedAt: .idle)
        #expect(f.scale(at: busy) == nil)
        // Another loaded level is still loaded; no end level (unknown) is recorded as before.
        f.record(measuredMs: 120, predictedMs: 100, plannedAt: busy, endedAt: ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0))
        f.record(measuredMs: 130, predictedMs: 100, plannedAt: .idle)
        #expect(f.scale(at: busy) == 1.2)
        #expect(f.scale(at: .idle) == 1.3)
    }

    @Test("ratios older than maxAgeS are forgotten, down to the minimum sample count")
    func expiry() {
        let f = LatencyFeedback(window: 50, quantile: 1, minimumSamples: 3, maxAgeS: 60)
        // One slow request at t = 10 s, then four ordinary ones well after it.
        f.record(measuredMs: 190, predictedMs: 100, plannedAt: .idle, at: 10)
        for (i, t) in [100.0, 101, 102, 103].enumerated() {
            f.record(measuredMs: 100 + Double(i), predictedMs: 100, plannedAt: .idle, at: t)
        }
        f.expire(now: 69)
        #expect(f.scale(at: .idle) == 1.9, "not yet 60 s old")
        f.expire(now: 104)
        #expect(f.scale(at: .idle) == 1.03, "the slow ratio is gone")
        // Everything old: the three most recent stay, so the state keeps a measured scale.
        f.expire(now: 1000)
        #expect(f.scale(at: .idle) == 1.03)
        #expect(f.scale(at: .idle, quantile: 0) == 1.01)
    }

    @Test("nonsense measurements are ignored, never a crash")
    func ignoresNonsense() {
        let f = LatencyFeedback(window: 5, quantile: 1, minimumSamples: 1)
        for (m, p) in [(0.0, 10.0), (10, 0), (-1, 5), (.nan, 5), (5, .infinity)] {
            f.record(measuredMs: m, predictedMs: p, plannedAt: .idle)
        }
        #expect(f.scale(at: .idle) == nil)
    }
}
