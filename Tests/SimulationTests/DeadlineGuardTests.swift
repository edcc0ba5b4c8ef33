import AdaptiveInference
import Contention
import CostModel
import Foundation
import LLaVAModel
import Testing
@testable import Simulation

/// A stated cost formula with a per-op breakdown, so the guard has blocks to reason about:
/// 10 ms before the blocks, 5 ms per block over the prompt, 1 ms `lm_head`, and per decode
/// step 1 ms per block + 1 ms `lm_head`; everything × (1 + busy cores / threads).
struct BlockFormula: PlanLatencyPredicting {
    /// The fit's static margin the predictions carry.
    var margin = 0.0
    func predict(_ q: PlanQuery) throws -> LatencyPrediction {
        let layout = q.layout
        let blocks = (0..<layout.totalLayers).filter { q.plan?.runsLayer($0, layout: layout) ?? true }.count
        let steps = q.newTokens - 1, f = 1 + q.contention.cpuBusyCores / Double(q.threads)
        let breakdown = [
            OpPrediction(op: .visionBlock, phase: .prefill, count: 1, ms: 10 * f),
            OpPrediction(op: .llmAttention, phase: .prefill, count: blocks, ms: 5 * Double(blocks) * f),
            OpPrediction(op: .lmHead, phase: .prefill, count: 1, ms: 1 * f),
            OpPrediction(op: .llmAttention, phase: .decode, count: blocks * steps, ms: Double(blocks * steps) * f),
            OpPrediction(op: .lmHead, phase: .decode, count: steps, ms: Double(steps) * f),
        ]
        let total = breakdown.reduce(0) { $0 + $1.ms }
        return LatencyPrediction(totalMs: total, prefillMs: (16 + 5 * Double(blocks - 1)) * f, breakdown: breakdown, relativeMargin: margin)
    }
}

@Suite("the deadline guard: shed blocks when a request runs late")
struct DeadlineGuardTests {
    /// The tiny preset in L mode: 4 blocks, 2 prefix, knobs = blocks 2 and 3.
    static let planner = Planner(policy: .contentionAware, model: TinyFixture.model, mode: .layers,
                                 predictor: BlockFormula(), threads: 1)

    func control(_ plan: String = "L:11", newTokens: Int = 4, slack: Double = 0) throws -> DeadlineControl {
        let p = Self.planner
        let plan = try ExecutionPlan(parsing: plan)
        let prediction = try BlockFormula().predict(PlanQuery(config: p.config, plan: plan, layout: p.layout, promptTokens: 8,
                                                              newTokens: newTokens, threads: 1))
        return DeadlineControl(work: RequestWork(prediction: prediction, newTokens: newTokens), plan: plan, layout: p.layout,
                               order: p.order, slack: slack)
    }

    @Test("the work split adds up to the prediction, and a breakdown-less predictor keeps its total")
    func workSplit() throws {
        let c = try control()
        #expect(c.work == RequestWork(beforeBlocksMs: 10, prefillBlockMs: 5, firstTokenMs: 1, decodeBlockMs: 1, decodeStepMs: 1, steps: 3))
        #expect(c.work.totalMs(blocks: 4) == 46)
        let line = RequestWork(prediction: LatencyPrediction(totalMs: 42, prefillMs: 42, breakdown: [], relativeMargin: 0), newTokens: 4)
        #expect(line.totalMs(blocks: 4) == 42 && line.beforeBlocksMs == 42)
    }

    @Test("on time: nothing is dropped and the finished work is the whole prediction")
    func onTime() throws {
        var c = try control()
        var t = 10.0
        for layer in 0..<4 {
            #expect(c.checkpoint(.prefillBlock(layer: layer), elapsedMs: t, leftMs: 100 - t).isEmpty)
            t += 5
        }
        t += 1
        for step in 0..<3 {
            #expect(c.checkpoint(.decodeStep(step: step), elapsedMs: t, leftMs: 100 - t).isEmpty)
            t += 5
        }
        #expect(c.finish() == 46)
        #expect(c.dropped.isEmpty)
    }

