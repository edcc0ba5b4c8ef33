import ArgumentParser
import Contention
import Foundation
import LLaVAModel
import ProfileStore
import Profiling
import Synchronization
import TensorKernels

/// `adallava profile`: measure every op of a model on this device and store the rows.
struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Profile every op of a model on this device into a profile database.",
        discussion: """
        Times each op of the shared vocabulary — vision.embed, vision.block, projector, \
        llm.embed, llm.attn and llm.mlp (prefill over prompt lengths, decode over KV-cache \
        lengths, with all, 3/4, 1/2 and 1/4 of the H units active), lm_head, and the token \
        selections token.fastv and token.prumerge — at every --threads count and --contention \
        level. One engine component is in memory at a time, so llava-1.5-7b and -13b shapes \
        profile on a laptop. Presets use synthetic weights; a checkpoint directory uses its own.

        Each point gets one warm-up, then repeats until the 95% confidence interval of the \
        median is within --ci-target of it (at least --min-repeats, at most --max-repeats, no \
        new repeat after --point-cap seconds). The database stores min, median, mean, std, p90, \
        p99 and n with the point's FLOPs and bytes, under a run that records the device, \
        engine commit, BLAS, threads, build, date and this command line.

        Every finished point is committed at once: interrupting (Ctrl-C, SIGTERM) marks the \
        run interrupted and exits with status 130 (143 for SIGTERM), keeping every completed \
        point; --resume continues the latest interrupted run of the same device, model and \
        settings, measuring only what is missing. Progress and ETA go to standard error.

        Levels of --contention: 0 (idle), Nc (N busy cores), Mgbps (M GB/s of background \
        memory traffic), Nc+Mgbps. The achieved background load is measured and stored.

        WHOLE REQUESTS: after the ops, --requests N random requests (L and H plans, budgets, \
        FastV; prompt lengths from --request-prompts, new tokens from --request-new-tokens, \
        with or without an image) run end to end, once each, at every thread count and \
        contention level, into the table request_samples. `fit` calibrates the sum of the op \
        predictions against them (ops timed alone miss what a request adds between them, and \
        the spread from one request to the next). Needs the whole model in memory: skipped, \
        with a note, for a model that does not fit.

        EXAMPLES
          adallava profile --model llava-1.5-7b --db profile.sqlite
          adallava profile --model tiny --quick --db /tmp/p.sqlite --json
          adallava profile --model tinyllava-1.1b --threads 1,2 --contention 0,1c,10gbps --resume
        """
    )

    @Option(help: ArgumentHelp("Checkpoint directory or preset name.", valueName: "dir|preset"))
    var model: String = "tiny"

    @Option(help: ArgumentHelp("Profile database (SQLite; created when missing).", valueName: "file"))
    var db: String = "profile.sqlite"

    @Option(help: ArgumentHelp("Thread counts, comma-separated (default: all cores).", valueName: "n,n"))
    var threads: String = "\(ProcessInfo.processInfo.activeProcessorCount)"

    @Option(help: ArgumentHelp("Background loads to profile under, comma-separated.", valueName: "levels"))
    var contention: String = "0"

    @Flag(help: "A small grid with few repeats: a smoke test of the whole pipeline (< 60 s on tiny).")
    var quick = false

    @Flag(help: "Continue the latest interrupted run with the same device, model and settings.")
    var resume = false

    @Option(help: "Target relative half-width of the median's 95% confidence interval.")
    var ciTarget: Double = 0.02

    @Option(help: "Timed repeats per point at least (after one warm-up).")
    var minRepeats: Int?

    @Option(help: "Timed repeats per point at most.")
    var maxRepeats: Int?

    @Option(help: ArgumentHelp("Seconds after which a point starts no new repeat (once --min-repeats are in).", valueName: "s"))
    var pointCap: Double?

    @Option(help: ArgumentHelp("Whole requests timed end to end per thread count and contention level (0: none; default 30, 6 with --quick).", valueName: "n"))
    var requests: Int?

    @Option(help: ArgumentHelp("Text prompt lengths of those requests, shortest and longest.", valueName: "min,max"))
    var requestPrompts: String = "16,128"

    @Option(help: ArgumentHelp("New tokens of those requests, fewest and most.", valueName: "min,max"))
    var requestNewTokens: String = "2,8"

    @Option(help: ArgumentHelp("Whether those requests carry an image (the vision tower runs): yes or no.", valueName: "yes|no"))
    var requestImage: String = "yes"

    @Option(help: "Seed of a preset's synthetic weights.")
    var seed: UInt64 = 0

    @OptionGroup var output: OutputOptions

    mutating func validate() throws {
        if let bad = try parseIntList(threads, option: "--threads").first(where: { $0 < 1 }) {
            throw ValidationError("--threads: \(bad) must be at least 1")
        }
        guard ciTarget > 0, ciTarget < 1 else { throw ValidationError("--ci-target must be in (0, 1), got \(ciTarget)") }
        if let n = minRepeats, n < 1 { throw ValidationError("--min-repeats must be at least 1, got \(n)") }
        if let n = maxRepeats, n < (minRepeats ?? 1) { throw ValidationError("--max-repeats must be at least --min-repeats") }
        if let s = pointCap, !(s > 0) { throw ValidationError("--point-cap must be positive, got \(s)") }
        if let n = requests, n < 0 { throw ValidationError("--requests must be 0 or more, got \(n)") }
        _ = try requestRanges()
        guard ["yes", "no"].contains(requestImage) else { throw ValidationError("--request-image must be yes or no, got '\(requestImage)'") }
    }

    /// `--request-prompts` and `--request-new-tokens` as ranges.
    func requestRanges() throws -> (prompts: ClosedRange<Int>, newTokens: ClosedRange<Int>) {
        func range(_ text: String, _ option: String, minimum: Int) throws -> ClosedRange<Int> {
            let v = try parseIntList(text, option: option)
            guard v.count == 2, v[0] >= minimum, v[0] <= v[1] else {
                throw ValidationError("\(option) needs two numbers min,max with \(minimum) ≤ min ≤ max, got '\(text)'")
            }
            return v[0]...v[1]
        }
        return (try range(requestPrompts, "--request-prompts", minimum: 1), try range(requestNewTokens, "--request-new-tokens", minimum: 1))
    }

    /// The settings this invocation profiles with (`--quick` lowers the repeat defaults).
    func settings() throws -> ProfileSettings {
        let levels: [ContentionLevel]
        levels = try ContentionLevel.parseList(contention)
        let minimum = minRepeats ?? (quick ? 2 : 3)
        return ProfileSettings(threads: try parseIntList(threads, option: "--threads"), contention: levels, quick: quick,
                               ciTarget: ciTarget, minRepeats: minimum, maxRepeats: max(minimum, maxRepeats ?? (quick ? 5 : 15)),
                               pointCapSeconds: pointCap ?? (quick ? 0.5 : 2.5), seed: seed)
    }

    func run() throws {
        reportBLASKernels()
        let settings = try settings()
        let spec = try ModelSpec.resolve(model, seed: seed)
        let label = Preset(rawValue: model) != nil ? model : URL(fileURLWithPath: model).standardizedFileURL.lastPathComponent
        let profiler = try Profiler(model: label, config: spec.config, weights: spec.weights, settings: settings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let configJSON = String(decoding: try encoder.encode(settings), as: UTF8.self)

        let database = try ProfileDatabase(path: db)
        let device = DeviceFingerprint.current()
        try database.upsertDevice(device)
        var runID: Int64
        var skipping = Set<ProfileKey>()
        if resume, let previous = try database.runs(device: device.id).last(where: {
            $0.model == label && $0.config == configJSON && ($0.status == .interrupted || $0.status == .running)
        }) {
            runID = previous.id
            skipping = Set(try database.samples(run: runID).map { ProfileKey($0.sample) })
            try database.finishRun(runID, status: .running)
            progress("resuming run \(runID): \(skipping.count) of \(profiler.tasks.count) points already stored")
        } else {
            if resume { progress("no interrupted run of \(label) with these settings on \(device.id); starting a new run") }
            runID = try database.beginRun(device: device.id, model: label, config: configJSON,
                                          provenance: Provenance.current(threads: settings.threads.max() ?? 1))
        }

        ProfileSignals.install()
        let bar = ProgressPrinter(terminal: isatty(STDERR_FILENO) == 1)
        let started = Date()
        let measured: Int
        do {
            measured = try profiler.run(
                skipping: skipping,
                startLoad: { level in try BackgroundLoadHandle.start(level) },
                store: { try database.insertSamples($0, run: runID, device: device.id) },
                progress: bar.show,
                stop: { ProfileSignals.received != 0 })
        } catch let error as ProfilerError {
            bar.finish()
            if case .interrupted = error {
                try database.finishRun(runID, status: .interrupted)
                FileHandle.standardError.write(Data("error: \(error) (run \(runID) in \(db))\n".utf8))
                Foundation.exit(128 + ProfileSignals.received)
            }
            try database.finishRun(runID, status: .failed)
            throw CLIError(message: "\(error)")
        } catch {
            bar.finish()
            try? database.finishRun(runID, status: .failed)
            throw error
        }
        bar.finish()
        let timedRequests = try profileRequests(spec: spec, label: label, settings: settings, runID: runID,
                                                database: database, device: device.id)
        try database.finishRun(runID, status: .complete)
        let report = ProfileReport(runID: runID, device: device.id, model: label, database: db, status: RunStatus.complete.rawValue,
                                   measured: measured, resumed: skipping.count, requests: timedRequests,
                                   seconds: Date().timeIntervalSince(started), settings: settings)
        if output.json {
            print(try jsonString(report))
        } else {
            print("""
                profiled \(label) on \(device.id): \(measured) points measured\(skipping.isEmpty ? "" : ", \(skipping.count) already stored"), \(timedRequests) whole requests timed, in \(String(format: "%.1f", report.seconds)) s
                run \(runID) in \(db) (complete)
                export: adallava export --db \(db) --device \(device.id) --out profiles/\(device.id)/
                """)
        }
    }
}

