import AdaptiveInference
import Contention
@testable import CostModel
import LLaVAModel
import Profiling
import Testing

@Suite struct CostModelPredictTests {
    /// A model fitted on formula rows of tinyllava-1.1b shapes, 1 and 2 threads.
    static let fitted: CostModel = {
        let p = SyntheticProfile()
        return try! CostModel.fit(samples: p.samples(), model: "tinyllava-1.1b", config: p.config,
                                  options: FitOptions(cores: 2)).0
    }()
    let config = Preset.tinyllava1_1b.config
    var layout: KnobLayout { try! config.knobLayout() }

    func query(_ plan: ExecutionPlan?, prompt: Int = 100, new: Int = 8, threads: Int = 2,
               contention: ContentionLevel = .idle) -> PlanQuery {
        PlanQuery(config: config, plan: plan, layout: layout, promptTokens: prompt, newTokens: new, threads: threads,
                  contention: contention)
    }

    @Test func breakdownSumsToTheTotalAndTTFTIsThePrefillPart() throws {
        let p = try Self.fitted.predict(query(nil))
        #expect(abs(p.breakdown.map(\.ms).reduce(0, +) - p.totalMs) < 1e-9 * p.totalMs)
        let first = p.breakdown.filter { $0.phase == .prefill }.map(\.ms).reduce(0, +)
        #expect(abs(first - p.prefillMs) < 1e-9 * p.totalMs)
        let t = config.textConfig
        #expect(p.breakdown.first { $0.op == .llmAttention && $0.phase == .prefill }?.count == t.numHiddenLayers)
        #expect(p.breakdown.first { $0.op == .llmMLP && $0.phase == .decode }?.count == t.numHiddenLayers * 7)
        #expect(p.breakdown.first { $0.op == .visionBlock }?.count == config.visionLayersToRun)
        #expect(p.relativeMargin > 0 && p.relativeMargin < 0.2)
    }

    @Test func skippedBlocksCostNothingAndFewerBlocksCostLess() throws {
        let full = try Self.fitted.predict(query(.full(layout, mode: .layers)))
        let none = ExecutionPlan.enabling([], layout: layout, mode: .layers)
        let half = ExecutionPlan.enabling(Array(0..<(layout.switchableLayers / 2)), layout: layout, mode: .layers)
        let pNone = try Self.fitted.predict(query(none)), pHalf = try Self.fitted.predict(query(half))
        #expect(pNone.totalMs < pHalf.totalMs && pHalf.totalMs < full.totalMs)
        #expect(pNone.breakdown.first { $0.op == .llmAttention && $0.phase == .prefill }?.count == layout.prefixLayers)
        // The full plan and no plan are the same request.
        #expect(abs(try Self.fitted.predict(query(nil)).totalMs - full.totalMs) < 1e-9)
        // Heads mode: half the units in every switchable layer is cheaper than all, dearer than none.
        let units = (0..<layout.switchableLayers).flatMap { l in (0..<(layout.unitsPerLayer / 2)).map { l * layout.unitsPerLayer + $0 } }
        let hHalf = try Self.fitted.predict(query(.enabling(units, layout: layout, mode: .heads)))
        #expect(hHalf.totalMs < full.totalMs && hHalf.totalMs > pNone.totalMs)
    }

    @Test func tokenSelectionShrinksThePrefill() throws {
        let plain = try Self.fitted.predict(query(nil))
        let fastV = try Self.fitted.predict(query(.full(layout, mode: .layers, tokenSelection: .fastV(k: 2, keepRatio: 0.25))))
        let pru = try Self.fitted.predict(query(.full(layout, mode: .layers, tokenSelection: .pruMerge)))
        #expect(fastV.prefillMs < plain.prefillMs)
        #expect(pru.prefillMs < fastV.prefillMs)
        var known = query(.full(layout, mode: .layers, tokenSelection: .pruMergePlus))
        known.imageTokens = 576
        #expect(abs(try Self.fitted.predict(known).prefillMs - plain.prefillMs) < 1e-9)
    }