    @Test("running twice as slow: blocks go as their turn comes, least important first among equals; never a prefix block")
    func late() throws {
        var c = try control()
        // 2× slow through block 1: 10 + 2 blocks of predicted work took 40 ms, 12 ms left.
        // Both switchable blocks must go; block 2 is due now, block 3 when it comes.
        #expect(c.checkpoint(.prefillBlock(layer: 2), elapsedMs: 40, leftMs: 12) == [2])
        #expect(c.checkpoint(.prefillBlock(layer: 3), elapsedMs: 40, leftMs: 12) == [3])
        #expect(c.runningBlocks == 2)
        #expect(c.dropOrder == [3, 2])      // order [0, 1] → blocks 2, 3; least important last
        // Hopelessly late: nothing more can go.
        #expect(c.checkpoint(.decodeStep(step: 0), elapsedMs: 80, leftMs: 1).isEmpty)
        // Work done: 10 + 2 · 5 + 1 + three steps with 2 blocks (3 ms each).
        #expect(c.finish() == 30)
    }

    @Test("the reserve keeps the end of the budget free: on pace, a request predicted to end inside it sheds when a block is due")
    func reserve() throws {
        let p = Self.planner
        let plan = try ExecutionPlan(parsing: "L:11")
        let prediction = try BlockFormula().predict(PlanQuery(config: p.config, plan: plan, layout: p.layout, promptTokens: 8,
                                                              newTokens: 4, threads: 1))
        func control(reserveMs: Double) -> DeadlineControl {
            DeadlineControl(work: RequestWork(prediction: prediction, newTokens: 4), plan: plan, layout: p.layout, order: p.order,
                            slack: 0, reserveMs: reserveMs)
        }
        // At block 0, on pace: 4 blocks · 5 + 1 + 3 steps · 5 = 36 ms of work left, 90 ms of budget.
        var none = control(reserveMs: 0)
        #expect(none.checkpoint(.prefillBlock(layer: 0), elapsedMs: 10, leftMs: 90).isEmpty)
        // Keeping 60 ms free leaves 30: block 3 must go (then 3 · 5 + 1 + 3 · 4 = 28 fits) but
        // is not due until it would run; block 2 runs.
        var kept = control(reserveMs: 60)
        var t = 10.0
        for layer in 0..<3 {
            #expect(kept.checkpoint(.prefillBlock(layer: layer), elapsedMs: t, leftMs: 100 - t).isEmpty)
            t += 5
        }
        #expect(kept.checkpoint(.prefillBlock(layer: 3), elapsedMs: t, leftMs: 100 - t) == [3])
    }

    @Test("the least work shed: a small gap is closed by a block whose prefill has run (its decode steps only), when they are due")
    func leastShed() throws {
        var c = try control()
        // Before block 3: block 2 has run (dropping it saves 3 decode steps · 1 ms), block 3
        // has not (5 ms of prefill + 3 ms).
        let before3 = RequestCheckpoint.prefillBlock(layer: 3)
        #expect(c.saving(of: 2, at: before3) == 3 && c.saving(of: 3, at: before3) == 8)
        #expect(c.saving(of: 2, at: .decodeStep(step: 1)) == 2)
        #expect(c.victim(excessMs: 2, at: before3, running: c.running) == 2)
        #expect(c.victim(excessMs: 6, at: before3, running: c.running) == 3)
        // Neither alone: the larger first (together they cover it).
        #expect(c.victim(excessMs: 10, at: before3, running: c.running) == 3)
        // On pace, 21 ms of work left and 19 ms of budget: block 2's decode share must go, at
        // the first decode step; block 3 runs.
        #expect(c.checkpoint(before3, elapsedMs: 25, leftMs: 19).isEmpty)
        // Block 3 and lm_head on pace: 6 ms later, 15 ms of work left, 13 of budget; at a
        // decode step both blocks save 3, and the least important (3) goes.
        #expect(c.checkpoint(.decodeStep(step: 0), elapsedMs: 31, leftMs: 13) == [3])
        #expect(c.runningBlocks == 3)
    }

    @Test("a burst that begins part-way shows in the recent rate before the whole-request one")
    func recentRate() throws {
        var c = try control(newTokens: 20)
        // 10 + 4 · 5 + 1 predicted in prefill at the predicted pace, then decode at 3×.
        var t = 10.0, last = 0.0
        for layer in 0..<4 { _ = c.checkpoint(.prefillBlock(layer: layer), elapsedMs: t, leftMs: 1e9); t += 5 }
        t += 1
        for step in 0..<6 { last = t; _ = c.checkpoint(.decodeStep(step: step), elapsedMs: t, leftMs: 1e9); t += 15 }
        let overall = (last + c.priorWeightMs) / (c.doneMs + c.priorWeightMs)
        #expect(c.rate(elapsedMs: last) > overall + 0.5)
        #expect(abs(c.rate(elapsedMs: last) - 3) < 1e-9)
    }

