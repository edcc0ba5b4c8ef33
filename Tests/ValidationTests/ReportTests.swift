import Contention
import Foundation
import Simulation
import Testing
@testable import Validation

/// Rows of a made-up run: these tests check arithmetic on given rows, not any latency claim.
func row(_ i: Int, policy: String = "contention-aware", mode: String = "live", latency: Double, budget: Double,
         outcome: Outcome? = nil, predicted: Double? = nil) -> ReplayResult {
    let t = Double(i)
    let o = outcome ?? (latency <= budget ? .met : .missed)
    return ReplayResult(request: i, policy: policy, mode: mode, arrivalS: t, startS: t, endS: t + latency / 1000,
                        budgetMs: budget, promptTokens: 32, newTokens: 8, latencyMs: latency, serviceMs: latency,
                        predictedMs: predicted ?? latency, plan: "L:1100", knobs: 2, totalKnobs: 4,
                        sensed: ContentionLevel(cpuBusyCores: Double(i % 2), memBandwidthGBps: 0), outcome: o.rawValue)
}

@Suite("run statistics, the results CSV and the HTML report")
struct ReportTests {
    @Test("infeasible requests are counted apart and kept out of the adherence")
    func infeasibleApart() {
        var rows = (0..<10).map { row($0, latency: 80, budget: 100) }
        rows.append(row(10, latency: 300, budget: 100, outcome: .infeasible))
        rows.append(row(11, latency: 90, budget: 100, outcome: .infeasible))
        rows.append(row(12, latency: 120, budget: 100))
        let s = RunStatistics(policy: "p", mode: "live", rows: rows, target: 0.99, confidence: 0.99)
        #expect(s.requests == 13)
        #expect(s.infeasible == 2)
        #expect(s.infeasibleWithinBudget == 1)
        #expect(s.adherence.total == 11 && s.adherence.met == 10)
        #expect(abs(s.utilisation - 0.8) < 1e-12)
        // A rejected request did not run: infeasible, never "within budget", not in adherence.
        rows.append(row(13, latency: 5, budget: 100, outcome: .rejected))
        let r = RunStatistics(policy: "p", mode: "live", rows: rows, target: 0.99, confidence: 0.99)
        #expect(r.infeasible == 3 && r.rejected == 1 && r.infeasibleWithinBudget == 1)
        #expect(r.adherence.total == 11)
    }

    @Test("knobs on counts what ran; guard shed / pruned are the shares of feasible requests that shed blocks / pruned tokens")
    func guardColumns() {
        var rows = (0..<4).map { row($0, latency: 80, budget: 100) }   // 2 of 4 knobs each
        rows[0].ranKnobs = 0
        rows[0].ranPlan = "L:0000+fastv(1,0.125)"
        rows[1].ranPlan = "L:\(rows[1].plan.dropFirst(2))+fastv(2,0.5)"
        rows[2].plan += "+fastv(2,0.5)"
        rows[2].ranPlan = "L:1100+fastv(2,0.5)"   // FastV chosen with the plan, not the guard's
        let s = RunStatistics(policy: "p", mode: "live", rows: rows, target: 0.99, confidence: 0.99)
        #expect(abs(s.meanKnobFraction - 0.375) < 1e-12)   // (0 + 2 + 2 + 2) / 4 / 4
        #expect(abs(s.guardShedShare - 0.25) < 1e-12)
        #expect(abs(s.guardPrunedShare - 0.5) < 1e-12)
    }

    @Test("percentiles of latency/budget follow GSL's interpolation")
    func percentiles() {
        let rows = (0..<101).map { row($0, latency: Double($0), budget: 100) }
        let s = RunStatistics(policy: "p", mode: "live", rows: rows, target: 0.99, confidence: 0.99)
        #expect(abs(s.p50 - 0.5) < 1e-12 && abs(s.p90 - 0.9) < 1e-12 && abs(s.p99 - 0.99) < 1e-12)
    }

    @Test("simulated vs live pairs requests by index and compares their P99")
    func agreement() throws {
        let live = (0..<100).map { row($0, latency: 100, budget: 200) }
        let sim = (0..<100).map { row($0, mode: "simulated", latency: 110, budget: 200) }
        let report = try ValidationReport(rows: live + sim, files: ["a", "b"], target: 0.99, confidence: 0.99)
        let a = try #require(report.agreement.first)
        #expect(a.pairedRequests == 100)
        #expect(abs(a.meanAbsoluteLatencyError - 0.1) < 1e-12)
        #expect(abs(a.p99RelativeDifference - 0.1) < 1e-12)
        #expect(abs(a.p99FeasibleRelativeDifference - 0.1) < 1e-12)
        // 100 equal latencies: the live interval is that one value, unbounded above, and the
        // simulated P99 (10% higher) is inside it.
        #expect(a.p99FeasibleLiveLower95 == 0.5 && a.p99FeasibleLiveUpper95 == nil && a.simulatedWithinLive95)
        #expect(report.groups[report.decidingGroup].mode == "live")
    }

