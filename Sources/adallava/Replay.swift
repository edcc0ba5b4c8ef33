import AdaptiveInference
import ArgumentParser
import Contention
import CostModel
import Foundation
import LLaVAModel
import ProfileStore
import Simulation
import TensorKernels

/// `adallava replay`: a request trace against the adaptive engine under a contention trace.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a request trace under a contention trace, live on the real engine or in virtual time.",
        discussion: """
        For each request the planner picks the plan with the most enabled knobs (in the model's \
        knob order) whose predicted latency fits the budget left after queueing:
          flops             the paper: budget / full-model latency at idle → k on the knob grid; \
        blind to contention and queueing
          profile           cost model at idle, plus queueing and the model's safety margin
          contention-aware  cost model under the contention sensed now, plus queueing and margin
        A budget below the cheapest plan's prediction is never a silent miss: by default the \
        request is `rejected` and not run, leaving the engine to the requests behind it \
        (--infeasible run runs the cheapest plan anyway and records `infeasible`).

        DEADLINE GUARD (contention-aware by default, --deadline-guard): the plan is revised while \
        the request runs. Before each decoder block and each decode step the engine's time so far \
        is compared with the predicted work done (over the whole request and over its most recent \
        15%, whichever is slower); when the rest would end past the budget less --guard-reserve, \
        switchable blocks are switched off for the rest of the request: each time the one that \
        closes the gap with the least work shed (a block whose prefill has run saves only its \
        decode steps), the least important knobs among equals. With --guard-prune r, when even \
        every switchable block would not do, it also prunes the image tokens before the next \
        prefill block, keeping the share r that the last prompt token attended to most (FastV \
        with K = that block). Columns ran_plan and ran_knobs record what ran.

        ONSET RISK (contention-aware, --onset-risk p): a sensor sees a burst only once it has \
        begun, and one that begins early in a request slows what the guard cannot shed (vision \
        tower, prefix blocks, decode's fixed part). For a request planned at idle, each burst seen \
        in the last --onset-window seconds (at its heaviest load) gives the stretch of the run in \
        which a burst like it beginning would cost the budget; their sum over the window's length \
        is the probability of such a miss. k is lowered, or the request rejected, until it is at \
        most p.

        LIVE (default): before the clock and the load start, --warm-up requests run on the quiet \
        machine (not results); contention-aware learns its idle margin from them. Request times \
        are on the load generator's trace clock, so a burst at t in the trace begins when the \
        request trace is at t.

        The engine (--model, synthetic weights for a preset) runs each request at \
        its arrival, or when it frees up (FIFO, one at a time), while `adallava stress` replays \
        the contention trace in a child process; contention is sensed (/proc/stat + a bandwidth \
        probe) just before each request. Ctrl-C stops after the request in flight and stops the \
        load; every completed row is already on disk.

        --simulate: discrete-event virtual time with the same queueing; a request's engine time \
        is the cost model's prediction for its plan, block by block and step by step under the \
        trace's contention at each moment (--noise adds seeded residual noise). Predictions are cached per (plan, prompt length, \
        contention level), so a replay runs at 10⁴–10⁵+ requests per second; the rate is printed.

        One row per request — arrival, start and end times, budget, latency, engine time, \
        predicted time, plan, knobs on, sensed contention, outcome (met, missed, infeasible) — \
        is appended to --out as it completes and inserted into the SQLite table replay_results \
        of --results-db.

        The cost model is the latest one `adallava fit` stored for --device and --model in --db \
        (or --cost-model FILE.json). --quick-profile LEVELS instead times the model's ops now on \
        a small grid (the trace's prompt lengths), at idle and under each background level, and \
        fits a cost model from those rows: a stop-gap for a device never profiled.

        EXAMPLES
          adallava replay --trace traces/bursty-600s.csv --requests traces/requests-bursty-1000.csv \\
            --model llava-mini --db profile.sqlite --policy contention-aware --out live.csv --threads 2
          adallava replay --trace traces/bursty-600s.csv --requests traces/requests-bursty-1000.csv \\
            --model llava-mini --db profile.sqlite --policy flops --simulate --out sim.csv
          adallava validate --results live.csv --results sim.csv --report report.html
        """
    )

    @Option(help: ArgumentHelp("Contention trace CSV (t_s,cpu_busy_cores,mem_bw_gbps).", valueName: "file"))
    var trace: String

    @Option(help: ArgumentHelp("Request trace CSV (t_s,budget_ms,prompt_tokens,image,max_new_tokens).", valueName: "file"))
    var requests: String

    @Option(help: ArgumentHelp("Preset or checkpoint directory.", valueName: "preset|dir"))
    var model: String = "llava-mini"

    @OptionGroup var store: ProfileDBOptions

    @Option(help: ArgumentHelp("Cost model JSON (instead of the database's latest fit).", valueName: "file"))
    var costModel: String?

    @Option(help: ArgumentHelp(
        "Fit a cost model now from quick real op timings of --model, at idle and under these background loads (e.g. 1c,10gbps; 0 for idle only), instead of reading one.",
        valueName: "levels"))
    var quickProfile: String?

    @Option(help: ArgumentHelp("With --quick-profile: also write the fitted cost model here (reuse it with --cost-model).", valueName: "file"))
    var saveCostModel: String?

    @Option(help: ArgumentHelp("flops, profile or contention-aware.", valueName: "policy"))
    var policy: PlanningPolicy = .contentionAware

    @Option(help: ArgumentHelp("Knob kind: layers (AdaLLaVA-L) or heads (AdaLLaVA-H).", valueName: "mode"))
    var mode: PlanMode = .layers

    @Flag(help: "Virtual time with the cost model instead of the real engine.")
    var simulate = false

    @Flag(help: "Simulated: multiply each engine time by seeded noise: a draw from the whole requests the profile timed (their measured ÷ predicted), else normal with the fit's margin.")
    var noise = false

    @Option(help: ArgumentHelp("Results CSV, written as requests complete.", valueName: "file"))
    var out: String

    @Option(help: ArgumentHelp("Results SQLite file (default: --out with .sqlite).", valueName: "file"))
    var resultsDb: String?

    @Flag(help: "Live: give the planner the contention trace's level at each request's start instead of the sensor's reading (an oracle; the sensed column then holds the trace's level).")
    var oracleContention = false

    @Option(help: ArgumentHelp(
        "Contention-aware: the safety margin. measured = a high quantile of the last 50 requests' engine time ÷ prediction (live: measured; simulated: the simulated engine time), kept apart for idle and loaded, the fit's static margin until 8 are in; static = the fit's margin only.",
        valueName: "measured|static"))
    var margin: MarginSource = .measured

    @Option(help: ArgumentHelp(
        "Deadline guard: before each decoder block and decode step, compare the request's real progress with its prediction and switch blocks off when it would finish late. auto = on for contention-aware, off for profile and flops (the baselines run their plans as chosen; flops has no per-block prediction).",
        valueName: "auto|on|off"))
    var deadlineGuard: GuardSwitch = .auto

    @Option(help: ArgumentHelp("Deadline guard: extra share of the predicted remaining time kept free.", valueName: "fraction"))
    var guardSlack: Double = 0.03

    @Option(help: ArgumentHelp(
        "Deadline guard: share of each budget kept free at its end. After the last checkpoint (before the last decode step) nothing can be shed, so a request steered to end just inside its budget misses on any hiccup there.",
        valueName: "fraction"))
    var guardReserve: Double = 0.03

    @Option(help: ArgumentHelp(
        "Contention-aware, --margin measured: the quantile of the recent engine ÷ predicted ratios a plan's k is chosen with (default 0.98; 0.5 with the deadline guard, which sheds blocks when a request runs slower than that, while its cheapest plan must still fit at --floor-quantile: the guard can shed the switchable blocks, not the rest).",
        valueName: "q"))
    var marginQuantile: Double?

    @Option(help: ArgumentHelp(
        "Contention-aware with the deadline guard and --margin measured: the quantile of the recent engine ÷ predicted ratios the cheapest plan must fit at for a request to be feasible (1 = the slowest of the window).",
        valueName: "q"))
    var floorQuantile: Double = 1

    @Option(help: ArgumentHelp(
        "Contention-aware: the largest probability a request planned at idle may have of a burst beginning while it runs and making it miss even with every switchable block still ahead shed (a sensor cannot see a burst before it begins). It sums, over the bursts seen in the last --onset-window seconds (each at its heaviest load), the stretch of the run in which one like it beginning would cost the budget, divided by the window; k is lowered, or the request rejected, until it is no riskier. 0 = off.",
        valueName: "p"))
    var onsetRisk: Double = 0

    @Option(help: ArgumentHelp("--onset-risk: seconds of past bursts it learns their rate and load from.", valueName: "S"))
    var onsetWindow: Double = 300

    @Option(help: ArgumentHelp(
        "Deadline guard, last resort: when even shedding every switchable block would not bring a request in, before a prefill block it also prunes the image tokens, keeping this share: FastV's choice (the tokens the last prompt token attended to most in the block that ran), from that block on. ran_plan then ends in +fastv(K,r). 0 = never.",
        valueName: "share"))
    var guardPrune: Double = 0

    @Option(help: ArgumentHelp(
        "A request whose budget even the cheapest plan is predicted to miss: reject = record it as `rejected` and do not run it (admission control: the engine stays free for the requests behind it); run = run the cheapest plan anyway and record `infeasible`.",
        valueName: "reject|run"))
    var infeasible: InfeasibleHandling = .reject

    @Option(help: ArgumentHelp(
        "Requests run on the real engine on the quiet machine first (plans from the cheapest to the full model, after one untimed run); not results. Live (default 8): before the clock and the background load start; contention-aware learns its idle margin from them instead of starting on the fit's static one. --simulate (default 0): the simulated engine runs at their median engine ÷ predicted ratio, the machine's speed now against the profile's. 0 = none.",
        valueName: "n"))
    var warmUp: Int?

    @Option(name: .customLong("sensor"), help: ArgumentHelp(
        "--simulate: what the planner is told at a request's start. trace = the trace's level there (an oracle); live = what the live sensor would read: busy cores averaged over the last 0.2 s, under 0.15 read as idle, bandwidth unseen (the engine still runs at the trace's level).",
        valueName: "trace|live"))
    var simulatedSensor: SimulatedSensor = .trace

    @Option(help: ArgumentHelp(
        "--simulate: run the simulated engine at this multiple of the cost model's time instead of measuring it with --warm-up (e.g. to repeat a simulation: the results header records the scale it ran at).",
        valueName: "x"))
    var engineScale: Double?

    /// Warm-up requests in effect: 8 live, none simulated, unless given.
    var warmUpCount: Int { warmUp ?? (simulate ? 0 : 8) }

    @Option(help: "Engine threads.")
    var threads: Int = 2

    @Option(help: "Seed of the synthetic weights, prompts, image and noise.")
    var seed: UInt64 = 0

    mutating func validate() throws {
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let warmUp, !(0...1000).contains(warmUp) { throw ValidationError("--warm-up must be in 0…1000, got \(warmUp)") }
        if let engineScale {
            if !simulate { throw ValidationError("--engine-scale is for --simulate (a live replay runs the real engine)") }
            if !(engineScale > 0 && engineScale <= 100) { throw ValidationError("--engine-scale must be in (0, 100], got \(engineScale)") }
            if (warmUp ?? 0) > 0 { throw ValidationError("give --engine-scale or --warm-up, not both") }
        }
        if simulatedSensor == .live && !simulate { throw ValidationError("--sensor is for --simulate (a live replay senses the machine)") }
        if !(0...1).contains(guardSlack) { throw ValidationError("--guard-slack must be in [0, 1], got \(guardSlack)") }
        if !(0...0.5).contains(guardReserve) { throw ValidationError("--guard-reserve must be in [0, 0.5], got \(guardReserve)") }
        if !(0...1).contains(onsetRisk) { throw ValidationError("--onset-risk must be a probability in [0, 1], got \(onsetRisk)") }
        if !(onsetWindow >= 1 && onsetWindow <= 86400) { throw ValidationError("--onset-window must be in [1, 86400] seconds, got \(onsetWindow)") }
        if onsetRisk > 0 && policy != .contentionAware {
            throw ValidationError("--onset-risk is for --policy contention-aware (the baselines do not sense load)")
        }
        if !(0..<1).contains(guardPrune) { throw ValidationError("--guard-prune must be a share in [0, 1) of the image tokens kept (0 = off), got \(guardPrune)") }
        if guardPrune > 0 && !deadlineGuard.enabled(for: policy) { throw ValidationError("--guard-prune needs the deadline guard (--policy contention-aware, or --deadline-guard on)") }
        if !(0.5...1).contains(floorQuantile) { throw ValidationError("--floor-quantile must be in [0.5, 1], got \(floorQuantile)") }
        if let marginQuantile, !(0...1).contains(marginQuantile) { throw ValidationError("--margin-quantile must be in [0, 1], got \(marginQuantile)") }
        if deadlineGuard == .on && policy == .flops {
            throw ValidationError("--deadline-guard on needs a cost-model policy (profile or contention-aware); flops has no per-block prediction")
        }
        if costModel != nil && quickProfile != nil { throw ValidationError("give --cost-model or --quick-profile, not both") }
        if let q = quickProfile { _ = try ContentionLevel.parseList(q) }
        if saveCostModel != nil && quickProfile == nil { throw ValidationError("--save-cost-model needs --quick-profile") }
    }

    func run() throws {
        let contention = try ContentionTrace.load(URL(fileURLWithPath: trace))
        let requestTrace = try RequestTrace.load(URL(fileURLWithPath: requests))
        guard !requestTrace.requests.isEmpty else { throw CLIError(message: "\(requests): no requests") }
        let spec = try ModelSpec.resolve(model, seed: seed)
        let sqlite = resultsDb ?? ((out as NSString).deletingPathExtension + ".sqlite")
        let guardSlack = deadlineGuard.enabled(for: policy) ? self.guardSlack : nil
        // With the guard, k is planned for a typical run (the median) and the guard takes the tail.
        let quantile = marginQuantile ?? (guardSlack == nil ? 0.98 : 0.5)
        let liveMargin = policy == .contentionAware ? ", margin \(margin.rawValue)" + (margin == .measured ? " q\(quantile)" + (guardSlack == nil ? "" : ", floor q\(floorQuantile)") : "") : ""
        let controls = ReplayControls(guardSlack: guardSlack, guardReserve: guardReserve, floorQuantile: floorQuantile,
                                      rejectInfeasible: infeasible == .reject, onsetRisk: onsetRisk > 0 ? onsetRisk : nil,
                                      onsetWindowS: onsetWindow, pruneKeep: guardPrune > 0 ? guardPrune : nil)
        let guardNote = (guardSlack.map { ", deadline guard (slack \($0), reserve \(guardReserve)\(guardPrune > 0 ? ", prunes keeping \(guardPrune)" : ""))" } ?? ", no deadline guard")
            + (onsetRisk > 0 ? String(format: ", onset risk %g over %g s", onsetRisk, onsetWindow) : "")
        let comments = ["adallava replay: \(simulate ? "simulated" : "live")\(oracleContention ? " (contention from the trace, not sensed)" : ""), policy \(policy.rawValue)\(liveMargin)\(guardNote), infeasible \(infeasible.rawValue)\(warmUpCount > 0 || !simulate ? ", warm-up \(warmUpCount)" : ""), model \(model), mode \(mode.rawValue), \(threads) thread(s)",
                        "contention trace \(trace), request trace \(requests), seed \(seed)"]
        var loaded: LlavaModel?
        if quickProfile != nil || !simulate || warmUpCount > 0 {
            try spec.checkFits(contextTokens: (requestTrace.requests.map { $0.promptTokens + $0.maxNewTokens }.max() ?? 0)
                               + spec.config.imageFeatureTokens + 2)
            BLAS.setThreads(threads)
            progress("building \(model) (\(spec.origin))")
            loaded = try spec.load()
        }
        let predictor: any PlanLatencyPredicting
        if let quickProfile, let loaded {
            let (cm, report) = try QuickCostModel.fit(model: loaded, name: model, requests: requestTrace.requests, threads: threads,
                                                      levels: try ContentionLevel.parseList(quickProfile).filter { !$0.isIdle },
                                                      progress: progress)
            let within = report.kfold.all.map { String(format: "%.0f%%", 100 * $0.within10) } ?? "n/a"
            progress("quick cost model: \(within) of held-out op timings within ±10%; margin " +
                     String(format: "%.1f%% idle, %.1f%% contended", 100 * cm.marginIdle, 100 * cm.marginContended))
            if let saveCostModel {
                do { try cm.encodedJSON().write(toFile: saveCostModel, atomically: true, encoding: .utf8) } catch {
                    throw CLIError(message: "\(saveCostModel): cannot write (\(error.localizedDescription))")
                }
                progress("cost model written to \(saveCostModel)")
            }
            predictor = cm
        } else {
            predictor = try loadPredictor(config: spec.config)
        }
        if simulate {
            let planner = Planner(policy: policy, config: spec.config, layout: try spec.config.knobLayout(), mode: mode,
                                  predictor: predictor, threads: threads)
            var virtual = VirtualReplay(planner: planner, contention: contention, noise: noise, seed: seed)
            virtual.residuals = (predictor as? CostModel)?.requestCalibration
            virtual.controls = controls
            if simulatedSensor == .live { virtual.sensorWindowS = LiveReplay.sensorWindow }
            if margin == .measured { virtual.feedbackQuantile = quantile }
            if let engineScale { virtual.engineScale = engineScale }
            if let loaded, warmUpCount > 0 {
                progress("warm-up: \(warmUpCount) requests on the real engine, to scale the simulated one")
                let live = LiveReplay(model: loaded, planner: Planner(policy: policy, model: loaded, mode: mode, predictor: predictor,
                                                                      threads: threads), sensor: nil, seed: seed)
                if let ratios = try live.warmUp(requestTrace.requests, count: warmUpCount) {
                    virtual.engineScale = ratios.median
                    progress(String(format: "warm-up: engine ÷ predicted median %.2f (slowest %.2f): the simulated engine runs at %.2f×",
                                    ratios.median, ratios.max, ratios.median))
                }
            }
            var header = comments
            if engineScale != nil || warmUpCount > 0 { header[0] += String(format: ", engine scale %.3f", virtual.engineScale) }
            if simulatedSensor == .live { header[0] += ", sensor live (busy cores over the last \(LiveReplay.sensorWindow) s)" }
            let results = try ResultsStore(csvPath: out, sqlitePath: sqlite, comments: header)
            defer { results.close() }
            // Time the simulation alone, then write: the store's fsyncs are not the simulator's speed.
            let t0 = DispatchTime.now().uptimeNanoseconds
            let rows = try virtual.run(requestTrace.requests)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            progress(String(format: "simulated %d requests in %.3f s (%.0f requests/s)", rows.count, seconds, Double(rows.count) / seconds))
            try appendAll(rows, to: results)
            summarise(rows, out: out, sqlite: sqlite)
            return
        }
        guard let loaded else { return }
        BLAS.setThreads(threads)
        let planner = Planner(policy: policy, model: loaded, mode: mode, predictor: predictor, threads: threads)
        // Calibrate the sensor's bandwidth model before the load starts (it needs a quiet machine).
        let sensor = ContentionSensor()
        let results = try ResultsStore(csvPath: out, sqlitePath: sqlite, comments: comments)
        defer { results.close() }
        sensor.startSampling(window: LiveReplay.sensorWindow)
        defer { sensor.stopSampling() }
        let replay = LiveReplay(model: loaded, planner: planner, sensor: sensor, seed: seed)
        if oracleContention { replay.traceLevel = { contention.level(at: $0) } }
        if policy == .contentionAware && margin == .measured { replay.feedback = LatencyFeedback(quantile: quantile) }
        replay.controls = controls
        if warmUpCount > 0 {
            progress("warm-up: \(warmUpCount) requests on the quiet machine before the load starts")
            if let ratios = try replay.warmUp(requestTrace.requests, count: warmUpCount) {
                progress(String(format: "warm-up: engine ÷ predicted median %.2f, slowest %.2f", ratios.median, ratios.max))
            }
        }
        let duration = (requestTrace.requests.last?.t ?? 0) + 120
        let load = try BackgroundLoad.start(trace: URL(fileURLWithPath: trace), duration: duration)
        defer { _ = load.stop() }
        replay.traceClock = { load.traceSeconds() }
        let interrupts = InterruptHandler {
            progress("interrupted: stopping after the request in flight (Ctrl-C again to quit now)")
            replay.stop()
        } second: {
            _ = load.stop()
            FileHandle.standardError.write(Data("[adallava] stopped; completed rows are in \(out)\n".utf8))
            Foundation.exit(130)
        }
        defer { interrupts.cancel() }
        progress("replaying \(requestTrace.requests.count) requests live (\(policy.rawValue), \(threads) thread(s)); stress child pid \(load.pid)")
        let total = requestTrace.requests.count
        let rows = try replay.run(requestTrace.requests, onResult: { try results.append($0) }, progress: { i, row in
            if (i + 1) % 50 == 0 || i + 1 == total {
                var line = String(format: "%d/%d  t=%.1fs  last: %.0f ms of %.0f ms, k=%d/%d, sensed %@", i + 1, total, row.endS,
                                  row.latencyMs, row.budgetMs, row.knobs, row.totalKnobs, row.sensed.description)
                if let f = replay.feedback {
                    let fmt = { (x: Double?) in x.map { String(format: "%.2f", $0) } ?? "static" }
                    line += "; measured margin idle \(fmt(f.scale(at: .idle))), loaded \(fmt(f.scale(at: ContentionLevel(cpuBusyCores: 1, memBandwidthGBps: 0))))"
                }
                progress(line)
            }
        })
        let achieved = load.stop()
        progress("background load achieved \(achieved) on average")
        summarise(rows, out: out, sqlite: sqlite)
    }

    private func appendAll(_ rows: [ReplayResult], to store: ResultsStore) throws {
        try store.append(contentsOf: rows)
    }

    /// The fitted cost model: a JSON file, or the latest fit in the profile database.
    private func loadPredictor(config: LlavaConfig) throws -> any PlanLatencyPredicting {
        if let costModel {
            let text: String
            do { text = try String(contentsOfFile: costModel, encoding: .utf8) } catch {
                throw CLIError(message: "\(costModel): cannot read (\(error.localizedDescription))")
            }
            return try CostModel.decode(json: text)
        }
        guard FileManager.default.fileExists(atPath: store.db) else {
            throw CLIError(message: "\(store.db): no profile database; run `adallava profile` and `adallava fit`, or give --cost-model FILE.json, or --quick-profile LEVELS to time the model's ops now")
        }
        let db = try ProfileDatabase(path: store.db, readOnly: true)
        let device = try store.resolveDevice(db)
        return try loadFittedModel(db, device: device.id, model: model).model
    }

    private func summarise(_ rows: [ReplayResult], out: String, sqlite: String) {
        let count = { (o: Outcome) in rows.filter { $0.outcome == o.rawValue }.count }
        let rejected = count(.rejected) > 0 ? " (\(count(.rejected)) rejected unrun)" : ""
        print("\(rows.count) requests: \(count(.met)) met, \(count(.missed)) missed, \(count(.infeasible) + count(.rejected)) infeasible\(rejected) → \(out) (and \(sqlite))")
        let shed = rows.filter { $0.droppedKnobs > 0 }
        if !shed.isEmpty {
            print("deadline guard: \(shed.count) requests switched blocks off part-way (\(shed.reduce(0) { $0 + $1.droppedKnobs }) knobs in all)")
        }
        print("next: adallava validate --results \(out)")
    }
}

extension PlanningPolicy: ExpressibleByArgument {}


/// SIGINT handling for long runs: the first Ctrl-C asks politely, the second one ends now.
final class InterruptHandler: @unchecked Sendable {
    private let source: DispatchSourceSignal
    private var count = 0

    init(first: @escaping @Sendable () -> Void, second: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [unowned self] in
            count += 1
            if count == 1 { first() } else { second() }
        }
        source.resume()
    }

    func cancel() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}

/// What happens to a request no plan is predicted to fit.
enum InfeasibleHandling: String, ExpressibleByArgument, CaseIterable {
    case reject, run
}

/// Whether requests run under the deadline guard (`DeadlineGuard`).
enum GuardSwitch: String, ExpressibleByArgument, CaseIterable {
    case auto, on, off

    func enabled(for policy: PlanningPolicy) -> Bool {
        switch self {
        case .auto: return policy == .contentionAware
        case .on: return true
        case .off: return false
        }
    }
}

/// Where the live contention-aware planner's safety margin comes from.
enum MarginSource: String, ExpressibleByArgument, CaseIterable {
    case measured, `static`
}

/// `--sensor`: what a simulated planner is told of the load.
enum SimulatedSensor: String, ExpressibleByArgument, CaseIterable {
    case trace, live
}
