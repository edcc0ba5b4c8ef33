import AdaptiveInference
import Contention
import CostModel
import LLaVAModel

/// How a budget becomes a plan: the baselines and ours, as `--policy` spells them.
public enum PlanningPolicy: String, CaseIterable, Codable, Sendable {
    /// The paper: the budget as a fraction of the full model, turned into k by the knob grid
    /// (`KnobLayout.enabledKnobs`), the fraction taken against the full model's predicted latency
    /// at idle. Blind to contention, queueing and how cost really scales with k.
    case flops
    /// The cost model at idle: contention ignored, queueing and the safety margin included.
    case profile
    /// Ours: the cost model under the sensed contention, plus queueing and the safety margin.
    case contentionAware = "contention-aware"
}

/// One request as the planner sees it at the moment it can start.
public struct PlanningRequest: Sendable {
    public var budgetMs: Double
    public var promptTokens: Int
    public var hasImage: Bool
    public var newTokens: Int
    /// Background load sensed now (live) or read from the trace (simulated).
    public var contention: ContentionLevel
    /// Time already spent waiting for the engine; it comes out of the budget.
    public var queuedMs: Double
    /// A measured factor on the cost model's predictions (`LatencyFeedback`); when set it
    /// replaces the fit's static relative margin. Used by `contention-aware` only.
    public var measuredScale: Double?
    /// With a deadline guard: the (higher) factor the cheapest plan must fit with for the
    /// request to count as feasible. The guard can shed every switchable block but not the
    /// prefix, vision tower or decode's fixed part, so that floor must fit a slow run on its
    /// own, while the chosen k may plan for a typical one. nil: the same factor as every k.
    /// The planner uses the larger of this and the fit's static margin (`relativeMargin`).
    public var floorScale: Double?

    public init(budgetMs: Double, promptTokens: Int, hasImage: Bool, newTokens: Int,
                contention: ContentionLevel, queuedMs: Double = 0, measuredScale: Double? = nil, floorScale: Double? = nil) {
        self.budgetMs = budgetMs; self.promptTokens = promptTokens; self.hasImage = hasImage
        self.newTokens = newTokens; self.contention = contention; self.queuedMs = queuedMs
        self.measuredScale = measuredScale; self.floorScale = floorScale
    }
}

/// The planner's choice for one request.
public struct PlanDecision: Sendable, Equatable {
    public var plan: ExecutionPlan
    /// Enabled knobs (the paper's k) and the total.
    public var knobs: Int
    public var totalKnobs: Int
    /// Predicted engine time of `plan` under the contention the policy assumes (no margin), ms.
    public var predictedServiceMs: Double
    /// Even the cheapest plan was predicted over the budget; `plan` is the cheapest.
    public var infeasible: Bool
    /// The cost model's prediction for `plan` (nil for `flops`, which believes a FLOP share):
    /// what a `DeadlineGuard` splits into per-block work.
    public var prediction: LatencyPrediction? = nil
}

/// Picks, per request, the plan with the most enabled knobs (first knobs of `order`) whose
/// predicted latency fits the budget. Latency grows with k, so the largest fitting k is found
/// by bisection: ⌈log₂(knobs + 1)⌉ + 1 predictions per request.
public struct Planner: Sendable {
    public var policy: PlanningPolicy
    public var config: LlavaConfig
    public var layout: KnobLayout
    public var mode: PlanMode
    /// Knob indices, most important first: prefixes of this are the plans considered.
    public var order: [Int]
    public var predictor: any PlanLatencyPredicting
    public var threads: Int
    public var tokenSelection: TokenSelection

    public init(policy: PlanningPolicy, config: LlavaConfig, layout: KnobLayout, mode: PlanMode = .layers, order: [Int]? = nil,
                predictor: any PlanLatencyPredicting, threads: Int, tokenSelection: TokenSelection = .none) {
        self.policy = policy; self.config = config; self.layout = layout; self.mode = mode
        self.order = order ?? Array(0..<layout.knobCount(mode))
        self.predictor = predictor; self.threads = threads; self.tokenSelection = tokenSelection
    }

    /// A planner for a loaded model, in its own knob order (a calibration's order when it has
    /// one; otherwise earliest knobs first, which is also the scheduler's static order).
    public init(policy: PlanningPolicy, model: LlavaModel, mode: PlanMode = .layers,
                predictor: any PlanLatencyPredicting, threads: Int) {
        let order: [Int]
        if case let .calibration(file, _) = model.ranking {
            order = mode == .layers ? file.layerOrder : file.unitOrder
        } else {
            order = Array(0..<model.layout.knobCount(mode))
        }
        self.init(policy: policy, config: model.config, layout: model.layout, mode: mode, order: order,
                  predictor: predictor, threads: threads)
    }

    public var totalKnobs: Int { order.count }

    /// The plan with the first `k` knobs of `order` on.
    public func plan(k: Int) -> ExecutionPlan {
        .enabling(Array(order.prefix(k)), layout: layout, mode: mode, tokenSelection: tokenSelection)
    }

