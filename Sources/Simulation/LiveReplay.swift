import AdaptiveInference
import Contention
import CostModel
import Foundation
import LLaVAModel
import TensorKernels

/// Replay against the real engine in real time: each request runs at its arrival (or when the
/// engine frees up — one request at a time, FIFO), with the plan the planner picks from the
/// contention sensed just before it starts. The background load (`BackgroundLoad`, started by
/// the caller from the contention trace) runs meanwhile in a child process.
///
/// Sensing happens after the request starts, so its overhead is inside the measured latency.
public final class LiveReplay: @unchecked Sendable {
    public let model: LlavaModel
    public let planner: Planner
    /// nil: every request sees `.idle` (e.g. a replay with no trace).
    public let sensor: ContentionSensor?
    /// When set, the level the planner is given at replay time t instead of the sensor's
    /// reading: the contention trace the load generator is replaying (an oracle, to tell the
    /// planner's quality from the sensor's).
    public var traceLevel: (@Sendable (Double) -> ContentionLevel)?
    /// Seconds on the contention trace's clock (the load generator's, `BackgroundLoad.traceSeconds`).
    /// When set, replay time is that clock, so a request at t arrives when the load is at t of
    /// its trace; nil: replay time starts at 0 when `run` does.
    public var traceClock: (@Sendable () -> Double)?
    public let seed: UInt64
    /// The measured margin of the `contention-aware` policy (nil: the fit's static margin only).
    public var feedback: LatencyFeedback?
    /// Admission and the deadline guard (the same settings as `VirtualReplay.controls`).
    public var controls = ReplayControls()
    private let stopFlag = NSLock()
    private var stopped = false

    public init(model: LlavaModel, planner: Planner, sensor: ContentionSensor?, seed: UInt64 = 0) {
        self.model = model; self.planner = planner; self.sensor = sensor; self.seed = seed
    }

    /// Ask the replay to stop after the request in flight (SIGINT handler, other threads).
    public func stop() {
        stopFlag.lock(); stopped = true; stopFlag.unlock()
    }

    public var isStopped: Bool {
        stopFlag.lock(); defer { stopFlag.unlock() }
        return stopped
    }

    /// The prompt of a request: BOS, `textTokens − 1` deterministic ids below the image token,
    /// then the image token when there is an image.
    public func prompt(textTokens: Int, hasImage: Bool, request: Int) -> [Int] {
        var rng = SplitMix64(seed: seed &+ UInt64(request) &* 0x9E37_79B9)
        let top = max(3, min(model.config.textConfig.vocabSize, model.config.imageTokenIndex))
        var ids = [1]
        for _ in 1..<max(1, textTokens) { ids.append(2 + Int(rng.next() % UInt64(top - 2))) }
        if hasImage { ids.append(model.config.imageTokenIndex) }
        return ids
    }

