import ArgumentParser
import CostModel
import Foundation
import LLaVAModel
import Profiling
import ProfileStore
import TensorKernels

/// `adallava bench predict`: the cost model's predictions against the real engine.
struct BenchPredict: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Run random plans/budgets/prompt lengths through the engine and compare measured with predicted latency.",
        discussion: """
        Draws --count requests from --seed: half relative budgets, half random explicit plans \
        (layers or heads mode), every third with FastV, prompt lengths and new-token counts \
        from the given ranges, each with one synthetic image. Runs each through the same path \
        as `adallava run` (greedy, exactly the asked new tokens, synthetic preset weights), \
        after one untimed warm-up, --repeats times (the median run is compared), and predicts it from the latest fitted cost model of this \
        device and model with the plan the engine actually ran. Prints a per-request table and \
        the share within ±10% and MAPE of end-to-end latency and time to first token side by \
        side (fractions).

        Measured times are wall-clock on this machine as it is: close other work first.

        EXAMPLE
          adallava bench predict --db profile.sqlite --model tinyllava-1.1b --count 30 --seed 1
        """
    )

    @OptionGroup var store: ProfileDBOptions

    @Option(help: ArgumentHelp("Preset (synthetic weights) or checkpoint directory.", valueName: "preset|dir"))
    var model: String = "tinyllava-1.1b"

    @Option(help: "Requests to run.")
    var count: Int = 30

    @Option(help: "Seed of the random requests.")
    var seed: UInt64 = 1

    @Option(help: "Runs per request; the median run is compared (default 3).")
    var repeats: Int = 3

    @Option(help: "Engine threads (default: all cores).")
    var threads: Int?

    @Option(help: "Shortest and longest prompt (text tokens), e.g. 16,256.")
    var promptRange: String = "16,256"

    @Option(help: "Fewest and most new tokens, e.g. 2,16.")
    var newTokensRange: String = "2,16"

    @OptionGroup var output: OutputOptions

    mutating func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
        if repeats < 1 { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
        _ = try range(promptRange, option: "--prompt-range")
        _ = try range(newTokensRange, option: "--new-tokens-range")
    }

    private func range(_ text: String, option: String) throws -> ClosedRange<Int> {
        let v = try parseIntList(text, option: option)
        guard v.count == 2, v[0] >= 1, v[0] <= v[1] else { throw ValidationError("\(option) must be MIN,MAX with 1 ≤ MIN ≤ MAX, got '\(text)'") }
        return v[0]...v[1]
    }

    func run() throws {
        reportBLASKernels()
        let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
        let db = try ProfileDatabase(path: store.db, readOnly: true)
        let device = try store.resolveDevice(db)
        let cm = try loadFittedModel(db, device: device.id, model: model)
        let spec = try ModelSpec.resolve(model)
        let prompts = try range(promptRange, option: "--prompt-range"), news = try range(newTokensRange, option: "--new-tokens-range")
        try spec.checkFits(contextTokens: prompts.upperBound + spec.config.imageFeatureTokens + news.upperBound + 1)
        progress("building \(model) (\(spec.origin))")
        let engine = try spec.load()
        BLAS.setThreads(threads)
        let cases = PredictBenchmark.randomCases(layout: engine.layout, count: count, seed: seed, prompt: prompts, newTokens: news)
        let rows = try PredictBenchmark.run(model: engine, predictor: cm.model, cases: cases, threads: threads, seed: seed,
                                              repeats: repeats) { done in
            progress("request \(done)/\(count)")
        }
        let summary = PredictBenchmarkSummary(rows)
        if output.json {
            print(try jsonString(BenchPredictJSON(device: device.id, model: model, fittedModelID: cm.id, threads: threads,
                                                  provenance: Provenance.current(threads: threads), summary: summary, cases: rows)))
            return
        }
        let table = rows.map { r in
            [String(r.index), r.budget.map { String(format: "%.2f", $0) } ?? "-", r.plan.count > 40 ? String(r.plan.prefix(39)) + "…" : r.plan,
             "\(r.promptTokens)", "\(r.newTokens)", String(format: "%.1f", r.measuredMs), String(format: "%.1f", r.predictedMs),
             String(format: "%+.1f%%", 100 * r.error), String(format: "%.1f", r.measuredTTFTMs),
             String(format: "%.1f", r.predictedTTFTMs), String(format: "%+.1f%%", 100 * r.ttftError)]
        }
        print(markdownTable(header: ["#", "budget", "plan", "prompt", "new", "measured ms", "predicted ms", "error",
                                     "measured TTFT", "predicted TTFT", "TTFT error"], rows: table))
        print("")
        print(markdownTable(header: ["", "requests", "within ±10%", "MAPE", "P95 |error|"], rows: [
            ["end to end", "\(summary.cases)", pct(summary.total?.within10), pct(summary.total?.mape), pct(summary.total?.p95)],
            ["time to first token", "\(summary.cases)", pct(summary.ttft?.within10), pct(summary.ttft?.mape), pct(summary.ttft?.p95)],
        ]))
        print("\n" + Provenance.current(threads: threads).csvComment.replacingOccurrences(of: "# ", with: ""))
    }
}

struct BenchPredictJSON: Encodable {
    var device: String
    var model: String
    var fittedModelID: Int64
    var threads: Int
    var provenance: Provenance
    var summary: PredictBenchmarkSummary
    var cases: [PredictCaseResult]
    enum CodingKeys: String, CodingKey {
        case device, model, fittedModelID = "fitted_model_id", threads, provenance, summary, cases
    }
}
