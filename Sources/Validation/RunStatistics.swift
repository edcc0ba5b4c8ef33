import CGSL
import Foundation
import Simulation

/// Everything `validate` reports about one (policy, mode) group of replay results.
public struct RunStatistics: Codable, Sendable {
    public var policy: String
    public var mode: String
    /// Every request of the group.
    public var requests: Int
    /// Requests the planner declared infeasible (budget below the cheapest plan's prediction).
    /// Counted apart: they are not in `adherence`, and `infeasibleWithinBudget` says how many of
    /// them still made it.
    public var infeasible: Int
    /// Of those, run anyway and within budget; and not run at all (`rejected`).
    public var infeasibleWithinBudget: Int
    public var rejected: Int
    /// Adherence over the feasible requests (met = measured latency ≤ budget).
    public var adherence: Adherence
    public var verdict: Verdict
    public var claim: String
    /// Smallest run with these misses that would pass (MLPerf early stopping).
    public var requestsToPass: Int?
    /// Percentiles of latency/budget over the feasible requests (1.0 = exactly on budget).
    public var p50: Double
    public var p90: Double
    public var p99: Double
    /// A 95% confidence interval for the P99 of what the run was drawn from, from the order
    /// statistics alone (see `quantileInterval`); `p99Upper95` is nil when the run is too
    /// small to bound it from above (fewer than 368 feasible requests).
    public var p99Lower95: Double
    public var p99Upper95: Double?
    /// Mean latency/budget of the requests that met their budget: how much of the budget the
    /// schedule used (1.0 would be perfect packing).
    public var utilisation: Double
    /// Mean enabled knobs / total knobs over feasible requests, as they ran (after any blocks
    /// the deadline guard switched off).
    public var meanKnobFraction: Double
    /// Share of feasible requests in which the deadline guard switched blocks off part-way.
    public var guardShedShare: Double
    /// Share of feasible requests in which the deadline guard pruned the image tokens.
    public var guardPrunedShare: Double
    /// Mean |predicted − measured| / measured service time, over every request.
    public var predictionError: Double

    enum CodingKeys: String, CodingKey {
        case policy, mode, requests, infeasible, infeasibleWithinBudget = "infeasible_within_budget", rejected, adherence, verdict
        case claim, requestsToPass = "requests_to_pass", p50 = "p50_latency_over_budget", p90 = "p90_latency_over_budget"
        case p99 = "p99_latency_over_budget", p99Lower95 = "p99_lower_95", p99Upper95 = "p99_upper_95", utilisation = "budget_utilisation", meanKnobFraction = "mean_knob_fraction"
        case guardShedShare = "guard_shed_share", guardPrunedShare = "guard_pruned_share"
        case predictionError = "prediction_error"
    }

    public init(policy: String, mode: String, rows: [ReplayResult], target: Double, confidence: Double) {
        self.policy = policy
        self.mode = mode
        requests = rows.count
        let isInfeasible = { (r: ReplayResult) in Outcome(rawValue: r.outcome)?.isInfeasible ?? false }
        infeasible = rows.filter(isInfeasible).count
        infeasibleWithinBudget = rows.filter { $0.outcome == Outcome.infeasible.rawValue && $0.withinBudget }.count
        rejected = rows.filter { $0.outcome == Outcome.rejected.rawValue }.count
        let feasible = rows.filter { !isInfeasible($0) }
        adherence = Adherence(met: feasible.filter(\.withinBudget).count, total: feasible.count,
                              target: target, confidence: confidence)
        verdict = adherence.verdict
        claim = adherence.claim
        requestsToPass = adherence.requestsToPass
        let ratios = feasible.map { $0.latencyMs / $0.budgetMs }.sorted()
        p50 = Self.quantile(ratios, 0.50)
        p90 = Self.quantile(ratios, 0.90)
        p99 = Self.quantile(ratios, 0.99)
        let interval = Self.quantileInterval(ratios, 0.99, confidence: 0.95)
        p99Lower95 = interval.lower
        p99Upper95 = interval.upper
        let metRatios = feasible.filter(\.withinBudget).map { $0.latencyMs / $0.budgetMs }
        utilisation = metRatios.isEmpty ? 0 : metRatios.reduce(0, +) / Double(metRatios.count)
        let fractions = feasible.map { $0.totalKnobs == 0 ? 1 : Double($0.ranKnobs) / Double($0.totalKnobs) }
        meanKnobFraction = fractions.isEmpty ? 0 : fractions.reduce(0, +) / Double(fractions.count)
        guardShedShare = feasible.isEmpty ? 0 : Double(feasible.filter { $0.droppedKnobs > 0 }.count) / Double(feasible.count)
        guardPrunedShare = feasible.isEmpty ? 0 : Double(feasible.filter(\.guardPruned).count) / Double(feasible.count)
        let errors = rows.filter { $0.serviceMs > 0 }.map { abs($0.predictedMs - $0.serviceMs) / $0.serviceMs }
        predictionError = errors.isEmpty ? 0 : errors.reduce(0, +) / Double(errors.count)
    }

