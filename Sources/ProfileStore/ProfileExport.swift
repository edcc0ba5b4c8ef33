import Foundation
import LLaVAModel
import Profiling

/// Writes a device's profile as files a person or another tool can read without SQLite:
/// `samples.csv` (one row per sample with its run's provenance), `samples.json` (device, runs,
/// samples), `requests.csv` (whole requests timed end to end, with provenance) and `summary.md`
/// (per op and phase: points, repeats, spread).
public enum ProfileExport {
    /// Files written, in order.
    public static let files = ["samples.csv", "samples.json", "requests.csv", "summary.md"]

    /// Exports `device` (optionally only `model`) from `database` into `directory` (created).
    /// - Throws: `ProfileStoreError.unknownDevice` listing the known ids.
    @discardableResult
    public static func write(database: ProfileDatabase, device id: String, model: String? = nil,
                             to directory: String) throws -> (samples: Int, runs: Int) {
        let device = try database.device(id: id)
        let samples = try database.samples(device: id, model: model)
        let requests = try database.requestSamples(device: id, model: model)
        let used = Set(samples.map(\.runID)).union(requests.map(\.runID))
        let runs = try database.runs(device: id).filter { used.contains($0.id) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let url = URL(fileURLWithPath: directory)
        try Data(csv(device: device, runs: runs, samples: samples).utf8).write(to: url.appendingPathComponent("samples.csv"))
        try json(device: device, runs: runs, samples: samples).write(to: url.appendingPathComponent("samples.json"))
        try Data(requestsCSV(device: device, runs: runs, requests: requests).utf8).write(to: url.appendingPathComponent("requests.csv"))
        try Data(summary(device: device, runs: runs, samples: samples).utf8).write(to: url.appendingPathComponent("summary.md"))
        return (samples.count, runs.count)
    }

    public static let csvColumns = [
        "run_id", "device_id", "model", "op", "phase", "tokens", "context", "heads", "neurons", "threads",
        "contention_cpu", "contention_bw", "achieved_cpu", "achieved_bw", "flops", "bytes",
        "min_ms", "median_ms", "mean_ms", "std_ms", "p90_ms", "p99_ms", "n",
        "engine_commit", "build", "blas", "kernel", "run_status", "run_started", "command",
    ]

    static func csv(device: DeviceFingerprint, runs: [RunRecord], samples: [StoredSample]) -> String {
        let byID = Dictionary(uniqueKeysWithValues: runs.map { ($0.id, $0) })
        var out = """
            # adallava profile export: device \(device.id)
            # cpu: \(device.cpuModel) (\(device.cores) cores, \(device.simd)), caches \(device.caches), memory \(device.memoryBytes / 1_073_741_824) GiB
            # times in milliseconds; flops = floating-point operations (2 per multiply-add); bytes = minimum bytes moved; contention in busy cores and GB/s
            \(csvColumns.joined(separator: ","))

            """
        for s in samples {
            let x = s.sample, st = x.stats, run = byID[s.runID]
            let fields: [String] = [
                "\(s.runID)", device.id, x.model, x.op.rawValue, x.phase.rawValue, "\(x.tokens)", "\(x.context)",
                "\(x.heads)", "\(x.neurons)", "\(x.threads)", "\(x.contention.cpuBusyCores)",
                "\(x.contention.memBandwidthGBps)", "\(x.achievedContention.cpuBusyCores)",
                "\(x.achievedContention.memBandwidthGBps)", "\(x.flops)", "\(x.bytes)",
                "\(st.minMs)", "\(st.medianMs)", "\(st.meanMs)", "\(st.stdMs)", "\(st.p90Ms)", "\(st.p99Ms)", "\(st.n)",
                run?.provenance.engineCommit ?? "", run?.provenance.build ?? "", run?.provenance.blas ?? "",
                run?.provenance.kernel ?? "", run?.status.rawValue ?? "", run?.started ?? "", run?.provenance.command ?? "",
            ]
            out += fields.map(quoted).joined(separator: ",") + "\n"
        }
        return out
    }

    public static let requestColumns = [
        "run_id", "device_id", "model", "plan", "prompt_tokens", "has_image", "image_tokens", "latency_token", "new_tokens",
        "threads", "contention_cpu", "contention_bw", "achieved_cpu", "achieved_bw", "measured_ms", "ttft_ms",
        "engine_commit", "build", "blas", "kernel", "command",
    ]

    static func requestsCSV(device: DeviceFingerprint, runs: [RunRecord], requests: [(runID: Int64, sample: RequestSample)]) -> String {
        let byID = Dictionary(uniqueKeysWithValues: runs.map { ($0.id, $0) })
        var out = """
            # adallava profile export: whole requests timed end to end on device \(device.id)
            # prompt_tokens = text tokens (an image adds image_tokens features); times in milliseconds; contention in busy cores and GB/s
            \(requestColumns.joined(separator: ","))

            """
        for (runID, x) in requests {
            let run = byID[runID]
            let fields: [String] = [
                "\(runID)", device.id, x.model, x.plan, "\(x.promptTokens)", x.hasImage ? "1" : "0",
                x.imageTokens.map(String.init) ?? "", x.latencyToken ? "1" : "0", "\(x.newTokens)", "\(x.threads)",
                "\(x.contention.cpuBusyCores)", "\(x.contention.memBandwidthGBps)", "\(x.achievedContention.cpuBusyCores)",
                "\(x.achievedContention.memBandwidthGBps)", "\(x.measuredMs)", "\(x.ttftMs)",
                run?.provenance.engineCommit ?? "", run?.provenance.build ?? "", run?.provenance.blas ?? "",
                run?.provenance.kernel ?? "", run?.provenance.command ?? "",
            ]
            out += fields.map(quoted).joined(separator: ",") + "\n"
        }
        return out
    }

    /// RFC 4180 quoting, only where needed.
    static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    struct JSONSample: Encodable {
        var runID: Int64
        var sample: ProfileSample
        enum CodingKeys: String, CodingKey { case runID = "run_id", sample }
    }

    struct JSONExport: Encodable {
        var device: DeviceFingerprint
        var runs: [RunRecord]
        var samples: [JSONSample]
    }

    static func json(device: DeviceFingerprint, runs: [RunRecord], samples: [StoredSample]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(JSONExport(device: device, runs: runs,
                                             samples: samples.map { JSONSample(runID: $0.runID, sample: $0.sample) }))
    }

    static func summary(device: DeviceFingerprint, runs: [RunRecord], samples: [StoredSample]) -> String {
        var out = "# Profile of \(device.id)\n\n"
        out += table(["field", "value"], device.rows.map { [$0.0, $0.1] }) + "\n\n## Runs\n\n"
        out += table(["run", "model", "status", "started", "finished", "engine", "build", "threads", "blas", "command"],
                     runs.map { r in
                         [String(r.id), r.model, r.status.rawValue, r.started, r.finished ?? "—", r.provenance.engineCommit,
                          r.provenance.build, String(r.provenance.threads), r.provenance.blas, "`\(r.provenance.command)`"]
                     })
        out += "\n\n## Samples per op and phase\n\n"
        out += "Spread is (p90 − min) / median per point; the table gives its median and maximum over the points.\n\n"
        var groups: [String: [ProfileSample]] = [:]
        for s in samples.map(\.sample) { groups["\(s.model)|\(s.op.rawValue)|\(s.phase.rawValue)", default: []].append(s) }
        let rows = groups.keys.sorted().map { key -> [String] in
            let g = groups[key]!, parts = key.split(separator: "|").map(String.init)
            func range(_ v: [Int]) -> String { let s = Set(v).sorted(); return s.count == 1 ? "\(s[0])" : "\(s.first!)–\(s.last!) (\(s.count))" }
            let spreads = g.map { $0.stats.medianMs > 0 ? ($0.stats.p90Ms - $0.stats.minMs) / $0.stats.medianMs : 0 }.sorted()
            let medians = g.map(\.stats.medianMs)
            return [parts[0], parts[1], parts[2], "\(g.count)", range(g.map(\.tokens)), range(g.map(\.context)),
                    range(g.map(\.heads)), range(g.map(\.threads)),
                    Set(g.map(\.contention.description)).sorted().joined(separator: " "),
                    "\(g.reduce(0) { $0 + $1.stats.n })", String(format: "%.3f–%.3f", medians.min()!, medians.max()!),
                    String(format: "%.3f / %.3f", spreads[spreads.count / 2], spreads.last!)]
        }
        out += table(["model", "op", "phase", "points", "tokens", "context", "heads", "threads", "contention", "repeats",
                      "median ms", "spread med / max"], rows)
        return out + "\n"
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        func line(_ cells: [String]) -> String { "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
        return ([line(header), "|" + header.map { _ in "---" }.joined(separator: "|") + "|"] + rows.map(line)).joined(separator: "\n")
    }
}
