import Foundation
import GRDB

/// Where a replay's rows go as each request completes: appended to the CSV (written through
/// at once, so an interrupted replay keeps every completed row) and inserted into an SQLite
/// table `replay_results` (one autocommitted insert per row, same columns as the CSV).
public final class ResultsStore: @unchecked Sendable {
    public let csvPath: String
    public let sqlitePath: String?
    private let csv: FileHandle
    private let db: DatabaseQueue?
    private let lock = NSLock()

    /// Creates (truncates) the CSV with its header and opens/creates the SQLite file.
    public init(csvPath: String, sqlitePath: String?, comments: [String] = []) throws {
        self.csvPath = csvPath
        self.sqlitePath = sqlitePath
        let header = comments.map { "# \($0)\n" }.joined() + ReplayResult.csvHeader + "\n"
        guard FileManager.default.createFile(atPath: csvPath, contents: Data(header.utf8)),
              let handle = FileHandle(forWritingAtPath: csvPath) else {
            throw SimulationError.io(path: csvPath, reason: "cannot create the results file")
        }
        handle.seekToEndOfFile()
        csv = handle
        if let sqlitePath {
            do {
                let queue = try DatabaseQueue(path: sqlitePath)
                try queue.write { db in
                    try db.execute(sql: """
                        CREATE TABLE IF NOT EXISTS replay_results (
                          id INTEGER PRIMARY KEY AUTOINCREMENT, replay TEXT NOT NULL,
                          request INTEGER NOT NULL, policy TEXT NOT NULL, mode TEXT NOT NULL,
                          arrival_s REAL NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL, budget_ms REAL NOT NULL,
                          prompt_tokens INTEGER NOT NULL, new_tokens INTEGER NOT NULL, latency_ms REAL NOT NULL,
                          service_ms REAL NOT NULL, predicted_ms REAL NOT NULL, plan TEXT NOT NULL, knobs INTEGER NOT NULL,
                          total_knobs INTEGER NOT NULL, sensed_cpu_cores REAL NOT NULL, sensed_mem_bw_gbps REAL NOT NULL,
                          outcome TEXT NOT NULL, ran_plan TEXT, ran_knobs INTEGER)
                        """)
                    // A file made before the deadline guard: add its two columns (old rows keep NULL).
                    let existing = try Row.fetchAll(db, sql: "PRAGMA table_info(replay_results)").map { $0["name"] as String }
                    if !existing.contains("ran_plan") { try db.execute(sql: "ALTER TABLE replay_results ADD COLUMN ran_plan TEXT") }
                    if !existing.contains("ran_knobs") { try db.execute(sql: "ALTER TABLE replay_results ADD COLUMN ran_knobs INTEGER") }
                }
                db = queue
            } catch {
                throw SimulationError.io(path: sqlitePath, reason: "cannot open the results database: \(error)")
            }
        } else {
            db = nil
        }
    }

    /// A label shared by the rows of this replay in SQLite (several replays may share a file).
    public lazy var replayID: String = ISO8601DateFormatter().string(from: Date()) + " " + (csvPath as NSString).lastPathComponent

    /// Appends one row to both stores (the live replay: each row on disk as it completes).
    public func append(_ row: ReplayResult) throws { try append(contentsOf: [row]) }

    /// Appends rows in one CSV write and one SQLite transaction (the simulator's bulk output).
    public func append(contentsOf rows: [ReplayResult]) throws {
        lock.lock(); defer { lock.unlock() }
        csv.write(Data(rows.map { $0.csvLine + "\n" }.joined().utf8))
        guard let db else { return }
        let id = replayID
        do {
            try db.write { db in
                let statement = try db.makeStatement(sql: """
                    INSERT INTO replay_results (replay, request, policy, mode, arrival_s, start_s, end_s, budget_ms,
                      prompt_tokens, new_tokens, latency_ms, service_ms, predicted_ms, plan, knobs, total_knobs,
                      sensed_cpu_cores, sensed_mem_bw_gbps, outcome, ran_plan, ran_knobs)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for row in rows {
                    try statement.execute(arguments: [
                        id, row.request, row.policy, row.mode, row.arrivalS, row.startS, row.endS, row.budgetMs,
                        row.promptTokens, row.newTokens, row.latencyMs, row.serviceMs, row.predictedMs, row.plan,
                        row.knobs, row.totalKnobs, row.sensed.cpuBusyCores, row.sensed.memBandwidthGBps, row.outcome,
                        row.ranPlan, row.ranKnobs])
                }
            }
        } catch {
            throw SimulationError.io(path: sqlitePath ?? "", reason: "cannot insert results: \(error)")
        }
    }

    /// Rows stored in SQLite for this replay, in request order (for tests and checks).
    public func storedCount() throws -> Int {
        guard let db else { return 0 }
        let id = replayID
        return try db.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM replay_results WHERE replay = ?", arguments: [id]) ?? 0 }
    }

    public func close() {
        lock.lock(); defer { lock.unlock() }
        try? csv.synchronize()
        try? csv.close()
    }
}