extension Profile {
    /// Times `--requests` whole requests per thread count and contention level into the run
    /// (those already stored for a resumed run are kept, not repeated). Returns how many ran.
    func profileRequests(spec: ModelSpec, label: String, settings: ProfileSettings, runID: Int64,
                         database: ProfileDatabase, device: String) throws -> Int {
        let count = requests ?? (quick ? 6 : 30)
        guard count > 0 else { return 0 }
        let ranges = try requestRanges()
        let hasImage = requestImage == "yes"
        do {
            try spec.checkFits(contextTokens: ranges.prompts.upperBound + ranges.newTokens.upperBound
                               + (hasImage ? spec.config.imageFeatureTokens : 0) + 2)
        } catch {
            progress("whole requests skipped: \(error)")
            return 0
        }
        let stored = try database.requestSamples(device: device, model: label, run: runID).map(\.sample)
        progress("building \(label) for \(count) whole requests per thread count and level")
        let model = try spec.load()
        let cases = RequestCase.random(layout: model.layout, count: count, seed: settings.seed &+ 17, prompt: ranges.prompts,
                                       newTokens: ranges.newTokens, hasImage: hasImage)
        var timed = 0
        for threads in settings.threads {
            for level in try ContentionLevel.parseList(settings.contention.joined(separator: ",")) {
                if stored.contains(where: { $0.threads == threads && $0.contention == level }) { continue }
                if ProfileSignals.received != 0 { throw CLIError(message: "interrupted before the whole requests finished") }
                BLAS.setThreads(threads)
                let load = level.isIdle ? nil : try BackgroundLoadHandle.start(level)
                defer { _ = load?.stop() }
                _ = load?.achieved()
                let rows = try RequestProfiler.measure(
                    model: model, name: label, cases: cases, threads: threads, contention: level,
                    achieved: { load?.achieved() ?? .idle }, seed: settings.seed, stop: { ProfileSignals.received != 0 },
                    progress: { i, s in
                        if i % 10 == 0 || i == count {
                            progress("requests \(threads) thread(s) contention \(level): \(i)/\(count), last \(String(format: "%.1f", s.measuredMs)) ms")
                        }
                    })
                try database.insertRequestSamples(rows, run: runID, device: device)
                timed += rows.count
            }
        }
        return timed
    }
}

