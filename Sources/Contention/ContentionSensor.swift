#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// What the sensor saw at one moment, and what looking cost.
public struct ContentionReading: Codable, Sendable, Hashable {
    /// Estimated background load: cores busy in other processes, GB/s streamed by them.
    public var level: ContentionLevel
    /// Wall time `sense()` took, milliseconds (read /proc twice, two bandwidth probes).
    public var overheadMs: Double

    public init(level: ContentionLevel, overheadMs: Double) {
        self.level = level
        self.overheadMs = overheadMs
    }

    enum CodingKeys: String, CodingKey { case level, overheadMs = "overhead_ms" }
}

/// Estimates the background load at request time, cheaply enough to call before every request.
///
/// **CPU.** Busy cores of *other* processes = (Δ machine busy time from `/proc/stat`
/// − Δ this process's CPU time from `/proc/self/stat`) / Δ wall time, over the window since an
/// earlier reading at least `minWindow` old (both counters tick at 100 Hz, so shorter windows
/// would be mostly rounding) — or, with `startSampling`, over about the last 0.2 s. The stress
/// child is another process, so its load counts.
///
/// **Bandwidth.** A probe reads `probeBytes` (2 MB, ~0.2 ms) once, from a window of a 64 MB
/// buffer that rotates every call, so the bytes are not in the 32 MB L3 when read. Its rate
/// `r` (best of two probes, so a preempted probe is not taken for memory pressure) is compared
/// with the rate `r₀` the same probe reached at calibration (the best of many probes). The
/// model: one thread's streaming rate falls as the memory system is shared, in proportion to
/// the traffic of others, so background GB/s ≈ `peak × (1 − r / r₀)`, clamped to
/// [0, peak], with `peak` the machine's all-cores streaming rate measured at calibration.
/// It is a coarse estimate (tens of percent); the sign and the order of magnitude are what a
/// planner's contention term needs.
public final class ContentionSensor: @unchecked Sendable {
    public static let probeBytes = 2 << 20
    static let bufferBytes = 64 << 20
    /// Buffer the all-cores peak is streamed over: far beyond any last-level cache.
    static let peakBufferBytes = 512 << 20
    /// Shortest window the CPU estimate is taken over, seconds.
    public static let minWindow = 0.1

    /// Single-thread probe rate on a quiet machine, GB/s (`r₀`).
    public let idleProbeGBps: Double
    /// All-cores streaming rate, GB/s (`peak`).
    public let peakGBps: Double

    private let buffer: StreamBuffer
    private var window = 0
    private var history: [(wall: Double, machineBusy: Double, selfCPU: Double)] = []
    private let lock = NSLock()
    /// The CPU window of `sense()`: the newest reading at least this old is its start.
    private var cpuWindow = ContentionSensor.minWindow
    private var samplingStopped = false

    /// Calibrates the bandwidth model (~0.2 s: 40 probes and two all-cores streams over 512 MB) unless
    /// both figures are given, and takes the first CPU reading.
    public init(idleProbeGBps: Double? = nil, peakGBps: Double? = nil) {
        buffer = StreamBuffer(bytes: Self.bufferBytes)
        if let r0 = idleProbeGBps { self.idleProbeGBps = r0 } else {
            var best = 0.0, w = 0
            for _ in 0..<40 {
                best = max(best, Self.probe(buffer, window: w))
                w += 1
            }
            self.idleProbeGBps = best
        }
        // The peak is measured on its own 512 MB buffer, freed afterwards: the 64 MB probe
        // buffer can sit in a host's last-level cache (this VM reports 32 MB of L3, but the
        // 64 MB stream ran at > 100 GB/s here, i.e. from cache), which made `peak` and so every
        // bandwidth estimate several times too large. Best of two runs.
        self.peakGBps = peakGBps ?? {
            let big = StreamBuffer(bytes: Self.peakBufferBytes)
            defer { big.deallocate() }
            return (0..<2).map { _ in Self.streamAllCores(big, bytes: Self.peakBufferBytes) }.max()!
        }()
        history = [Self.cpuSample()]
    }

    deinit { buffer.deallocate() }

    /// Samples `/proc/stat` every `interval` seconds on a background thread (≈ 20 µs a
    /// sample), so `sense()` measures the last `window` seconds instead of everything since the
    /// previous call. Why: a replay senses once per request, about a second apart; a burst that
    /// began 0.2 s before a request was averaged with the 0.8 s of idle before it and read as
    /// under the noise floor — 5 of the 15 misses of a 1000-request llava-mini replay started
    /// inside a burst the sensor reported as idle. `window` ≥ 0.2 s keeps /proc/stat's 10 ms
    /// ticks to about ±0.1 cores on 2 CPUs. Stop with `stopSampling()`.
    public func startSampling(every interval: Double = 0.05, window: Double = 0.2) {
        lock.lock()
        cpuWindow = max(window, interval)
        samplingStopped = false
        lock.unlock()
        let t = Thread { [self] in
            while true {
                lock.lock()
                if samplingStopped { lock.unlock(); return }
                history.append(Self.cpuSample())
                if history.count > 256 { history.removeFirst(history.count - 256) }
                lock.unlock()
                Thread.sleep(forTimeInterval: interval)
            }
        }
        t.stackSize = 256 << 10
        t.start()
    }

