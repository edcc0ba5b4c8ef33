import AdaptiveInference
import Contention

/// One replayed request: the row of the replay results table (SQLite) and CSV, as DESIGN.md's
/// "Replay results" format. Times are seconds from the start of the replay; latencies in ms.
public struct ReplayResult: Codable, Sendable, Hashable {
    /// Request index in the request trace (0-based).
    public var request: Int
    /// `contention-aware`, `profile` or `flops`.
    public var policy: String
    /// `simulated` (virtual time, cost model) or `live` (real engine under real stress).
    public var mode: String
    public var arrivalS: Double
    public var startS: Double
    public var endS: Double
    public var budgetMs: Double
    public var promptTokens: Int
    public var newTokens: Int
    /// End-to-end latency as the user sees it: end − arrival (queueing included), ms.
    public var latencyMs: Double
    /// Engine time only: end − start, ms.
    public var serviceMs: Double
    /// What the planner predicted for the chosen plan (service time, queueing added), ms.
    public var predictedMs: Double
    /// The plan's string form (`ExecutionPlan.description`).
    public var plan: String
    /// Enabled knobs of the plan, and the total.
    public var knobs: Int
    public var totalKnobs: Int
    /// Background load the sensor (live) or the trace (simulated) reported at planning time.
    public var sensed: ContentionLevel
    /// `met`, `missed`, `infeasible` (even the cheapest plan was predicted over budget; it ran)
    /// or `rejected` (infeasible and not run).
    public var outcome: String
    /// The plan the request ended with, and its knobs: `plan`/`knobs` unless the deadline
    /// guard switched blocks off part-way (`DeadlineGuard`).
    public var ranPlan: String
    public var ranKnobs: Int

    /// Memberwise.
    public init(request: Int, policy: String, mode: String, arrivalS: Double, startS: Double, endS: Double,
                budgetMs: Double, promptTokens: Int, newTokens: Int, latencyMs: Double, serviceMs: Double,
                predictedMs: Double, plan: String, knobs: Int, totalKnobs: Int, sensed: ContentionLevel, outcome: String,
                ranPlan: String? = nil, ranKnobs: Int? = nil) {
        self.request = request; self.policy = policy; self.mode = mode; self.arrivalS = arrivalS; self.startS = startS
        self.endS = endS; self.budgetMs = budgetMs; self.promptTokens = promptTokens; self.newTokens = newTokens
        self.latencyMs = latencyMs; self.serviceMs = serviceMs; self.predictedMs = predictedMs; self.plan = plan
        self.knobs = knobs; self.totalKnobs = totalKnobs; self.sensed = sensed; self.outcome = outcome
        self.ranPlan = ranPlan ?? plan; self.ranKnobs = ranKnobs ?? knobs
    }

    /// The row of a request rejected as infeasible at `decidedS` (seconds from the replay's
    /// start): nothing ran, its latency is the wait before the decision.
    public static func rejected(request: Int, policy: String, mode: String, arrivalS: Double, decidedS: Double,
                                budgetMs: Double, promptTokens: Int, newTokens: Int, decision: PlanDecision,
                                sensed: ContentionLevel) -> ReplayResult {
        ReplayResult(request: request, policy: policy, mode: mode, arrivalS: arrivalS, startS: decidedS, endS: decidedS,
                     budgetMs: budgetMs, promptTokens: promptTokens, newTokens: newTokens, latencyMs: (decidedS - arrivalS) * 1000,
                     serviceMs: 0, predictedMs: decision.predictedServiceMs, plan: decision.plan.description, knobs: decision.knobs,
                     totalKnobs: decision.totalKnobs, sensed: sensed, outcome: Outcome.rejected.rawValue, ranPlan: "", ranKnobs: 0)
    }

    /// Whether the deadline guard pruned the image tokens part-way (`--guard-prune`): the plan
    /// that ran has a token selection the chosen one had not.
    public var guardPruned: Bool {
        guard ranPlan.contains("fastv"), let ran = try? ExecutionPlan(parsing: ranPlan) else { return false }
        return ran.tokenSelection != (try? ExecutionPlan(parsing: plan))?.tokenSelection
    }

    /// Knobs the deadline guard switched off part-way (0 when the plan ran as chosen).
    public var droppedKnobs: Int { outcome == Outcome.rejected.rawValue ? 0 : max(0, knobs - ranKnobs) }

    enum CodingKeys: String, CodingKey {
        case request, policy, mode, arrivalS = "arrival_s", startS = "start_s", endS = "end_s", budgetMs = "budget_ms"
        case promptTokens = "prompt_tokens", newTokens = "new_tokens", latencyMs = "latency_ms", serviceMs = "service_ms"
        case predictedMs = "predicted_ms", plan, knobs, totalKnobs = "total_knobs", sensed, outcome
        case ranPlan = "ran_plan", ranKnobs = "ran_knobs"
    }

    /// CSV header of a results file (one schema for simulated and live replays).
    public static let csvColumns = ["request", "policy", "mode", "arrival_s", "start_s", "end_s", "budget_ms",
                                    "prompt_tokens", "new_tokens", "latency_ms", "service_ms", "predicted_ms",
                                    "plan", "knobs", "total_knobs", "sensed_cpu_cores", "sensed_mem_bw_gbps", "outcome",
                                    "ran_plan", "ran_knobs"]

    /// The header before the deadline guard existed (no `ran_plan`, `ran_knobs`): still read,
    /// each row then ran its plan as chosen.
    public static let csvColumnsWithoutRan = Array(csvColumns.dropLast(2))
}
