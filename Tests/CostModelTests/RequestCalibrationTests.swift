import AdaptiveInference
import Contention
@testable import CostModel
import LLaVAModel
import Profiling
import Testing

@Suite("end-to-end calibration on whole requests")
struct RequestCalibrationTests {
    let config = Preset.tinyllava1_1b.config
    var layout: KnobLayout { try! config.knobLayout() }
    let busy = ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0)

    /// Requests of random plans whose measured time is `factor(i)` × the model's own sum.
    func samples(_ model: CostModel, contention: ContentionLevel, factor: (Int) -> Double) throws -> [RequestSample] {
        let cases = RequestCase.random(layout: layout, count: 20, seed: 5, prompt: 16...200, newTokens: 2...6)
        return try cases.enumerated().map { i, c in
            let plan = c.plan ?? .enabling(Array(0..<(layout.knobCount(c.mode) / 2)), layout: layout, mode: c.mode)
            let q = PlanQuery(config: config, plan: plan, layout: layout, promptTokens: c.promptTokens, newTokens: c.newTokens,
                              threads: 2, contention: contention)
            let p = try model.predict(q)
            return RequestSample(model: model.model, plan: plan.description, promptTokens: c.promptTokens, hasImage: true,
                                 imageTokens: nil, latencyToken: false, newTokens: c.newTokens, threads: 2,
                                 contention: contention, achievedContention: contention,
                                 measuredMs: p.totalMs * factor(i), ttftMs: p.prefillMs * factor(i))
        }
    }

    @Test("median ratios become the prefill and decode scales, the spread around them the margin; predictions scale by them")
    func scaleAndMargin() throws {
        let model = CostModelPredictTests.fitted
        // 1.25× with a spread of ±10% in steps (i = 0…19 → 0.90…1.09 around it).
        let idle = try samples(model, contention: .idle) { 1.25 * (0.9 + 0.01 * Double($0)) }
        let loaded = try samples(model, contention: busy) { _ in 1.6 }
        let (c, rows) = try RequestCalibration.fit(model: model, config: config, samples: idle + loaded)
        #expect(rows.count == 40)
        let i = try #require(c.idle), b = try #require(c.contended)
        #expect(i.count == 20 && abs(i.prefillScale - 1.25 * 0.995) < 0.01 && abs(i.decodeScale - 1.25 * 0.995) < 0.01)
        #expect(i.ratios == i.ratios.sorted() && i.margin > 0.05 && i.margin < 0.12)
        #expect(abs(b.prefillScale - 1.6) < 1e-9 && abs(b.decodeScale - 1.6) < 1e-9 && b.margin < 1e-9)

        var calibrated = model
        calibrated.requestCalibration = c
        let q = PlanQuery(config: config, plan: nil, layout: layout, promptTokens: 100, newTokens: 4, threads: 2)
        let before = try model.predict(q), after = try calibrated.predict(q)
        #expect(abs(after.totalMs / before.totalMs - i.prefillScale) < 0.01)
        #expect(abs(after.prefillMs / before.prefillMs - i.prefillScale) < 1e-9)
        #expect(abs(after.breakdown.map(\.ms).reduce(0, +) - after.totalMs) < 1e-6 * after.totalMs)
        #expect(after.relativeMargin == i.margin)
        var loadedQ = q
        loadedQ.contention = busy
        #expect(abs(try calibrated.predict(loadedQ).totalMs / model.predict(loadedQ).totalMs - 1.6) < 1e-9)
        // Stored and read back with the model.
        #expect(try CostModel.decode(json: calibrated.encodedJSON()) == calibrated)
    }

    @Test("refitting ignores an existing calibration; unparseable plans and other models are skipped")
    func robustFit() throws {
        var model = CostModelPredictTests.fitted
        let idle = try samples(model, contention: .idle) { _ in 2 }
        model.requestCalibration = try RequestCalibration.fit(model: model, config: config, samples: idle).0
        var junk = idle[0]
        junk.plan = "L:not-a-plan"
        var other = idle[1]
        other.model = "llava-mini"
        let (again, rows) = try RequestCalibration.fit(model: model, config: config, samples: idle + [junk, other])
        #expect(rows.count == idle.count)
        let state = try #require(again.idle)
        #expect(abs(state.prefillScale - 2) < 1e-9 && abs(state.decodeScale - 2) < 1e-9)
        #expect(again.contended == nil && again.state(at: busy) == again.idle)
    }
}
