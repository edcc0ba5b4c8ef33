import ArgumentParser
import Contention
import Foundation

/// `adallava stress`: the background-load generator — busy cores and paced memory streaming,
/// at one level or replaying a contention trace, reporting what it achieved.
struct Stress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Generate background CPU and memory-bandwidth load, at a level or replaying a trace.",
        discussion: """
        Worker threads (pinned one per CPU where allowed) spin for the asked busy cores and \
        read a 256 MB buffer (8× the L3) at the asked GB/s, paced in ~1 ms slices. Streaming \
        time is CPU time too: 1c+10gbps is one core's worth of CPU, part of it streaming. \
        Every --report-interval seconds one line gives what was asked and what was achieved \
        (cores from the worker threads' CPU clocks, GB/s from bytes actually read); asking for more \
        than the machine can do is reported, not hidden. A summary follows at the end.

        The generator stops after --duration (default: until interrupted, or a trace's \
        length), on SIGINT/SIGTERM, after --max-seconds whatever else is asked, and when its \
        parent process dies (PR_SET_PDEATHSIG), so it never outlives a replay or profile.

        EXAMPLES
          adallava stress --level 1c+10gbps --duration 5
          adallava stress --trace traces/bursty-600s.csv --duration 60 --json
        """
    )

    @Option(help: ArgumentHelp("Constant level: 0, Nc, Mgbps or Nc+Mgbps (e.g. 1c+10gbps).", valueName: "level"))
    var level: String?

    @Option(help: ArgumentHelp("Contention trace CSV to replay in real time.", valueName: "file"))
    var trace: String?

    @Option(help: ArgumentHelp("Seconds to run (default: until interrupted; a trace's length with --trace).", valueName: "s"))
    var duration: Double?

    @Option(help: ArgumentHelp("Seconds between report lines.", valueName: "s"))
    var reportInterval: Double = 1

    @Option(help: ArgumentHelp("Hard limit on the run time, seconds.", valueName: "s"))
    var maxSeconds: Double = 3600

    @Option(help: .hidden) var parentPid: Int32?

    @Flag(help: "Print one JSON object per line (each report, then the summary with \"final\": true) instead of the table.")
    var json = false

    mutating func validate() throws {
        if (level == nil) == (trace == nil) { throw ValidationError("give exactly one of --level and --trace") }
        if let d = duration, !(d > 0) { throw ValidationError("--duration must be positive, got \(d)") }
        if !(reportInterval >= 0.01) { throw ValidationError("--report-interval must be at least 0.01 s, got \(reportInterval)") }
        if !(maxSeconds > 0) { throw ValidationError("--max-seconds must be positive, got \(maxSeconds)") }
    }

    func run() throws {
        // First, so the load cannot outlive whoever started it (a replay, a profile, a shell).
        StressWorker.dieWithParent(expectedParent: parentPid)
        StressWorker.installSignalHandlers()
                // One write per line, unbuffered: a parent reading the pipe sees each report at once.
        let line: (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        let print: (StressReport) -> Void = { r in
            if json { line(r.jsonLine()); return }
            if r.final {
                line(String(format: "summary: %.1f s, asked %@ on average, achieved %.2f cores %.2f GB/s; %d worker threads pinned to CPUs %@",
                                   r.elapsedS, r.meanAsked.rounded.description, r.meanAchieved.cpuBusyCores, r.meanAchieved.memBandwidthGBps,
                                   r.pinnedCPUs.count, r.pinnedCPUs.map(String.init).joined(separator: ",")))
            } else {
                line(String(format: "%7.1f s  asked %-14@ achieved %5.2f cores %6.2f GB/s",
                                   r.elapsedS, r.asked.description, r.achieved.cpuBusyCores, r.achieved.memBandwidthGBps))
            }
        }
        if let level {
            try StressWorker.run(level: try ContentionLevel.parse(level), duration: duration,
                                 reportInterval: reportInterval, maxSeconds: maxSeconds, report: print)
        } else if let trace {
            try StressWorker.run(trace: try ContentionTrace.load(URL(fileURLWithPath: trace)), duration: duration,
                                 reportInterval: reportInterval, maxSeconds: maxSeconds, report: print)
        }
    }
}
