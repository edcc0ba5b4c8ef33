import Foundation

/// Background load on the machine: cores kept busy and memory traffic streamed by processes
/// other than the engine. The unit of every contention trace row, profiling level and
/// sensor reading.
public struct ContentionLevel: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Background CPU work, in cores (0.5 = one core busy half the time).
    public var cpuBusyCores: Double
    /// Background memory traffic, in GB/s (10⁹ bytes per second).
    public var memBandwidthGBps: Double

    public static let idle = ContentionLevel(cpuBusyCores: 0, memBandwidthGBps: 0)

    public init(cpuBusyCores: Double, memBandwidthGBps: Double) {
        self.cpuBusyCores = cpuBusyCores
        self.memBandwidthGBps = memBandwidthGBps
    }

    enum CodingKeys: String, CodingKey {
        case cpuBusyCores = "cpu_busy_cores", memBandwidthGBps = "mem_bw_gbps"
    }

    /// Rounded to 0.01 cores and 0.01 GB/s, for printing measured levels.
    public var rounded: ContentionLevel {
        ContentionLevel(cpuBusyCores: (cpuBusyCores * 100).rounded() / 100, memBandwidthGBps: (memBandwidthGBps * 100).rounded() / 100)
    }

    public var isIdle: Bool { cpuBusyCores == 0 && memBandwidthGBps == 0 }

    /// The `--contention` spelling: `0`, `1c`, `10gbps`, `1c+10gbps`, `0.5c+4.5gbps`.
    public var description: String {
        if isIdle { return "0" }
        var parts: [String] = []
        if cpuBusyCores > 0 { parts.append("\(Self.format(cpuBusyCores))c") }
        if memBandwidthGBps > 0 { parts.append("\(Self.format(memBandwidthGBps))gbps") }
        return parts.joined(separator: "+")
    }

    private static func format(_ x: Double) -> String {
        x == x.rounded() ? String(Int(x)) : String(format: "%g", x)
    }

    /// Parses one level (`0`, `idle`, `1c`, `10gbps`, `1c+10gbps`); nil with a reason otherwise.
    public static func parse(_ text: String) throws -> ContentionLevel {
        let spelled = text.trimmingCharacters(in: .whitespaces).lowercased()
        if spelled == "0" || spelled == "idle" || spelled == "none" { return .idle }
        var level = ContentionLevel.idle
        var seenCPU = false, seenBW = false
        for part in spelled.split(separator: "+", omittingEmptySubsequences: false) {
            let p = String(part)
            if p.hasSuffix("gbps"), let v = Double(p.dropLast(4)), v.isFinite, v >= 0, !seenBW {
                level.memBandwidthGBps = v
                seenBW = true
            } else if p.hasSuffix("c"), let v = Double(p.dropLast(1)), v.isFinite, v >= 0, !seenCPU {
                level.cpuBusyCores = v
                seenCPU = true
            } else {
                throw ContentionError.badLevel(text)
            }
        }
        return level
    }

    /// Parses a comma-separated list of levels, as `--contention 0,1c,10gbps,1c+10gbps`.
    public static func parseList(_ text: String) throws -> [ContentionLevel] {
        let levels = try text.split(separator: ",", omittingEmptySubsequences: false).map { try parse(String($0)) }
        guard !levels.isEmpty else { throw ContentionError.badLevel(text) }
        return levels
    }
}

/// Errors of the Contention module: bad user input, reported as `error: …` with exit status 2.
public enum ContentionError: Error, CustomStringConvertible, Sendable {
    case badLevel(String)
    /// A trace file line that does not parse: file, 1-based line (0: the file as a whole), what was expected.
    case badTrace(file: String, line: Int, reason: String)
    /// The stress generator could not start or run; the message says what to do.
    case stress(String)

    public var description: String {
        switch self {
        case .badLevel(let text):
            return "contention level '\(text)' does not parse: expected 0, Nc (busy cores), Mgbps (background GB/s) or Nc+Mgbps, e.g. 0,1c,10gbps,1c+10gbps"
        case .badTrace(let file, let line, let reason):
            // Line 0: about the whole file (missing, unreadable, wrong scaling).
            return line > 0 ? "\(file):\(line): \(reason)" : "\(file): \(reason)"
        case .stress(let message):
            return message
        }
    }
}
