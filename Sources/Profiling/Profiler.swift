import AdaptiveInference
import Contention
import Foundation
import LLaVAModel
import TensorKernels

/// One measurement the profiler owes: a point at a thread count under a background load.
public struct ProfileTask: Sendable, Equatable {
    public var point: ProfilePoint
    public var threads: Int
    public var contention: ContentionLevel

}

/// What makes a stored sample the same measurement as a task (the store's unique index).
public struct ProfileKey: Hashable, Sendable {
    public var op: OpName, phase: Phase
    public var tokens: Int, context: Int, heads: Int, neurons: Int, threads: Int
    public var contention: ContentionLevel

    public init(op: OpName, phase: Phase, tokens: Int, context: Int, heads: Int, neurons: Int, threads: Int,
                contention: ContentionLevel) {
        self.op = op; self.phase = phase; self.tokens = tokens; self.context = context; self.heads = heads
        self.neurons = neurons; self.threads = threads; self.contention = contention
    }

    public init(_ s: ProfileSample) {
        self.init(op: s.op, phase: s.phase, tokens: s.tokens, context: s.context, heads: s.heads, neurons: s.neurons,
                  threads: s.threads, contention: s.contention)
    }
}

/// A running background load, as the profiler sees it (the generator lives in `Contention`).
public struct BackgroundLoadHandle {
    /// The load achieved since the previous call (cores busy, GB/s streamed), measured.
    public var achieved: () -> ContentionLevel
    /// Stops the load; returns what it achieved over its last interval.
    public var stop: () -> ContentionLevel

    public init(achieved: @escaping () -> ContentionLevel, stop: @escaping () -> ContentionLevel) {
        self.achieved = achieved
        self.stop = stop
    }
}

/// Errors of the profiler, worded for the user.
public enum ProfilerError: Error, CustomStringConvertible {
    /// SIGINT/SIGTERM arrived; `completed` points are stored.
    case interrupted(completed: Int)
    /// No background-load generator is available to produce `level`.
    case contentionUnavailable(String)

    public var description: String {
        switch self {
        case .interrupted(let n): return "profile interrupted; \(n) point(s) measured in this invocation are stored (continue with --resume)"
        case .contentionUnavailable(let level): return "contention level '\(level)' needs the background-load generator, which this build does not have; profile with --contention 0"
        }
    }
}

/// Progress of a profile, after each point.
public struct ProfileProgress: Sendable {
    public var done: Int
    public var total: Int
    /// What was just measured (or skipped, when resuming).
    public var label: String
    public var elapsedSeconds: Double
    /// Estimated seconds left: remaining points' work at the rate measured so far.
    public var etaSeconds: Double
}

/// Times every op of `OpName` for one model over `ProfileGrid`'s points, at each thread count
/// and background load of `settings`, one engine component in memory at a time.
public final class Profiler {
    public let model: String
    public let config: LlavaConfig
    public let settings: ProfileSettings
    public let layout: KnobLayout
    /// Every measurement, in execution order: component, then background load, then threads.
    public let tasks: [ProfileTask]
    let weights: WeightSource

    public init(model: String, config: LlavaConfig, weights: WeightSource, settings: ProfileSettings) throws {
        self.model = model
        self.config = config
        self.weights = weights
        self.settings = settings
        layout = try config.knobLayout()
        let points = ProfileGrid.points(config: config, layout: layout, quick: settings.quick)
        var tasks: [ProfileTask] = []
        for component in ProfilerComponent.allCases {
            let mine = points.filter { ProfilerComponent.of($0.op) == component }
            for level in settings.levels {
                for threads in settings.threads {
                    tasks += mine.map { ProfileTask(point: $0, threads: threads, contention: level) }
                }
            }
        }
        self.tasks = tasks
    }

    /// The sample `task` produces, without its timings: work from the config.
    func sample(_ task: ProfileTask, stats: SampleStats, achieved: ContentionLevel) -> ProfileSample {
        let p = task.point
        let t = config.textConfig
        let heads = p.units > 0 ? p.heads : (p.op == .visionBlock ? config.visionConfig.numAttentionHeads : 0)
        let neurons = p.units > 0 ? p.neurons : (p.op == .visionBlock ? config.visionConfig.intermediateSize : 0)
        let work = config.work(p.op, tokens: p.tokens, context: p.context,
                               heads: p.units > 0 ? p.heads : t.numAttentionHeads,
                               kvHeads: p.units > 0 ? p.kvHeads : t.numKeyValueHeads,
                               neurons: p.units > 0 ? p.neurons : t.intermediateSize)
        return ProfileSample(model: model, op: p.op, phase: p.phase, tokens: p.tokens, context: p.context, heads: heads,
                             neurons: neurons, threads: task.threads, contention: task.contention,
                             achievedContention: achieved, flops: work.flops, bytes: work.bytes, stats: stats)
    }

