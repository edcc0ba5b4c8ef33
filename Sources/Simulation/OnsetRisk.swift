import Contention
import CostModel

/// The bursts a replay has seen begin over the last `windowS` seconds, each with the heaviest
/// load it brought: how often one may begin during the next request, and how heavy it may be.
///
/// Live it is fed sensed levels, simulated the trace's level at each request's start, so
/// neither looks ahead: the planner learns what bursts this machine has been having, not when
/// the next one comes.
public final class BurstHistory: @unchecked Sendable {
    public let windowS: Double
    /// One per burst: when it was first seen and the heaviest level seen in it.
    private var bursts: [(at: Double, level: ContentionLevel)] = []
    private var previousIdle: Bool?
    private var firstSeen: Double?

    public init(windowS: Double = 300) {
        precondition(windowS > 0)
        self.windowS = windowS
    }

    /// Notes the level at a request's start (replay time `at`, non-decreasing). A loaded level
    /// after an idle one begins a burst; further loaded levels raise its heaviest.
    public func note(_ level: ContentionLevel, at: Double) {
        bursts.removeFirst(bursts.prefix { $0.at < at - windowS }.count)
        if firstSeen == nil { firstSeen = at }
        if !level.isIdle {
            if previousIdle == true {
                bursts.append((at, level))
            } else if let last = bursts.indices.last, previousIdle == false {
                let l = bursts[last].level
                bursts[last].level = ContentionLevel(cpuBusyCores: max(l.cpuBusyCores, level.cpuBusyCores),
                                                     memBandwidthGBps: max(l.memBandwidthGBps, level.memBandwidthGBps))
            }
        }
        previousIdle = level.isIdle
    }

    /// Seconds the rates are taken over at `now`: the window, or the time seen so far while
    /// that is shorter, but never less than a minute (one early burst is not a storm).
    public func spanS(now: Double) -> Double {
        guard let firstSeen else { return windowS }
        return max(60, min(windowS, now - firstSeen))
    }

    /// The heaviest level of each burst begun within the window before `now`, oldest first.
    public func recent(now: Double) -> [ContentionLevel] {
        bursts.filter { $0.at >= now - windowS }.map(\.level)
    }

    /// Bursts begun per second (`recent` over `spanS`).
    public func onsetRate(now: Double) -> Double { Double(recent(now: now).count) / spanS(now: now) }
}

/// How long, within one request's run, a burst beginning would make it miss its budget even
/// though the deadline guard sheds every switchable block still ahead of it.
///
/// Why: a sensor sees a burst only once it has begun, and one that begins during a request
/// slows all of what is left. The guard can shed the switchable blocks still ahead, never the
/// vision tower, the prefix blocks, the first token's `lm_head` or decode's fixed part. On
/// `bursty-2000s.csv` with requests at 1.9/s (arrivals at every phase of the trace's 1-s
/// steps) the simulator had 60 requests in which a burst began; 27 of them missed (28 misses in
/// 2648 feasible requests, where claiming 99% allows about 12).
///
/// The run is walked at the idle pace (`work` × `pace`): vision, embedding and prefix blocks;
/// the `switchable` blocks the plan runs, one after another; the first token; the decode
/// steps. A burst beginning at τ lets the part in progress finish and everything after it run
/// `slowdown` times slower, with only the prefix blocks in each decode step:
/// latency(τ) = τ + slowdown · (end of the part in progress − τ + minimum rest). Within a part
/// that is linear and falling in τ (slowdown > 1), so the τ that miss form its first stretch.
public struct OnsetRisk: Sendable {
    /// The run's parts at the idle pace: (start, end, minimum work after the part), ms. They do
    /// not depend on the burst, so one walk serves every burst a request is priced against.
    let parts: [(start: Double, end: Double, rest: Double)]

    public init(work: RequestWork, prefixBlocks: Int, switchable: Int, pace: Double) {
        let m = max(0, pace)
        let minimalStep = (work.decodeStepMs + Double(prefixBlocks) * work.decodeBlockMs) * m
        let fullStep = work.stepMs(blocks: prefixBlocks + switchable) * m
        let steps = work.steps
        var parts: [(start: Double, end: Double, rest: Double)] = []
        var t = 0.0
        func part(_ length: Double, rest: Double) {
            guard length > 0 else { return }
            parts.append((t, t + length, rest))
            t += length
        }
        let decodeMin = Double(steps) * minimalStep
        part((work.beforeBlocksMs + Double(prefixBlocks) * work.prefillBlockMs) * m, rest: work.firstTokenMs * m + decodeMin)
        for _ in 0..<max(0, switchable) { part(work.prefillBlockMs * m, rest: work.firstTokenMs * m + decodeMin) }
        part(work.firstTokenMs * m, rest: decodeMin)
        for j in 0..<steps { part(fullStep, rest: Double(steps - j - 1) * minimalStep) }
        self.parts = parts
    }

