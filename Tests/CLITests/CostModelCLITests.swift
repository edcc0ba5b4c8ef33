import CostModel
import Foundation
import LLaVAModel
import Profiling
import ProfileStore
import TensorKernels
import Testing

/// `fit`, `predict` and `bench predict` on a small real profile of `tiny` made here.
@Suite("fit, predict and bench predict, run as a user would", .serialized)
struct CostModelCLITests {
    /// A database holding one run of real `tiny` op timings on this machine, 1 thread.
    static let database: (path: String, device: String) = {
        let dir = try! CLI.tempDirectory()
        let path = dir + "/profile.sqlite"
        let db = try! ProfileDatabase(path: path)
        let device = DeviceFingerprint.current()
        try! db.upsertDevice(device)
        let run = try! db.beginRun(device: device.id, model: "tiny", config: "{}", provenance: Provenance.current(threads: 1))
        let model = try! ModelSpec.resolve("tiny").load()
        let rows = OpSampler(model: model, name: "tiny")
            .quickProfile(prompts: [8, 32, 64, 128], contexts: [16, 64, 128, 256], threads: 1, repeats: 3)
        try! db.insertSamples(rows, run: run, device: device.id)
        // Eight whole requests timed as `profile --requests` does: what `fit` calibrates against.
        BLAS.setThreads(1)
        let cases = RequestCase.random(layout: model.layout, count: 8, seed: 2, prompt: 8...64, newTokens: 2...4)
        let requests = try! RequestProfiler.measure(model: model, name: "tiny", cases: cases, threads: 1, contention: .idle,
                                                    achieved: { .idle })
        try! db.insertRequestSamples(requests, run: run, device: device.id)
        try! db.finishRun(run, status: .complete)
        // Stored once here so predict's tests need not run `fit` first (fitJSON runs it too).
        let (cm, report) = try! CostModel.fit(samples: rows, model: "tiny", config: model.config, trainingRuns: [run],
                                              options: FitOptions(cores: device.cores))
        _ = try! db.saveFittedModel(device: device.id, model: "tiny", json: Data(try! cm.encodedJSON().utf8),
                                    metricsJSON: try! JSONEncoder().encode(report), trainingRuns: [run])
        return (path, device.id)
    }()

