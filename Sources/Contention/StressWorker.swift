#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One report of the stress generator: what was asked and what was achieved over the last
/// interval and since start. `adallava stress --json` prints one per line.
public struct StressReport: Codable, Sendable, Hashable {
    /// Seconds since the load started, at the end of this interval.
    public var elapsedS: Double
    public var intervalS: Double
    /// The level asked at the end of the interval.
    public var asked: ContentionLevel
    /// Achieved over the interval: cores from the worker threads' CPU time, GB/s from bytes read.
    public var achieved: ContentionLevel
    /// Time-weighted means since start.
    public var meanAsked: ContentionLevel
    public var meanAchieved: ContentionLevel
    /// True for the last report (the run's summary).
    public var final: Bool
    /// The CPU each worker thread is pinned to (-1 where sched_setaffinity refused).
    public var pinnedCPUs: [Int]

    enum CodingKeys: String, CodingKey {
        case elapsedS = "elapsed_s", intervalS = "interval_s", asked, achieved
        case meanAsked = "mean_asked", meanAchieved = "mean_achieved", final, pinnedCPUs = "pinned_cpus"
    }

    /// One JSON line (no newline).
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// The background-load generator itself: what `adallava stress` runs, in that process.
///
/// - CPU: `k = max(⌈cores⌉, ⌈GB/s ÷ perThreadGBps⌉)` worker threads (at most 4 per CPU), each owed `cores / k` of a
///   core. A thread earns CPU credit at that rate and spends it by spinning, measured with its
///   own thread CPU clock, so fractions are duty cycles at ~1 ms granularity.
/// - Memory: the same threads read a 256 MB buffer (8× this machine's 32 MB L3), each its own
///   slice, in 256 KB chunks through glibc's `memchr` (a vectorised read-only scan, fast even in
///   a debug build), paced by bandwidth credit earned at `GB/s / k`. Only bytes *read* are
///   counted; reading is what decode does to weights. Streaming time counts as CPU time too,
///   so `1c+10gbps` is one core's worth of CPU of which part streams 10 GB/s; a pure
///   `10gbps` load still costs the CPU its streaming takes, and that is what is reported.
/// - Credit is capped at 20 ms, so a descheduled thread does not burst to catch up.
/// - Thread i is pinned to allowed CPU `i mod n` (on 2 cores: thread 0 → CPU 0, thread 1 → CPU 1).
/// - Achieved cores are the worker threads' CPU time (CLOCK_THREAD_CPUTIME_ID, summed) over wall time;
///   asking for more than the machine can do yields less, and the report says so.
public enum StressWorker {
    public static let bufferBytes = 256 << 20
    static let chunkBytes = 256 << 10
    /// GB/s one thread is asked to read at most before another thread is added.
    public static let perThreadGBps = 8.0

    /// Set by SIGINT/SIGTERM (see `installSignalHandlers`) or `requestStop()`.
    nonisolated(unsafe) static var stopSignal: sig_atomic_t = 0

