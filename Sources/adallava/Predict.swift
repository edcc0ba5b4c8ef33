import AdaptiveInference
import ArgumentParser
import Contention
import CostModel
import Foundation
import LLaVAModel
import ProfileStore

/// `adallava predict`: a request's latency from the stored cost model, without running it.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict a request's end-to-end latency and time to first token from the fitted cost model.",
        discussion: """
        Walks the request as the engine runs it — vision embeddings and the vision layers LLaVA \
        uses, the projector, the prompt's embedding, every decoder layer the plan runs over the \
        prompt (attention with the plan's active heads, MLP with its active neurons; a skipped \
        block costs nothing; FastV shrinks the sequence from layer K on, PruMerge the image \
        tokens), lm_head of the last position, then --new-tokens − 1 decode steps over a \
        growing KV cache — and sums each op's prediction from the latest model `adallava fit` \
        stored for this device and model.

        --budget B is turned into a plan as the engine does: k = floor(L·b) − prefix knobs (see \
        `adallava plan`), the earliest k (or the calibration file's order); with scheduler \
        weights the engine picks which k from the input and appends a latency token, which is \
        counted. The margin line is the held-out P95 shortfall the planner adds.

        PruMerge keeps an image-dependent number of tokens; the prediction assumes the typical \
        5.5% (PruMerge) or 25% (PruMerge+) of them.

        EXAMPLES
          adallava predict --db profile.sqlite --model tinyllava-1.1b --budget 0.6 --prompt-tokens 64 --new-tokens 16
          adallava predict --model tinyllava-1.1b --plan L:11110000111 --prompt-tokens 200 --new-tokens 32 --contention 1c+10gbps --json
        """
    )

    @OptionGroup var store: ProfileDBOptions

    @Option(help: ArgumentHelp("Model the cost model was fitted for (preset name or checkpoint directory).", valueName: "preset|dir"))
    var model: String

    @OptionGroup(title: "Adaptive execution") var adaptiveFlags: AdaptiveFlags

    @Option(help: "Text tokens of the prompt (the image's tokens come from the config).")
    var promptTokens: Int

    @Option(help: "Tokens to generate (decode steps = new tokens − 1).")
    var newTokens: Int

    @Option(help: "Engine threads (a thread count the profile measured; default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("Background load: 0, Nc (busy cores), Mgbps (memory traffic) or Nc+Mgbps.", valueName: "level"))
    var contention: String = "0"

    @Flag(help: "A text-only prompt (no vision tower, no projector).")
    var noImage = false

    @OptionGroup var output: OutputOptions

    mutating func validate() throws {
        if promptTokens < 1 { throw ValidationError("--prompt-tokens must be at least 1, got \(promptTokens)") }
        if newTokens < 1 { throw ValidationError("--new-tokens must be at least 1, got \(newTokens)") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
    }

    func run() throws {
        let level = try ContentionLevel.parse(contention)
        let db = try ProfileDatabase(path: store.db, readOnly: true)
        let device = try store.resolveDevice(db)
        let cm = try loadFittedModel(db, device: device.id, model: model)
        let spec = try ModelSpec.resolve(model)
        let layout = try spec.config.knobLayout()
        let selection = try adaptiveFlags.selection()
        var plan: ExecutionPlan?, latencyToken = false
        if let text = adaptiveFlags.plan {
            var p = try ExecutionPlan(parsing: text)
            if p.tokenSelection == .none { p.tokenSelection = selection }
            plan = p
        } else if let budget = adaptiveFlags.budget {
            let ranking = try KnobRanking.load(from: spec.weights, config: spec.config, layout: layout, origin: spec.origin,
                                               calibrationPath: adaptiveFlags.calibration)
            (plan, latencyToken) = try BudgetPlan.resolve(budget: budget, mode: adaptiveFlags.mode, tokenSelection: selection,
                                                          layout: layout, ranking: ranking)
        } else if selection != .none {
            plan = .full(layout, mode: .layers, tokenSelection: selection)
        }
        var query = PlanQuery(config: spec.config, plan: plan, layout: layout, promptTokens: promptTokens, hasImage: !noImage,
                              newTokens: newTokens, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
                              contention: level)
        query.latencyToken = latencyToken
        let p = try cm.model.predict(query)
        if !level.isIdle, cm.model.ops.allSatisfy({ $0.contendedPoints == 0 }) {
            progress("note: the profile has no contended points; this prediction ignores the background load")
        }
        let extrapolated = try cm.model.extrapolations(query)
        for line in extrapolated.prefix(5) { progress("extrapolates: \(line)") }
        let report = PredictReport(device: device.id, model: model, fittedModelID: cm.id, plan: plan?.description ?? "full",
                                   budget: adaptiveFlags.plan == nil ? adaptiveFlags.budget : nil,
                                   latencyToken: latencyToken, promptTokens: promptTokens, newTokens: newTokens,
                                   threads: query.threads, contention: level.description, prediction: p,
                                   extrapolates: extrapolated)
        if output.json {
            print(try jsonString(report))
            return
        }
        print("\(model) on \(device.id), plan \(report.plan)\(latencyToken ? " (+ latency token)" : ""), \(promptTokens) prompt tokens\(noImage ? "" : " + image"), \(newTokens) new tokens, \(query.threads) thread(s), contention \(level)")
        let rows = p.breakdown.map { b in
            [b.op.rawValue, b.phase.rawValue, "\(b.count)", String(format: "%.2f", b.ms),
             String(format: "%.1f%%", p.totalMs > 0 ? 100 * b.ms / p.totalMs : 0)]
        }
        print(markdownTable(header: ["op", "phase", "count", "ms", "share"], rows: rows))
        if let c = cm.model.requestCalibration?.state(at: level) {
            print(String(format: "calibrated end to end: the ops' sum × %.3f to the first token, × %.3f after it, as %d whole requests measured %@ (margin from their spread)",
                         c.prefillScale, c.decodeScale, c.count, level.isIdle ? "at idle" : "under load"))
        }
        print(String(format: "time to first token %.1f ms, end to end %.1f ms; margin %.1f%% → plan for %.1f ms",
                     p.prefillMs, p.totalMs, 100 * p.relativeMargin, p.totalMs * (1 + p.relativeMargin)))
    }
}

struct PredictReport: Encodable {
    var device: String
    var model: String
    var fittedModelID: Int64
    var plan: String
    var budget: Double?
    var latencyToken: Bool
    var promptTokens: Int
    var newTokens: Int
    var threads: Int
    var contention: String
    var prediction: LatencyPrediction
    /// Ops whose shape or load lies outside the profile (the model extrapolates there).
    var extrapolates: [String]
    enum CodingKeys: String, CodingKey {
        case device, model, fittedModelID = "fitted_model_id", plan, budget, latencyToken = "latency_token"
        case promptTokens = "prompt_tokens", newTokens = "new_tokens", threads, contention, prediction, extrapolates
    }
}

/// The latest fitted cost model of `model` on `device`, decoded.
func loadFittedModel(_ db: ProfileDatabase, device: String, model: String) throws -> (model: CostModel, id: Int64) {
    guard let record = try db.latestFittedModel(device: device, model: model) else {
        throw CLIError(message: "no fitted cost model of \(model) on \(device) in \(db.path): run `adallava fit --db \(db.path) --device \(device) --model \(model)` first")
    }
    return (try CostModel.decode(json: String(decoding: record.json, as: UTF8.self)), record.id)
}
