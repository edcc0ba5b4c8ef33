import Foundation

/// The aggregate `cpu` line of `/proc/stat`: CPU time of the whole machine since boot, in
/// seconds (the kernel counts USER_HZ = 100 ticks per second).
public struct ProcStat: Sendable, Hashable {
    /// user + nice + system + irq + softirq + steal (guest time is already inside user).
    public var busy: Double
    /// idle + iowait.
    public var idle: Double
    public var total: Double { busy + idle }

    static let ticksPerSecond = 100.0

    /// Parses the text of /proc/stat; nil if it has no aggregate `cpu` line.
    public static func parse(_ text: String) -> ProcStat? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let v = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard v.count >= 4 else { return nil }
        let field = { (i: Int) in i < v.count ? v[i] : 0 }
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7)
        return ProcStat(busy: busy / ticksPerSecond, idle: (field(3) + field(4)) / ticksPerSecond)
    }

    /// Reads /proc/stat now.
    public static func read() throws -> ProcStat {
        let url = URL(fileURLWithPath: "/proc/stat")
        guard let text = try? String(contentsOf: url, encoding: .utf8), let stat = parse(text) else {
            throw ContentionError.stress("cannot read the aggregate cpu line of /proc/stat (Linux only)")
        }
        return stat
    }
}
