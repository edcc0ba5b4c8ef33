import Contention
import Foundation
import GRDB
import LLaVAModel
import Profiling
import Testing
@testable import ProfileStore

/// A fresh database path in its own temporary directory.
func tempDatabasePath() throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adallava-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent("profiles.sqlite").path
}

func testDevice(cpu: String = "AMD EPYC 9R14 96-Core Processor", cores: Int = 2) -> DeviceFingerprint {
    DeviceFingerprint(cpuModel: cpu, cores: cores, simd: "avx2 fma avx512f", caches: "L1d 32K, L2 512K",
                      memoryBytes: 16 << 30, kernel: "6.1.0", blasName: "OpenBLAS 0.3.21",
                      blasConfig: "OpenBLAS 0.3.21 DYNAMIC_ARCH", blasThreads: 2, swiftVersion: "6.3", build: "debug",
                      engineCommit: "abc123")
}

func testProvenance(threads: Int = 2) -> Provenance {
    Provenance(cpuModel: "AMD EPYC", cores: 2, simd: "avx2", memoryBytes: 16 << 30, kernel: "6.1.0",
               blas: "OpenBLAS 0.3.21", threads: threads, engineCommit: "abc123", build: "debug",
               date: "2026-11-26T08:00:00Z", command: "adallava profile --model tiny")
}

func testSample(op: OpName = .llmMLP, phase: Phase = .prefill, tokens: Int = 64, median: Double = 1.5,
                contention: ContentionLevel = .idle) -> ProfileSample {
    ProfileSample(model: "tiny", op: op, phase: phase, tokens: tokens, context: tokens, heads: 4, neurons: 128,
                  threads: 2, contention: contention,
                  achievedContention: ContentionLevel(cpuBusyCores: contention.cpuBusyCores * 0.97,
                                                      memBandwidthGBps: contention.memBandwidthGBps * 0.9),
                  flops: 1e9, bytes: 4e6,
                  stats: SampleStats(minMs: 1.2, medianMs: median, meanMs: 1.6, stdMs: 0.1, p90Ms: 1.8, p99Ms: 2.0, n: 7))
}

@Suite("ProfileStore: the profile database")
struct ProfileStoreTests {
    @Test("devices, runs, samples and fitted models round-trip through a reopened file")
    func roundTrip() throws {
        let path = try tempDatabasePath()
        let device = testDevice()
        let samples = [testSample(), testSample(op: .llmAttention, phase: .decode, tokens: 1, median: 0.3,
                                                contention: ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 10))]
        let run: Int64
        do {
            let db = try ProfileDatabase(path: path)
            try db.upsertDevice(device)
            try db.upsertDevice(device)   // idempotent
            run = try db.beginRun(device: device.id, model: "tiny", config: #"{"quick":true}"#, provenance: testProvenance())
            try db.insertSamples(samples, run: run, device: device.id)
            try db.finishRun(run, status: .complete)
            let id = try db.saveFittedModel(device: device.id, model: "tiny", json: Data("{\"a\":1}".utf8),
                                            metricsJSON: Data("{}".utf8), trainingRuns: [run])
            #expect(id > 0)
        }
        let db = try ProfileDatabase(path: path, readOnly: true)
        #expect(try db.devices() == [device])
        #expect(try db.device(id: device.id) == device)
        let runs = try db.runs(device: device.id)
        #expect(runs.count == 1)
        #expect(runs[0].status == .complete && runs[0].finished != nil && runs[0].config == #"{"quick":true}"#)
        #expect(runs[0].provenance == testProvenance())
        #expect(try db.samples(device: device.id).map(\.sample) == samples)
        #expect(try db.samples(device: device.id, model: "other").isEmpty)
        #expect(try db.samples(run: run).allSatisfy { $0.runID == run })
        let model = try #require(try db.latestFittedModel(device: device.id, model: "tiny"))
        #expect(model.trainingRuns == [run] && model.json == Data("{\"a\":1}".utf8))
        #expect(try db.latestFittedModel(device: device.id, model: "llava-1.5-7b") == nil)
    }

