import Contention
import CostModel
import Testing
@testable import Simulation

@Suite("pricing burst onsets: how much of a run a beginning burst would cost the budget")
struct OnsetRiskTests {
    /// 10 ms before the blocks, 5 ms a block over the prompt, 1 ms lm_head; per decode step
    /// 1 ms a block + 1 ms lm_head; 3 steps.
    static let work = RequestWork(beforeBlocksMs: 10, prefillBlockMs: 5, firstTokenMs: 1, decodeBlockMs: 1, decodeStepMs: 1, steps: 3)

    /// The same walk, one microsecond at a time: the latency of a burst beginning at τ.
    func bruteForce(prefix: Int, switchable: Int, pace m: Double, slowdown s: Double, available: Double) -> Double {
        let w = Self.work
        var parts: [(length: Double, rest: Double)] = []
        let minStep = (w.decodeStepMs + Double(prefix) * w.decodeBlockMs) * m
        let decodeMin = Double(w.steps) * minStep
        parts.append(((w.beforeBlocksMs + Double(prefix) * w.prefillBlockMs) * m, w.firstTokenMs * m + decodeMin))
        for _ in 0..<switchable { parts.append((w.prefillBlockMs * m, w.firstTokenMs * m + decodeMin)) }
        parts.append((w.firstTokenMs * m, decodeMin))
        for j in 0..<w.steps { parts.append((w.stepMs(blocks: prefix + switchable) * m, Double(w.steps - j - 1) * minStep)) }
        var t = 0.0, vulnerable = 0.0
        let dt = 0.001
        for p in parts {
            var tau = t
            while tau < t + p.length {
                if tau + s * (t + p.length - tau + p.rest) > available { vulnerable += dt }
                tau += dt
            }
            t += p.length
        }
        return vulnerable
    }

    @Test("matches a walk over every microsecond of the run", arguments: [
        (2, 2, 1.0, 1.6, 40.0), (2, 2, 1.2, 1.6, 60.0), (2, 0, 1.0, 2.0, 30.0), (2, 2, 1.0, 1.6, 1000.0), (2, 2, 1.0, 1.6, 5.0),
    ])
    func matchesWalk(prefix: Int, switchable: Int, pace: Double, slowdown: Double, available: Double) {
        let exact = OnsetRisk.vulnerableMs(work: Self.work, prefixBlocks: prefix, switchable: switchable, pace: pace,
                                           slowdown: slowdown, availableMs: available)
        let walked = bruteForce(prefix: prefix, switchable: switchable, pace: pace, slowdown: slowdown, available: available)
        #expect(abs(exact - walked) < 0.02, "exact \(exact) vs walked \(walked)")
    }

    @Test("nothing is exposed with room for a burst from the start; everything when the budget is already gone")
    func extremes() {
        // Whole run at idle: 10 + 4·5 + 1 + 3·(1 + 4) = 46 ms; a burst from the start at 2× with
        // every switchable block shed: 2·(10 + 10 + 1 + 3·3) = 60 ms.
        let w = Self.work
        #expect(OnsetRisk.vulnerableMs(work: w, prefixBlocks: 2, switchable: 2, pace: 1, slowdown: 2, availableMs: 60) == 0)
        #expect(OnsetRisk.vulnerableMs(work: w, prefixBlocks: 2, switchable: 2, pace: 1, slowdown: 2, availableMs: 59.9) > 0)
        #expect(abs(OnsetRisk.vulnerableMs(work: w, prefixBlocks: 2, switchable: 2, pace: 1, slowdown: 2, availableMs: 1) - 46) < 1e-9)
        // No slowdown, or a nonsense pace: no risk priced.
        #expect(OnsetRisk.vulnerableMs(work: w, prefixBlocks: 2, switchable: 2, pace: 1, slowdown: 1, availableMs: 1) == 0)
        #expect(OnsetRisk.vulnerableMs(work: w, prefixBlocks: 2, switchable: 2, pace: 0, slowdown: 2, availableMs: 1) == 0)
    }

    @Test("more switchable blocks never expose less of the run")
    func monotoneInK() {
        for available in stride(from: 20.0, through: 80, by: 2.5) {
            let v = (0...4).map {
                OnsetRisk.vulnerableMs(work: Self.work, prefixBlocks: 2, switchable: $0, pace: 1.1, slowdown: 1.7, availableMs: available)
            }
            #expect(zip(v, v.dropFirst()).allSatisfy { $0 <= $1 + 1e-9 }, "\(available): \(v)")
        }
    }