    func json(_ r: CLI.Output) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\n\(r.stderr)")
    }

    @Test("fit --json reports held-out error per op and overall, and stores the model with its runs")
    func fitJSON() throws {
        let (db, device) = Self.database
        let r = try CLI.run(["fit", "--db", db, "--device", device, "--model", "tiny", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try json(r)
        let fit = try #require((out["fits"] as? [[String: Any]])?.first)
        #expect(fit["fitted_model_id"] as? Int != nil)
        #expect((fit["training_runs"] as? [Int])?.count == 1)
        let report = try #require(fit["report"] as? [String: Any])
        let idle = try #require((report["kfold"] as? [String: Any])?["idle"] as? [String: Any])
        let within = try #require(idle["within_10pct"] as? Double)
        #expect((0...1).contains(within))
        let ops = try #require(report["ops"] as? [[String: Any]])
        #expect(Set(ops.compactMap { $0["op"] as? String }).isSuperset(of: ["llm.attn", "llm.mlp", "vision.block", "lm_head"]))
        let table = try CLI.run(["fit", "--db", db, "--model", "tiny", "--no-save"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("| llm.attn") && table.stdout.contains("overall") && table.stdout.contains("held-out within ±10%"))
        // The whole requests calibrate the sum of the ops: a real ratio, stored with the model.
        let calibration = try #require(fit["request_calibration"] as? [String: Any])
        let idleRequests = try #require(calibration["idle"] as? [String: Any])
        #expect(idleRequests["count"] as? Int == 8)
        let scale = try #require(idleRequests["prefill_scale"] as? Double)
        #expect(scale > 0.3 && scale < 5, "requests took \(scale)× the sum of their ops")
        #expect(calibration["contended"] == nil || calibration["contended"] is NSNull)
        #expect(table.stdout.contains("end-to-end calibration") && table.stdout.contains("idle: 8 requests took"))
    }

    @Test("predict prints the breakdown; JSON totals match it; budgets and plans both work")
    func predict() throws {
        let (db, device) = Self.database
        let base = ["predict", "--db", db, "--device", device, "--model", "tiny", "--prompt-tokens", "20", "--new-tokens", "4", "--threads", "1"]
        let r = try CLI.run(base + ["--budget", "0.5", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try json(r)
        let p = try #require(out["prediction"] as? [String: Any])
        let total = try #require(p["total_ms"] as? Double), ttft = try #require(p["prefill_ms"] as? Double)
        let parts = try #require(p["breakdown"] as? [[String: Any]]).compactMap { $0["ms"] as? Double }
        #expect(total > ttft && ttft > 0)
        #expect(abs(parts.reduce(0, +) - total) < 1e-6 * total)
        let full = try json(try CLI.run(base + ["--plan", "L:11", "--json"]))
        let fullTotal = try #require((full["prediction"] as? [String: Any])?["total_ms"] as? Double)
        #expect(fullTotal > total)   // budget 0.5 of 4 layers skips both switchable ones
        let table = try CLI.run(base + ["--plan", "H:10.01+fastv(1,0.5)", "--contention", "1c"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("| llm.mlp") && table.stdout.contains("time to first token"))
        #expect(table.stderr.contains("no contended points"))
    }

    @Test("bench predict runs the engine and prints measured and predicted side by side")
    func benchPredict() throws {
        let (db, device) = Self.database
        let r = try CLI.run(["bench", "predict", "--db", db, "--device", device, "--model", "tiny", "--count", "3", "--seed", "2",
                             "--threads", "1", "--repeats", "1", "--prompt-range", "8,40", "--new-tokens-range", "2,4", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try json(r)
        let cases = try #require(out["cases"] as? [[String: Any]])
        #expect(cases.count == 3)
        #expect(cases.allSatisfy { ($0["measured_ms"] as? Double ?? 0) > 0 && ($0["predicted_ms"] as? Double ?? 0) > 0 })
        let summary = try #require(out["summary"] as? [String: Any])
        #expect((summary["total"] as? [String: Any])?["within_10pct"] as? Double != nil)
        let table = try CLI.run(["bench", "predict", "--db", db, "--model", "tiny", "--count", "1", "--threads", "1", "--repeats", "1"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("measured ms") && table.stdout.contains("end to end") && table.stdout.contains("MAPE"))
    }

    @Test("bad input: unprofiled threads, unknown device, missing database, bad contention, no fitted model", arguments: [
        ["predict", "--model", "tiny", "--prompt-tokens", "8", "--new-tokens", "2", "--threads", "3"],
        ["predict", "--model", "tiny", "--prompt-tokens", "8", "--new-tokens", "2", "--device", "no-such-device"],
        ["predict", "--model", "tiny", "--prompt-tokens", "8", "--new-tokens", "2", "--threads", "1", "--contention", "3x"],
        ["predict", "--model", "tinyllava-1.1b", "--prompt-tokens", "8", "--new-tokens", "2", "--threads", "1"],
        ["predict", "--model", "tiny", "--prompt-tokens", "0", "--new-tokens", "2"],
        ["fit", "--model", "no-such-model"],
        ["bench", "predict", "--model", "tiny", "--count", "0"],
    ])
    func badInput(_ args: [String]) throws {
        let (db, _) = Self.database
        let r = try CLI.run(args + ["--db", db])
        #expect(r.status == 2, "\(args): \(r.stdout) \(r.stderr)")
        #expect(r.stderr.hasPrefix("error: "), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    @Test("a database that cannot be opened is an error, not a crash")
    func missingDatabase() throws {
        let r = try CLI.run(["fit", "--db", "/nonexistent/dir/profile.sqlite"])
        #expect(r.status == 2 && r.stderr.hasPrefix("error: "), "\(r.stderr)")
    }
}
