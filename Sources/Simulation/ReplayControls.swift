import Contention

/// How a replay admits requests and guards them while they run. Live and simulated replays
/// take the same settings, so the two differ only in what runs a request (the engine or the
/// cost model), and `replay --simulate` is a forecast of the same policy.
public struct ReplayControls: Sendable, Equatable {
    /// When set, each request runs under a deadline guard with this slack: blocks are switched
    /// off part-way when the request runs late (policies with a cost model only; `flops` has
    /// no per-block prediction to guard with).
    public var guardSlack: Double?
    /// With the guard: the share of each budget kept free at its end (`DeadlineControl.reserveMs`).
    public var guardReserve: Double
    /// With the guard and a measured margin: the quantile of the recent engine ÷ predicted
    /// ratios the cheapest plan must fit at (`PlanningRequest.floorScale`).
    public var floorQuantile: Double
    /// Do not run requests the planner finds infeasible (admission control): they are recorded
    /// as `rejected` and the engine moves on to the next request.
    public var rejectInfeasible: Bool
    /// When set, the largest probability a request planned at idle may have of a burst
    /// beginning while it runs and making it miss (`pricingOnsets`); k is lowered, or the
    /// request rejected, until it is no riskier.
    public var onsetRisk: Double?
    /// Seconds of past bursts `onsetRisk` learns their rate and load from.
    public var onsetWindowS: Double
    /// With the guard: the share of the image tokens it keeps when it prunes them as a last
    /// resort (`DeadlineControl.pruneKeep`); nil: it never prunes.
    public var pruneKeep: Double?

    public init(guardSlack: Double? = nil, guardReserve: Double = 0, floorQuantile: Double = 1, rejectInfeasible: Bool = false,
                onsetRisk: Double? = nil, onsetWindowS: Double = 300, pruneKeep: Double? = nil) {
        self.guardSlack = guardSlack; self.guardReserve = guardReserve
        self.floorQuantile = floorQuantile; self.rejectInfeasible = rejectInfeasible
        self.onsetRisk = onsetRisk; self.onsetWindowS = onsetWindowS; self.pruneKeep = pruneKeep
    }

    /// The burst history `pricingOnsets` needs, or nil when onsets are not priced.
    func burstHistory() -> BurstHistory? { onsetRisk == nil ? nil : BurstHistory(windowS: onsetWindowS) }

    /// The scale the cheapest plan must fit at for a request planned at `level` (nil without
    /// the guard: then the plan's own margin decides feasibility).
    func floorScale(_ feedback: LatencyFeedback?, at level: ContentionLevel) -> Double? {
        guardSlack == nil ? nil : feedback?.scale(at: level, quantile: floorQuantile)
    }

    /// The guard's arithmetic for one request, live or simulated alike: nil without the guard
    /// or without a cost-model prediction to split (`flops`). The prior speed is the recent
    /// median engine ÷ predicted ratio at `level` (1 until `feedback` has enough).
    func deadlineControl(_ decision: PlanDecision, _ request: PlanningRequest, planner: Planner, feedback: LatencyFeedback?,
                         budgetMs: Double, cache: PredictionCache?) throws -> DeadlineControl? {
        guard let guardSlack, let prediction = decision.prediction else { return nil }
        var work = RequestWork(prediction: prediction, newTokens: request.newTokens)
        try work.pricePruning(k: decision.knobs, request, contention: request.contention, planner: planner, keep: pruneKeep, cache: cache)
        return DeadlineControl(work: work, plan: decision.plan, layout: planner.layout, order: planner.order,
                               prior: feedback?.scale(at: request.contention, quantile: 0.5) ?? 1, slack: guardSlack,
                               reserveMs: guardReserve * budgetMs, pruneKeep: pruneKeep)
    }
}
