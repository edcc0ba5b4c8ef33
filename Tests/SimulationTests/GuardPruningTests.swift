import AdaptiveInference
import Contention
import CostModel
import Foundation
import LLaVAModel
import Testing
@testable import Simulation

/// `BlockFormula` whose blocks from FastV's K on cost `keepRatio` of a whole block (with an
/// image), split into two breakdown entries as the cost model's walk gives them.
struct PrunableBlockFormula: PlanLatencyPredicting {
    /// Time before the blocks at idle, ms.
    var visionMs = 10.0
    func predict(_ q: PlanQuery) throws -> LatencyPrediction {
        let layout = q.layout
        let running = (0..<layout.totalLayers).filter { q.plan?.runsLayer($0, layout: layout) ?? true }
        var k = Int.max, keep = 1.0
        if q.hasImage, case let .fastV(at, r)? = q.plan?.tokenSelection { k = at; keep = r }
        let before = running.filter { $0 < k }.count, after = running.count - before
        let steps = q.newTokens - 1, f = 1 + q.contention.cpuBusyCores / Double(q.threads)
        var breakdown = [OpPrediction(op: .visionBlock, phase: .prefill, count: 1, ms: visionMs * f)]
        if before > 0 { breakdown.append(OpPrediction(op: .llmAttention, phase: .prefill, count: before, ms: 5 * Double(before) * f)) }
        if after > 0 { breakdown.append(OpPrediction(op: .llmAttention, phase: .prefill, count: after, ms: 5 * keep * Double(after) * f)) }
        breakdown += [
            OpPrediction(op: .lmHead, phase: .prefill, count: 1, ms: 1 * f),
            OpPrediction(op: .llmAttention, phase: .decode, count: running.count * steps, ms: Double(running.count * steps) * f),
            OpPrediction(op: .lmHead, phase: .decode, count: steps, ms: Double(steps) * f),
        ]
        let total = breakdown.reduce(0) { $0 + $1.ms }
        return LatencyPrediction(totalMs: total, prefillMs: total, breakdown: breakdown, relativeMargin: 0)
    }
}

@Suite("the deadline guard's last resort: pruning the image tokens")
struct GuardPruningTests {
    /// The tiny preset in L mode: 4 blocks, 2 prefix, knobs = blocks 2 and 3.
    static let planner = Planner(policy: .contentionAware, model: TinyFixture.model, mode: .layers,
                                 predictor: PrunableBlockFormula(), threads: 1)
    static let request = PlanningRequest(budgetMs: 100, promptTokens: 8, hasImage: true, newTokens: 4, contention: .idle)

    /// A control for the full plan (46 ms: 10 + 4 · 5 + 1 + 3 · (1 + 4)) whose pruned blocks
    /// cost `keep` of 5 ms.
    func control(keep: Double? = 0.4) throws -> DeadlineControl {
        let p = Self.planner
        let decision = try p.decision(k: 2, Self.request)
        var work = RequestWork(prediction: decision.prediction!, newTokens: 4)
        try work.pricePruning(k: 2, Self.request, contention: .idle, planner: p, keep: keep, cache: nil)
        return DeadlineControl(work: work, plan: decision.plan, layout: p.layout, order: p.order, slack: 0, pruneKeep: keep)
    }

    @Test("a pruned block's cost comes from the plan predicted with FastV at K = 1; block runs add up over FastV's two shapes")
    func pricing() throws {
        let c = try control()
        #expect(c.work.prefillBlockMs == 5)
        #expect(abs(c.work.prunedPrefillBlockMs! - 2) < 1e-12)
        // The FastV prediction itself: 1 block at 5 ms and 3 at 2 ms is a mean block of 2.75.
        var pruned = Self.planner
        pruned.tokenSelection = .fastV(k: 1, keepRatio: 0.4)
        let fastV = try pruned.predict(k: 2, Self.request, contention: .idle, cache: nil)
        #expect(abs(RequestWork(prediction: fastV, newTokens: 4).prefillBlockMs - 2.75) < 1e-12)
        #expect(RequestWork.runs(.prefill, in: fastV) == 4 && RequestWork.runs(.decode, in: fastV) == 12)
        // No pruning priced: without a share, without an image, or when the plans already prune.
        #expect(try control(keep: nil).pruneKeep == nil)
        var noImage = RequestWork(prediction: fastV, newTokens: 4)
        var textOnly = Self.request
        textOnly.hasImage = false
        try noImage.pricePruning(k: 2, textOnly, contention: .idle, planner: Self.planner, keep: 0.4, cache: nil)
        #expect(noImage.prunedPrefillBlockMs == nil)
        try noImage.pricePruning(k: 2, Self.request, contention: .idle, planner: pruned, keep: 0.4, cache: nil)
        #expect(noImage.prunedPrefillBlockMs == nil)
    }

