import Contention
import Foundation
import GRDB
import LLaVAModel
import Profiling

/// The profile database: devices, profile runs with their provenance, measured samples and
/// fitted cost models, in one SQLite file (WAL mode, so readers never wait for the profiler).
///
/// Every write is one transaction: a killed profiler leaves every completed batch stored and
/// nothing half-written. Opening refuses, without touching the file, anything that is not an
/// adallava profile database of this or an older schema.
public final class ProfileDatabase: Sendable {
    /// The file this database lives in.
    public let path: String
    public let readOnly: Bool
    private let pool: DatabasePool
    /// False for a database an older adallava wrote (before `v2-request-samples`) opened
    /// read-only: it cannot be migrated, and it simply has no whole-request samples.
    private let hasRequestSamples: Bool

    /// The id of the last migration this build knows: a database holding later ids is refused.
    public static let schemaVersion: String = Schema.migrator.migrations.last!

    /// Opens (and, when writable, creates and migrates) the database at `path`.
    /// - Throws: `ProfileStoreError` for a newer schema, a locked, read-only or foreign file.
    public convenience init(path: String, readOnly: Bool = false) throws {
        try self.init(path: path, readOnly: readOnly, busyTimeout: 5)
    }

    /// `busyTimeout`: seconds to wait for another writer before throwing `.locked`.
    init(path: String, readOnly: Bool, busyTimeout: TimeInterval) throws {
        self.path = path
        self.readOnly = readOnly
        let exists = FileManager.default.fileExists(atPath: path)
        if readOnly && !exists { throw ProfileStoreError.cannotOpen(path: path, reason: "no such file") }
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        do {
            // Check what the file is before the pool (which switches a database to WAL) writes to it.
            if exists && size > 0 { try Self.inspect(path: path, busyTimeout: busyTimeout) }
            var config = Configuration()
            config.readonly = readOnly
            config.busyMode = .timeout(busyTimeout)
            config.foreignKeysEnabled = true
            pool = try DatabasePool(path: path, configuration: config)
            if readOnly {
                // An older schema is still readable: every migration after v1 only adds tables.
                let applied = try pool.read { try Schema.migrator.appliedIdentifiers($0) }
                if !applied.contains(Schema.migrator.migrations[0]) { throw ProfileStoreError.readOnly(path: path) }
                hasRequestSamples = applied.contains("v2-request-samples")
            } else {
                hasRequestSamples = true
                try Schema.migrator.migrate(pool)
            }
        } catch let error as ProfileStoreError {
            throw error
        } catch {
            throw ProfileStoreError.map(error, path: path)
        }
    }

    /// Refuses a file that is not SQLite, an SQLite file adallava did not write, or one a newer
    /// schema wrote. Reads only.
    private static func inspect(path: String, busyTimeout: TimeInterval) throws {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(busyTimeout)
        let queue = try DatabaseQueue(path: path, configuration: config)
        defer { try? queue.close() }
        try queue.read { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            guard tables.contains("grdb_migrations") else {
                if !tables.isEmpty { throw ProfileStoreError.notAProfileDatabase(path: path) }
                return
            }
            let known = Set(Schema.migrator.migrations)
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            let unknown = applied.filter { !known.contains($0) }.sorted()
            if !unknown.isEmpty {
                throw ProfileStoreError.newerSchema(found: unknown.last!, supported: schemaVersion)
            }
        }
    }

    // MARK: devices

    /// Inserts the device, or refreshes its software fields (kernel, BLAS, build, commit) and
    /// `last_seen` when its id is already stored.
    public func upsertDevice(_ device: DeviceFingerprint) throws {
        let now = Self.now()
        try write { db in
            try db.execute(sql: """
                INSERT INTO devices (id, cpu_model, cores, simd, caches, memory_bytes, kernel, blas_name, blas_config,
                                     blas_threads, swift_version, build, engine_commit, first_seen, last_seen)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET
                    cpu_model = excluded.cpu_model, cores = excluded.cores, simd = excluded.simd,
                    caches = excluded.caches, memory_bytes = excluded.memory_bytes, kernel = excluded.kernel,
                    blas_name = excluded.blas_name, blas_config = excluded.blas_config,
                    blas_threads = excluded.blas_threads, swift_version = excluded.swift_version,
                    build = excluded.build, engine_commit = excluded.engine_commit, last_seen = excluded.last_seen
                """, arguments: [device.id, device.cpuModel, device.cores, device.simd, device.caches,
                                 device.memoryBytes, device.kernel, device.blasName, device.blasConfig,
                                 device.blasThreads, device.swiftVersion, device.build, device.engineCommit, now, now])
        }
    }