/// What `profile --json` prints.
struct ProfileReport: Encodable {
    var runID: Int64, device: String, model: String, database: String, status: String
    var measured: Int, resumed: Int
    /// Whole requests timed end to end in this invocation.
    var requests: Int
    var seconds: Double
    var settings: ProfileSettings

    enum CodingKeys: String, CodingKey {
        case runID = "run_id", device, model, database, status, measured, resumed, requests = "requests_timed", seconds, settings
    }
}

/// SIGINT/SIGTERM set a flag the profiler polls between repeats, so the run is marked
/// interrupted and every finished point stays stored.
enum ProfileSignals {
    static let signal = Atomic<Int32>(0)
    static var received: Int32 { signal.load(ordering: .relaxed) }

    static func install() {
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in [SIGINT, SIGTERM] {
            Foundation.signal(s) { number in ProfileSignals.signal.store(number, ordering: .relaxed) }
            sigaddset(&mask, s)
        }
        // A parent may hand down a mask that blocks them (test runners and some supervisors do).
        sigprocmask(SIG_UNBLOCK, &mask, nil)
    }
}

/// A bar with ETA redrawn in place on a terminal; one plain line per point otherwise.
final class ProgressPrinter {
    let terminal: Bool
    private var drawn = false

    init(terminal: Bool) { self.terminal = terminal }

    func show(_ p: ProfileProgress) {
        let share = p.total > 0 ? Double(p.done) / Double(p.total) : 1
        let head = "\(p.done)/\(p.total) \(String(format: "%3.0f", share * 100))% ETA \(duration(p.etaSeconds))"
        if terminal {
            let width = 24, filled = Int(share * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let line = "[\(bar)] \(head) \(p.label)"
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line.prefix(160))".utf8))
            drawn = true
        } else {
            progress("\(head) \(p.label)")
        }
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }

    private func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
    }
}