    /// A distribution-free two-sided `confidence` interval for the `q`-quantile of the
    /// population `sorted` was drawn from: order statistics `[x(r), x(s)]` (1-based ranks). The
    /// number of draws below the true quantile is Binomial(n, q), so `x(r)` lies above it with
    /// probability P(B < r) and `x(s)` below it with P(B ≥ s); `r` is the largest rank and `s`
    /// the smallest that keep each tail within (1 − confidence)/2 (GSL's binomial CDF).
    ///
    /// Why: a P99 from a few hundred requests rests on its few largest values. From 111
    /// requests the 95% interval runs from the 5th largest to beyond the largest (`upper`
    /// nil), so a 5% difference between two such P99s says nothing either way.
    /// Empty data: (0, nil).
    static func quantileInterval(_ sorted: [Double], _ q: Double, confidence: Double) -> (lower: Double, upper: Double?) {
        let n = sorted.count
        guard n > 0 else { return (0, nil) }
        let tail = (1 - confidence) / 2
        // P(B ≤ k) for B ~ Binomial(n, q), increasing in k, so both ranks are binary searches
        // (a 100k-request simulated run would otherwise cost ~10⁵ CDF calls per group).
        func cdf(_ k: Int) -> Double { gsl_cdf_binomial_P(UInt32(k), q, UInt32(n)) }
        /// The first k in `range` where `holds` turns true (it stays true after), or upperBound.
        func first(in range: Range<Int>, where holds: (Int) -> Bool) -> Int {
            var lo = range.lowerBound, hi = range.upperBound
            while lo < hi {
                let mid = (lo + hi) / 2
                if holds(mid) { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
        // r: the largest rank in 1...n with P(B ≤ r − 1) ≤ tail (1 if even P(B ≤ 0) is above it).
        let r = max(1, first(in: 0..<n) { cdf($0) > tail })
        // s: the smallest rank in r...n with P(B ≥ s) = 1 − P(B ≤ s − 1) ≤ tail; n + 1 if none.
        let s = first(in: r..<(n + 1)) { 1 - cdf($0 - 1) <= tail }
        return (sorted[r - 1], s <= n ? sorted[s - 1] : nil)
    }

    /// GSL's quantile of sorted data (linear interpolation between order statistics); 0 if empty.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted.withUnsafeBufferPointer { gsl_stats_quantile_from_sorted_data($0.baseAddress, 1, $0.count, q) }
    }
}

/// Simulated vs measured, for the requests replayed both ways under one policy.
public struct SimulationAgreement: Codable, Sendable {
    public var policy: String
    /// Requests present in both a `simulated` and a `live` results file.
    public var pairedRequests: Int
    /// Mean |simulated − live| / live end-to-end latency over the pairs.
    public var meanAbsoluteLatencyError: Double
    /// P99 of latency/budget in each mode over the pairs, and their relative difference
    /// (simulated − live) / live: the issue's "≤ 5%" figure.
    public var p99Simulated: Double
    public var p99Live: Double
    public var p99RelativeDifference: Double
    /// The same over each run's own feasible requests (the groups' P99 columns): the two runs
    /// need not find the same requests feasible, and this compares what each promised to meet.
    public var p99FeasibleSimulated: Double
    public var p99FeasibleLive: Double
    public var p99FeasibleRelativeDifference: Double
    /// The live P99's 95% interval (`RunStatistics.p99Lower95`/`p99Upper95`, nil upper: not
    /// bounded by so few requests), and whether the simulated P99 falls inside it: the
    /// difference above is then within what sampling alone gives.
    public var p99FeasibleLiveLower95: Double
    public var p99FeasibleLiveUpper95: Double?
    public var simulatedWithinLive95: Bool

    enum CodingKeys: String, CodingKey {
        case policy, pairedRequests = "paired_requests", meanAbsoluteLatencyError = "mean_abs_latency_error"
        case p99Simulated = "p99_simulated", p99Live = "p99_live", p99RelativeDifference = "p99_relative_difference"
        case p99FeasibleSimulated = "p99_feasible_simulated", p99FeasibleLive = "p99_feasible_live"
        case p99FeasibleRelativeDifference = "p99_feasible_relative_difference"
        case p99FeasibleLiveLower95 = "p99_feasible_live_lower_95", p99FeasibleLiveUpper95 = "p99_feasible_live_upper_95"
        case simulatedWithinLive95 = "p99_feasible_simulated_within_live_95"
    }

    /// nil when no request of `policy` ran in both modes. A request rejected unrun in either
    /// mode is not a pair: there is no engine time to compare.
    public init?(policy: String, simulated: [ReplayResult], live: [ReplayResult], target: Double = 0.99, confidence: Double = 0.99) {
        let ran = { (r: ReplayResult) in r.outcome != Outcome.rejected.rawValue }
        let liveByRequest = Dictionary(live.filter(ran).map { ($0.request, $0) }, uniquingKeysWith: { a, _ in a })
        let pairs = simulated.filter(ran).compactMap { s in liveByRequest[s.request].map { (s, $0) } }
        guard !pairs.isEmpty else { return nil }
        p99FeasibleSimulated = RunStatistics(policy: policy, mode: "simulated", rows: simulated, target: target, confidence: confidence).p99
        let liveStatistics = RunStatistics(policy: policy, mode: "live", rows: live, target: target, confidence: confidence)
        p99FeasibleLive = liveStatistics.p99
        p99FeasibleLiveLower95 = liveStatistics.p99Lower95
        p99FeasibleLiveUpper95 = liveStatistics.p99Upper95
        simulatedWithinLive95 = p99FeasibleSimulated >= p99FeasibleLiveLower95
            && p99FeasibleSimulated <= (p99FeasibleLiveUpper95 ?? .infinity)
        p99FeasibleRelativeDifference = p99FeasibleLive > 0 ? (p99FeasibleSimulated - p99FeasibleLive) / p99FeasibleLive : 0
        self.policy = policy
        pairedRequests = pairs.count
        let errors = pairs.filter { $0.1.latencyMs > 0 }.map { abs($0.0.latencyMs - $0.1.latencyMs) / $0.1.latencyMs }
        meanAbsoluteLatencyError = errors.isEmpty ? 0 : errors.reduce(0, +) / Double(errors.count)
        p99Simulated = RunStatistics.quantile(pairs.map { $0.0.latencyMs / $0.0.budgetMs }.sorted(), 0.99)
        p99Live = RunStatistics.quantile(pairs.map { $0.1.latencyMs / $0.1.budgetMs }.sorted(), 0.99)
        p99RelativeDifference = p99Live > 0 ? (p99Simulated - p99Live) / p99Live : 0
    }
}

extension SimulationAgreement {
    /// The live P99's 95% interval for a table cell, relative to the live P99, and whether the
    /// simulated P99 is inside: "−2.9% … +3.4%, sim inside", or "−12.0% … unbounded (too few
    /// requests), sim inside".
    public var liveIntervalSummary: String {
        func rel(_ x: Double) -> String {
            String(format: "%+.1f%%", p99FeasibleLive > 0 ? 100 * (x - p99FeasibleLive) / p99FeasibleLive : 0)
                .replacingOccurrences(of: "-", with: "−")
        }
        let upper = p99FeasibleLiveUpper95.map(rel) ?? "unbounded (too few requests)"
        return "\(rel(p99FeasibleLiveLower95)) … \(upper), sim \(simulatedWithinLive95 ? "inside" : "outside")"
    }
}

/// The whole validation: per-group statistics, simulated-vs-live agreement, the verdict of the
/// group the exit status is about, and the rows themselves (for the report).
public struct ValidationReport: Codable, Sendable {
    public var groups: [RunStatistics]
    public var agreement: [SimulationAgreement]
    /// Index into `groups` of the group the verdict (exit status) is taken from.
    public var decidingGroup: Int
    public var files: [String]

    public var verdict: Verdict { groups[decidingGroup].verdict }

    /// Groups rows by (policy, mode) in first-seen order. The deciding group is `policy`'s (or,
    /// when not given, the only policy, else `contention-aware`, else the first), in live mode
    /// when it has live rows — the verdict is about measured latency when there is one.
    public init(rows: [ReplayResult], files: [String], target: Double, confidence: Double, policy: String? = nil) throws {
        var keys: [String] = []
        var byKey: [String: [ReplayResult]] = [:]
        for row in rows {
            let key = row.policy + "\u{1}" + row.mode
            if byKey[key] == nil { keys.append(key) }
            byKey[key, default: []].append(row)
        }
        guard !keys.isEmpty else { throw ValidateError.noRows(files: files) }
        groups = keys.map { key in
            let r = byKey[key]!
            return RunStatistics(policy: r[0].policy, mode: r[0].mode, rows: r, target: target, confidence: confidence)
        }
        let policies = groups.map(\.policy).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let chosen: String
        if let policy {
            guard policies.contains(policy) else { throw ValidateError.unknownPolicy(policy, present: policies) }
            chosen = policy
        } else if policies.count == 1 {
            chosen = policies[0]
        } else {
            chosen = policies.contains("contention-aware") ? "contention-aware" : policies[0]
        }
        decidingGroup = groups.firstIndex { $0.policy == chosen && $0.mode == "live" }
            ?? groups.firstIndex { $0.policy == chosen }!
        agreement = policies.compactMap { p in
            SimulationAgreement(policy: p, simulated: byKey[p + "\u{1}simulated"] ?? [], live: byKey[p + "\u{1}live"] ?? [],
                                target: target, confidence: confidence)
        }
        self.files = files
    }
}

/// User errors of `validate`.
public enum ValidateError: Error, CustomStringConvertible, Sendable {
    case noRows(files: [String])
    case unknownPolicy(String, present: [String])
    case badTarget(String)

    public var description: String {
        switch self {
        case let .noRows(files): return "\(files.joined(separator: ", ")): no result rows (only a header)"
        case let .unknownPolicy(p, present): return "--policy \(p): no such policy in the results (present: \(present.joined(separator: ", ")))"
        case let .badTarget(reason): return reason
        }
    }
}