    /// The plan for one request. `cache` (one per replay) remembers predictions across
    /// requests of the same shape and contention, which a long replay repeats constantly.
    public func decide(_ request: PlanningRequest, cache: PredictionCache? = nil) throws -> PlanDecision {
        switch policy {
        case .flops: return try decideFLOPs(request, cache: cache)
        case .profile: return try decideByModel(request, contention: .idle, scale: nil, cache: cache)
        case .contentionAware:
            return try decideByModel(request, contention: request.contention, scale: request.measuredScale,
                                     floorScale: request.floorScale, cache: cache)
        }
    }

    /// The predictor's answer for the first `k` knobs (nil = the full model, no plan).
    public func predict(k: Int?, promptTokens: Int, hasImage: Bool, newTokens: Int, contention: ContentionLevel,
                        cache: PredictionCache? = nil) throws -> LatencyPrediction {
        let key = PredictionCache.Key(k: k ?? -1, promptTokens: promptTokens, hasImage: hasImage, newTokens: newTokens,
                                      cpu: contention.cpuBusyCores, bw: contention.memBandwidthGBps, selection: tokenSelection)
        if let hit = cache?.entries[key] { return hit }
        let p = try predictor.predict(PlanQuery(config: config, plan: k.map(plan(k:)), layout: layout, promptTokens: promptTokens,
                                                hasImage: hasImage, newTokens: newTokens, threads: threads, contention: contention))
        cache?.entries[key] = p
        return p
    }

    func predict(k: Int?, _ r: PlanningRequest, contention: ContentionLevel, cache: PredictionCache?) throws -> LatencyPrediction {
        try predict(k: k, promptTokens: r.promptTokens, hasImage: r.hasImage, newTokens: r.newTokens, contention: contention, cache: cache)
    }

    private func decideByModel(_ r: PlanningRequest, contention: ContentionLevel, scale: Double?, floorScale: Double? = nil,
                               cache shared: PredictionCache?) throws -> PlanDecision {
        let available = r.budgetMs - r.queuedMs
        var cache: [Int: LatencyPrediction] = [:]
        func fits(_ k: Int, scale: Double?) throws -> Bool {
            let p = try cache[k] ?? predict(k: k, r, contention: contention, cache: shared)
            cache[k] = p
            return p.totalMs * (scale ?? (1 + max(0, p.relativeMargin))) <= available
        }
        func fits(_ k: Int) throws -> Bool { try fits(k, scale: scale) }
        let n = totalKnobs
        // The floor is never below the fit's own margin either: a measured window of a few
        // requests can miss the tail the profile's whole requests showed.
        let floor = try floorScale.map { f in
            max(f, scale ?? 0, 1 + max(0, try predict(k: 0, r, contention: contention, cache: shared).relativeMargin))
        }
        guard try fits(0, scale: floor ?? scale) else {
            return PlanDecision(plan: plan(k: 0), knobs: 0, totalKnobs: n, predictedServiceMs: cache[0]!.totalMs, infeasible: true,
                                prediction: cache[0])
        }
        // Invariant: fits(lo), !fits(hi) (hi = n + 1 stands for "beyond every plan").
        var lo = 0, hi = n + 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if try fits(mid) { lo = mid } else { hi = mid }
        }
        return PlanDecision(plan: plan(k: lo), knobs: lo, totalKnobs: n, predictedServiceMs: cache[lo]!.totalMs, infeasible: false,
                            prediction: cache[lo])
    }

    /// The plan with the first `k` knobs for `r`, predicted under its contention: what an
    /// admission rule beyond the planner's own (`ReplayControls.pricingOnsets`) settles on.
    public func decision(k: Int, _ r: PlanningRequest, cache: PredictionCache? = nil) throws -> PlanDecision {
        let p = try predict(k: k, r, contention: r.contention, cache: cache)
        return PlanDecision(plan: plan(k: k), knobs: k, totalKnobs: totalKnobs, predictedServiceMs: p.totalMs, infeasible: false,
                            prediction: p)
    }

    /// The cheapest plan for `r`, marked infeasible: a request such a rule turns away.
    public func cheapest(_ r: PlanningRequest, cache: PredictionCache? = nil) throws -> PlanDecision {
        var d = try decision(k: 0, r, cache: cache)
        d.infeasible = true
        return d
    }

    /// The paper's mapping, with the budget made relative to the full model at idle.
    private func decideFLOPs(_ r: PlanningRequest, cache: PredictionCache?) throws -> PlanDecision {
        let full = try predict(k: nil, r, contention: .idle, cache: cache).totalMs
        let relative = min(1, max(0, r.budgetMs / full))
        let k = try layout.enabledKnobs(budget: relative, mode: mode)
        let chosen = plan(k: k)
        // Its belief: latency proportional to the executed fraction of the decoder.
        let believed = full * chosen.keptFraction(layout: layout)
        let prefixOnly = plan(k: 0).keptFraction(layout: layout)
        return PlanDecision(plan: chosen, knobs: k, totalKnobs: totalKnobs, predictedServiceMs: believed,
                            infeasible: k == 0 && relative < prefixOnly)
    }
}

/// Predictions remembered by (k, request shape, contention) for one planner and predictor.
/// Not thread-safe: one per replay, used from one thread.
public final class PredictionCache: @unchecked Sendable {
    struct Key: Hashable {
        var k: Int, promptTokens: Int, hasImage: Bool, newTokens: Int
        var cpu: Double, bw: Double
        var selection: TokenSelection
    }
    var entries: [Key: LatencyPrediction] = [:]
    public init() {}
}
