import Foundation
import Testing
@testable import Contention

/// The built `adallava` binary (the stress child), next to the test bundle in `.build/<config>/`.
let adallavaBinary: URL = {
    let candidates = [
        Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("adallava"),
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("adallava"),
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/adallava"),
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates.last!
}()

/// Share of all CPUs' time the machine spent idle between two /proc/stat readings
/// (this container shares 2 cores with other builds, which caps what any load can achieve).
func machineIdleShare(_ body: () throws -> Void) rethrows -> Double {
    let a = try? ProcStat.read()
    try body()
    let b = try? ProcStat.read()
    guard let a, let b, b.total > a.total else { return 1 }
    return (b.idle - a.idle) / (b.total - a.total)
}

/// Whether process `pid` is alive (a zombie is dead, only not yet reaped).
func isRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    return !stat.contains(") Z ")
}

@Suite("background load in a child process", .serialized)
struct BackgroundLoadTests {
    @Test("1c+5gbps for 1.5 s achieves about one core and real bandwidth, and stop leaves no child")
    func oneCoreFiveGBps() throws {
        #expect(FileManager.default.isExecutableFile(atPath: adallavaBinary.path), "build adallava first")
        var achieved = ContentionLevel.idle
        var pid: Int32 = 0
        let idle = try machineIdleShare {
            let load = try BackgroundLoad.start(level: try .parse("1c+5gbps"), executable: adallavaBinary)
            pid = load.pid
            #expect(FileManager.default.fileExists(atPath: "/proc/\(pid)"))
            Thread.sleep(forTimeInterval: 1.5)
            #expect(load.achieved().cpuBusyCores > 0)
            achieved = load.stop()
        }
        // On a quiet machine the child gets its core; when other work saturates both CPUs
        // (idle < 10%), a spinner gets only its fair share, so only a looser bound holds.
        // Between the two (the rest of `swift test` runs in parallel on 2 cores) a clean-clone
        // CI run measured 0.70 cores with the machine > 10% idle: 0.6 is the floor kept.
        if idle > 0.1 {
            #expect(achieved.cpuBusyCores >= 0.6 && achieved.cpuBusyCores <= 1.3, "achieved \(achieved), machine idle \(idle)")
        } else {
            #expect(achieved.cpuBusyCores > 0.15, "achieved \(achieved) on a saturated machine")
        }
        #expect(achieved.memBandwidthGBps > 0.5 && achieved.memBandwidthGBps <= 5.5, "\(achieved)")
        // This test's child only: the sensor suite runs its own stress child in parallel.
        #expect(!isRunning(pid))
    }

    @Test("a trace replays its levels in order, and a bad trace is refused before any child starts")
    func traceReplay() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("contention-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("t.csv")
        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n0.4,0.5,0\n".write(to: file, atomically: true, encoding: .utf8)
        let load = try BackgroundLoad.start(trace: file, executable: adallavaBinary, duration: 5)
        // The first report comes within ~10 ms, so a caller starting its clock now is nearly
        // aligned; traceSeconds() says exactly where the child is.
        let atStart = load.traceSeconds()
        #expect(atStart >= 0 && atStart < 0.1, "\(atStart)")
        Thread.sleep(forTimeInterval: 0.9)
        let last = load.latestReport()
        let ahead = load.traceSeconds() - (last?.elapsedS ?? -1)
        #expect(ahead >= 0 && ahead < 0.15, "trace clock \(ahead) s past the latest report (reports every 0.1 s)")
        let achieved = load.stop()
        #expect(last?.asked == ContentionLevel(cpuBusyCores: 0.5, memBandwidthGBps: 0))
        #expect(achieved.cpuBusyCores > 0.05 && achieved.cpuBusyCores < 0.6, "\(achieved)")
        #expect(!isRunning(load.pid))

        try "t_s,cpu_busy_cores,mem_bw_gbps\n0,0,0\n0,1,0\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: ContentionError.self) { try BackgroundLoad.start(trace: file, executable: adallavaBinary) }
        #expect(throws: ContentionError.self) {
            try BackgroundLoad.start(level: .idle, executable: URL(fileURLWithPath: "/nonexistent/adallava"))
        }
    }

    @Test("the child dies with its parent (PR_SET_PDEATHSIG), even when the parent is SIGKILLed")
    func diesWithParent() throws {
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "'\(adallavaBinary.path)' stress --level 0.1c --duration 30 --json >/dev/null & echo $!; sleep 0.5; kill -9 $$"]
        let out = Pipe()
        shell.standardOutput = out
        try shell.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        let child = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        var alive = true
        for _ in 0..<100 where alive {
            let stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
            alive = !stat.isEmpty && !stat.contains(") Z ")
            if alive { Thread.sleep(forTimeInterval: 0.02) }
        }
        #expect(!alive, "stress child \(child) outlived its parent")
    }
}

@Suite("the stress worker in this process")
struct StressWorkerTests {
    @Test("a half core for 0.6 s reports each interval and a final summary near what was asked")
    func halfCore() throws {
        var reports: [StressReport] = []
        try StressWorker.run(level: ContentionLevel(cpuBusyCores: 0.5, memBandwidthGBps: 0), duration: 0.6,
                             reportInterval: 0.2) { reports.append($0) }
        #expect(reports.count >= 3 && reports.count <= 5)
        let last = try #require(reports.last)
        #expect(last.final && reports.dropLast().allSatisfy { !$0.final })
        #expect(abs(last.meanAsked.cpuBusyCores - 0.5) < 1e-6)
        #expect(last.meanAchieved.cpuBusyCores > 0.1 && last.meanAchieved.cpuBusyCores < 0.7, "\(last.meanAchieved)")
        #expect(last.meanAchieved.memBandwidthGBps == 0)
        #expect(last.pinnedCPUs.count == 1)
        let decoded = try JSONDecoder().decode(StressReport.self, from: Data(last.jsonLine().utf8))
        #expect(decoded == last)
    }

    @Test("workers park through a trace's idle stretch and resume when the level rises")
    func parksAtIdle() throws {
        // 0.4 s at level 0 (its threads exist: the trace's maximum is 0.5 cores), then 0.5 cores.
        let trace = ContentionTrace(points: [
            ContentionPoint(t: 0, level: .idle),
            ContentionPoint(t: 0.4, level: ContentionLevel(cpuBusyCores: 0.5, memBandwidthGBps: 0)),
        ])
        var reports: [StressReport] = []
        try StressWorker.run(trace: trace, duration: 0.8, reportInterval: 0.2) { reports.append($0) }
        // The first report comes after ~10 ms (so a parent can align its clock); the next one
        // covers a whole idle interval.
        #expect(reports.count >= 3)
        let idle = reports[1], last = try #require(reports.last)
        #expect(reports[0].elapsedS < 0.05 && idle.asked.isIdle)
        #expect(idle.achieved.cpuBusyCores < 0.02, "parked workers burned \(idle.achieved.cpuBusyCores) cores")
        #expect(last.achieved.cpuBusyCores > 0.1, "\(last.achieved)")
    }
}
