import Contention
import Foundation

/// Errors of the Simulation module, each naming what to fix.
public enum SimulationError: Error, CustomStringConvertible, Sendable {
    /// A results file line that does not parse: file, 1-based line, what was expected.
    case badResults(file: String, line: Int, reason: String)
    /// A request the planner cannot handle (bad budget, prompt too long, …).
    case badRequest(index: Int, reason: String)
    /// Files that cannot be read or written.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .badResults(file, line, reason): return "\(file):\(line): \(reason)"
        case let .badRequest(index, reason): return "request \(index): \(reason)"
        case let .io(path, reason): return "\(path): \(reason)"
        }
    }
}

/// The replay results CSV: `ReplayResult.csvColumns` as the header, one row per request.
/// Fields holding a comma or quote (plan strings like `L:1110+fastv(2,0.5)`) are quoted as
/// RFC 4180 says, so the file opens in any spreadsheet.
extension ReplayResult {
    /// The header line (no newline).
    public static var csvHeader: String { csvColumns.joined(separator: ",") }

    /// This row's fields in `csvColumns` order, quoted where needed (no newline).
    public var csvLine: String {
        let fields: [String] = [
            String(request), policy, mode, Self.num(arrivalS), Self.num(startS), Self.num(endS), Self.num(budgetMs),
            String(promptTokens), String(newTokens), Self.num(latencyMs), Self.num(serviceMs), Self.num(predictedMs),
            plan, String(knobs), String(totalKnobs), Self.num(sensed.cpuBusyCores), Self.num(sensed.memBandwidthGBps), outcome,
            ranPlan, String(ranKnobs),
        ]
        return fields.map(CSV.quote).joined(separator: ",")
    }

    /// Swift's shortest form that reads back to the same Double (the CSV round-trips exactly).
    static func num(_ x: Double) -> String { "\(x)" }

    /// Parses a whole results file. The header must be exactly `csvColumns` (a file from
    /// another schema fails on line 1, naming the first differing column); `#` lines and blank
    /// lines are skipped. Never traps: every bad field is a `badResults` error with its line.
    public static func parseCSV(_ text: String, file: String) throws -> [ReplayResult] {
        var rows: [ReplayResult] = []
        var columns: [String]? = nil
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            let trimmed = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if trimmed.allSatisfy(\.isWhitespace) || trimmed.hasPrefix("#") { continue }
            let fields = try CSV.split(String(trimmed)).get(file: file, line: line)
            guard let expected = columns else {
                if fields == csvColumnsWithoutRan { columns = fields; continue }
                guard fields == csvColumns else {
                    let at = zip(fields, csvColumns).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(fields.count, csvColumns.count)
                    let got = at < fields.count ? "'\(fields[at])'" : "nothing"
                    let want = at < csvColumns.count ? "'\(csvColumns[at])'" : "no more columns"
                    throw SimulationError.badResults(file: file, line: line, reason:
                        "not a replay results file: header column \(at + 1) is \(got), expected \(want) (header: \(csvHeader))")
                }
                columns = fields
                continue
            }
            rows.append(try parseRow(fields, columns: expected.count, file: file, line: line))
        }
        guard columns != nil else {
            throw SimulationError.badResults(file: file, line: 1, reason: "empty file: expected the header \(csvHeader)")
        }
        return rows
    }

    static func parseRow(_ f: [String], columns: Int, file: String, line: Int) throws -> ReplayResult {
        guard f.count == columns else {
            throw SimulationError.badResults(file: file, line: line, reason: "\(f.count) fields, expected \(columns)")
        }
        func bad(_ c: Int, _ what: String) -> SimulationError {
            .badResults(file: file, line: line, reason: "\(csvColumns[c]) is '\(f[c].prefix(40))', expected \(what)")
        }
        func int(_ c: Int) throws -> Int {
            guard let v = Int(f[c]), v >= 0 else { throw bad(c, "a non-negative integer") }
            return v
        }
        func double(_ c: Int) throws -> Double {
            guard let v = Double(f[c]), v.isFinite, v >= 0 else { throw bad(c, "a finite non-negative number") }
            return v
        }
        let outcome = f[17]
        guard Outcome(rawValue: outcome) != nil else { throw bad(17, "met, missed, infeasible or rejected") }
        guard !f[1].isEmpty else { throw bad(1, "a policy name") }
        guard f[2] == "live" || f[2] == "simulated" else { throw bad(2, "live or simulated") }
        let row = ReplayResult(
            request: try int(0), policy: f[1], mode: f[2], arrivalS: try double(3), startS: try double(4),
            endS: try double(5), budgetMs: try double(6), promptTokens: try int(7), newTokens: try int(8),
            latencyMs: try double(9), serviceMs: try double(10), predictedMs: try double(11), plan: f[12],
            knobs: try int(13), totalKnobs: try int(14),
            sensed: ContentionLevel(cpuBusyCores: try double(15), memBandwidthGBps: try double(16)), outcome: outcome,
            ranPlan: columns > 18 ? f[18] : nil, ranKnobs: columns > 18 ? try int(19) : nil)
        guard row.ranKnobs <= row.knobs else { throw bad(19, "at most knobs (\(row.knobs)): the guard only switches knobs off") }
        guard row.budgetMs > 0 else { throw bad(6, "a positive budget") }
        guard row.endS >= row.startS, row.startS >= row.arrivalS else {
            throw SimulationError.badResults(file: file, line: line, reason: "times out of order: expected arrival_s ≤ start_s ≤ end_s")
        }
        return row
    }
}

