import Foundation
import Testing

@Suite("device, profile and export, run as a user would", .serialized)
struct ProfileCLITests {
    @Test("device --json prints the fingerprint with a stable id; the table shows the same id")
    func device() throws {
        let r = try CLI.run(["device", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let id = try #require(json["id"] as? String)
        for key in ["cpu_model", "cores", "simd", "caches", "memory_bytes", "kernel", "blas_name", "blas_threads",
                    "swift_version", "build", "engine_commit"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let table = try CLI.run(["device"])
        #expect(table.status == 0)
        #expect(table.stdout.contains(id))
    }
}

extension ProfileCLITests {
    /// Rows of an exported samples.csv (header comments and column line dropped), as column → value.
    static func exportedRows(db: String, device: String, dir: String) throws -> [[String: String]] {
        let r = try CLI.run(["export", "--db", db, "--device", device, "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: "\(dir)/samples.csv", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        let header = lines[0].split(separator: ",").map(String.init)
        // The command column (last) may be quoted; the key columns come first and never are.
        return lines.dropFirst().map { line in
            Dictionary(uniqueKeysWithValues: zip(header, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        }
    }

    static func deviceID() throws -> String {
        let r = try CLI.run(["device", "--json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        return try #require(json["id"] as? String)
    }

    @Test("profile --quick on tiny stores every op kind, and export writes CSV, JSON and a summary")
    func quickProfileAndExport() throws {
        let dir = try CLI.tempDirectory(), db = "\(dir)/p.sqlite"
        let r = try CLI.run(["profile", "--model", "tiny", "--quick", "--db", db, "--threads", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(report["status"] as? String == "complete")
        #expect(r.stderr.contains("ETA"))
        let device = try Self.deviceID()
        let rows = try Self.exportedRows(db: db, device: device, dir: "\(dir)/export")
        #expect(rows.count == report["measured"] as? Int)
        let ops = Set(rows.compactMap { $0["op"] })
        for op in ["vision.embed", "vision.block", "projector", "llm.embed", "llm.attn", "llm.mlp", "lm_head",
                   "token.fastv", "token.prumerge"] {
            #expect(ops.contains(op), "no \(op) row")
        }
        #expect(Set(rows.filter { $0["op"] == "llm.attn" }.compactMap { $0["phase"] }) == ["prefill", "decode"])
        #expect(rows.allSatisfy { Double($0["median_ms"] ?? "") ?? 0 > 0 && Int($0["n"] ?? "") ?? 0 >= 1 })
        #expect(rows.filter { $0["op"] == "llm.mlp" }.allSatisfy { Double($0["flops"] ?? "") ?? 0 > 0 })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/export/samples.json"))) as? [String: Any])
        #expect((json["samples"] as? [Any])?.count == rows.count)
        let summary = try String(contentsOfFile: "\(dir)/export/summary.md", encoding: .utf8)
        #expect(summary.contains(device) && summary.contains("| tiny | llm.attn | decode |"))
        // --quick also times 6 whole requests end to end (idle, 1 thread), exported with provenance.
        #expect(report["requests_timed"] as? Int == 6)
        let requests = try String(contentsOfFile: "\(dir)/export/requests.csv", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(requests.count == 7 && requests[0].hasPrefix("run_id,device_id,model,plan,"))
        #expect(requests.dropFirst().allSatisfy { $0.contains(",tiny,") })
    }

    @Test("a profile killed mid-way keeps its completed rows; --resume finishes it without duplicates",
          arguments: [SIGTERM, SIGKILL])
    func killAndResume(signal: Int32) throws {
        let dir = try CLI.tempDirectory(), db = "\(dir)/p.sqlite"
        // Many repeats so the run lasts seconds and the kill lands mid-way.
        let args = ["profile", "--model", "tiny", "--quick", "--db", db, "--threads", "1", "--min-repeats", "12",
                    "--max-repeats", "12", "--json"]
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = args
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var seen = ""
        while seen.components(separatedBy: "ms (n").count <= 6 {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, signal)
        _ = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        if signal == SIGTERM { #expect(process.terminationStatus == 128 + SIGTERM) }

        let device = try Self.deviceID()
        let partial = try Self.exportedRows(db: db, device: device, dir: "\(dir)/partial")
        #expect(partial.count >= 5, "completed points lost: \(partial.count)")
        let status = partial.first?["run_status"]
        #expect(status == (signal == SIGTERM ? "interrupted" : "running"))

        let resumed = try CLI.run(args + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
        #expect(report["resumed"] as? Int == partial.count)
        let all = try Self.exportedRows(db: db, device: device, dir: "\(dir)/all")
        #expect(all.count == partial.count + (report["measured"] as? Int ?? -1))
        #expect(Set(all.compactMap { $0["run_id"] }).count == 1, "resume must continue the same run")
        #expect(all.allSatisfy { $0["run_status"] == "complete" })
        let keys = all.map { r in ["op", "phase", "tokens", "context", "heads", "neurons", "threads"].map { r[$0] ?? "" }.joined(separator: "|") }
        #expect(Set(keys).count == keys.count, "duplicate points after resume")
        // The first rows are the same measurements, untouched by the resume.
        #expect(Array(all.prefix(partial.count)).map { $0["median_ms"] } == partial.map { $0["median_ms"] })
    }

    @Test("a checkpoint directory is profiled with its own weights and stored under the directory's name")
    func checkpointDirectory() throws {
        let dir = try CLI.tempDirectory(), db = "\(dir)/p.sqlite"
        let r = try CLI.run(["profile", "--model", "\(CLI.fixtures)/llava-tiny-fp32", "--quick", "--db", db, "--threads", "1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try Self.exportedRows(db: db, device: try Self.deviceID(), dir: "\(dir)/export")
        #expect(!rows.isEmpty && rows.allSatisfy { $0["model"] == "llava-tiny-fp32" })
    }

    @Test("bad input is one clear error line with exit status 2")
    func badInput() throws {
        let dir = try CLI.tempDirectory()
        let level = try CLI.run(["profile", "--model", "tiny", "--quick", "--db", "\(dir)/p.sqlite", "--contention", "0,3x"])
        #expect(level.status == 2 && level.stderr.contains("contention level"), "\(level.stderr)")
        try Data("not a database at all, just text".utf8).write(to: URL(fileURLWithPath: "\(dir)/junk.sqlite"))
        let junk = try CLI.run(["profile", "--model", "tiny", "--quick", "--db", "\(dir)/junk.sqlite"])
        #expect(junk.status == 2 && junk.stderr.contains("not an SQLite database"), "\(junk.stderr)")
        _ = try CLI.run(["profile", "--model", "tiny", "--quick", "--db", "\(dir)/p.sqlite", "--threads", "1"])
        let unknown = try CLI.run(["export", "--db", "\(dir)/p.sqlite", "--device", "no-such-device", "--out", "\(dir)/x"])
        let id = try Self.deviceID()
        #expect(unknown.status == 2 && unknown.stderr.contains("unknown device 'no-such-device'") &&
                unknown.stderr.contains(id), "\(unknown.stderr)")
        let missing = try CLI.run(["export", "--db", "\(dir)/none.sqlite", "--device", "x", "--out", "\(dir)/y"])
        #expect(missing.status == 2 && missing.stderr.hasPrefix("error: "), "\(missing.stderr)")
    }
}
