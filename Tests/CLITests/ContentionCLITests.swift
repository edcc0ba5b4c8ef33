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
        let r = try CLI.run(["stress", "--level", "0.5c+1gbps", "--duration", "1", "--report-interval", "0.25", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count >= 4 && lines.allSatisfy { $0 != nil }, "\(r.stdout)")
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
}