    @Test("prunes only when shedding every switchable block would not do, never before block 0, and once")
    func lastResort() throws {
        // Before block 1 at 30 ms (predicted 15: pace (30 + 11.5) / (15 + 11.5) = 1.566).
        // Shedding blocks 2 and 3 leaves 5 + 1 + 3 · 3 = 15 ms of work: 23.5 ms at that pace.
        var roomy = try control()
        #expect(roomy.checkpoint(.prefillBlock(layer: 1), elapsedMs: 30, leftMs: 30).isEmpty)
        #expect(roomy.prunedAt == nil)   // 23.5 ≤ 30: blocks will do
        var tight = try control()
        #expect(tight.checkpoint(.prefillBlock(layer: 1), elapsedMs: 30, leftMs: 22).isEmpty)
        #expect(tight.prunedAt == 1)     // pruned: 2 + 1 + 9 = 12 ms, 18.8 at that pace
        let guardian = DeadlineGuard(control: tight, budgetMs: 100, arrivalNs: 0, serviceStartNs: 0)
        #expect(guardian.imageKeepRatio(at: .prefillBlock(layer: 1)) == 0.4)
        #expect(guardian.imageKeepRatio(at: .prefillBlock(layer: 2)) == nil)
        // With the blocks pruned, block 2 (pruned: 2 + 3 ms) still has to go, and block 3 after it.
        #expect(tight.checkpoint(.prefillBlock(layer: 2), elapsedMs: 34, leftMs: 18) == [2])
        #expect(tight.checkpoint(.prefillBlock(layer: 3), elapsedMs: 34, leftMs: 18) == [3])
        #expect(tight.prunedAt == 1)
        // Work done: 10 + 5 (block 0) + 2 (block 1, pruned) + 1 + 3 steps with 2 blocks.
        #expect(abs(tight.finish() - 27) < 1e-12)
        // Before block 0 nothing has run to rank the tokens by.
        var early = try control()
        _ = early.checkpoint(.prefillBlock(layer: 0), elapsedMs: 100, leftMs: 1)
        #expect(early.prunedAt == nil)
        // Without a pruned block's prediction it never prunes.
        var plain = try control(keep: nil)
        _ = plain.checkpoint(.prefillBlock(layer: 1), elapsedMs: 100, leftMs: 1)
        #expect(plain.prunedAt == nil)
    }

    @Test("simulated: a burst from a request's start, unseen by the live sensor, is a miss unless the guard prunes")
    func simulatedBurst() throws {
        let busy = ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0)
        let trace = ContentionTrace(points: [ContentionPoint(t: 0, level: .idle), ContentionPoint(t: 1, level: busy)])
        // 100 ms before the blocks; from t = 1 everything runs 2×. Before block 1 the guard
        // has seen 210 ms for 105 predicted (pace (210 + 34) / (105 + 34) = 1.76 with the
        // prior's weight): with every block shed, 15 ms of work is left (30 at 2×, over the
        // 234-ms budget); pruned to a fifth, 11 (22 at 2×: 232 ms).
        let planner = Planner(policy: .contentionAware, model: TinyFixture.model, mode: .layers,
                              predictor: PrunableBlockFormula(visionMs: 100), threads: 1)
        let requests = [TraceRequest(t: 1, budgetMs: 234, promptTokens: 8, maxNewTokens: 4)]
        var replay = VirtualReplay(planner: planner, contention: trace)
        replay.sensorWindowS = 0.2
        replay.controls.guardSlack = 0
        let shedding = try replay.run(requests)[0]
        #expect(shedding.outcome == "missed" && shedding.ranKnobs == 0 && !shedding.ranPlan.contains("fastv"))
        #expect(abs(shedding.serviceMs - 240) < 1e-9)
        replay.controls.pruneKeep = 0.2
        let pruning = try replay.run(requests)[0]
        #expect(pruning.outcome == "met")
        #expect(pruning.ranPlan.hasSuffix("+fastv(1,0.2)"))
        #expect(abs(pruning.serviceMs - 232) < 1e-9)
    }
}
