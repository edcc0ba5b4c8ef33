import Contention
import Foundation
import Simulation

/// The validation report as one self-contained HTML page: verdict, per-policy comparison,
/// simulated-vs-live agreement, one timeline per group (latency vs budget with the background
/// load beneath), and the list of misses. Inline CSS and SVG only; opens from disk anywhere.
public struct HTMLReport {
    public var report: ValidationReport
    public var rows: [ReplayResult]
    /// The contention trace to draw; nil draws what each request sensed.
    public var trace: [ContentionStep]?
    public var traceName: String?
    /// Misses listed in full before the list is cut (the rest are counted).
    public var missListLimit = 300

    public init(report: ValidationReport, rows: [ReplayResult], trace: [ContentionStep]? = nil, traceName: String? = nil) {
        self.report = report; self.rows = rows; self.trace = trace; self.traceName = traceName
    }

    public var html: String {
        let deciding = report.groups[report.decidingGroup]
        var h = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8">
        <title>adallava validate — \(escape(deciding.policy)) (\(escape(deciding.mode)))</title>
        <style>
        body { font: 14px/1.45 system-ui, sans-serif; color: #202124; margin: 24px auto; max-width: 1140px; padding: 0 16px; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
        .files { color: #5f6368; font-size: 12px; }
        .verdict { padding: 12px 16px; border-radius: 6px; margin: 14px 0; font-size: 15px; }
        .pass { background: #e6f4ea; border-left: 6px solid #1e8e3e; }
        .fail { background: #fce8e6; border-left: 6px solid #d93025; }
        .too-few-requests { background: #fef7e0; border-left: 6px solid #e8a317; }
        table { border-collapse: collapse; font-size: 12px; max-width: 100%; }
        th, td { padding: 3px 4px; border-bottom: 1px solid #e8eaed; text-align: right; white-space: nowrap; }
        th { white-space: normal; vertical-align: bottom; }
        th { background: #f1f3f4; font-weight: 600; } td.l, th.l { text-align: left; }
        tr.deciding td { font-weight: 600; }
        .note { color: #5f6368; font-size: 12px; max-width: 900px; }
        code { font-size: 12px; }
        </style></head><body>
        <h1>Latency-budget validation</h1>
        <div class="files">\(report.files.map(escape).joined(separator: " · "))</div>
        <div class="verdict \(deciding.verdict.rawValue)"><b>\(verdictWord(deciding.verdict))</b> — \(escape(deciding.policy)), \(escape(deciding.mode)): \(escape(deciding.adherence.summary))</div>

        """
        h += comparisonTable
        h += agreementTable
        for (i, group) in report.groups.enumerated() {
            let groupRows = rows.filter { $0.policy == group.policy && $0.mode == group.mode }
            let contention = trace ?? Self.sensedSteps(groupRows)
            let source = trace == nil ? "as sensed at each request" : (traceName ?? "trace")
            h += "<h2>\(escape(group.policy)) · \(escape(group.mode))\(i == report.decidingGroup ? " (verdict)" : "")</h2>\n"
            h += "<p class=\"note\">\(group.adherence.met) of \(group.adherence.total) feasible requests within budget, "
                + "\(group.infeasible) infeasible; claim \(escape(group.claim)). "
                + "<span style=\"color:#1e8e3e\">●</span> met <span style=\"color:#d93025\">●</span> missed "
                + "<span style=\"color:#e8a317\">●</span> infeasible (rejected requests did not run and are not drawn).</p>\n"
            h += TimelineChart(rows: groupRows, contention: contention, contentionSource: source).svg + "\n"
        }
        h += missList
        h += """
        <p class="note">Adherence is over feasible requests (an infeasible request's budget was below the cheapest \
        plan's predicted latency; it ran the cheapest plan and is counted apart). The claim is the exact \
        (Clopper–Pearson) one-sided lower confidence bound on the met rate; PASS when it reaches the target, FAIL \
        when the one-sided upper bound is below the target, otherwise too few requests to decide \
        (MLPerf-style early stopping). Utilisation is the mean latency/budget of met requests.</p>
        </body></html>

        """
        return h
    }

    private func verdictWord(_ v: Verdict) -> String {
        switch v {
        case .pass: return "PASS"
        case .fail: return "FAIL"
        case .undecided: return "TOO FEW REQUESTS"
        }
    }

    private var comparisonTable: String {
        var h = "<h2>Policies</h2>\n<table><tr><th class=\"l\">policy</th><th class=\"l\">mode</th><th>requests</th>"
            + "<th>infeasible</th><th>met</th><th>missed</th><th>met share</th><th class=\"l\">adherence it can claim</th><th>verdict</th>"
            + "<th>P50</th><th>P90</th><th>P99</th><th>utilisation</th><th>knobs on</th><th>guard shed</th><th>guard pruned</th><th>pred. err.</th></tr>\n"
        for (i, g) in report.groups.enumerated() {
            h += "<tr\(i == report.decidingGroup ? " class=\"deciding\"" : "")><td class=\"l\">\(escape(g.policy))</td>"
                + "<td class=\"l\">\(escape(g.mode))</td><td>\(g.requests)</td><td>\(g.infeasible)</td>"
                + "<td>\(g.adherence.met)</td><td>\(g.adherence.misses)</td><td>\(pct(g.adherence.metShare, 2))</td>"
                + "<td class=\"l\">\(escape(g.claim.replacingOccurrences(of: " with ", with: " (") + ")"))</td><td>\(g.verdict == .undecided ? "too few" : verdictWord(g.verdict))</td>"
                + (g.adherence.total == 0  // no feasible request: nothing to take percentiles of
                    ? "<td>–</td><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td><td>–</td>"
                    : "<td>\(ratio(g.p50))</td><td>\(ratio(g.p90))</td><td>\(ratio(g.p99))</td>"
                        + "<td>\(pct(g.utilisation, 1))</td><td>\(pct(g.meanKnobFraction, 0))</td><td>\(pct(g.guardShedShare, 1))</td><td>\(pct(g.guardPrunedShare, 1))</td>")
                + "<td>\(pct(g.predictionError, 1))</td></tr>\n"
        }
        h += "</table>\n<p class=\"note\">P50/P90/P99 are of latency/budget (1.00 = exactly on budget). "
            + "Knobs on: as the requests ran. Guard shed / pruned: requests in which the deadline guard switched blocks off / pruned the image tokens part-way. "
            + "Pred. error: mean |predicted − measured| / measured engine time.</p>\n"
        return h
    }

    private var agreementTable: String {
        guard !report.agreement.isEmpty else { return "" }
        var h = "<h2>Simulated vs live</h2>\n<table><tr><th class=\"l\">policy</th><th>paired requests</th>"
            + "<th>mean |sim − live| / live</th><th>P99 sim</th><th>P99 live</th><th>P99 difference</th>"
            + "<th>P99 feasible sim</th><th>P99 feasible live</th><th>difference</th><th class=\"l\">live P99 95% interval</th></tr>\n"
        for a in report.agreement {
            h += "<tr><td class=\"l\">\(escape(a.policy))</td><td>\(a.pairedRequests)</td><td>\(pct(a.meanAbsoluteLatencyError, 1))</td>"
                + "<td>\(ratio(a.p99Simulated))</td><td>\(ratio(a.p99Live))</td><td>\(pct(a.p99RelativeDifference, 1))</td>"
                + "<td>\(ratio(a.p99FeasibleSimulated))</td><td>\(ratio(a.p99FeasibleLive))</td><td>\(pct(a.p99FeasibleRelativeDifference, 1))</td>"
                + "<td class=\"l\">\(escape(a.liveIntervalSummary))</td></tr>\n"
        }
        return h + "</table>\n"
    }

    private var missList: String {
        let misses = rows.filter { !$0.withinBudget || (Outcome(rawValue: $0.outcome)?.isInfeasible ?? false) }
        var h = "<h2>Misses and infeasible requests (\(misses.count))</h2>\n"
        guard !misses.isEmpty else { return h + "<p>None: every request met its budget.</p>\n" }
        h += "<table><tr><th class=\"l\">policy</th><th class=\"l\">mode</th><th>request</th><th>arrival s</th><th>budget ms</th>"
            + "<th>latency ms</th><th>over</th><th>queued ms</th><th>predicted ms</th><th class=\"l\">sensed</th>"
            + "<th>knobs</th><th class=\"l\">outcome</th><th class=\"l\">plan</th></tr>\n"
        for r in misses.prefix(missListLimit) {
            let queued = (r.startS - r.arrivalS) * 1000
            h += "<tr><td class=\"l\">\(escape(r.policy))</td><td class=\"l\">\(escape(r.mode))</td><td>\(r.request)</td>"
                + "<td>\(String(format: "%.2f", r.arrivalS))</td><td>\(String(format: "%.1f", r.budgetMs))</td>"
                + "<td>\(String(format: "%.1f", r.latencyMs))</td><td>\(pct(r.latencyMs / r.budgetMs - 1, 1))</td>"
                + "<td>\(String(format: "%.1f", queued))</td><td>\(String(format: "%.1f", r.predictedMs))</td>"
                + "<td class=\"l\">\(escape(r.sensed.description))</td><td>\(r.ranKnobs == r.knobs ? "" : "\(r.ranKnobs) of ")\(r.knobs)/\(r.totalKnobs)</td>"
                + "<td class=\"l\">\(escape(r.outcome))</td><td class=\"l\"><code>\(escape(r.plan))</code></td></tr>\n"
        }
        h += "</table>\n"
        if misses.count > missListLimit { h += "<p class=\"note\">… and \(misses.count - missListLimit) more (see the results CSV).</p>\n" }
        return h
    }

    /// What the requests sensed, as steps at their arrival times (sorted; repeats merged).
    static func sensedSteps(_ rows: [ReplayResult]) -> [ContentionStep] {
        var steps: [ContentionStep] = []
        for r in rows.sorted(by: { $0.arrivalS < $1.arrivalS }) where steps.last?.level != r.sensed {
            steps.append(ContentionStep(t: steps.isEmpty ? 0 : r.arrivalS, level: r.sensed))
        }
        return steps
    }

    private func pct(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f%%", 100 * x) }
    private func ratio(_ x: Double) -> String { String(format: "%.3f", x) }
}
