import ArgumentParser
import Contention
import Foundation
import Simulation
import Validation

/// `adallava validate`: did the schedule stay under budget, and what can the run claim?
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decide from replay results whether a schedule meets its latency budgets, with statistical confidence.",
        discussion: """
        Reads one or more results files written by `adallava replay` (simulated and live, any \
        policies), groups the rows by policy and mode, and for each group reports: requests \
        within budget (measured latency ≤ budget) and the adherence the run can claim — the \
        exact one-sided Clopper–Pearson lower confidence bound on the met rate, e.g. \
        "≥ 97.7% with 99% confidence" for 200 requests and no miss — P50/P90/P99 of \
        latency/budget, budget utilisation (mean latency/budget of met requests) and the \
        planner's prediction error. Requests the planner declared infeasible (budget below the \
        cheapest plan's predicted latency) are counted apart and not in the adherence. When a \
        policy was replayed both simulated and live, the two are compared request by request.

        VERDICT AND EXIT STATUS (for one group: --policy, or the only policy, else \
        contention-aware; live rows when present)
          0  pass: the lower confidence bound on the met rate is ≥ --target.
          1  fail: the upper confidence bound is < --target (the run shows it misses).
          2  too few requests to decide: neither bound settles it; the report says how many \
        requests a run with no further miss would need (MLPerf-style early stopping: at \
        target 0.99 and 99% confidence, 459 with no miss, 1001 with three). Input errors also \
        exit 2, with `error: …` on standard error.

        EXAMPLES
          adallava validate --results results.csv
          adallava validate --results live.csv --results sim.csv --report report.html --trace traces/bursty-600s.csv
          adallava validate --results results.csv --target 0.95 --json
        """
    )

    @Option(name: .customLong("results"), help: ArgumentHelp("Results CSV from `adallava replay` (repeat for several).", valueName: "file"))
    var results: [String] = []

    @Option(help: "Share of feasible requests that must meet their budget.")
    var target: Double = 0.99

    @Option(help: "One-sided confidence of the bounds.")
    var confidence: Double = 0.99

    @Option(help: ArgumentHelp("Policy whose verdict sets the exit status (default: the only one, else contention-aware).", valueName: "name"))
    var policy: String?

    @Option(help: ArgumentHelp("Write a self-contained HTML report (SVG charts) here.", valueName: "file"))
    var report: String?

    @Option(help: ArgumentHelp("Contention trace to draw under the timelines (default: what each request sensed).", valueName: "file"))
    var trace: String?

    @OptionGroup var output: OutputOptions

    mutating func validate() throws {
        if results.isEmpty { throw ValidationError("give at least one --results file") }
        guard target > 0, target < 1 else { throw ValidationError("--target must be in (0, 1), got \(target)") }
        guard confidence > 0, confidence < 1 else { throw ValidationError("--confidence must be in (0, 1), got \(confidence)") }
    }

    func run() throws {
        var rows: [ReplayResult] = []
        for path in results {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw CLIError(message: "\(path): cannot read (\(error.localizedDescription))")
            }
            rows += try ReplayResult.parseCSV(text, file: path)
        }
        let validation = try ValidationReport(rows: rows, files: results, target: target, confidence: confidence, policy: policy)
        if let report {
            let steps = try trace.map { path in
                try ContentionTrace.load(URL(fileURLWithPath: path)).points.map { ContentionStep(t: $0.t, level: $0.level) }
            }
            let html = HTMLReport(report: validation, rows: rows, trace: steps, traceName: trace).html
            do { try html.write(toFile: report, atomically: true, encoding: .utf8) } catch {
                throw CLIError(message: "\(report): cannot write (\(error.localizedDescription))")
            }
            progress("report written to \(report)")
        }
        print(output.json ? try jsonString(validation) : table(validation))
        throw ExitCode(validation.verdict.exitCode)
    }

    private func table(_ v: ValidationReport) -> String {
        func pct(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f%%", 100 * x) }
        func r(_ x: Double) -> String { String(format: "%.3f", x) }
        let header = ["policy", "mode", "requests", "infeasible", "met", "missed", "can claim", "verdict",
                      "P50 lat/budget", "P90", "P99", "utilisation", "knobs on", "guard shed", "guard pruned", "pred. error"]
        let body = v.groups.map { g in
            let none = g.adherence.total == 0  // no feasible request: no percentiles
            return [g.policy, g.mode, String(g.requests), String(g.infeasible), String(g.adherence.met), String(g.adherence.misses),
                    g.claim, g.verdict.rawValue] + (none ? ["–", "–", "–", "–", "–", "–", "–"]
                        : [r(g.p50), r(g.p90), r(g.p99), pct(g.utilisation), pct(g.meanKnobFraction, 0), pct(g.guardShedShare),
                           pct(g.guardPrunedShare)])
                + [pct(g.predictionError)]
        }
        var lines = [markdownTable(header: header, rows: body)]
        if !v.agreement.isEmpty {
            lines.append("")
            lines.append(markdownTable(
                header: ["policy", "paired (ran in both)", "mean |sim − live|/live", "P99 sim", "P99 live", "P99 difference",
                         "P99 feasible sim", "P99 feasible live", "difference", "live P99 95% interval"],
                rows: v.agreement.map { [$0.policy, String($0.pairedRequests), pct($0.meanAbsoluteLatencyError),
                                         r($0.p99Simulated), r($0.p99Live), pct($0.p99RelativeDifference),
                                         r($0.p99FeasibleSimulated), r($0.p99FeasibleLive), pct($0.p99FeasibleRelativeDifference),
                                         $0.liveIntervalSummary] }))
        }
        let g = v.groups[v.decidingGroup]
        lines.append("")
        lines.append("\(g.policy) (\(g.mode)): \(g.adherence.summary)")
        if g.infeasible > 0 {
            let ran = g.infeasible - g.rejected
            lines.append("\(g.infeasible) infeasible request(s) not counted above: "
                + (g.rejected > 0 ? "\(g.rejected) rejected unrun, " : "")
                + "\(ran) run anyway (\(g.infeasibleWithinBudget) of them still within budget)")
        }
        return lines.joined(separator: "\n")
    }
}