    @Test("whole-request samples round-trip, filter by model and run, and export as requests.csv with provenance")
    func requestSamples() throws {
        let path = try tempDatabasePath()
        let device = testDevice()
        let db = try ProfileDatabase(path: path)
        try db.upsertDevice(device)
        let run = try db.beginRun(device: device.id, model: "tiny", config: "{}", provenance: testProvenance())
        let rows = [
            RequestSample(model: "tiny", plan: "L:1011", promptTokens: 20, hasImage: true, imageTokens: 16, latencyToken: false,
                          newTokens: 4, threads: 2, contention: .idle, achievedContention: .idle, measuredMs: 12.5, ttftMs: 9),
            RequestSample(model: "tiny", plan: "full", promptTokens: 7, hasImage: false, imageTokens: nil, latencyToken: true,
                          newTokens: 2, threads: 1, contention: ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0),
                          achievedContention: ContentionLevel(cpuBusyCores: 0.93, memBandwidthGBps: 0), measuredMs: 30, ttftMs: 20),
        ]
        try db.insertRequestSamples(rows, run: run, device: device.id)
        #expect(try db.requestSamples(device: device.id).map(\.sample) == rows)
        #expect(try db.requestSamples(device: device.id, model: "other").isEmpty)
        #expect(try db.requestSamples(device: device.id, run: run + 1).isEmpty)
        #expect(try db.requestSamples(device: device.id, model: "tiny", run: run).allSatisfy { $0.runID == run })
        let dir = (path as NSString).deletingLastPathComponent + "/export"
        try ProfileExport.write(database: db, device: device.id, to: dir)
        let csv = try String(contentsOfFile: dir + "/requests.csv", encoding: .utf8)
        let lines = csv.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.first.map(String.init) == ProfileExport.requestColumns.joined(separator: ","))
        #expect(lines.count == 3)
        #expect(lines[1].hasPrefix("\(run),\(device.id),tiny,L:1011,20,1,16,0,4,2,") && lines[1].contains("abc123"))
    }

    @Test("a database an older adallava wrote (schema v1 only) still reads read-only, with no whole-request samples")
    func olderSchemaReadOnly() throws {
        let path = try tempDatabasePath()
        let device = testDevice()
        do {
            let queue = try DatabaseQueue(path: path)
            try Schema.migrator.migrate(queue, upTo: "v1-devices-runs-samples-models")
        }
        do {   // fill it through a v1-era writer: the tables v1 has
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO devices (id, cpu_model, cores, simd, caches, memory_bytes, kernel, blas_name, blas_config,
                                         blas_threads, swift_version, build, engine_commit, first_seen, last_seen)
                    VALUES (?, 'cpu', 2, 'avx2', 'L2', 1, 'k', 'b', 'b', 2, '6', 'debug', 'c', 'now', 'now')
                    """, arguments: [device.id])
            }
        }
        let db = try ProfileDatabase(path: path, readOnly: true)
        #expect(try db.devices().map(\.id) == [device.id])
        #expect(try db.requestSamples(device: device.id).isEmpty)
        #expect(try db.samples(device: device.id).isEmpty)
    }

    @Test("an unknown device id is an error that lists the known ids")
    func unknownDevice() throws {
        let db = try ProfileDatabase(path: try tempDatabasePath())
        try db.upsertDevice(testDevice())
        #expect(throws: ProfileStoreError.unknownDevice("nope", known: [testDevice().id])) { try db.device(id: "nope") }
        #expect(throws: ProfileStoreError.self) {
            try db.beginRun(device: "nope", model: "tiny", config: "{}", provenance: testProvenance())
        }
        #expect("\(ProfileStoreError.unknownDevice("nope", known: ["a", "b"]))".contains("a, b"))
    }

    @Test("a batch with a duplicate point stores nothing: one transaction per batch")
    func batchIsAtomic() throws {
        let db = try ProfileDatabase(path: try tempDatabasePath())
        let device = testDevice()
        try db.upsertDevice(device)
        let run = try db.beginRun(device: device.id, model: "tiny", config: "{}", provenance: testProvenance())
        try db.insertSamples([testSample(tokens: 32)], run: run, device: device.id)
        #expect(throws: (any Error).self) {
            try db.insertSamples([testSample(tokens: 64), testSample(tokens: 32)], run: run, device: device.id)
        }
        #expect(try db.samples(run: run).map(\.sample.tokens) == [32])
    }

    @Test("a database from a newer schema is refused and left byte-for-byte untouched")
    func newerSchema() throws {
        let path = try tempDatabasePath()
        _ = try ProfileDatabase(path: path)
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-from-the-future')") }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: ProfileStoreError.newerSchema(found: "v9-from-the-future", supported: ProfileDatabase.schemaVersion)) {
            try ProfileDatabase(path: path)
        }
        #expect(throws: ProfileStoreError.self) { try ProfileDatabase(path: path, readOnly: true) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test("another SQLite database is refused, not migrated into")
    func foreignDatabase() throws {
        let path = try tempDatabasePath()
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "CREATE TABLE mine (x INTEGER)") }
        try queue.close()
        #expect(throws: ProfileStoreError.notAProfileDatabase(path: path)) { try ProfileDatabase(path: path) }
    }

    @Test("writes to a database opened read-only fail with readOnly and change nothing")
    func readOnly() throws {
        let path = try tempDatabasePath()
        try ProfileDatabase(path: path).upsertDevice(testDevice())
        let db = try ProfileDatabase(path: path, readOnly: true)
        #expect(throws: ProfileStoreError.readOnly(path: path)) { try db.upsertDevice(testDevice(cores: 4)) }
        #expect(try db.devices().count == 1)
        #expect(throws: ProfileStoreError.self) { try ProfileDatabase(path: path + ".missing", readOnly: true) }
    }

    @Test("a writer that holds the lock past the busy timeout gives locked, not a hang")
    func locked() throws {
        let path = try tempDatabasePath()
        let db = try ProfileDatabase(path: path, readOnly: false, busyTimeout: 0.2)
        try db.upsertDevice(testDevice())
        let other = try DatabaseQueue(path: path)
        try other.inDatabase { o in
            try o.execute(sql: "BEGIN IMMEDIATE")
            #expect(throws: ProfileStoreError.locked(path: path)) { try db.upsertDevice(testDevice(cores: 4)) }
            #expect(try db.devices().count == 1)   // WAL: reads still work while another process writes
            try o.execute(sql: "ROLLBACK")
        }
        try db.upsertDevice(testDevice(cores: 4))
        #expect(try db.devices().count == 2)
    }

    @Test("garbage files never crash the opener and are never modified", arguments: 0..<24)
    func garbageFiles(seed: Int) throws {
        var rng = SystemRandomNumberGenerator()
        let path = try tempDatabasePath()
        var bytes: [UInt8]
        switch seed % 4 {
        case 0: bytes = (0..<Int.random(in: 1...4096, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 1: // a real SQLite header followed by noise
            bytes = Array("SQLite format 3\0".utf8) + (0..<Int.random(in: 100...8192, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 2: // a valid profile database with random bytes flipped
            _ = try ProfileDatabase(path: path)
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            for _ in 0..<Int.random(in: 1...64, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        default: bytes = Array("t_s,cpu_busy_cores\n0,1\n".utf8)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            let db = try ProfileDatabase(path: path)
            _ = try db.devices()   // may open when the damage hit unused pages
        } catch let error as ProfileStoreError {
            #expect(!"\(error)".isEmpty)
        } catch {
            // A damaged page SQLite only notices on use surfaces as its own error; still no crash.
            #expect(error is DatabaseError, "unexpected \(type(of: error)): \(error)")
        }
        if seed % 4 != 2 { #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == bytes) }
    }
}

@Suite("DeviceFingerprint")
struct DeviceFingerprintTests {
    @Test("the id is a slug of the CPU, the core count and a hash of the hardware only")
    func stableID() {
        let a = testDevice()
        var b = testDevice()
        b.kernel = "6.9.0"; b.engineCommit = "fff"; b.blasThreads = 1; b.build = "release"
        let rebuilt = DeviceFingerprint(cpuModel: b.cpuModel, cores: b.cores, simd: b.simd, caches: b.caches,
                                        memoryBytes: b.memoryBytes + 1_000_000, kernel: "7.0", blasName: "x",
                                        blasConfig: "y", blasThreads: 1, swiftVersion: "6.4", build: "release",
                                        engineCommit: "zzz")
        #expect(rebuilt.id == a.id)
        #expect(a.id.hasPrefix("amd-epyc-9r14-96-core-2c-"))
        #expect(a.id.count == "amd-epyc-9r14-96-core-2c-".count + 8)
        #expect(testDevice(cores: 4).id != a.id)
        #expect(testDevice(cpu: "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz").id.hasPrefix("intel-xeon-platinum-8375c-2-90ghz-2c-"))
    }

    @Test("this machine's fingerprint has its CPU, cores and caches, and encodes with snake_case keys")
    func current() throws {
        let d = DeviceFingerprint.current()
        #expect(d.cores >= 1 && !d.cpuModel.isEmpty && d.memoryBytes > 0)
        #expect(d.id == DeviceFingerprint.current().id)
        let json = String(decoding: try JSONEncoder().encode(d), as: UTF8.self)
        #expect(json.contains("\"cpu_model\"") && json.contains("\"blas_threads\"") && json.contains("\"swift_version\""))
        #expect(try JSONDecoder().decode(DeviceFingerprint.self, from: Data(json.utf8)) == d)
    }
}
