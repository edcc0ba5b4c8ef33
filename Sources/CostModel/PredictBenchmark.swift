import AdaptiveInference
import Contention
import Foundation
import LLaVAModel
import Profiling
import TensorKernels

/// One request of the predict-vs-run benchmark: what to run (the profiler's request case).
public typealias PredictCaseSpec = RequestCase

/// One measured-vs-predicted row of `bench predict`.
public struct PredictCaseResult: Codable, Sendable, Equatable {
    public var index: Int
    public var plan: String
    public var budget: Double?
    public var promptTokens: Int
    public var newTokens: Int
    public var measuredMs: Double
    public var predictedMs: Double
    public var measuredTTFTMs: Double
    public var predictedTTFTMs: Double
    /// `predicted/measured − 1` of the end-to-end latency.
    public var error: Double
    public var ttftError: Double

    enum CodingKeys: String, CodingKey {
        case index, plan, budget, promptTokens = "prompt_tokens", newTokens = "new_tokens"
        case measuredMs = "measured_ms", predictedMs = "predicted_ms", measuredTTFTMs = "measured_ttft_ms"
        case predictedTTFTMs = "predicted_ttft_ms", error, ttftError = "ttft_error"
    }
}

/// The benchmark's summary: end-to-end and time-to-first-token error side by side.
public struct PredictBenchmarkSummary: Codable, Sendable, Equatable {
    public var cases: Int
    public var total: ErrorMetrics?
    public var ttft: ErrorMetrics?

    public init(_ rows: [PredictCaseResult]) {
        cases = rows.count
        total = ErrorMetrics(relativeErrors: rows.map(\.error))
        ttft = ErrorMetrics(relativeErrors: rows.map(\.ttftError))
    }
}

/// Runs the real engine on random requests and compares each measured latency with a
/// predictor's: the end-to-end check of the cost model.
public enum PredictBenchmark {
    /// `count` random requests from `seed` (see `RequestCase.random`).
    public static func randomCases(layout: KnobLayout, count: Int, seed: UInt64,
                                   prompt: ClosedRange<Int>, newTokens: ClosedRange<Int>) -> [PredictCaseSpec] {
        RequestCase.random(layout: layout, count: count, seed: seed, prompt: prompt, newTokens: newTokens)
    }

    /// Runs every case through `model.generate` (synthetic image, the plan or budget, greedy
    /// decoding of exactly `newTokens`) after one untimed warm-up, `repeats` times (the median
    /// run counts: a shared machine has spikes), and predicts each with the plan the engine
    /// actually ran. The caller sets the BLAS thread count to `threads`.
    public static func run(model: LlavaModel, predictor: any PlanLatencyPredicting, cases: [PredictCaseSpec],
                           threads: Int, contention: ContentionLevel = .idle, seed: UInt64 = 0, repeats: Int = 1,
                           progress: ((Int) -> Void)? = nil) throws -> [PredictCaseResult] {
        let pixels = model.syntheticPixels(seed: seed)
        var rng = SplitMix64(seed: seed &+ 1)
        func prompt(_ n: Int) -> [Int] { RequestProfiler.prompt(config: model.config, textTokens: n, hasImage: true, rng: &rng) }
        if let first = cases.first {   // warm-up: page in weights, grow caches
            _ = try model.generate(prompt: prompt(first.promptTokens), pixels: pixels, options: first.options)
        }
        var out: [PredictCaseResult] = []
        for (i, c) in cases.enumerated() {
            let ids = prompt(c.promptTokens)
            var runs: [(ms: Double, result: GenerationResult)] = []
            for _ in 0..<max(1, repeats) {
                let start = DispatchTime.now()
                let r = try model.generate(prompt: ids, pixels: pixels, options: c.options)
                runs.append((Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6, r))
            }
            runs.sort { $0.ms < $1.ms }
            let (measured, r) = runs[runs.count / 2]
            let plan = r.adaptive?.plan
            var q = PlanQuery(config: model.config, plan: plan, layout: model.layout, promptTokens: c.promptTokens,
                              hasImage: true, newTokens: r.tokens.count, threads: threads, contention: contention)
            q.imageTokens = r.adaptive?.imageTokensAfterSelection
            q.latencyToken = r.adaptive?.latencyToken ?? false
            let p = try predictor.predict(q)
            out.append(PredictCaseResult(index: i, plan: plan?.description ?? "full", budget: c.budget,
                                         promptTokens: c.promptTokens, newTokens: r.tokens.count,
                                         measuredMs: measured, predictedMs: p.totalMs,
                                         measuredTTFTMs: r.timings.timeToFirstTokenMs, predictedTTFTMs: p.prefillMs,
                                         error: p.totalMs / measured - 1,
                                         ttftError: p.prefillMs / r.timings.timeToFirstTokenMs - 1))
            progress?(i + 1)
        }
        return out
    }
}
