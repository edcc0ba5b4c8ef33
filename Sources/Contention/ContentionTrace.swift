import Foundation

/// One row of a contention trace: from `t` seconds on (until the next row) the background
/// load is `level`.
public struct ContentionPoint: Sendable, Hashable {
    public var t: Double
    public var level: ContentionLevel

    public init(t: Double, level: ContentionLevel) {
        self.t = t
        self.level = level
    }
}

/// Background load over time, piecewise constant: the contention generator replays it, the
/// simulator reads it, `trace synth/record/import` write it.
///
/// File format (DESIGN.md): `#` comment lines (source, units, licence), the header
/// `t_s,cpu_busy_cores,mem_bw_gbps`, then rows with strictly increasing `t_s`, the first at 0.
/// The trace ends at its last row's `t_s`; writers that mean a length repeat the final level
/// at `t = duration`, so the length is explicit in the file.
public struct ContentionTrace: Sendable, Hashable {
    /// Sorted by `t`, first `t == 0`, strictly increasing.
    public var points: [ContentionPoint]
    /// The file's `#` lines without the `# ` (source, units, licence, exact command).
    public var comments: [String]

    public static let header = ["t_s", "cpu_busy_cores", "mem_bw_gbps"]
    /// Bounds beyond which a value is a mistake rather than a machine: cores, GB/s, seconds.
    public static let maxCores = 4096.0, maxBandwidthGBps = 10_000.0, maxSeconds = 1e8

    public init(points: [ContentionPoint], comments: [String] = []) {
        self.points = points
        self.comments = comments
    }

    /// Parses the CSV text of a trace; `file` names it in errors (`file:line: reason`).
    public static func parse(_ text: String, file: String) throws -> ContentionTrace {
        let csv = try CSVLines(text, file: file, header: header)
        var points: [ContentionPoint] = []
        points.reserveCapacity(csv.rows.count)
        for row in csv.rows {
            let f = row.fields, line = row.line
            let t = try CSVLines.number(f[0], "t_s", in: 0...maxSeconds, file: file, line: line)
            let cores = try CSVLines.number(f[1], "cpu_busy_cores", in: 0...maxCores, file: file, line: line)
            let bw = try CSVLines.number(f[2], "mem_bw_gbps", in: 0...maxBandwidthGBps, file: file, line: line)
            if let last = points.last {
                guard t > last.t else {
                    throw ContentionError.badTrace(file: file, line: line,
                        reason: t == last.t ? "t_s \(f[0]) repeats the previous row's time"
                                            : "t_s \(f[0]) is before the previous row's \(CSVLines.format(last.t)) (rows must be sorted by time)")
                }
            } else if t != 0 {
                throw ContentionError.badTrace(file: file, line: line, reason: "the first row must be at t_s = 0, found \(f[0])")
            }
            points.append(ContentionPoint(t: t, level: ContentionLevel(cpuBusyCores: cores, memBandwidthGBps: bw)))
        }
        return ContentionTrace(points: points, comments: csv.comments)
    }

    /// Reads and parses a trace file; a missing or unreadable file is a `badTrace` at line 0.
    public static func load(_ url: URL) throws -> ContentionTrace {
        try parse(try readTraceFile(url), file: url.path)
    }

    /// The file text: comments, header, rows.
    public func csv() -> String {
        var out = CSVLines.commentLines(comments) + Self.header.joined(separator: ",") + "\n"
        for p in points {
            out += "\(CSVLines.format(p.t)),\(CSVLines.format(p.level.cpuBusyCores)),\(CSVLines.format(p.level.memBandwidthGBps))\n"
        }
        return out
    }

    /// The level in force at `t` seconds: the last row at or before `t` (the first row before 0,
    /// the last row after the end). Idle for an empty trace.
    public func level(at t: Double) -> ContentionLevel { segment(at: t).level }

    /// The level at time `t` and the time it next changes (`.infinity` if it never does): a
    /// simulated request asks once, not at every block, whether its load changed part-way.
    public func segment(at t: Double) -> (level: ContentionLevel, until: Double) {
        guard let first = points.first else { return (.idle, .infinity) }
        var lo = 0
        if t >= first.t {
            var hi = points.count - 1  // invariant: points[lo].t <= t
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if points[mid].t <= t { lo = mid } else { hi = mid - 1 }
            }
        }
        let level = points[lo].level
        // Rows that repeat the level (a bursty trace's steps often do) do not end the segment.
        let next = points[(lo + 1)...].first { $0.level != level }
        return (level, next?.t ?? .infinity)
    }

    /// Length in seconds: the last row's `t`.
    public var duration: Double { points.last?.t ?? 0 }

    /// Time-weighted mean level over `[0, duration]` (the last row's level counts for nothing
    /// past the end); the first level for a one-row trace.
    public var meanLevel: ContentionLevel {
        guard points.count > 1, duration > 0 else { return points.first?.level ?? .idle }
        var cores = 0.0, bw = 0.0
        for (a, b) in zip(points, points.dropFirst()) {
            cores += a.level.cpuBusyCores * (b.t - a.t)
            bw += a.level.memBandwidthGBps * (b.t - a.t)
        }
        return ContentionLevel(cpuBusyCores: cores / duration, memBandwidthGBps: bw / duration)
    }
}

/// Reads a text file, turning I/O failures into a `badTrace` error naming the file.
func readTraceFile(_ url: URL) throws -> String {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        let reason = FileManager.default.fileExists(atPath: url.path) ? "cannot read the file" : "no such file"
        throw ContentionError.badTrace(file: url.path, line: 0, reason: reason)
    }
    guard let text = String(data: data, encoding: .utf8) else {
        throw ContentionError.badTrace(file: url.path, line: 0, reason: "the file is not UTF-8 text")
    }
    return text
}