    @Test("a request rejected unrun in either mode is not paired; the feasible P99s are each run's own")
    func agreementSkipsRejected() throws {
        var live = (0..<10).map { row($0, latency: 100, budget: 200) }
        var sim = (0..<10).map { row($0, mode: "simulated", latency: 150, budget: 200) }
        live[0] = row(0, latency: 1, budget: 200, outcome: .rejected)
        sim[1] = row(1, mode: "simulated", latency: 2, budget: 200, outcome: .rejected)
        let a = try #require(try ValidationReport(rows: live + sim, files: ["a"], target: 0.99, confidence: 0.99).agreement.first)
        #expect(a.pairedRequests == 8)
        #expect(abs(a.meanAbsoluteLatencyError - 0.5) < 1e-12)
        #expect(abs(a.p99FeasibleLive - 0.5) < 1e-12 && abs(a.p99FeasibleSimulated - 0.75) < 1e-12)
    }

    @Test("the verdict comes from contention-aware when several policies are present")
    func decidingPolicy() throws {
        let rows = (0..<500).map { row($0, latency: 50, budget: 100) }
            + (0..<500).map { row($0, policy: "flops", latency: 150, budget: 100) }
        let report = try ValidationReport(rows: rows, files: ["x"], target: 0.99, confidence: 0.99)
        #expect(report.verdict == .pass)
        let flops = try ValidationReport(rows: rows, files: ["x"], target: 0.99, confidence: 0.99, policy: "flops")
        #expect(flops.verdict == .fail)
        #expect(throws: ValidateError.self) { try ValidationReport(rows: rows, files: ["x"], target: 0.99, confidence: 0.99, policy: "nope") }
    }

    @Test("results round-trip through CSV, plans with commas included")
    func csvRoundTrip() throws {
        var rows = (0..<5).map { row($0, latency: 80.25, budget: 100) }
        rows[2].plan = "L:1100+fastv(2,0.5)"
        let text = ([ReplayResult.csvHeader] + rows.map(\.csvLine)).joined(separator: "\n") + "\n"
        #expect(try ReplayResult.parseCSV(text, file: "r.csv") == rows)
    }

    @Test("a CSV of another schema is refused on line 1, naming the file and the column")
    func otherSchema() {
        let text = "# comment\nt_s,cpu_busy_cores,mem_bw_gbps\n0,1,2\n"
        #expect {
            try ReplayResult.parseCSV(text, file: "trace.csv")
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("trace.csv:2:") && message.contains("'t_s'") && message.contains("'request'")
        }
    }

    @Test("a bad field names its line and column")
    func badField() {
        let good = row(0, latency: 1, budget: 2).csvLine
        let text = [ReplayResult.csvHeader, good, good.replacingOccurrences(of: ",met", with: ",maybe")].joined(separator: "\n")
        #expect {
            try ReplayResult.parseCSV(text, file: "r.csv")
        } throws: { "\($0)".hasPrefix("r.csv:3: outcome") }
    }

    @Test("random bytes and mangled rows never crash the parser")
    func fuzz() {
        var rng = SystemRandomNumberGenerator()
        let good = row(0, latency: 1, budget: 2).csvLine
        let alphabet = Array("0123456789.,-\"\ne+abc#\r ")
        for _ in 0..<300 {
            var chars = Array(ReplayResult.csvHeader + "\n" + good)
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                chars[Int.random(in: 0..<chars.count, using: &rng)] = alphabet.randomElement(using: &rng)!
            }
            _ = try? ReplayResult.parseCSV(String(chars), file: "f")
            _ = try? ReplayResult.parseCSV(String((0..<50).map { _ in alphabet.randomElement(using: &rng)! }), file: "f")
        }
    }

    @Test("the HTML report is self-contained: inline SVG, no script, the verdict and every miss")
    func html() throws {
        let rows = (0..<50).map { row($0, latency: $0 == 7 ? 130 : 70, budget: 100) }
        let report = try ValidationReport(rows: rows, files: ["r.csv"], target: 0.99, confidence: 0.99)
        let html = HTMLReport(report: report, rows: rows).html
        #expect(html.contains("<svg") && !html.contains("<script") && !html.contains("http://cdn"))
        #expect(html.contains("TOO FEW REQUESTS"))
        #expect(html.contains("Misses and infeasible requests (1)"))
        #expect(html.contains("<td>7</td>"))
    }
}