    /// Makes SIGINT and SIGTERM end the current run cleanly (final report, threads joined).
    public static func installSignalHandlers() {
        signal(SIGINT) { _ in StressWorker.stopSignal = 1 }
        signal(SIGTERM) { _ in StressWorker.stopSignal = 1 }
        // A parent may have started us with these blocked; a stop request must get through.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    /// For the child process at startup: SIGKILL when the parent (thread) that spawned us
    /// exits, and exit at once if `expectedParent` is already gone (it died before the prctl).
    public static func dieWithParent(expectedParent: pid_t?) {
        SystemCalls.dieWithParent()
        if let p = expectedParent, getppid() != p { exit(3) }
    }

    /// Ends a run from another thread (tests).
    public static func requestStop() { stopSignal = 1 }

    /// Generates a constant `level` for `duration` seconds (until stopped if nil), calling
    /// `report` every `reportInterval` seconds and once more at the end with `final = true`.
    public static func run(level: ContentionLevel, duration: Double?, reportInterval: Double = 1,
                           maxSeconds: Double = 3600, report: (StressReport) -> Void) throws {
        try replay(ContentionTrace(points: [ContentionPoint(t: 0, level: level)]),
                   duration: duration, reportInterval: reportInterval, maxSeconds: maxSeconds, report: report)
    }

    /// Replays `trace` in real time from now for `duration` seconds (the trace's own length if
    /// nil; past its end the last level holds).
    public static func run(trace: ContentionTrace, duration: Double?, reportInterval: Double = 1,
                           maxSeconds: Double = 3600, report: (StressReport) -> Void) throws {
        try replay(trace, duration: duration ?? trace.duration, reportInterval: reportInterval,
                   maxSeconds: maxSeconds, report: report)
    }

    private static func replay(_ trace: ContentionTrace, duration: Double?, reportInterval: Double,
                            maxSeconds: Double, report: (StressReport) -> Void) throws {
        guard !trace.points.isEmpty else { throw ContentionError.badTrace(file: "trace", line: 1, reason: "the trace has no rows") }
        let maxCores = trace.points.map(\.level.cpuBusyCores).max()!, maxBW = trace.points.map(\.level.memBandwidthGBps).max()!
        // Enough threads for the cores and the bandwidth asked, but never more than 4 per CPU:
        // an absurd trace oversubscribes the machine (and reports less achieved), nothing worse.
        let cpus = SystemCalls.allowedCPUs()
        let threads = min(max(Int(maxCores.rounded(.up)), Int((maxBW / perThreadGBps).rounded(.up))), 4 * cpus.count)
        let limit = min(duration ?? .infinity, maxSeconds)
        let shared = SharedState(threads: threads)
        defer { shared.deallocate() }
        let buffer = threads > 0 && maxBW > 0 ? StreamBuffer(bytes: bufferBytes) : nil
        defer { buffer?.deallocate() }

        let slice = threads > 0 ? bufferBytes / threads / chunkBytes * chunkBytes : 0
        var handles: [Thread] = []
        let started = DispatchGroup(), finished = DispatchGroup()
        for i in 0..<threads {
            started.enter(); finished.enter()
            let t = Thread {
                shared.setPinned(i, SystemCalls.pinCurrentThread(to: cpus[i % cpus.count]) ? cpus[i % cpus.count] : -1)
                started.leave()
                worker(index: i, shared: shared, region: buffer.map { UnsafeRawPointer($0.base + i * slice) }, regionBytes: slice)
                finished.leave()
            }
            t.stackSize = 1 << 20
            handles.append(t)
        }
        let start = SystemCalls.now()
        let setLevel: (ContentionLevel) -> Void = { level in
            for i in 0..<threads {
                shared.setTarget(i, cores: level.cpuBusyCores / Double(threads), gbps: level.memBandwidthGBps / Double(threads))
            }
        }
        setLevel(trace.points[0].level)
        handles.forEach { $0.start() }
        started.wait()

        var nextPoint = 1, asked = trace.points[0].level
        var lastReport = start, lastCPU = 0.0, lastBytes = 0.0
        var askedCoreSeconds = 0.0, askedGB = 0.0, lastAskTime = start
        // The first report comes early: a parent waits for it before it starts its own clock
        // (`BackgroundLoad.traceSeconds` aligns the two), so it should not wait a whole interval.
        var nextReport = start + min(reportInterval, 0.01)
        while true {
            let now = SystemCalls.now(), elapsed = now - start
            let stopping = stopSignal != 0 || elapsed >= limit
            // Advance the trace.
            askedCoreSeconds += asked.cpuBusyCores * (now - lastAskTime)
            askedGB += asked.memBandwidthGBps * (now - lastAskTime)
            lastAskTime = now
            while nextPoint < trace.points.count, trace.points[nextPoint].t <= elapsed {
                asked = trace.points[nextPoint].level
                setLevel(asked)
                nextPoint += 1
            }
            if now >= nextReport || stopping {
                if stopping { shared.stop() ; finished.wait() }
                let end = stopping ? SystemCalls.now() : now
                let cpu = shared.totalCPU(), bytes = shared.totalBytes()
                let interval = max(end - lastReport, 1e-9), total = max(end - start, 1e-9)
                let askedSpan = max(lastAskTime - start, 1e-9)
                report(StressReport(
                    elapsedS: total, intervalS: interval, asked: asked,
                    achieved: ContentionLevel(cpuBusyCores: (cpu - lastCPU) / interval, memBandwidthGBps: (bytes - lastBytes) / interval / 1e9),
                    meanAsked: ContentionLevel(cpuBusyCores: askedCoreSeconds / askedSpan, memBandwidthGBps: askedGB / askedSpan),
                    meanAchieved: ContentionLevel(cpuBusyCores: cpu / total, memBandwidthGBps: bytes / total / 1e9),
                    final: stopping, pinnedCPUs: (0..<threads).map { shared.pinned($0) }))
                if stopping { break }
                lastReport = now; lastCPU = cpu; lastBytes = bytes
                nextReport += reportInterval
                if nextReport < now { nextReport = now + reportInterval }
            }
            let nextChange = nextPoint < trace.points.count ? start + trace.points[nextPoint].t : .infinity
            SystemCalls.sleep(min(0.02, max(0, min(nextReport, nextChange, start + limit) - SystemCalls.now())))
        }
        stopSignal = 0
    }

    /// Length of one pacing period, seconds: short enough that a fractional core looks
    /// steady to a 100 ms observer, long enough that sleep overshoot (~60 µs) stays ~1%.
    static let period = 0.005

    /// One worker thread, period by period: read the bytes owed for this period, spin until
    /// this thread's CPU time in the period reaches its core share, sleep out the rest.
    private static func worker(index: Int, shared: SharedState, region: UnsafeRawPointer?, regionBytes: Int) {
        var periodStart = SystemCalls.now()
        let cpuAtStart = SystemCalls.threadCPU()
        var byteCredit = 0.0, offset = 0, bytes = 0.0
        while !shared.stopped {
            let (cores, gbps) = shared.target(index)
            if cores == 0 && gbps == 0 {
                // Idle stretch of a trace: park until the level or the stop flag changes. A
                // thread pinned to each CPU that woke every few ms would preempt the engine's
                // BLAS threads there, at a level that promises no load at all.
                shared.waitForWork(index)
                periodStart = SystemCalls.now()
                continue
            }
            let periodEnd = periodStart + period, cpuStart = SystemCalls.threadCPU()
            // Bandwidth the machine cannot deliver is not owed forever: at most two periods' worth.
            byteCredit = min(byteCredit + gbps * 1e9 * period, 2 * gbps * 1e9 * period + Double(chunkBytes))
            if let region, gbps > 0 {
                while byteCredit >= Double(chunkBytes), SystemCalls.now() < periodEnd {
                    // Read-only scan: the buffer holds no byte 1, so memchr reads every byte.
                    if memchr(region + offset, 1, chunkBytes) != nil { return }
                    offset = (offset + chunkBytes) % regionBytes
                    byteCredit -= Double(chunkBytes)
                    bytes += Double(chunkBytes)
                }
                shared.setBytes(index, bytes)
            }
            while SystemCalls.threadCPU() - cpuStart < cores * period, SystemCalls.now() < periodEnd {
                spin(seconds: 0.00005)
            }
            shared.setCPU(index, SystemCalls.threadCPU() - cpuAtStart)
            let now = SystemCalls.now()
            if now < periodEnd { SystemCalls.sleep(periodEnd - now) }
            // Fall behind by at most one period (after being descheduled), never burst to catch up.
            periodStart = max(periodEnd, SystemCalls.now() - period)
        }
    }

    /// Burns CPU for about `seconds` of wall time.
    private static func spin(seconds: Double) {
        let end = SystemCalls.now() + seconds
        var x: UInt64 = 88172645463325252
        while SystemCalls.now() < end {
            for _ in 0..<64 { x ^= x << 13; x ^= x >> 7; x ^= x << 17 }
        }
        if x == 42 { print("") }  // keeps the loop from being optimised away
    }
}

/// The streamed buffer: allocated and written once with a non-zero byte, so every page is
/// real memory. (Zero-filling is not enough: LLVM turns malloc + memset(0) into calloc, whose
/// fresh pages all map the shared zero page, and "streaming" them reads one cached page —
/// this measured 600 GB/s here before the fill changed.) Scans look for byte 1, absent.
final class StreamBuffer: @unchecked Sendable {
    static let fill: Int32 = 0x5A
    let base: UnsafeMutableRawPointer
    init(bytes: Int) {
        base = .allocate(byteCount: bytes, alignment: 4096)
        memset(base, Self.fill, bytes)
    }
    func deallocate() { base.deallocate() }
}

/// Targets and counters shared between the controller and worker threads, one 64-byte line
/// per thread. Plain aligned 8-byte loads and stores: a reader sees the old or the new value,
/// which is all statistics and pacing need.
final class SharedState: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Double>  // per thread: [cores, gbps, bytes, cpu s, pinned cpu, pad…] × 8
    private let flag: UnsafeMutablePointer<Int>
    let threads: Int

