import Foundation
import Testing

/// `replay` and `validate` as a user types them.
@Suite("replay and validate, run as a user would", .serialized)
struct ReplayCLITests {
    static let header = "request,policy,mode,arrival_s,start_s,end_s,budget_ms,prompt_tokens,new_tokens,latency_ms,service_ms,predicted_ms,plan,knobs,total_knobs,sensed_cpu_cores,sensed_mem_bw_gbps,outcome"

    /// A results file of `met` requests at 80% of budget and `missed` at 120% (made-up rows:
    /// these tests check the verdict arithmetic and the exit status, not any latency).
    func results(met: Int, missed: Int, policy: String = "contention-aware") throws -> String {
        var lines = [Self.header]
        for i in 0..<(met + missed) {
            let latency = i < met ? 400.0 : 600.0
            lines.append("\(i),\(policy),live,\(i),\(i),\(Double(i) + latency / 1000),500,32,8,\(latency),\(latency),\(latency),L:11110000,4,8,0.5,2,\(i < met ? "met" : "missed")")
        }
        let path = try CLI.tempDirectory() + "/results.csv"
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("200 requests and no miss: exit 2, too few to decide, and the run can claim ≥ 97.7%")
    func tooFew() throws {
        let r = try CLI.run(["validate", "--results", try results(met: 200, missed: 0)])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stdout.contains("≥ 97.7% with 99% confidence"), "\(r.stdout)")
        #expect(r.stdout.contains("459"))
        #expect(!r.stderr.contains("error:"))
    }

    @Test("459 requests and no miss pass (exit 0); 20 misses in 100 fail (exit 1)")
    func passAndFail() throws {
        let pass = try CLI.run(["validate", "--results", try results(met: 459, missed: 0)])
        #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
        #expect(pass.stdout.contains("PASS"))
        let fail = try CLI.run(["validate", "--results", try results(met: 80, missed: 20), "--json"])
        #expect(fail.status == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(fail.stdout.utf8)) as? [String: Any])
        let group = try #require((json["groups"] as? [[String: Any]])?.first)
        #expect(group["verdict"] as? String == "fail")
    }