    /// The identity `--resume` compares with stored rows: that of the sample `task` stores.
    public func key(_ task: ProfileTask) -> ProfileKey {
        ProfileKey(sample(task, stats: SampleStats(minMs: 0, medianMs: 0, meanMs: 0, stdMs: 0, p90Ms: 0, p99Ms: 0, n: 0),
                          achieved: .idle))
    }

    /// A rough time for `task` (warm-up + minimum repeats at guessed rates), for the ETA only.
    func estimatedSeconds(_ task: ProfileTask) -> Double {
        let w = sample(task, stats: SampleStats(minMs: 0, medianMs: 0, meanMs: 0, stdMs: 0, p90Ms: 0, p99Ms: 0, n: 0),
                       achieved: .idle)
        let once = w.flops / (90e9 * Double(task.threads)) + w.bytes / 20e9 + 0.0005
        return min(Double(1 + settings.minRepeats) * once, settings.pointCapSeconds + 2 * once)
    }

    /// Measures every task not in `skipping`, handing each finished sample to `store` (one
    /// batch per point) and reporting `progress`. `startLoad` starts the background load of a
    /// non-idle level. Throws `ProfilerError.interrupted` as soon as `stop()` says so.
    /// Returns the number of points measured.
    @discardableResult
    public func run(skipping: Set<ProfileKey>,
                    startLoad: (ContentionLevel) throws -> BackgroundLoadHandle,
                    store: ([ProfileSample]) throws -> Void,
                    progress: (ProfileProgress) -> Void,
                    stop: @escaping () -> Bool) throws -> Int {
        let policy = RepeatPolicy(ciTarget: settings.ciTarget, minRepeats: settings.minRepeats,
                                  maxRepeats: settings.maxRepeats, capSeconds: settings.pointCapSeconds)
        let estimates = tasks.map(estimatedSeconds)
        let start = Date()
        var estimatedDone = 0.0, measured = 0, done = 0
        var remaining = zip(tasks, estimates).filter { !skipping.contains(key($0.0)) }.reduce(0) { $0 + $1.1 }
        func report(_ label: String) {
            let elapsed = Date().timeIntervalSince(start)
            let rate = estimatedDone > 0 ? elapsed / estimatedDone : 1
            progress(ProfileProgress(done: done, total: tasks.count, label: label, elapsedSeconds: elapsed,
                                     etaSeconds: remaining * rate))
        }
        var bench: ProfilerBench?
        var benchKind: ProfilerComponent?
        var load: BackgroundLoadHandle?
        var loadLevel = ContentionLevel.idle
        defer { _ = load?.stop() }
        for (task, estimate) in zip(tasks, estimates) {
            if skipping.contains(key(task)) {
                done += 1
                continue
            }
            if stop() { throw ProfilerError.interrupted(completed: measured) }
            let kind = ProfilerComponent.of(task.point.op)
            if benchKind != kind {
                bench = nil   // release the previous component before building the next
                report("building \(kind)")
                bench = try build(kind)
                benchKind = kind
            }
            if task.contention != loadLevel || (load == nil && !task.contention.isIdle) {
                _ = load?.stop()
                load = nil
                loadLevel = task.contention
                if !task.contention.isIdle { load = try startLoad(task.contention) }
            }
            BLAS.setThreads(task.threads)
            let body = bench!.body(for: task.point)
            _ = load?.achieved()   // start the achieved-load window at this point
            guard let stats = policy.measure(stop: stop, body) else {
                throw ProfilerError.interrupted(completed: measured)
            }
            let achieved = load?.achieved() ?? .idle
            try store([sample(task, stats: stats, achieved: achieved)])
            measured += 1
            done += 1
            estimatedDone += estimate
            remaining -= estimate
            report("\(task.point) threads \(task.threads) contention \(task.contention): \(String(format: "%.3f", stats.medianMs)) ms (n \(stats.n))")
        }
        return measured
    }

    func build(_ kind: ProfilerComponent) throws -> ProfilerBench {
        switch kind {
        case .vision: return try VisionBench(config: config, weights: weights)
        case .projector: return try ProjectorBench(config: config, weights: weights)
        case .embedding: return try EmbeddingBench(config: config, weights: weights)
        case .decoder: return try DecoderBench(config: config, weights: weights, layout: layout)
        }
    }
}
