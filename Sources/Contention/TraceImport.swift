#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Converts other people's utilisation traces into contention traces for this machine.
public enum TraceImport {
    /// How source values become this machine's cores and GB/s (written into the comments).
    public struct Scaling: Sendable, Hashable {
        /// This machine's cores: 100% CPU in the source becomes `cores × coresScale` busy cores.
        public var cores: Double
        /// Extra factor on cores (e.g. 0.5 to leave a core to the engine).
        public var coresScale: Double
        /// This machine's memory bandwidth, GB/s: 100% in the source becomes this.
        public var bandwidthGBps: Double

        public init(cores: Double, coresScale: Double = 1, bandwidthGBps: Double) {
            self.cores = cores
            self.coresScale = coresScale
            self.bandwidthGBps = bandwidthGBps
        }
    }

    /// Calls `body` with each line (without its newline) and 1-based number, reading the
    /// file a buffer at a time (the full Alibaba machine_usage.csv is tens of GB).
    public static func forEachLine(of url: URL, _ body: (Substring, Int) throws -> Bool) throws {
        guard let f = fopen(url.path, "r") else {
            throw ContentionError.badTrace(file: url.path, line: 0,
                reason: FileManager.default.fileExists(atPath: url.path) ? "cannot read the file" : "no such file")
        }
        defer { fclose(f) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        var number = 0
        while getline(&line, &capacity, f) > 0 {
            number += 1
            var text = Substring(String(cString: line!))
            while text.last == "\n" || text.last == "\r" || text.last == "\r\n" { text = text.dropLast() }
            if try !body(text, number) { break }
        }
    }

    /// Alibaba cluster-trace-v2018 `machine_usage.csv` (no header; columns machine_id,
    /// time_stamp, cpu_util_percent, mem_util_percent, mem_gps, mkpi, net_in, net_out,
    /// disk_io_percent). Keeps one machine (`machine`, or the first one seen), sorts by time,
    /// averages rows with equal time stamps, starts at 0, and cuts `[start, start + duration)`.
    /// cpu_util_percent/100 × cores × coresScale → busy cores; mem_gps (normalised memory
    /// bandwidth, [0, 100]) /100 × bandwidthGBps → GB/s. Empty or missing mem_gps holds the last
    /// value; values above 100 are clipped (counted in the comments).
    public static func alibabaMachineUsage(lines: (((Substring, Int) throws -> Bool) throws -> Void), file: String,
                                           machine: String?, scaling: Scaling, start: Double = 0,
                                           duration: Double? = nil) throws -> ContentionTrace {
        guard scaling.cores * scaling.coresScale <= ContentionTrace.maxCores, scaling.bandwidthGBps <= ContentionTrace.maxBandwidthGBps,
              scaling.cores * scaling.coresScale >= 0, scaling.bandwidthGBps >= 0 else {
            throw ContentionError.badTrace(file: file, line: 0, reason: "the scaling (\(scaling.cores) cores × \(scaling.coresScale), \(scaling.bandwidthGBps) GB/s) is outside 0…\(Int(ContentionTrace.maxCores)) cores, 0…\(Int(ContentionTrace.maxBandwidthGBps)) GB/s")
        }
        var chosen = machine
        var samples: [(t: Double, cpu: Double, bw: Double?)] = []
        var clipped = 0, rowsSeen = 0
        try lines { raw, line in
            let text = raw.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") { return true }
            let f = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == 9 else {
                throw ContentionError.badTrace(file: file, line: line,
                    reason: "expected 9 fields (machine_id,time_stamp,cpu_util_percent,mem_util_percent,mem_gps,mkpi,net_in,net_out,disk_io_percent), found \(f.count)")
            }
            rowsSeen += 1
            if chosen == nil { chosen = f[0] }
            guard f[0] == chosen else { return true }
            let t = try CSVLines.number(f[1], "time_stamp", in: 0...ContentionTrace.maxSeconds, file: file, line: line)
            var cpu = try CSVLines.number(f[2], "cpu_util_percent", in: 0...1000, file: file, line: line)
            var bw = f[4].isEmpty ? nil : try CSVLines.number(f[4], "mem_gps", in: 0...1000, file: file, line: line)
            if cpu > 100 { cpu = 100; clipped += 1 }
            if let b = bw, b > 100 { bw = 100; clipped += 1 }
            samples.append((t, cpu, bw))
            return true
        }
        guard let chosen, !samples.isEmpty else {
            throw ContentionError.badTrace(file: file, line: 1,
                reason: rowsSeen == 0 ? "no machine_usage rows" : "no rows for machine '\(machine ?? "")'")
        }
        // Sort by time; average equal time stamps.
        samples.sort { $0.t < $1.t }
        var merged: [(t: Double, cpu: Double, bw: Double?)] = []
        var i = 0
        while i < samples.count {
            var j = i, cpu = 0.0, bw = 0.0, bwCount = 0
            while j < samples.count, samples[j].t == samples[i].t {
                cpu += samples[j].cpu
                if let b = samples[j].bw { bw += b; bwCount += 1 }
                j += 1
            }
            merged.append((samples[i].t, cpu / Double(j - i), bwCount > 0 ? bw / Double(bwCount) : nil))
            i = j
        }
        let t0 = merged[0].t + start
        let end = duration.map { t0 + $0 }
        var rows: [(Double, Double, Double)] = []
        var lastBW = 0.0
        let coresFull = scaling.cores * scaling.coresScale
        for m in merged {
            if let b = m.bw { lastBW = b }
            // The sample at or before the window start sets the level at 0.
            if m.t < t0 {
                rows = [(0, m.cpu / 100 * coresFull, lastBW / 100 * scaling.bandwidthGBps)]
                continue
            }
            if let end, m.t >= end { break }
            rows.append((m.t - t0, m.cpu / 100 * coresFull, lastBW / 100 * scaling.bandwidthGBps))
        }
        guard !rows.isEmpty else {
            throw ContentionError.badTrace(file: file, line: 1, reason: "no rows for machine '\(chosen)' in the window from \(CSVLines.format(start)) s")
        }
        var trace = compress(rows, end: duration ?? (rows.last!.0 + (merged.count > 1 ? merged[1].t - merged[0].t : 0)))
        trace.comments = [
            "imported from Alibaba cluster-trace-v2018 machine_usage (\(URL(fileURLWithPath: file).lastPathComponent)), machine \(chosen), window from \(CSVLines.format(start)) s\(duration.map { " for \(CSVLines.format($0)) s" } ?? "")",
            "scaling: cpu_busy_cores = cpu_util_percent/100 × \(CSVLines.format(scaling.cores)) cores × \(CSVLines.format(scaling.coresScale)); mem_bw_gbps = mem_gps/100 × \(CSVLines.format((scaling.bandwidthGBps * 100).rounded() / 100)) GB/s (this machine's measured all-cores read bandwidth)",
            "\(merged.count) time stamps kept, \(clipped) values above 100 clipped; equal time stamps averaged; missing mem_gps holds the previous value",
            "source licence: Alibaba Cluster Trace Program, for research or study purposes (https://github.com/alibaba/clusterdata)",
        ]
        return trace
    }

    /// A generic CSV with a header row: the named columns (header names, or 1-based numbers)
    /// give time, CPU and optionally bandwidth. `timeScale` converts the time column to
    /// seconds (1 for s, 0.001 for ms); cpu is in `cpuUnit`, bandwidth in `bandwidthUnit`.
    public enum CPUUnit: String, CaseIterable, Sendable { case cores, percent, fraction }
    public enum BandwidthUnit: String, CaseIterable, Sendable { case gbps, percent }

    public static func columns(lines: (((Substring, Int) throws -> Bool) throws -> Void), file: String,
                               time: String, cpu: String, bandwidth: String?, timeScale: Double = 1,
                               cpuUnit: CPUUnit, bandwidthUnit: BandwidthUnit, scaling: Scaling) throws -> ContentionTrace {
        var header: [String]?
        var index: (t: Int, c: Int, b: Int?) = (0, 0, nil)
        var samples: [(Double, Double, Double)] = []
        func column(_ name: String, in h: [String], line: Int) throws -> Int {
            if let n = Int(name), n >= 1, n <= h.count { return n - 1 }
            if let i = h.firstIndex(where: { $0.lowercased() == name.lowercased() }) { return i }
            throw ContentionError.badTrace(file: file, line: line, reason: "no column '\(name)' in the header (\(h.joined(separator: ",")))")
        }
        try lines { raw, line in
            let text = raw.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") { return true }
            let f = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let h = header else {
                header = f
                index = (try column(time, in: f, line: line), try column(cpu, in: f, line: line),
                         try bandwidth.map { try column($0, in: f, line: line) })
                return true
            }
            guard f.count == h.count else {
                throw ContentionError.badTrace(file: file, line: line, reason: "expected \(h.count) fields like the header, found \(f.count)")
            }
            let t = try CSVLines.number(f[index.t], h[index.t], in: 0...ContentionTrace.maxSeconds / max(timeScale, 1e-9), file: file, line: line) * timeScale
            let c = try CSVLines.number(f[index.c], h[index.c], in: 0...ContentionTrace.maxCores * 100, file: file, line: line)
            let b = try index.b.map { try CSVLines.number(f[$0], h[$0], in: 0...ContentionTrace.maxBandwidthGBps, file: file, line: line) } ?? 0
            let cores: Double
            switch cpuUnit {
            case .cores: cores = c * scaling.coresScale
            case .percent: cores = c / 100 * scaling.cores * scaling.coresScale
            case .fraction: cores = c * scaling.cores * scaling.coresScale
            }
            let gbps = bandwidthUnit == .gbps ? b : b / 100 * scaling.bandwidthGBps
            if let last = samples.last, t <= last.0 {
                throw ContentionError.badTrace(file: file, line: line, reason: "time \(f[index.t]) is not after the previous row's (rows must be sorted by time)")
            }
            guard cores <= ContentionTrace.maxCores, gbps <= ContentionTrace.maxBandwidthGBps else {
                throw ContentionError.badTrace(file: file, line: line, reason: "the scaled level \(CSVLines.format(cores)) cores, \(CSVLines.format(gbps)) GB/s is absurd")
            }
            samples.append((t, cores, gbps))
            return true
        }
        guard !samples.isEmpty else { throw ContentionError.badTrace(file: file, line: 1, reason: "no data rows") }
        let t0 = samples[0].0
        let rows = samples.map { ($0.0 - t0, $0.1, $0.2) }
        var trace = compress(rows, end: rows.last!.0)
        trace.comments = [
            "imported from \(URL(fileURLWithPath: file).lastPathComponent): time column '\(time)' × \(CSVLines.format(timeScale)) s, cpu column '\(cpu)' in \(cpuUnit.rawValue), bandwidth column \(bandwidth.map { "'\($0)' in \(bandwidthUnit.rawValue)" } ?? "none (0)")",
            "scaling: \(cpuUnit == .cores ? "cores × \(CSVLines.format(scaling.coresScale))" : "100% cpu = \(CSVLines.format(scaling.cores)) cores × \(CSVLines.format(scaling.coresScale))")\(bandwidthUnit == .percent ? "; 100% bandwidth = \(CSVLines.format((scaling.bandwidthGBps * 100).rounded() / 100)) GB/s" : "")",
        ]
        return trace
    }

    /// Rows (t from 0, cores, GB/s) → a trace: levels rounded to 0.001 cores / 0.01 GB/s,
    /// repeated levels dropped, the last level repeated at `end` when that is later.
    static func compress(_ rows: [(Double, Double, Double)], end: Double) -> ContentionTrace {
        var points: [ContentionPoint] = []
        for (t, c, b) in rows {
            let level = ContentionLevel(cpuBusyCores: (c * 1000).rounded() / 1000, memBandwidthGBps: (b * 100).rounded() / 100)
            if let last = points.last, last.level == level { continue }
            points.append(ContentionPoint(t: points.isEmpty ? 0 : (t * 1000).rounded() / 1000, level: level))
        }
        let endT = (end * 1000).rounded() / 1000
        if endT > points.last!.t { points.append(ContentionPoint(t: endT, level: points.last!.level)) }
        return ContentionTrace(points: points)
    }

    /// Adapts a text to the `lines` parameter (tests, small inputs).
    public static func lines(of text: String) -> (((Substring, Int) throws -> Bool) throws -> Void) {
        { body in
            for (i, l) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0.isNewline }).enumerated() {
                if try !body(l, i + 1) { break }
            }
        }
    }

    /// Adapts a file to the `lines` parameter.
    public static func lines(of url: URL) -> (((Substring, Int) throws -> Bool) throws -> Void) {
        { body in try forEachLine(of: url, body) }
    }
}