    init(threads: Int) {
        self.threads = threads
        slots = .allocate(capacity: max(1, threads) * 8)
        slots.initialize(repeating: 0, count: max(1, threads) * 8)
        flag = .allocate(capacity: 1)
        flag.initialize(to: 0)
    }

    /// Wakes parked workers when a target or the stop flag changes.
    private let wake = NSCondition()

    func deallocate() { slots.deallocate(); flag.deallocate() }
    func setTarget(_ i: Int, cores: Double, gbps: Double) {
        wake.lock()
        slots[i * 8] = cores; slots[i * 8 + 1] = gbps
        wake.broadcast()
        wake.unlock()
    }
    /// Blocks worker `i` while its target is zero and no stop is asked (1 s timeouts: a missed
    /// wake-up costs at most a second of load, never a hang).
    func waitForWork(_ i: Int) {
        wake.lock()
        while slots[i * 8] == 0 && slots[i * 8 + 1] == 0 && flag.pointee == 0 {
            _ = wake.wait(until: Date(timeIntervalSinceNow: 1))
        }
        wake.unlock()
    }
    func target(_ i: Int) -> (Double, Double) { (slots[i * 8], slots[i * 8 + 1]) }
    func setBytes(_ i: Int, _ b: Double) { slots[i * 8 + 2] = b }
    func totalBytes() -> Double { (0..<threads).reduce(0) { $0 + slots[$1 * 8 + 2] } }
    func setPinned(_ i: Int, _ cpu: Int) { slots[i * 8 + 4] = Double(cpu) }
    func pinned(_ i: Int) -> Int { Int(slots[i * 8 + 4]) }
    func setCPU(_ i: Int, _ seconds: Double) { slots[i * 8 + 3] = seconds }
    func totalCPU() -> Double { (0..<threads).reduce(0) { $0 + slots[$1 * 8 + 3] } }
    func stop() {
        wake.lock()
        flag.pointee = 1
        wake.broadcast()
        wake.unlock()
    }
    var stopped: Bool { flag.pointee != 0 }
}
