import Foundation

/// One request of a request trace: it arrives at `t` seconds with a latency budget.
public struct TraceRequest: Sendable, Hashable {
    /// Arrival time, seconds from the start of the replay.
    public var t: Double
    /// Absolute latency budget, milliseconds (> 0).
    public var budgetMs: Double
    public var promptTokens: Int
    /// An image path, or `synthetic` for deterministic synthetic pixels.
    public var image: String
    public var maxNewTokens: Int

    public init(t: Double, budgetMs: Double, promptTokens: Int, image: String = "synthetic", maxNewTokens: Int) {
        self.t = t
        self.budgetMs = budgetMs
        self.promptTokens = promptTokens
        self.image = image
        self.maxNewTokens = maxNewTokens
    }
}

/// The requests a replay sends, in arrival order.
///
/// File format (DESIGN.md): `#` comment lines, the header
/// `t_s,budget_ms,prompt_tokens,image,max_new_tokens`, then one row per request with
/// non-decreasing `t_s` (equal times are simultaneous arrivals, which bursts have). `image`
/// is a path without commas or `synthetic`.
public struct RequestTrace: Sendable, Hashable {
    public var requests: [TraceRequest]
    public var comments: [String]

    public static let header = ["t_s", "budget_ms", "prompt_tokens", "image", "max_new_tokens"]
    /// Bounds beyond which a value is a mistake: budget (ms), tokens.
    public static let maxBudgetMs = 1e7, maxTokens = 1 << 20

    public init(requests: [TraceRequest], comments: [String] = []) {
        self.requests = requests
        self.comments = comments
    }

    /// Parses the CSV text of a request trace; `file` names it in errors (`file:line: reason`).
    public static func parse(_ text: String, file: String) throws -> RequestTrace {
        let csv = try CSVLines(text, file: file, header: header)
        var requests: [TraceRequest] = []
        requests.reserveCapacity(csv.rows.count)
        for row in csv.rows {
            let f = row.fields, line = row.line
            let t = try CSVLines.number(f[0], "t_s", in: 0...ContentionTrace.maxSeconds, file: file, line: line)
            let budget = try CSVLines.number(f[1], "budget_ms", in: 0...maxBudgetMs, file: file, line: line)
            guard budget > 0 else {
                throw ContentionError.badTrace(file: file, line: line, reason: "budget_ms must be positive, found \(f[1])")
            }
            let prompt = try CSVLines.integer(f[2], "prompt_tokens", in: 1...maxTokens, file: file, line: line)
            guard !f[3].isEmpty, !f[3].contains("\"") else {
                throw ContentionError.badTrace(file: file, line: line,
                    reason: "image must be a path (no quotes or commas) or 'synthetic', found '\(CSVLines.clip(f[3]))'")
            }
            let newTokens = try CSVLines.integer(f[4], "max_new_tokens", in: 1...maxTokens, file: file, line: line)
            if let last = requests.last, t < last.t {
                throw ContentionError.badTrace(file: file, line: line,
                    reason: "t_s \(f[0]) is before the previous request's \(CSVLines.format(last.t)) (rows must be sorted by arrival)")
            }
            requests.append(TraceRequest(t: t, budgetMs: budget, promptTokens: prompt, image: f[3], maxNewTokens: newTokens))
        }
        return RequestTrace(requests: requests, comments: csv.comments)
    }

    /// Reads and parses a request trace file.
    public static func load(_ url: URL) throws -> RequestTrace {
        try parse(try readTraceFile(url), file: url.path)
    }

    /// The file text: comments, header, rows.
    public func csv() -> String {
        var out = CSVLines.commentLines(comments) + Self.header.joined(separator: ",") + "\n"
        for r in requests {
            out += "\(CSVLines.format(r.t)),\(CSVLines.format(r.budgetMs)),\(r.promptTokens),\(r.image),\(r.maxNewTokens)\n"
        }
        return out
    }

    /// Seconds from the first arrival to the last.
    public var duration: Double { requests.last?.t ?? 0 }
}