/// What happened to a request against its budget.
public enum Outcome: String, Codable, Sendable, CaseIterable {
    case met, missed
    /// Even the cheapest plan was predicted over budget; the cheapest plan ran anyway.
    case infeasible
    /// Infeasible and not run (`replay --infeasible reject`, admission control): the engine
    /// stays free for the requests behind it. Its latency is the time it waited to be decided.
    case rejected

    /// Infeasible, whether it ran or was rejected: not counted in adherence.
    public var isInfeasible: Bool { self == .infeasible || self == .rejected }

    /// Met/missed by measured (or simulated) latency; infeasible when the planner said so.
    public static func of(latencyMs: Double, budgetMs: Double, infeasible: Bool) -> Outcome {
        infeasible ? .infeasible : (latencyMs <= budgetMs ? .met : .missed)
    }
}

extension ReplayResult {
    /// Whether the measured latency fit the budget (regardless of the planner's verdict).
    public var withinBudget: Bool { latencyMs <= budgetMs }
}

/// Minimal RFC 4180 field handling for the files this module writes.
enum CSV {
    static func quote(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    enum SplitResult {
        case ok([String]), unterminated
        func get(file: String, line: Int) throws -> [String] {
            switch self {
            case .ok(let f): return f
            case .unterminated: throw SimulationError.badResults(file: file, line: line, reason: "unterminated quoted field")
            }
        }
    }

    /// Splits one line into fields, undoing `quote`.
    static func split(_ line: String) -> SplitResult {
        var fields: [String] = [], field = "", inQuotes = false
        var chars = line.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    if let n = chars.next() {
                        if n == "\"" { field.append("\"") } else { inQuotes = false; pending = n }
                    } else { inQuotes = false }
                } else { field.append(c) }
            } else if c == "\"" && field.isEmpty {
                inQuotes = true
            } else if c == "," {
                fields.append(field); field = ""
            } else {
                field.append(c)
            }
        }
        if inQuotes { return .unterminated }
        fields.append(field)
        return .ok(fields)
    }
}

/// Runs `body` for request `index`, reporting any error as that request's (`badRequest`).
func guarded<T>(_ index: Int, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as SimulationError { throw error } catch {
        throw SimulationError.badRequest(index: index, reason: "\(error)")
    }
}
