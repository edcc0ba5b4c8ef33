import AdaptiveInference
import Contention
import Foundation
import LLaVAModel
import TensorKernels

/// One whole request measured end to end at profile time: what the sum of per-op timings
/// must be checked against. Ops timed one at a time miss what a real request adds between
/// them (allocation, the BLAS threads' hand-offs, caches the other ops evict), and the
/// machine's request-to-request spread; these rows measure both, and `fit` turns them into
/// the cost model's end-to-end calibration.
public struct RequestSample: Codable, Sendable, Hashable {
    public var model: String
    /// The plan the engine ran (`ExecutionPlan.description`), or `full`.
    public var plan: String
    /// Text tokens of the prompt (the image, when present, adds its features).
    public var promptTokens: Int
    public var hasImage: Bool
    /// Image features left after token selection (nil without an image).
    public var imageTokens: Int?
    /// Whether the scheduler's latency token was in the sequence.
    public var latencyToken: Bool
    public var newTokens: Int
    public var threads: Int
    /// Background load asked for, and what the generator achieved over the requests.
    public var contention: ContentionLevel
    public var achievedContention: ContentionLevel
    /// Wall time of the whole request (vision, prefill, decode), and to its first token.
    public var measuredMs: Double
    public var ttftMs: Double

    public init(model: String, plan: String, promptTokens: Int, hasImage: Bool, imageTokens: Int?, latencyToken: Bool,
                newTokens: Int, threads: Int, contention: ContentionLevel, achievedContention: ContentionLevel,
                measuredMs: Double, ttftMs: Double) {
        self.model = model; self.plan = plan; self.promptTokens = promptTokens; self.hasImage = hasImage
        self.imageTokens = imageTokens; self.latencyToken = latencyToken; self.newTokens = newTokens; self.threads = threads
        self.contention = contention; self.achievedContention = achievedContention
        self.measuredMs = measuredMs; self.ttftMs = ttftMs
    }

    enum CodingKeys: String, CodingKey {
        case model, plan, promptTokens = "prompt_tokens", hasImage = "has_image", imageTokens = "image_tokens"
        case latencyToken = "latency_token", newTokens = "new_tokens", threads, contention
        case achievedContention = "achieved_contention", measuredMs = "measured_ms", ttftMs = "ttft_ms"
    }
}

/// What to run for one request: a relative budget or an explicit plan, in L or H mode.
public struct RequestCase: Sendable, Equatable {
    /// A relative budget (the paper's knob fraction) or an explicit plan.
    public var budget: Double?
    public var plan: ExecutionPlan?
    public var mode: PlanMode
    public var tokenSelection: TokenSelection
    /// Text tokens of the prompt (plus one image when `hasImage`).
    public var promptTokens: Int
    public var newTokens: Int
    public var hasImage: Bool = true

    /// `count` random requests from `seed`: half budgets (L or H mode, static knob order), half
    /// random explicit plans, a third of them with FastV; prompt lengths in `prompt`, new
    /// tokens in `newTokens`.
    public static func random(layout: KnobLayout, count: Int, seed: UInt64, prompt: ClosedRange<Int>,
                              newTokens: ClosedRange<Int>, hasImage: Bool = true) -> [RequestCase] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let mode: PlanMode = rng.next() % 2 == 0 ? .layers : .heads
            let selection: TokenSelection = hasImage && i % 3 == 2 && layout.totalLayers > 1
                ? .fastV(k: min(2, layout.totalLayers - 1), keepRatio: 0.5) : .none
            let p = Int.random(in: prompt, using: &rng), t = Int.random(in: newTokens, using: &rng)
            if i % 2 == 0 {
                let budget = ((0.5 + 0.5 * rng.unit()) * 100).rounded() / 100
                return RequestCase(budget: budget, plan: nil, mode: mode, tokenSelection: selection, promptTokens: p,
                                   newTokens: t, hasImage: hasImage)
            }
            let n = layout.knobCount(mode)
            let knobs = (0..<n).filter { _ in rng.unit() < 0.3 + 0.6 * Double(i) / Double(max(1, count)) }
            let plan = ExecutionPlan.enabling(knobs, layout: layout, mode: mode, tokenSelection: selection)
            return RequestCase(budget: nil, plan: plan, mode: mode, tokenSelection: selection, promptTokens: p,
                               newTokens: t, hasImage: hasImage)
        }
    }

    /// The engine options that run this case: greedy, exactly `newTokens` new tokens.
    public var options: GenerationOptions {
        GenerationOptions(maxNewTokens: newTokens, stopAtEOS: false,
                          adaptive: AdaptiveOptions(budget: budget, mode: mode, plan: plan, tokenSelection: tokenSelection))
    }
}

/// Runs whole requests through the engine and times them: the profile's end-to-end rows.
public enum RequestProfiler {
    /// A deterministic prompt of `textTokens` ids with the image token second (when present).
    public static func prompt(config: LlavaConfig, textTokens: Int, hasImage: Bool, rng: inout SplitMix64) -> [Int] {
        let vocab = config.textConfig.vocabSize, image = config.imageTokenIndex
        var ids = (0..<max(1, textTokens)).map { _ in Int(rng.next() % UInt64(vocab)) }.map { $0 == image ? 0 : $0 }
        if hasImage { ids.insert(image, at: min(1, ids.count)) }
        return ids
    }

    /// Runs each case ONCE (after one untimed warm-up): a request in service runs once, so the
    /// spread between requests is part of what is measured. `achieved` is read after the last
    /// request (the background load over the whole batch). Stops early, returning what is done,
    /// when `stop()` says so.
    public static func measure(model: LlavaModel, name: String, cases: [RequestCase], threads: Int,
                               contention: ContentionLevel, achieved: () -> ContentionLevel, seed: UInt64 = 0,
                               stop: () -> Bool = { false }, progress: ((Int, RequestSample) -> Void)? = nil) throws -> [RequestSample] {
        let pixels = model.syntheticPixels(seed: seed)
        var rng = SplitMix64(seed: seed &+ 1)
        if let first = cases.first {
            _ = try model.generate(prompt: prompt(config: model.config, textTokens: first.promptTokens, hasImage: first.hasImage, rng: &rng),
                                   pixels: first.hasImage ? pixels : nil, options: first.options)
        }
        var out: [RequestSample] = []
        for c in cases {
            if stop() { break }
            let ids = prompt(config: model.config, textTokens: c.promptTokens, hasImage: c.hasImage, rng: &rng)
            let start = DispatchTime.now().uptimeNanoseconds
            let r = try model.generate(prompt: ids, pixels: c.hasImage ? pixels : nil, options: c.options)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            let s = RequestSample(model: name, plan: r.adaptive?.plan.description ?? "full", promptTokens: c.promptTokens,
                                  hasImage: c.hasImage, imageTokens: r.adaptive?.imageTokensAfterSelection,
                                  latencyToken: r.adaptive?.latencyToken ?? false, newTokens: r.tokens.count, threads: threads,
                                  contention: contention, achievedContention: .idle, measuredMs: ms,
                                  ttftMs: r.timings.timeToFirstTokenMs)
            out.append(s)
            progress?(out.count, s)
        }
        let load = achieved()
        return out.map { var s = $0; s.achievedContention = load; return s }
    }
}