    /// Runs every request (or until `stop()`), calling `onResult` with each row as it completes.
    /// Returns the completed rows. `clock` is seconds since the replay's start.
    @discardableResult
    public func run(_ requests: [TraceRequest], onResult: (ReplayResult) throws -> Void,
                    progress: ((Int, ReplayResult) -> Void)? = nil) throws -> [ReplayResult] {
        let pixels = model.syntheticPixels(seed: seed)
        for (i, r) in requests.enumerated() where r.image != "synthetic" && r.image != "none" {
            throw SimulationError.badRequest(index: i, reason: "image '\(r.image)': live replay of a preset uses 'synthetic' (or 'none') images")
        }
        let now = DispatchTime.now().uptimeNanoseconds
        let t0 = now &- min(now, UInt64(max(0, traceClock?() ?? 0) * 1e9))
        func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        let bursts = controls.burstHistory()
        var rows: [ReplayResult] = []
        for (i, r) in requests.enumerated() {
            if isStopped { break }
            // Wait for the arrival, in slices so a stop request is honoured promptly.
            while clock() < r.t && !isStopped { Thread.sleep(forTimeInterval: min(0.05, r.t - clock())) }
            if isStopped { break }
            let start = clock()
            feedback?.expire(now: start)
            let level = traceLevel?(start) ?? sensor.map { Self.planningLevel($0.sense().level) } ?? .idle
            let hasImage = r.image != "none"
            let decision: PlanDecision
            let request = PlanningRequest(
                budgetMs: r.budgetMs, promptTokens: r.promptTokens, hasImage: hasImage, newTokens: r.maxNewTokens,
                contention: level, queuedMs: (clock() - r.t) * 1000, measuredScale: feedback?.scale(at: level),
                floorScale: controls.floorScale(feedback, at: level))
            do {
                decision = try controls.pricingOnsets(try planner.decide(request), request, planner: planner,
                                                      bursts: bursts, feedback: feedback, now: start, cache: nil)
                bursts?.note(level, at: start)
            } catch {
                throw SimulationError.badRequest(index: i, reason: "\(error)")
            }
            if controls.rejectInfeasible && decision.infeasible {
                let row = ReplayResult.rejected(request: i, policy: planner.policy.rawValue, mode: "live", arrivalS: r.t,
                                                decidedS: clock(), budgetMs: r.budgetMs, promptTokens: r.promptTokens,
                                                newTokens: r.maxNewTokens, decision: decision, sensed: level)
                try onResult(row)
                rows.append(row)
                progress?(i, row)
                continue
            }
            let ids = prompt(textTokens: r.promptTokens, hasImage: hasImage, request: i)
            // The guard's arithmetic (and its pruned-block prediction) before the engine's clock
            // starts: the guard compares engine time with predicted engine work.
            let control = try guarded(i) {
                try controls.deadlineControl(decision, request, planner: planner, feedback: feedback, budgetMs: r.budgetMs, cache: nil)
            }
            let serviceStartNs = DispatchTime.now().uptimeNanoseconds
            let serviceStart = Double(serviceStartNs - t0) / 1e9
            let guardian = control.map {
                DeadlineGuard(control: $0, budgetMs: r.budgetMs, arrivalNs: t0 + UInt64(r.t * 1e9), serviceStartNs: serviceStartNs)
            }
            let result = try model.generate(prompt: ids, pixels: hasImage ? pixels : nil, options: GenerationOptions(
                maxNewTokens: r.maxNewTokens, stopAtEOS: false,
                adaptive: AdaptiveOptions(mode: planner.mode, plan: decision.plan), revision: guardian))
            let end = clock()
            // The margin learns from what ran: a guarded request that shed blocks is compared
            // with the prediction for the work it did, not the plan it started with.
            // The level at the end (sensed after the clock stopped, so outside the latency):
            // a request whose load changed part-way is not one the margin should learn from.
            if let feedback {
                let endLevel = traceLevel?(end) ?? sensor.map { Self.planningLevel($0.sense().level) }
                feedback.record(measuredMs: (end - serviceStart) * 1000, predictedMs: guardian?.finish() ?? decision.predictedServiceMs,
                                plannedAt: level, endedAt: endLevel, at: end)
            }
            let ran = result.adaptive?.ranPlan
            let latencyMs = (end - r.t) * 1000
            let row = ReplayResult(
                request: i, policy: planner.policy.rawValue, mode: "live", arrivalS: r.t, startS: start, endS: end,
                budgetMs: r.budgetMs, promptTokens: r.promptTokens, newTokens: r.maxNewTokens, latencyMs: latencyMs,
                serviceMs: (end - serviceStart) * 1000, predictedMs: decision.predictedServiceMs, plan: decision.plan.description,
                knobs: decision.knobs, totalKnobs: decision.totalKnobs, sensed: level,
                outcome: Outcome.of(latencyMs: latencyMs, budgetMs: r.budgetMs, infeasible: decision.infeasible).rawValue,
                ranPlan: ran?.description, ranKnobs: ran?.enabledKnobCount)
            try onResult(row)
            rows.append(row)
            progress?(i, row)
        }
        return rows
    }

    /// What the planner is told from a sensor reading. Measured on this 2-core machine: the
    /// CPU reading tracks the stress generator (0.57–0.98 cores sensed in a 0.98-core burst,
    /// 0–0.09 between bursts), but the bandwidth probe reads 5–13 GB/s whether or not anything
    /// streams, so it is not passed on: background streaming shows up as the CPU its threads
    /// burn. Readings under `cpuNoiseFloor` cores are idle (tick rounding of /proc/stat).
    public static let cpuNoiseFloor = 0.15
    /// Seconds of /proc/stat the sensor's reading averages (`ContentionSensor.startSampling`'s
    /// window, as `replay` starts it).
    public static let sensorWindow = 0.2
    public static func planningLevel(_ sensed: ContentionLevel) -> ContentionLevel {
        ContentionLevel(cpuBusyCores: sensed.cpuBusyCores < cpuNoiseFloor ? 0 : sensed.cpuBusyCores, memBandwidthGBps: 0)
    }
}