    @Test("a CSV of another schema is a clear error naming the file and line")
    func otherSchema() throws {
        let path = try CLI.tempDirectory() + "/trace.csv"
        try "# a contention trace\nt_s,cpu_busy_cores,mem_bw_gbps\n0,1,2\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try CLI.run(["validate", "--results", path])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("error: \(path):2:"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal"))
    }

    @Test("--report writes a self-contained HTML page with SVG charts")
    func report() throws {
        let dir = try CLI.tempDirectory()
        let r = try CLI.run(["validate", "--results", try results(met: 30, missed: 2), "--report", dir + "/r.html"])
        #expect(r.status == 2 || r.status == 1)
        let html = try String(contentsOfFile: dir + "/r.html", encoding: .utf8)
        #expect(html.contains("<svg") && !html.contains("<script"))
    }

    @Test("replay with no profile database says how to make one")
    func noCostModel() throws {
        let dir = try CLI.tempDirectory()
        let trace = dir + "/c.csv", requests = dir + "/r.csv"
        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n10,0,0\n".write(toFile: trace, atomically: true, encoding: .utf8)
        try "t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,100,8,synthetic,2\n".write(toFile: requests, atomically: true, encoding: .utf8)
        let r = try CLI.run(["replay", "--trace", trace, "--requests", requests, "--model", "tiny", "--simulate",
                             "--db", dir + "/none.sqlite", "--out", dir + "/out.csv"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("adallava fit"), "\(r.stderr)")
    }

    @Test("a malformed request trace is refused with its file and line, before anything runs")
    func badRequests() throws {
        let dir = try CLI.tempDirectory()
        let trace = dir + "/c.csv", requests = dir + "/r.csv"
        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n10,0,0\n".write(toFile: trace, atomically: true, encoding: .utf8)
        try "t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,100,8,synthetic,2\n1,-5,8,synthetic,2\n".write(toFile: requests, atomically: true, encoding: .utf8)
        let r = try CLI.run(["replay", "--trace", trace, "--requests", requests, "--model", "tiny", "--simulate",
                             "--quick-profile", "0", "--out", dir + "/out.csv"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("error: \(requests):3:"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.csv"))
    }

    @Test("deadline-guard options out of range are refused with the option named, exit 2",
          arguments: [(["--deadline-guard", "on", "--policy", "flops"], "--deadline-guard on"),
                      (["--deadline-guard", "maybe"], "--deadline-guard"),
                      (["--guard-slack", "1.5"], "--guard-slack"),
                      (["--margin-quantile", "1.2"], "--margin-quantile"),
                      (["--warm-up", "-1"], "--warm-up"),
                      (["--guard-reserve", "0.7"], "--guard-reserve"),
                      (["--engine-scale", "0"], "--engine-scale"),
                      (["--engine-scale", "0.8", "--warm-up", "2"], "--engine-scale or --warm-up"),
                      (["--onset-risk", "1.5"], "--onset-risk"),
                      (["--onset-risk", "0.01", "--policy", "profile"], "--onset-risk is for"),
                      (["--onset-window", "0"], "--onset-window"),
                      (["--sensor", "psychic"], "--sensor"),
                      (["--guard-prune", "1"], "--guard-prune"),
                      (["--guard-prune", "-0.5"], "--guard-prune"),
                      (["--guard-prune", "0.25", "--policy", "profile"], "--guard-prune needs the deadline guard")])
    func badGuardOptions(extra: [String], named: String) throws {
        let dir = try CLI.tempDirectory()
        let trace = dir + "/c.csv", requests = dir + "/r.csv"
        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n10,0,0\n".write(toFile: trace, atomically: true, encoding: .utf8)
        try "t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,100,8,synthetic,2\n".write(toFile: requests, atomically: true, encoding: .utf8)
        let r = try CLI.run(["replay", "--trace", trace, "--requests", requests, "--model", "tiny", "--simulate",
                             "--quick-profile", "0", "--out", dir + "/out.csv"] + extra)
        #expect(r.status == 2)
        #expect(r.stderr.contains(named), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    @Test("a simulated replay with --warm-up times real requests first and records the engine scale it runs at")
    func simulatedWarmUp() throws {
        let dir = try CLI.tempDirectory()
        let trace = dir + "/c.csv", requests = dir + "/r.csv", out = dir + "/out.csv"
        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n10,0,0\n".write(toFile: trace, atomically: true, encoding: .utf8)
        try "t_s,budget_ms,prompt_tokens,image,max_new_tokens\n0,2000,8,synthetic,2\n1,2000,8,synthetic,2\n".write(toFile: requests, atomically: true, encoding: .utf8)
        let r = try CLI.run(["replay", "--trace", trace, "--requests", requests, "--model", "tiny", "--simulate",
                             "--quick-profile", "0", "--warm-up", "3", "--threads", "1", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warm-up: engine ÷ predicted median"), "\(r.stderr)")
        let header = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        #expect(header.contains("simulated") && header.contains("warm-up 3, ") && header.contains("engine scale "), "\(header)")
    }

    @Test("a live replay on tiny writes every row to CSV and SQLite, and validate reads it")
    func liveTiny() throws {
        let dir = try CLI.tempDirectory()
        let trace = dir + "/c.csv", requests = dir + "/r.csv", out = dir + "/out.csv"
        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n1,0.5,1\n30,0.5,1\n".write(toFile: trace, atomically: true, encoding: .utf8)
        let rows = (0..<6).map { "\(Double($0) * 0.2),\($0 == 0 ? 0.001 : 2000),8,synthetic,3" }
        try (["t_s,budget_ms,prompt_tokens,image,max_new_tokens"] + rows).joined(separator: "\n")
            .write(toFile: requests, atomically: true, encoding: .utf8)
        let r = try CLI.run(["replay", "--trace", trace, "--requests", requests, "--model", "tiny", "--quick-profile", "0",
                             "--policy", "contention-aware", "--out", out, "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        // The default warm-up ran before the load, and the run's config says so.
        #expect(r.stderr.contains("warm-up: engine ÷ predicted median"), "\(r.stderr)")
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.hasPrefix("# adallava replay: live") && text.contains(", warm-up 8,"))
        let csv = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(csv.count == 7)
        #expect(csv[1].contains(",rejected,"))  // a 0.001 ms budget: not run by default
        #expect(FileManager.default.fileExists(atPath: dir + "/out.sqlite"))
        let v = try CLI.run(["validate", "--results", out])
        #expect(v.stdout.contains("1 infeasible"), "\(v.stdout)")
    }

    @Test("Ctrl-C stops a live replay after the request in flight, keeps its rows and leaves no stress child")
    func interrupt() throws {
        let dir = try CLI.tempDirectory()
        let trace = dir + "/c.csv", requests = dir + "/r.csv", out = dir + "/out.csv"
        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,0.5,0\n600,0.5,0\n".write(toFile: trace, atomically: true, encoding: .utf8)
        let rows = (0..<500).map { "\(Double($0) * 0.5),1000,8,synthetic,2" }
        try (["t_s,budget_ms,prompt_tokens,image,max_new_tokens"] + rows).joined(separator: "\n")
            .write(toFile: requests, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["replay", "--trace", trace, "--requests", requests, "--model", "tiny", "--quick-profile", "0",
                             "--out", out, "--threads", "1"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        // Wait for two completed rows, then interrupt.
        let deadline = Date().addingTimeInterval(60)
        func dataRows() -> Int {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").filter { !$0.hasPrefix("#") }.count - 1
        }
        while dataRows() < 2 && Date() < deadline && process.isRunning { Thread.sleep(forTimeInterval: 0.1) }
        process.interrupt()
        process.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("interrupted"))
        let kept = dataRows()
        #expect(kept >= 2 && kept < 500)
        // The stress child named on stderr is gone.
        let pid = stderr.components(separatedBy: "stress child pid ").dropFirst().first.flatMap { Int32($0.prefix { $0.isNumber }) }
        let child = try #require(pid)
        Thread.sleep(forTimeInterval: 0.2)
        #expect(kill(child, 0) != 0, "stress child \(child) still alive")
    }
}