    @Test("H mode: a block goes with its most important unit's rank")
    func headsOrder() throws {
        let layout = Self.planner.layout
        let u = layout.unitsPerLayer
        // Block 3's units come first in importance, block 2's last: block 2 is dropped first.
        let order = Array(u..<(2 * u)) + Array(0..<u)
        let plan = ExecutionPlan.full(layout, mode: .heads)
        let work = RequestWork(beforeBlocksMs: 0, prefillBlockMs: 1, firstTokenMs: 0, decodeBlockMs: 1, decodeStepMs: 0, steps: 1)
        #expect(DeadlineControl(work: work, plan: plan, layout: layout, order: order).dropOrder == [2, 3])
    }

    @Test("simulated: a burst starting mid-request makes an unguarded request miss; the guard sheds blocks and meets it")
    func simulatedBurst() throws {
        // Idle for the first 20 ms, then one busy core: the rest runs at 2× on one thread.
        let trace = ContentionTrace(points: [ContentionPoint(t: 0, level: .idle),
                                             ContentionPoint(t: 0.02, level: ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0))])
        let requests = [TraceRequest(t: 0, budgetMs: 62, promptTokens: 8, maxNewTokens: 4)]
        var replay = VirtualReplay(planner: Self.planner, contention: trace)
        let plain = try replay.run(requests)[0]
        replay.controls.guardSlack = 0
        let guarded = try replay.run(requests)[0]
        #expect(plain.knobs == 2 && plain.ranKnobs == 2)
        #expect(plain.outcome == "missed")
        #expect(abs(plain.serviceMs - 72) < 1e-9)   // 20 ms at 1×, the other 26 ms of work at 2×
        #expect(guarded.knobs == 2 && guarded.ranKnobs < 2 && guarded.ranPlan != guarded.plan)
        #expect(guarded.outcome == "met")
    }

    @Test("the floor scale makes a request infeasible when the cheapest plan cannot take a slow run")
    func floorScale() throws {
        let p = Self.planner
        // k = 0: 10 + 2·5 + 1 + 3·3 = 30 ms; k = 2: 46 ms.
        let request = PlanningRequest(budgetMs: 50, promptTokens: 8, hasImage: true, newTokens: 4, contention: .idle, measuredScale: 1.05)
        #expect(try p.decide(request).knobs == 2)
        var strict = request
        strict.floorScale = 1.7   // 30 · 1.7 = 51 > 50
        #expect(try p.decide(strict).infeasible)
        strict.floorScale = 1.6   // 48 ≤ 50: feasible, k still chosen at 1.05
        let d = try p.decide(strict)
        #expect(!d.infeasible && d.knobs == 2)
        // A fit whose own margin is wider than the measured floor: the wider one holds.
        var wide = p
        wide.predictor = BlockFormula(margin: 0.8)   // 30 · 1.8 = 54 > 50
        #expect(try wide.decide(strict).infeasible)
    }

    @Test("results files: ran_plan/ran_knobs round-trip, a file from before them still reads, a guard cannot add knobs")
    func resultsColumns() throws {
        let row = ReplayResult(request: 0, policy: "contention-aware", mode: "live", arrivalS: 0, startS: 0, endS: 0.3, budgetMs: 400,
                               promptTokens: 8, newTokens: 4, latencyMs: 300, serviceMs: 300, predictedMs: 280, plan: "L:11",
                               knobs: 2, totalKnobs: 2, sensed: .idle, outcome: "met", ranPlan: "L:10", ranKnobs: 1)
        let text = ReplayResult.csvHeader + "\n" + row.csvLine + "\n"
        #expect(try ReplayResult.parseCSV(text, file: "r.csv") == [row])
        #expect(row.droppedKnobs == 1)
        // Before the guard: 18 columns; each row ran its plan.
        let old = ReplayResult.csvColumnsWithoutRan.joined(separator: ",") + "\n"
            + row.csvLine.split(separator: ",").dropLast(2).joined(separator: ",") + "\n"
        let parsed = try ReplayResult.parseCSV(old, file: "old.csv")
        #expect(parsed.count == 1 && parsed[0].ranPlan == "L:11" && parsed[0].ranKnobs == 2 && parsed[0].droppedKnobs == 0)
        // A row claiming more knobs ran than were planned.
        var bad = row
        bad.ranKnobs = 3
        #expect(throws: SimulationError.self) { try ReplayResult.parseCSV(ReplayResult.csvHeader + "\n" + bad.csvLine, file: "bad.csv") }
    }
}
