import AdaptiveInference
import Contention
import CostModel
import Foundation
import LLaVAModel
import TensorKernels

/// Discrete-event replay in virtual time: one engine, requests queue FIFO while it is busy.
///
/// Per request: it starts at max(arrival, engine free); the planner decides with the queueing
/// already suffered and the trace's contention at the start; the engine time is the *reference*
/// predictor's latency for the chosen plan under that contention — the same for every policy,
/// so a blind policy pays for what it ignored — optionally times (1 + ε), ε ~ N(0, σ) from a
/// seeded generator, σ = the prediction's relative margin / 1.645 (the margin is the held-out
/// P95 shortfall, so this is the residual spread it implies). When the cost model carries an
/// end-to-end calibration (`residuals`), the noise is instead a seeded draw from the measured
/// ratios of whole requests to their calibrated prediction: the machine's own spread.
public struct VirtualReplay: Sendable {
    public var planner: Planner
    /// Ground truth of the simulation (the fitted cost model, under the trace's contention).
    public var reference: any PlanLatencyPredicting
    /// Whether `reference` is the planner's own predictor (then one cache serves both).
    let referenceIsPlanners: Bool
    public var contention: ContentionTrace
    public var noise: Bool
    public var seed: UInt64
    /// With `noise`: measured request ÷ prediction ratios to draw from (nil: the normal model).
    public var residuals: RequestCalibration?
    /// Admission and the deadline guard (the same settings as `LiveReplay.controls`).
    public var controls = ReplayControls()
    /// Every simulated engine time is multiplied by this: the machine's speed now relative to
    /// the profile's calibration (`replay --simulate --warm-up N` measures it as the median
    /// engine ÷ predicted ratio of N real requests at idle). Why: this VM's speed drifts by
    /// ±20% within an hour; in the stop-13 replays the live engine ran idle requests at 0.83×
    /// the calibrated prediction, so a simulator at 1× queued a blind policy's requests longer
    /// than the real engine did (P99 latency ÷ budget +32% for `profile`).
    public var engineScale = 1.0
    /// When set, `contention-aware` plans with a margin learnt during the run, as the live
    /// replay does (`LatencyFeedback` at this quantile over the simulated engine time ÷
    /// prediction).
    public var feedbackQuantile: Double?
    /// When set, the planner is told what the live replay's sensor would read at a request's
    /// start instead of the trace's level there: the trace's busy cores averaged over the last
    /// this many seconds, bandwidth unseen, under `LiveReplay.cpuNoiseFloor` read as idle
    /// (`LiveReplay.planningLevel`). The engine still runs at the trace's level. Why: on a
    /// trace whose bursts begin as requests arrive, the trace's level at the start is a burst
    /// the live sensor cannot see yet; simulated with it, the stop-16 replay of
    /// `requests-mini-3800.csv` had no miss where the live one had 23 (16 of them requests that
    /// arrived as a burst began), a simulated P99 20% below the live one.
    public var sensorWindowS: Double?

    public init(planner: Planner, reference: (any PlanLatencyPredicting)? = nil, contention: ContentionTrace,
                noise: Bool = false, seed: UInt64 = 1) {
        self.planner = planner
        self.reference = reference ?? planner.predictor
        referenceIsPlanners = reference == nil
        self.contention = contention; self.noise = noise; self.seed = seed
    }