    @Test("pricing onsets: unchanged without bursts or room to spare; otherwise a k no riskier than the limit, or a rejection")
    func pricing() throws {
        // 4 blocks (2 prefix), 1 thread: a 1-core burst doubles every op (`BlockFormula`).
        let planner = DeadlineGuardTests.planner
        let burst = ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0)
        func request(_ budget: Double, _ level: ContentionLevel = .idle) -> PlanningRequest {
            PlanningRequest(budgetMs: budget, promptTokens: 8, hasImage: true, newTokens: 4, contention: level)
        }
        let quiet = BurstHistory(windowS: 100)
        quiet.note(.idle, at: 0)
        let bursty = BurstHistory(windowS: 100)
        bursty.note(.idle, at: 0)
        bursty.note(burst, at: 1)
        bursty.note(.idle, at: 2)
        for limit in [1e-7, 1e-5, 1e-4, 1e-3] {
            let controls = ReplayControls(guardSlack: 0.03, onsetRisk: limit)
            for budget in stride(from: 30.0, through: 130, by: 2.5) {
                let r = request(budget)
                let planned = try planner.decide(r)
                guard !planned.infeasible else { continue }
                #expect(try controls.pricingOnsets(planned, r, planner: planner, bursts: quiet, feedback: nil, now: 3, cache: nil) == planned)
                let loaded = try planner.decide(request(budget, burst))
                #expect(try controls.pricingOnsets(loaded, request(budget, burst), planner: planner, bursts: bursty, feedback: nil,
                                                   now: 3, cache: nil) == loaded)
                let priced = try controls.pricingOnsets(planned, r, planner: planner, bursts: bursty, feedback: nil, now: 3, cache: nil)
                #expect(priced.knobs <= planned.knobs)
                // The risk of what is kept: one burst in a 60-s span, at a 2× slowdown.
                let prediction = try planner.predict(k: priced.knobs, promptTokens: 8, hasImage: true, newTokens: 4, contention: .idle)
                let exposed = OnsetRisk.vulnerableMs(work: RequestWork(prediction: prediction, newTokens: 4), prefixBlocks: 2,
                                                     switchable: priced.knobs, pace: 1, slowdown: 2, availableMs: budget)
                if priced.infeasible {
                    #expect(priced.knobs == 0 && exposed / 60_000 > limit, "\(budget) \(limit)")
                } else {
                    #expect(exposed / 60_000 <= limit, "\(budget) \(limit)")
                }
                // The cheapest plan (30 ms at idle) survives a burst from any point in 60 ms.
                if budget >= 60 { #expect(!priced.infeasible, "\(budget) \(limit)") }
            }
        }
        // The strictest limit turns away a budget a burst from the start would break, not one it would not.
        let strict = ReplayControls(guardSlack: 0.03, onsetRisk: 1e-7)
        #expect(try strict.pricingOnsets(try planner.decide(request(50)), request(50), planner: planner, bursts: bursty, feedback: nil,
                                         now: 3, cache: nil).infeasible)
        #expect(try !strict.pricingOnsets(try planner.decide(request(61)), request(61), planner: planner, bursts: bursty, feedback: nil,
                                          now: 3, cache: nil).infeasible)
    }

    @Test("burst history: bursts per second over the window, each at its heaviest load, old ones forgotten")
    func history() {
        let h = BurstHistory(windowS: 100)
        let busy = ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 10)
        let light = ContentionLevel(cpuBusyCores: 0.4, memBandwidthGBps: 2)
        #expect(h.onsetRate(now: 0) == 0 && h.recent(now: 0).isEmpty)
        // Idle 0–9 s, a burst at 10–12 s rising from light to heavy, idle, a light one at
        // 50–51 s, a heavy one at 80 s.
        for t in 0..<100 {
            let level: ContentionLevel = t == 10 || (50...51).contains(t) ? light : (11...12).contains(t) || t == 80 ? busy : .idle
            h.note(level, at: Double(t))
        }
        #expect(abs(h.onsetRate(now: 99) - 3.0 / 99) < 1e-12)
        #expect(h.recent(now: 99) == [busy, light, busy])
        // 150 s: the first burst is more than 100 s old.
        h.note(.idle, at: 150)
        #expect(abs(h.onsetRate(now: 150) - 2.0 / 100) < 1e-12)
        #expect(h.recent(now: 150) == [light, busy])
        h.note(.idle, at: 181)
        #expect(h.onsetRate(now: 181) == 0 && h.recent(now: 181).isEmpty)
        // A loaded first reading is not an onset (nothing was seen before it); a minute at least.
        let g = BurstHistory(windowS: 100)
        g.note(busy, at: 0)
        g.note(.idle, at: 1)
        g.note(busy, at: 2)
        #expect(g.recent(now: 2) == [busy] && g.spanS(now: 2) == 60)
    }
}
