import Foundation
import Testing

/// `adallava stress` and `adallava trace`, run as a user types them.
@Suite("stress and trace verbs", .serialized)
struct ContentionCLITests {
    func expectFailure(_ arguments: [String], mentions: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try CLI.run(arguments)
        #expect(r.status == 2, "status \(r.status), stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("error: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        for m in mentions {
            #expect(r.stderr.contains(m), "'\(m)' not in: \(r.stderr)", sourceLocation: sourceLocation)
        }
    }

    @Test("stress --json prints one report per interval and a final summary of asked vs achieved")
    func stressJSON() throws {
        let r = try CLI.run(["stress", "--level", "0.5c+1gbps", "--duration", "0.6", "--report-interval", "0.2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count >= 3 && lines.allSatisfy { $0 != nil }, "\(r.stdout)")
        let last = try #require(lines.last ?? nil)
        #expect(last["final"] as? Bool == true)
        let asked = try #require(last["mean_asked"] as? [String: Double])
        let achieved = try #require(last["mean_achieved"] as? [String: Double])
        #expect(abs(asked["cpu_busy_cores"]! - 0.5) < 1e-6 && abs(asked["mem_bw_gbps"]! - 1) < 1e-6)
        #expect(achieved["cpu_busy_cores"]! > 0.05 && achieved["mem_bw_gbps"]! > 0.3 && achieved["mem_bw_gbps"]! < 1.2, "\(achieved)")
    }

    @Test("stress prints a human line per interval and a summary")
    func stressTable() throws {
        let r = try CLI.run(["stress", "--level", "0.2c", "--duration", "0.5", "--report-interval", "0.2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("asked 0.2c"))
        #expect(r.stdout.contains("summary: "))
    }

    @Test("stress without --duration still ends at --max-seconds, with its summary")
    func stressBounded() throws {
        let start = Date()
        let r = try CLI.run(["stress", "--level", "0.1c", "--max-seconds", "0.3", "--report-interval", "0.1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("summary: "))
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("stress refuses bad levels, bad traces and contradictory options with status 2")
    func stressBadInput() throws {
        try expectFailure(["stress", "--level", "2x", "--duration", "1"], mentions: ["'2x'", "does not parse"])
        try expectFailure(["stress", "--duration", "1"], mentions: ["--level", "--trace"])
        try expectFailure(["stress", "--level", "1c", "--duration", "-1"], mentions: ["--duration"])
        let dir = try CLI.tempDirectory()
        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,1,0\n2,99999,0\n".write(toFile: "\(dir)/bad.csv", atomically: true, encoding: .utf8)
        try expectFailure(["stress", "--trace", "\(dir)/bad.csv"], mentions: ["\(dir)/bad.csv:3:", "cpu_busy_cores"])
        try expectFailure(["stress", "--trace", "\(dir)/missing.csv"], mentions: ["missing.csv", "no such file"])
    }

    /// Data rows (not comments, not the header) of a trace file's text.
    func rows(_ text: String) -> [[String]] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    @Test("trace synth writes the same contention trace for the same seed, with the command in its comments")
    func synthContention() throws {
        let args = ["trace", "synth", "--kind", "bursty", "--duration", "120", "--seed", "7"]
        let a = try CLI.run(args), b = try CLI.run(args), c = try CLI.run(args.dropLast() + ["8"])
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stdout == b.stdout && a.stdout != c.stdout)
        #expect(a.stdout.hasPrefix("# made by: adallava trace synth --kind bursty --duration 120 --seed 7\n"))
        #expect(a.stdout.contains("\nt_s,cpu_busy_cores,mem_bw_gbps\n"))
        let r = rows(a.stdout)
        #expect(r.first?.first == "0" && r.last?.first == "120" && r.allSatisfy { $0.count == 3 })
    }

    @Test("trace synth --requests writes 1000 Poisson requests with budgets and prompts in range")
    func synthRequests() throws {
        let out = "\(try CLI.tempDirectory())/requests.csv"
        let r = try CLI.run(["trace", "synth", "--requests", "--count", "1000", "--rate", "2", "--budget-ms", "200:800",
                             "--prompt-tokens", "16:64", "--max-new-tokens", "8", "--seed", "1", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("wrote 1000 requests"))
        let text = try String(contentsOfFile: out, encoding: .utf8)
        #expect(text.contains("\nt_s,budget_ms,prompt_tokens,image,max_new_tokens\n"))
        let data = rows(text)
        #expect(data.count == 1000)
        #expect(data.allSatisfy { (200...800).contains(Double($0[1])!) && (16...64).contains(Int($0[2])!) && $0[3] == "synthetic" && $0[4] == "8" })
    }

    @Test("trace record samples the machine and prints a progress line per sample")
    func record() throws {
        let r = try CLI.run(["trace", "record", "--duration", "0.4", "--interval", "0.1"])
        #expect(r.status == 0, "\(r.stderr)")
        let data = rows(r.stdout)
        #expect(data.count >= 2 && data.first?.first == "0" && data.last?.first == "0.4", "\(r.stdout)")
        #expect(data.allSatisfy { (0...64).contains(Double($0[1]) ?? -1) })
        #expect(r.stderr.components(separatedBy: "background").count - 1 == 4, "\(r.stderr)")
        #expect(r.stdout.contains("/proc/stat"))
    }

    @Test("trace import converts an Alibaba machine_usage sample (no header) with the scaling in the comments")
    func importAlibaba() throws {
        // Made-up values in the documented column order; the real 2018 file is not downloadable here.
        let dir = try CLI.tempDirectory()
        try "m_7,100,50,90,25,5,1,1,1\nm_7,110,100,90,50,5,1,1,1\nm_8,100,5,5,5,5,5,5,5\n".write(toFile: "\(dir)/mu.csv", atomically: true, encoding: .utf8)
        let r = try CLI.run(["trace", "import", "--format", "alibaba-machine-usage", "--in", "\(dir)/mu.csv", "--machine", "m_7",
                             "--cores", "2", "--bandwidth-gbps", "20", "--out", "\(dir)/out.csv"])
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOfFile: "\(dir)/out.csv", encoding: .utf8)
        #expect(rows(text) == [["0", "1", "5"], ["10", "2", "10"], ["20", "2", "10"]])
        #expect(text.contains("mem_gps/100 × 20 GB/s") && text.contains("machine m_7") && text.contains("research or study"))

        try "time,load\n0,0.5\n2,1\n".write(toFile: "\(dir)/u.csv", atomically: true, encoding: .utf8)
        let c = try CLI.run(["trace", "import", "--format", "csv", "--in", "\(dir)/u.csv", "--time-column", "time",
                             "--cpu-column", "load", "--cpu-unit", "cores"])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(rows(c.stdout) == [["0", "0.5", "0"], ["2", "1", "0"]])
    }

    @Test("trace verbs refuse bad input with status 2 and name the culprit")
    func traceBadInput() throws {
        try expectFailure(["trace", "synth", "--kind", "spiky", "--duration", "10"], mentions: ["--kind", "spiky", "bursty"])
        try expectFailure(["trace", "synth", "--kind", "idle"], mentions: ["--duration"])
        try expectFailure(["trace", "synth", "--requests", "--rate", "2"], mentions: ["--count", "--duration"])
        try expectFailure(["trace", "synth", "--requests", "--count", "5", "--budget-ms", "800:200"], mentions: ["--budget-ms", "800:200"])
        try expectFailure(["trace", "synth", "--kind", "idle", "--duration", "5", "--out", "/nonexistent-dir/t.csv"], mentions: ["/nonexistent-dir/t.csv", "cannot write"])
        let dir = try CLI.tempDirectory()
        try "m_1,0,10,1,1,1,1,1,1\nm_1,10,oops,1,1,1,1,1,1\n".write(toFile: "\(dir)/mu.csv", atomically: true, encoding: .utf8)
        try expectFailure(["trace", "import", "--format", "alibaba-machine-usage", "--in", "\(dir)/mu.csv", "--bandwidth-gbps", "20"],
                          mentions: ["\(dir)/mu.csv:2:", "cpu_util_percent 'oops'"])
        try expectFailure(["trace", "import", "--format", "parquet", "--in", "\(dir)/mu.csv"], mentions: ["--format"])
        try expectFailure(["trace", "import", "--format", "csv", "--in", "\(dir)/none.csv"], mentions: ["none.csv", "no such file"])
    }
}