    /// Replays `requests` (arrival order) and returns one row per request. `onResult` sees
    /// each row as it completes (the CLI streams them to the store).
    public func run(_ requests: [TraceRequest], onResult: ((ReplayResult) throws -> Void)? = nil) throws -> [ReplayResult] {
        // Predictions repeat (few prompt lengths, piecewise-constant contention): remember them
        // for the run, which is what makes 10⁵ requests/s possible. Plan strings once per k.
        let planCache = PredictionCache()
        let referenceCache = referenceIsPlanners ? planCache : PredictionCache()
        var referencePlanner = planner
        referencePlanner.predictor = reference
        let planStrings = (0...planner.totalKnobs).map { planner.plan(k: $0).description }
        var rng = SplitMix64(seed: seed)
        var free = 0.0
        let feedback = planner.policy == .contentionAware ? feedbackQuantile.map { LatencyFeedback(quantile: $0) } : nil
        let bursts = controls.burstHistory()
        var rows: [ReplayResult] = []
        rows.reserveCapacity(requests.count)
        for (i, r) in requests.enumerated() {
            let start = max(r.t, free)
            feedback?.expire(now: start)
            let (level, levelUntil) = contention.segment(at: start)
            let planned = sensed(at: start)
            let hasImage = r.image != "none"
            let decision: PlanDecision
            let request = PlanningRequest(budgetMs: r.budgetMs, promptTokens: r.promptTokens, hasImage: hasImage,
                                          newTokens: r.maxNewTokens, contention: planned, queuedMs: (start - r.t) * 1000,
                                          measuredScale: feedback?.scale(at: planned),
                                          floorScale: controls.floorScale(feedback, at: planned))
            do {
                decision = try controls.pricingOnsets(try planner.decide(request, cache: planCache), request, planner: planner,
                                                      bursts: bursts, feedback: feedback, now: start, cache: planCache)
                bursts?.note(planned, at: start)
            } catch {
                throw SimulationError.badRequest(index: i, reason: "\(error)")
            }
            if controls.rejectInfeasible && decision.infeasible {
                let row = ReplayResult.rejected(request: i, policy: planner.policy.rawValue, mode: "simulated", arrivalS: r.t,
                                                decidedS: start, budgetMs: r.budgetMs, promptTokens: r.promptTokens,
                                                newTokens: r.maxNewTokens, decision: decision, sensed: planned)
                try onResult?(row)
                rows.append(row)
                continue
            }
            let truth = try referencePlanner.predict(k: decision.knobs, promptTokens: r.promptTokens, hasImage: hasImage,
                                                     newTokens: r.maxNewTokens, contention: level, cache: referenceCache)
            var ratio = engineScale
            if noise, let ratios = residuals?.state(at: level)?.ratios, !ratios.isEmpty {
                ratio *= ratios[Int(rng.next() % UInt64(ratios.count))]
            } else if noise && truth.relativeMargin > 0 {
                ratio *= max(0.05, 1 + rng.normal() * truth.relativeMargin / 1.645)
            }
            var control = try guarded(i) {
                try controls.deadlineControl(decision, request, planner: planner, feedback: feedback, budgetMs: r.budgetMs, cache: planCache)
            }
            var truthWork = RequestWork(prediction: truth, newTokens: r.maxNewTokens)
            if control?.pruneKeep != nil {
                try guarded(i) {
                    try truthWork.pricePruning(k: decision.knobs, request, contention: level, planner: referencePlanner,
                                               keep: controls.pruneKeep, cache: referenceCache)
                }
            }
            // The reference's time for the same plan under the level at `t`, relative to the
            // start's: a burst that begins mid-request slows what is left of it.
            func slowdown(at t: Double) throws -> Double {
                guard t >= levelUntil else { return 1 }
                let now = contention.level(at: t)
                guard now != level else { return 1 }
                let then = try referencePlanner.predict(k: decision.knobs, promptTokens: r.promptTokens, hasImage: hasImage,
                                                        newTokens: r.maxNewTokens, contention: now, cache: referenceCache)
                return then.totalMs / truth.totalMs
            }
            let end = try serve(truthWork, plan: decision.plan, ratio: ratio,
                                start: start, arrival: r.t, budgetMs: r.budgetMs, control: &control, slowdown: slowdown)
            let serviceMs = (end - start) * 1000
            feedback?.record(measuredMs: serviceMs, predictedMs: control?.finish() ?? decision.predictedServiceMs, plannedAt: planned,
                             endedAt: sensed(at: end), at: end)
            let ran = control.flatMap { $0.dropped.isEmpty && $0.prunedAt == nil ? nil : $0 }.map { c -> ExecutionPlan in
                var p = decision.plan
                for layer in c.dropped { p.switchOff(layer: layer, layout: planner.layout) }
                if let at = c.prunedAt, let keep = c.pruneKeep { p.tokenSelection = .fastV(k: at, keepRatio: keep) }
                return p
            }
            free = end
            let latencyMs = (end - r.t) * 1000
            let row = ReplayResult(
                request: i, policy: planner.policy.rawValue, mode: "simulated", arrivalS: r.t, startS: start, endS: end,
                budgetMs: r.budgetMs, promptTokens: r.promptTokens, newTokens: r.maxNewTokens, latencyMs: latencyMs,
                serviceMs: serviceMs, predictedMs: decision.predictedServiceMs, plan: planStrings[decision.knobs],
                knobs: decision.knobs, totalKnobs: decision.totalKnobs, sensed: planned,
                outcome: Outcome.of(latencyMs: latencyMs, budgetMs: r.budgetMs, infeasible: decision.infeasible).rawValue,
                ranPlan: ran?.description, ranKnobs: ran?.enabledKnobCount)
            try onResult?(row)
            rows.append(row)
        }
        return rows
    }
}