    @Test func contentionSlowsThePredictionDown() throws {
        let idle = try Self.fitted.predict(query(nil))
        let busy = try Self.fitted.predict(query(nil, contention: .init(cpuBusyCores: 1, memBandwidthGBps: 10)))
        #expect(busy.totalMs > idle.totalMs * 1.1)
    }

    @Test func unprofiledThreadsOpsAndBadQueriesAreErrorsNotCrashes() throws {
        #expect(throws: CostModelError.self) { try Self.fitted.predict(query(nil, threads: 3)) }
        #expect(throws: CostModelError.self) { try Self.fitted.predict(query(nil, prompt: 0)) }
        #expect(throws: CostModelError.self) { try Self.fitted.predict(query(nil, new: 0)) }
        let wrongPlan = ExecutionPlan(mode: .layers, layers: [true])
        #expect(throws: CostModelError.self) { try Self.fitted.predict(query(wrongPlan)) }
        var other = Self.fitted
        other.ops.removeAll { $0.key.op == .llmMLP }
        do {
            _ = try other.predict(query(nil))
            Issue.record("predicted without llm.mlp")
        } catch let e as CostModelError {
            #expect("\(e)".contains("llm.mlp") || "\(e)".contains("llm.attn"))
        }
        let tiny = Preset.tiny.config
        #expect(throws: CostModelError.self) {
            try Self.fitted.predict(PlanQuery(config: tiny, plan: nil, layout: try tiny.knobLayout(), promptTokens: 4,
                                              newTokens: 2, threads: 1))
        }
    }

    @Test func saysWhichOpsExtrapolate() throws {
        #expect(try Self.fitted.extrapolations(query(nil, prompt: 100)).isEmpty)
        let long = try Self.fitted.extrapolations(query(nil, prompt: 1500))
        #expect(long.contains { $0.contains("llm.attn prefill") && $0.contains("outside the profiled") }, "\(long)")
        // A decode MLP or lm_head reads no KV cache: a long context is no extrapolation for them.
        #expect(!long.contains { $0.contains("llm.mlp decode") || $0.contains("lm_head decode") }, "\(long)")
        var fullOnly = Self.fitted
        for i in fullOnly.ops.indices { fullOnly.ops[i].heads = 32...32 }
        let units = Array(0..<(layout.knobCount(.heads) / 2))
        #expect(try fullOnly.extrapolations(query(.enabling(units, layout: layout, mode: .heads))).contains { $0.contains("heads") })
        var idleOnly = Self.fitted
        for i in idleOnly.ops.indices { idleOnly.ops[i].contendedPoints = 0 }
        #expect(try idleOnly.extrapolations(query(nil, contention: .init(cpuBusyCores: 1, memBandwidthGBps: 0)))
            .contains { $0.contains("no contended points") })
    }

    @Test func aProfileOfWholeBlocksServesToo() throws {
        let p = SyntheticProfile()
        let ops: [(OpName, Phase)] = [(.visionEmbed, .prefill), (.visionBlock, .prefill), (.projector, .prefill),
                                      (.llmEmbed, .prefill), (.llmEmbed, .decode), (.llmBlock, .prefill), (.llmBlock, .decode),
                                      (.lmHead, .decode)]
        let (blocks, _) = try CostModel.fit(samples: p.samples(ops: ops), model: "tinyllava-1.1b", config: p.config,
                                            options: FitOptions(cores: 2))
        let pb = try blocks.predict(query(nil))
        #expect(pb.breakdown.first { $0.op == .llmBlock && $0.phase == .prefill }?.count == config.textConfig.numHiddenLayers)
        #expect(!pb.breakdown.contains { $0.op == .llmAttention })
        // lm_head of the last prompt position is predicted from its decode fit (same work).
        #expect(pb.breakdown.contains { $0.op == .lmHead && $0.phase == .prefill })
    }

    @Test func budgetsBecomeTheEngineSPlanSize() throws {
        let (plan, token) = try BudgetPlan.resolve(budget: 0.75, mode: .layers, tokenSelection: .none, layout: layout,
                                                   ranking: .defaultOrder)
        #expect(plan.enabledKnobCount == (try layout.enabledKnobs(budget: 0.75, mode: .layers)))
        #expect(!token)
    }
}