    /// Ends `startSampling` (the thread exits within one interval).
    public func stopSampling() {
        lock.lock(); samplingStopped = true; lock.unlock()
    }

    /// One reading: background busy cores and GB/s now, and what it cost to find out.
    public func sense() -> ContentionReading {
        let start = SystemCalls.now()
        lock.lock(); defer { lock.unlock() }
        let now = Self.cpuSample()
        let base = history.last(where: { now.wall - $0.wall >= cpuWindow }) ?? history.first ?? now
        history.append(now)
        // Keep the readings the next window could start from, and one older.
        if let keep = history.lastIndex(where: { now.wall - $0.wall >= cpuWindow }), keep > 0 {
            history.removeFirst(keep)
        }
        if history.count > 256 { history.removeFirst(history.count - 256) }
        let dt = now.wall - base.wall
        let cores = dt > 0 ? max(0, (now.machineBusy - base.machineBusy - (now.selfCPU - base.selfCPU)) / dt) : 0

        let rate = max(Self.probe(buffer, window: window), Self.probe(buffer, window: window + 1))
        window += 2
        let bw = Self.backgroundGBps(probeGBps: rate, idleProbeGBps: idleProbeGBps, peakGBps: peakGBps)
        return ContentionReading(level: ContentionLevel(cpuBusyCores: min(cores, Double(Self.cpuCount)), memBandwidthGBps: bw),
                                 overheadMs: (SystemCalls.now() - start) * 1000)
    }

    /// The bandwidth model: background GB/s ≈ peak × (1 − r / r₀), clamped to [0, peak].
    public static func backgroundGBps(probeGBps r: Double, idleProbeGBps r0: Double, peakGBps peak: Double) -> Double {
        guard r0 > 0, peak > 0, r.isFinite else { return 0 }
        return min(peak, max(0, peak * (1 - r / r0)))
    }

    static let cpuCount = ProcessInfo.processInfo.activeProcessorCount

    /// Machine busy seconds (all CPUs) and this process's CPU seconds, both at 100 Hz ticks.
    static func cpuSample() -> (wall: Double, machineBusy: Double, selfCPU: Double) {
        let wall = SystemCalls.now()
        let machine = (try? ProcStat.read())?.busy ?? 0
        return (wall, machine, selfCPUSeconds())
    }

    /// utime + stime of this process (all threads) from /proc/self/stat, seconds.
    static func selfCPUSeconds() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return SystemCalls.processCPU() }
        // Fields after "pid (comm)": state is field 3, utime 14, stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return SystemCalls.processCPU() }
        return (u + s) / ProcStat.ticksPerSecond
    }

    /// GB/s of one read of `probeBytes` from the window'th slice of the buffer.
    static func probe(_ buffer: StreamBuffer, window: Int) -> Double {
        let windows = bufferBytes / probeBytes
        let p = UnsafeRawPointer(buffer.base + (window % windows) * probeBytes)
        let t0 = SystemCalls.now()
        let hit = memchr(p, 1, probeBytes)
        let t = SystemCalls.now() - t0
        return hit == nil && t > 0 ? Double(probeBytes) / t / 1e9 : 0
    }

    /// GB/s of every CPU reading its own part of the buffer once, in parallel.
    static func streamAllCores(_ buffer: StreamBuffer, bytes: Int = bufferBytes) -> Double {
        let n = max(1, cpuCount), part = bytes / n
        let group = DispatchGroup()
        // Each thread stores whether its scan found a byte: memchr is pure to the optimiser,
        // and a scan whose result is dropped is deleted (this "measured" 4900 GB/s).
        let found = UnsafeMutablePointer<Bool>.allocate(capacity: n)
        found.initialize(repeating: false, count: n)
        defer { found.deallocate() }
        let flags = UncheckedPointer(found)
        let t0 = SystemCalls.now()
        for i in 0..<n {
            group.enter()
            let t = Thread {
                flags.pointer[i] = memchr(UnsafeRawPointer(buffer.base + i * part), 1, part) != nil
                group.leave()
            }
            t.start()
        }
        group.wait()
        let seconds = SystemCalls.now() - t0
        return (0..<n).contains { found[$0] } ? 0 : Double(part * n) / seconds / 1e9
    }
}

/// A pointer handed to worker threads that write disjoint elements.
struct UncheckedPointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