extension VirtualReplay {
    /// The level the planner is told at `t`: the trace's, or with `sensorWindowS` what the
    /// live sensor would read.
    func sensed(at t: Double) -> ContentionLevel {
        guard let window = sensorWindowS, window > 0 else { return contention.level(at: t) }
        let from = max(0, t - window)
        guard t > from else { return LiveReplay.planningLevel(contention.level(at: t)) }
        var x = from, coreSeconds = 0.0
        while x < t {
            let (level, until) = contention.segment(at: x)
            let end = min(until, t)
            guard end > x else { break }
            coreSeconds += level.cpuBusyCores * (end - x)
            x = end
        }
        return LiveReplay.planningLevel(ContentionLevel(cpuBusyCores: coreSeconds / (t - from), memBandwidthGBps: 0))
    }

    /// One request in virtual time, checkpoint by checkpoint as the engine runs it: before
    /// each decoder block and each decode step the guard (when `control` is set) may switch
    /// blocks off; each stretch costs the reference's time for it × the request's noise
    /// `ratio` × the contention `slowdown` at the stretch's start. Returns the end time (s).
    func serve(_ truth: RequestWork, plan: ExecutionPlan, ratio: Double, start: Double, arrival: Double, budgetMs: Double,
               control: inout DeadlineControl?, slowdown: (Double) throws -> Double) throws -> Double {
        let layout = planner.layout
        var running = (0..<layout.totalLayers).map { plan.runsLayer($0, layout: layout) }
        var t = start
        func checkpoint(_ point: RequestCheckpoint) {
            guard control != nil else { return }
            for layer in control!.checkpoint(point, elapsedMs: (t - start) * 1000, leftMs: budgetMs - (t - arrival) * 1000) {
                running[layer] = false
            }
        }
        func advance(_ ms: Double) throws { t += ms * ratio * (try slowdown(t)) / 1000 }
        try advance(truth.beforeBlocksMs)
        for layer in 0..<layout.totalLayers {
            checkpoint(.prefillBlock(layer: layer))
            if running[layer] {
                let pruned = control?.prunedAt.map { layer >= $0 } ?? false
                try advance(pruned ? truth.prunedPrefillBlockMs ?? truth.prefillBlockMs : truth.prefillBlockMs)
            }
        }
        try advance(truth.firstTokenMs)
        for step in 0..<truth.steps {
            checkpoint(.decodeStep(step: step))
            try advance(truth.stepMs(blocks: running.lazy.filter { $0 }.count))
        }
        return t
    }
}

extension SplitMix64 {
    /// A standard normal draw (Box–Muller).
    mutating func normal() -> Double {
        let u1 = max(unit(), 1e-300), u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