    /// Every stored device, by id.
    public func devices() throws -> [DeviceFingerprint] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM devices ORDER BY id").map(Self.device(from:))
        }
    }

    /// The stored device `id`.
    /// - Throws: `ProfileStoreError.unknownDevice` listing the known ids.
    public func device(id: String) throws -> DeviceFingerprint {
        let found = try read { db in try Row.fetchOne(db, sql: "SELECT * FROM devices WHERE id = ?", arguments: [id]) }
        guard let row = found else { throw ProfileStoreError.unknownDevice(id, known: try devices().map(\.id)) }
        return Self.device(from: row)
    }

    private static func device(from row: Row) -> DeviceFingerprint {
        var d = DeviceFingerprint(cpuModel: row["cpu_model"], cores: row["cores"], simd: row["simd"], caches: row["caches"],
                                  memoryBytes: row["memory_bytes"], kernel: row["kernel"], blasName: row["blas_name"],
                                  blasConfig: row["blas_config"], blasThreads: row["blas_threads"],
                                  swiftVersion: row["swift_version"], build: row["build"], engineCommit: row["engine_commit"])
        d.id = row["id"]   // the id it was stored under, even if the hashing ever changes
        return d
    }

    // MARK: runs

    /// Starts a run of `model` on `device` (which must be stored) and returns its id.
    /// `config` is the JSON of the profile settings; `--resume` matches runs on it.
    public func beginRun(device: String, model: String, config: String, provenance: Provenance) throws -> Int64 {
        _ = try self.device(id: device)
        let p = provenance
        return try write { db in
            try db.execute(sql: """
                INSERT INTO runs (device_id, model, config, status, started, cpu_model, cores, simd, memory_bytes,
                                  kernel, blas, threads, engine_commit, build, date, command)
                VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [device, model, config, Self.now(), p.cpuModel, p.cores, p.simd, p.memoryBytes,
                                 p.kernel, p.blas, p.threads, p.engineCommit, p.build, p.date, p.command])
            return db.lastInsertedRowID
        }
    }

    /// Sets a run's status; `finished` is stamped for every status but `.running`.
    public func finishRun(_ id: Int64, status: RunStatus) throws {
        let finished: String? = status == .running ? nil : Self.now()
        try write { db in
            try db.execute(sql: "UPDATE runs SET status = ?, finished = ? WHERE id = ?",
                           arguments: [status.rawValue, finished, id])
            if db.changesCount == 0 { throw ProfileStoreError.unknownRun(id) }
        }
    }

    /// Runs, oldest first, of one device or all.
    public func runs(device: String? = nil) throws -> [RunRecord] {
        try read { db in
            let rows = device == nil
                ? try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY id")
                : try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE device_id = ? ORDER BY id", arguments: [device])
            return rows.map { row in
                RunRecord(id: row["id"], device: row["device_id"], model: row["model"], config: row["config"],
                          status: RunStatus(rawValue: row["status"]) ?? .failed, started: row["started"],
                          finished: row["finished"],
                          provenance: Provenance(cpuModel: row["cpu_model"], cores: row["cores"], simd: row["simd"],
                                                 memoryBytes: row["memory_bytes"], kernel: row["kernel"], blas: row["blas"],
                                                 threads: row["threads"], engineCommit: row["engine_commit"],
                                                 build: row["build"], date: row["date"], command: row["command"]))
            }
        }
    }

    // MARK: samples

    /// Stores a finished batch of samples of `run` in ONE transaction: all of them or none.
    public func insertSamples(_ samples: [ProfileSample], run: Int64, device: String) throws {
        guard !samples.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO samples (run_id, device_id, model, op, phase, tokens, context, heads, neurons, threads,
                                     contention_cpu, contention_bw, achieved_cpu, achieved_bw, flops, bytes,
                                     min_ms, median_ms, mean_ms, std_ms, p90_ms, p99_ms, n)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for s in samples {
                let st = s.stats
                try statement.execute(arguments: [
                    run, device, s.model, s.op.rawValue, s.phase.rawValue, s.tokens, s.context, s.heads, s.neurons,
                    s.threads, s.contention.cpuBusyCores, s.contention.memBandwidthGBps,
                    s.achievedContention.cpuBusyCores, s.achievedContention.memBandwidthGBps, s.flops, s.bytes,
                    st.minMs, st.medianMs, st.meanMs, st.stdMs, st.p90Ms, st.p99Ms, st.n])
            }
        }
    }

    /// Samples of a device (optionally one model), in the order they were stored.
    public func samples(device: String, model: String? = nil) throws -> [StoredSample] {
        try read { db in
            let rows = model == nil
                ? try Row.fetchAll(db, sql: "SELECT * FROM samples WHERE device_id = ? ORDER BY id", arguments: [device])
                : try Row.fetchAll(db, sql: "SELECT * FROM samples WHERE device_id = ? AND model = ? ORDER BY id",
                                   arguments: [device, model])
            return try rows.map(Self.storedSample(from:))
        }
    }

    /// Samples of one run, in the order they were stored (what `--resume` skips).
    public func samples(run: Int64) throws -> [StoredSample] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM samples WHERE run_id = ? ORDER BY id", arguments: [run])
                .map(Self.storedSample(from:))
        }
    }

    private static func storedSample(from row: Row) throws -> StoredSample {
        let opName: String = row["op"], phaseName: String = row["phase"]
        guard let op = OpName(rawValue: opName), let phase = Phase(rawValue: phaseName) else {
            throw ProfileStoreError.newerSchema(found: "op '\(opName)' phase '\(phaseName)'", supported: schemaVersion)
        }
        let stats = SampleStats(minMs: row["min_ms"], medianMs: row["median_ms"], meanMs: row["mean_ms"],
                                stdMs: row["std_ms"], p90Ms: row["p90_ms"], p99Ms: row["p99_ms"], n: row["n"])
        let sample = ProfileSample(
            model: row["model"], op: op, phase: phase, tokens: row["tokens"], context: row["context"],
            heads: row["heads"], neurons: row["neurons"], threads: row["threads"],
            contention: ContentionLevel(cpuBusyCores: row["contention_cpu"], memBandwidthGBps: row["contention_bw"]),
            achievedContention: ContentionLevel(cpuBusyCores: row["achieved_cpu"], memBandwidthGBps: row["achieved_bw"]),
            flops: row["flops"], bytes: row["bytes"], stats: stats)
        return StoredSample(runID: row["run_id"], sample: sample)
    }

    // MARK: request samples

    /// Stores whole-request timings of `run` in one transaction.
    public func insertRequestSamples(_ samples: [RequestSample], run: Int64, device: String) throws {
        guard !samples.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO request_samples (run_id, device_id, model, plan, prompt_tokens, has_image, image_tokens,
                                             latency_token, new_tokens, threads, contention_cpu, contention_bw,
                                             achieved_cpu, achieved_bw, measured_ms, ttft_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for s in samples {
                try statement.execute(arguments: [
                    run, device, s.model, s.plan, s.promptTokens, s.hasImage, s.imageTokens, s.latencyToken, s.newTokens,
                    s.threads, s.contention.cpuBusyCores, s.contention.memBandwidthGBps,
                    s.achievedContention.cpuBusyCores, s.achievedContention.memBandwidthGBps, s.measuredMs, s.ttftMs])
            }
        }
    }

    /// Whole-request timings of a device (optionally one model, or one run), in stored order.
    public func requestSamples(device: String, model: String? = nil, run: Int64? = nil) throws -> [(runID: Int64, sample: RequestSample)] {
        guard hasRequestSamples else { return [] }
        return try read { db in
            var sql = "SELECT * FROM request_samples WHERE device_id = ?"
            var args: [DatabaseValueConvertible?] = [device]
            if let model { sql += " AND model = ?"; args.append(model) }
            if let run { sql += " AND run_id = ?"; args.append(run) }
            return try Row.fetchAll(db, sql: sql + " ORDER BY id", arguments: StatementArguments(args)).map { row in
                (row["run_id"], RequestSample(
                    model: row["model"], plan: row["plan"], promptTokens: row["prompt_tokens"], hasImage: row["has_image"],
                    imageTokens: row["image_tokens"], latencyToken: row["latency_token"], newTokens: row["new_tokens"],
                    threads: row["threads"],
                    contention: ContentionLevel(cpuBusyCores: row["contention_cpu"], memBandwidthGBps: row["contention_bw"]),
                    achievedContention: ContentionLevel(cpuBusyCores: row["achieved_cpu"], memBandwidthGBps: row["achieved_bw"]),
                    measuredMs: row["measured_ms"], ttftMs: row["ttft_ms"]))
            }
        }
    }

    // MARK: fitted models

    /// Stores a fitted cost model with its metrics and the runs it was trained on; returns its id.
    public func saveFittedModel(device: String, model: String, json: Data, metricsJSON: Data,
                                trainingRuns: [Int64]) throws -> Int64 {
        _ = try self.device(id: device)
        let runs = String(decoding: try JSONEncoder().encode(trainingRuns), as: UTF8.self)
        return try write { db in
            try db.execute(sql: """
                INSERT INTO fitted_models (device_id, model, created, json, metrics_json, training_runs)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [device, model, Self.now(), json, metricsJSON, runs])
            return db.lastInsertedRowID
        }
    }

    /// The most recently saved model of `model` on `device`, or nil.
    public func latestFittedModel(device: String, model: String) throws -> FittedModelRecord? {
        let row = try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM fitted_models WHERE device_id = ? AND model = ? ORDER BY id DESC LIMIT 1",
                             arguments: [device, model])
        }
        guard let row else { return nil }
        let runsText: String = row["training_runs"]
        let runs = (try? JSONDecoder().decode([Int64].self, from: Data(runsText.utf8))) ?? []
        return FittedModelRecord(id: row["id"], device: row["device_id"], model: row["model"], created: row["created"],
                                 json: row["json"], metricsJSON: row["metrics_json"], trainingRuns: runs)
    }

    // MARK: plumbing

    private func write<T>(_ body: @escaping (Database) throws -> T) throws -> T {
        if readOnly { throw ProfileStoreError.readOnly(path: path) }
        do { return try pool.write(body) } catch { throw ProfileStoreError.map(error, path: path) }
    }

    private func read<T>(_ body: @escaping (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch { throw ProfileStoreError.map(error, path: path) }
    }

    private static func now() -> String { ISO8601DateFormatter().string(from: Date()) }
}
