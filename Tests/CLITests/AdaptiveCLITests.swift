import Foundation
import Testing

@Suite("adaptive execution through the binary", .serialized)
struct AdaptiveCLITests {
    func json(_ arguments: [String]) throws -> [String: Any] {
        let r = try CLI.run(arguments)
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    @Test("run --budget --mode heads reports the plan, k, the ranking and the timings")
    func runWithBudget() throws {
        let out = try json(["run", "--model", "tiny", "--tokens", "1,1000,2,3", "--pixels", "synthetic",
                            "--max-new-tokens", "3", "--budget", "0.75", "--mode", "heads", "--json"])
        let adaptive = try #require(out["adaptive"] as? [String: Any])
        #expect(adaptive["mode"] as? String == "heads")
        #expect(adaptive["k"] as? Int == 2)
        #expect((adaptive["plan"] as? String)?.hasPrefix("H:") == true)
        #expect((adaptive["ranking"] as? String)?.hasPrefix("scheduler") == true)
        #expect(adaptive["latency_token"] as? Bool == true)
        #expect((out["timings"] as? [String: Double])?["plan_ms"] != nil)
    }

    @Test("plan --json prints mode, k, plan and ranking without running the request")
    func planJSON() throws {
        let out = try json(["plan", "--model", "tiny", "--budget", "0.5", "--json"])
        #expect(out["mode"] as? String == "layers")
        #expect(out["k"] as? Int == 0)
        #expect(out["plan"] as? String == "L:00")
        #expect(out["ranking"] != nil)
    }

    @Test("an explicit plan with FastV runs and reports the pruned visual tokens")
    func explicitPlanWithFastV() throws {
        let out = try json(["run", "--model", "tiny", "--tokens", "1,1000,2", "--pixels", "synthetic", "--max-new-tokens", "2",
                            "--plan", "L:10+fastv(1,0.5)", "--json"])
        let adaptive = try #require(out["adaptive"] as? [String: Any])
        #expect(adaptive["plan"] as? String == "L:10+fastv(1,0.5)")
        #expect(adaptive["image_tokens_after_selection"] as? Int == 8)
        #expect(adaptive["ranking"] as? String == "explicit plan")
    }

    @Test("calibrate writes a ranking that run then uses")
    func calibrateThenRun() throws {
        let path = "\(try CLI.tempDirectory())/cal.json"
        let c = try CLI.run(["calibrate", "--model", "tiny", "--inputs", "2", "--prompt-tokens", "8", "--out", path])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(FileManager.default.fileExists(atPath: path))
        let out = try json(["run", "--model", "tiny", "--tokens", "1,2,3", "--max-new-tokens", "1", "--budget", "0.75",
                            "--calibration", path, "--json"])
        #expect(((out["adaptive"] as? [String: Any])?["ranking"] as? String)?.hasPrefix("calibration") == true)
    }

    @Test("bench plans measures every budget and mode with the FLOPs fraction beside the time")
    func benchPlans() throws {
        let out = try json(["bench", "plans", "--model", "tiny", "--prompt-tokens", "24", "--budgets", "1,0.5",
                            "--fastv", "--fastv-k", "1", "--repeats", "1", "--json"])
        let rows = try #require(out["rows"] as? [[String: Any]])
        // full (layers 1), layers 0.5, heads 1 and 0.5, FastV at 1 and 0.5
        #expect(rows.count == 6)
        #expect(rows.allSatisfy { $0["flops_fraction"] is Double && $0["time_fraction"] is Double })
        #expect(rows.first?["time_fraction"] as? Double == 1)
    }
}

@Suite("bad adaptive input fails cleanly with status 2", .serialized)
struct AdaptiveCLIBadInputTests {
    @Test("each bad budget, mode, plan or token selection gives one error line and status 2",
          arguments: [
            (["--budget", "1.5"], "budget"),
            (["--budget", "-0.1"], "budget"),
            (["--budget", "abc"], "--budget"),
            (["--budget", "nan"], "budget"),
            (["--budget", "0.6", "--mode", "neurons"], "--mode"),
            (["--plan", "X:101"], "invalid plan"),
            (["--plan", "L:1111"], "does not fit"),
            (["--plan", "H:1.1.1"], "does not fit"),
            (["--token-selection", "fastv", "--fastv-k", "99"], "token selection"),
            (["--token-selection", "fastv", "--fastv-r", "0"], "token selection"),
            (["--token-selection", "fastv", "--fastv-r", "1.5"], "token selection"),
            (["--token-selection", "tome"], "token selection"),
            (["--budget", "0.75", "--calibration", "/nonexistent/cal.json"], "/nonexistent/cal.json"),
          ])
    func badAdaptiveInput(extra: [String], mention: String) throws {
        let r = try CLI.run(["run", "--model", "tiny", "--tokens", "1,2,3", "--max-new-tokens", "1"] + extra)
        #expect(r.status == 2, "status \(r.status): \(r.stderr)")
        #expect(r.stderr.hasPrefix("error: "), "\(r.stderr)")
        #expect(r.stderr.contains(mention), "'\(mention)' not in \(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }
}

@Suite("per-block benchmark through the binary")
struct BenchBlockCLITests {
    @Test("bench block prints llm.block prefill/decode and vision.block rows with ratios to measured peaks")
    func benchBlock() throws {
        let r = try CLI.run(["bench", "block", "--shape", "tiny", "--tokens", "8", "--contexts", "4,16", "--repeats", "1",
                             "--threads-list", "1", "--stream-megabytes", "16", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["rows"] as? [[String: Any]])
        #expect(rows.map { "\($0["op"]!) \($0["phase"]!)" } == ["llm.block prefill", "llm.block decode", "llm.block decode", "vision.block prefill"])
        #expect(rows.allSatisfy { ($0["gflops_ratio"] as? Double ?? 0) > 0 && ($0["bandwidth_ratio"] as? Double ?? 0) > 0 })
        // Each row carries the yardsticks measured beside it, and its ratios are taken against them.
        for row in rows {
            let sgemm = row["sgemm_gflops"] as? Double ?? 0, read = row["read_gbps"] as? Double ?? 0
            #expect(sgemm > 0 && read > 0)
            let gflops = row["gflops"] as? Double ?? 0, ratio = row["gflops_ratio"] as? Double ?? 0
            #expect(abs(ratio - gflops / sgemm) <= 1e-9 * max(1, ratio))
        }
        #expect(json["provenance"] != nil)
    }

    @Test("an unknown shape is a usage error")
    func badShape() throws {
        let r = try CLI.run(["bench", "block", "--shape", "gpt-5"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("--shape"))
    }
}