    /// Milliseconds of the run (at the idle pace) during which a burst `slowdown` times slower
    /// beginning means a miss: latency(τ) > `availableMs` (the budget less the queueing spent).
    public func vulnerableMs(slowdown s: Double, availableMs: Double) -> Double {
        guard s > 1 else { return 0 }
        var vulnerable = 0.0
        for p in parts {
            // latency(τ) = τ + s (end − τ + rest) > available  ⇔  τ < (s (end + rest) − available) / (s − 1)
            let edge = (s * (p.end + p.rest) - availableMs) / (s - 1)
            vulnerable += min(p.end, max(p.start, edge)) - p.start
        }
        return vulnerable
    }

    /// The same for one burst, walking the run once.
    public static func vulnerableMs(work: RequestWork, prefixBlocks: Int, switchable: Int, pace: Double, slowdown: Double,
                                    availableMs: Double) -> Double {
        guard pace > 0 else { return 0 }
        return OnsetRisk(work: work, prefixBlocks: prefixBlocks, switchable: switchable, pace: pace)
            .vulnerableMs(slowdown: slowdown, availableMs: availableMs)
    }
}

extension ReplayControls {
    /// The decision with onsets priced in (`onsetRisk`): for a request planned at idle, the
    /// largest k up to the planner's whose probability of missing because a burst began
    /// inside it is at most `onsetRisk`; the cheapest plan marked infeasible when even that
    /// one is riskier. Unchanged when off, when the request is planned under load (its plan
    /// already assumes it), or while no burst has been seen in the window.
    ///
    /// The probability sums, over the bursts of the window, the stretch of the run a burst
    /// like that one would cost the budget in (`OnsetRisk`), divided by the window's length.
    /// Each burst counts at its own heaviest load: in simulation the median burst priced the
    /// heavy ones (≈ 1 core + 8 GB/s) too low, and they made every remaining onset miss.
    ///
    /// Measured (llava-mini, `requests-mini-3800-1.9hz.csv` under `bursty-2000s.csv`): live at
    /// p = 0.004, 2 of the 14 requests a burst began in missed (9 of 16 without), but 82% of
    /// all requests were rejected and utilisation fell to 85.0% (90.8% without). Heavy bursts
    /// slow this engine 2.6× and come every ~30 s, so even the cheapest plan of most idle
    /// requests carries ≈ 0.3% of onset risk: p near that is a threshold, and the simulator's
    /// rejections swing from 31% to 78% between engine scales 1.01 and 1.05.
    func pricingOnsets(_ decision: PlanDecision, _ r: PlanningRequest, planner: Planner, bursts: BurstHistory?,
                       feedback: LatencyFeedback?, now: Double, cache: PredictionCache?) throws -> PlanDecision {
        guard let limit = onsetRisk, !decision.infeasible, r.contention.isIdle, let bursts else { return decision }
        let levels = bursts.recent(now: now)
        guard !levels.isEmpty else { return decision }
        let spanMs = bursts.spanS(now: now) * 1000
        // Live replays plan without a shared cache; this call still asks for the same
        // predictions more than once (the planner's k at idle, for the slowdowns and the walk).
        let cache = cache ?? PredictionCache()
        let idlePace = feedback?.scale(at: .idle, quantile: 0.5) ?? 1
        let layout = planner.layout
        func predict(_ k: Int, _ level: ContentionLevel) throws -> LatencyPrediction {
            try planner.predict(k: k, promptTokens: r.promptTokens, hasImage: r.hasImage, newTokens: r.newTokens,
                                contention: level, cache: cache)
        }
        // Each burst's slowdown of this request, from the planner's plan (it varies little with k).
        let base = try predict(decision.knobs, .idle).totalMs * idlePace
        let slowdowns = try levels.map { level in
            try predict(decision.knobs, level).totalMs * (feedback?.scale(at: level, quantile: 0.5) ?? idlePace) / base
        }
        for k in stride(from: decision.knobs, through: 0, by: -1) {
            let idle = try predict(k, .idle)
            let plan = planner.plan(k: k)
            let blocks = (0..<layout.totalLayers).filter { plan.runsLayer($0, layout: layout) }.count
            let run = OnsetRisk(work: RequestWork(prediction: idle, newTokens: r.newTokens), prefixBlocks: layout.prefixLayers,
                                switchable: blocks - layout.prefixLayers, pace: idlePace)
            let exposedMs = slowdowns.reduce(0) { $0 + run.vulnerableMs(slowdown: $1, availableMs: r.budgetMs - r.queuedMs) }
            if exposedMs / spanMs <= limit {
                return k == decision.knobs ? decision : try planner.decision(k: k, r, cache: cache)
            }
        }
        return try planner.cheapest(r, cache: cache)
    }
}
