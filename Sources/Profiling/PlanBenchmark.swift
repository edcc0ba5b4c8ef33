import AdaptiveInference
import LLaVAModel
import TensorKernels

/// One adaptive-plan measurement: the schema behind `bench plans`' table, CSV and JSON.
public struct PlanBenchmarkRow: Codable, Sendable {
    public var model: String
    public var mode: String
    public var budget: Double
    public var tokenSelection: String
    /// `copy` or `strided` (how partly-on H blocks ran).
    public var slicing: String
    public var plan: String
    public var k: Int
    public var knobs: Int
    public var ranking: String
    public var promptTokens: Int
    public var threads: Int
    public var repeats: Int
    /// Prefill of the language model (prefix, plan choice, remaining blocks, `lm_head`).
    public var medianMs: Double
    public var minMs: Double
    public var maxMs: Double
    /// Share of the full model's prefill FLOPs this plan executes.
    public var flopsFraction: Double
    /// Median time over the full plan's median time, measured in the same run.
    public var timeFraction: Double

    enum CodingKeys: String, CodingKey {
        case model, mode, budget, tokenSelection = "token_selection", slicing, plan, k, knobs, ranking
        case promptTokens = "prompt_tokens", threads, repeats
        case medianMs = "median_ms", minMs = "min_ms", maxMs = "max_ms"
        case flopsFraction = "flops_fraction", timeFraction = "time_fraction"
    }

    public static let columns = ["mode", "budget", "token_selection", "slicing", "k", "plan", "median_ms", "min_ms", "max_ms",
                                 "flops_fraction", "time_fraction", "time_minus_flops"]

    public var fields: [String] {
        [mode, fmt(budget, 2), tokenSelection.isEmpty ? "none" : tokenSelection, slicing, "\(k)/\(knobs)", plan,
         fmt(medianMs, 1), fmt(minMs, 1), fmt(maxMs, 1), fmt(flopsFraction, 3), fmt(timeFraction, 3),
         fmt(timeFraction - flopsFraction, 3)]
    }
}

/// Times the prefill of one image prompt under budgets, modes and token selections, next to
/// the FLOPs fraction each plan keeps: how far measured time departs from the paper's cost.
public struct PlanBenchmark {
    public let model: LlavaModel
    public let label: String
    /// `[1, image token, text…]` of `promptTokens` tokens once expanded.
    public let prompt: [Int]
    public let features: Tensor

    /// Encodes `pixels` once; the prompt holds one image plus text up to `promptTokens`.
    public init(model: LlavaModel, label: String, pixels: Tensor, promptTokens: Int) {
        self.model = model
        self.label = label
        features = model.projector(model.vision.features(pixels))
        let text = max(1, promptTokens - features.rows)
        let vocab = min(model.config.textConfig.vocabSize, model.config.imageTokenIndex)
        prompt = [1, model.config.imageTokenIndex] + (1..<text).map { 3 + ($0 * 7919) % (vocab - 3) }
    }

    /// Measures one configuration: a warm-up, then `repeats` prefills.
    public func run(_ adaptive: AdaptiveOptions, threads: Int, repeats: Int, progress: (String) -> Void) throws
        -> (decision: AdaptiveDecision, times: Summary, tokens: Int) {
        BLAS.setThreads(threads)
        var samples: [Double] = []
        var decision: AdaptiveDecision?
        var tokens = 0
        for i in 0...repeats {
            let r = try model.generate(prompt: prompt, pixels: nil, projectedFeatures: features,
                                       options: GenerationOptions(maxNewTokens: 1, adaptive: adaptive))
            decision = r.adaptive
            tokens = r.promptTokens
            if i > 0 { samples.append(r.timings.prefillMs) }
            progress("\(adaptive.mode.rawValue) budget \(adaptive.budget ?? 1) \(adaptive.tokenSelection) \(adaptive.slicing.rawValue): \(i == 0 ? "warm-up" : "\(i)/\(repeats)") \(fmt(r.timings.prefillMs, 1)) ms")
        }
        return (decision!, Summary(samples), tokens)
    }

    /// Measures `adaptive` and returns its row; `baselineMs` is the full plan's median prefill
    /// in this run (nil: this row is the baseline).
    public func row(_ adaptive: AdaptiveOptions, threads: Int, repeats: Int, baselineMs: Double?,
                    progress: (String) -> Void) throws -> PlanBenchmarkRow {
        let (decision, times, tokens) = try run(adaptive, threads: threads, repeats: repeats, progress: progress)
        return PlanBenchmarkRow(
            model: label, mode: adaptive.mode.rawValue, budget: adaptive.budget ?? 1,
            tokenSelection: adaptive.tokenSelection.description, slicing: adaptive.slicing.rawValue,
            plan: decision.plan.description,
            k: decision.enabledKnobs, knobs: decision.knobs, ranking: decision.ranking, promptTokens: tokens,
            threads: threads, repeats: repeats, medianMs: times.median, minMs: times.min, maxMs: times.max,
            flopsFraction: flopsFraction(decision, tokens: tokens), timeFraction: times.median / (baselineMs ?? times.median))
    }

    /// The FLOPs fraction of `decision`'s plan against the full model on the same prompt.
    public func flopsFraction(_ decision: AdaptiveDecision, tokens: Int) -> Double {
        let t = model.config.textConfig
        let planned = t.prefillFLOPs(plan: decision.plan, layout: model.layout, tokens: tokens,
                                     imageTokens: features.rows, extraTokens: decision.latencyToken ? 1 : 0)
        return planned / t.prefillFLOPs(plan: nil, layout: model.layout, tokens: tokens, imageTokens: features.rows)
    }
}
