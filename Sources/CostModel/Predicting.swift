import AdaptiveInference
import Contention
import LLaVAModel

/// One end-to-end request to predict: a model's shapes, the plan it would run, prompt and
/// generation lengths, threads and the background load at the time.
public struct PlanQuery: Sendable, Equatable {
    public var config: LlavaConfig
    /// nil = the full model (every knob on).
    public var plan: ExecutionPlan?
    public var layout: KnobLayout
    /// Text tokens of the prompt (the image's tokens come from `config`).
    public var promptTokens: Int
    /// Whether an image is in the prompt (vision tower + projector run).
    public var hasImage: Bool
    /// Generated tokens (decode steps = newTokens − 1; the first comes from prefill).
    public var newTokens: Int
    public var threads: Int
    public var contention: ContentionLevel
    /// Visual tokens the decoder sees after PruMerge / PruMerge+ when known (the engine's
    /// `AdaptiveDecision.imageTokensAfterSelection`); nil = the typical count (see
    /// `RequestWalk.typicalImageTokens`). Ignored for other token selections.
    public var imageTokens: Int? = nil
    /// Whether the scheduler's latency token is appended to the prompt (a budget strictly
    /// between no and all knobs, with scheduler weights): one more token through every layer.
    public var latencyToken: Bool = false

    public init(config: LlavaConfig, plan: ExecutionPlan?, layout: KnobLayout, promptTokens: Int, hasImage: Bool = true,
                newTokens: Int, threads: Int, contention: ContentionLevel = .idle) {
        self.config = config; self.plan = plan; self.layout = layout; self.promptTokens = promptTokens
        self.hasImage = hasImage; self.newTokens = newTokens; self.threads = threads; self.contention = contention
    }
}

/// Predicted time of one op kind within a request (summed over its layers and steps).
public struct OpPrediction: Codable, Sendable, Hashable {
    public var op: OpName
    public var phase: Phase
    /// How many times the op runs (layers × steps).
    public var count: Int
    public var ms: Double

    public init(op: OpName, phase: Phase, count: Int, ms: Double) {
        self.op = op; self.phase = phase; self.count = count; self.ms = ms
    }
}

/// An end-to-end latency prediction with its per-op breakdown.
public struct LatencyPrediction: Codable, Sendable, Hashable {
    /// Predicted end-to-end latency (prefill + every decode step), ms.
    public var totalMs: Double
    /// Time to first token (vision + projector + prefill + lm_head), ms.
    public var prefillMs: Double
    public var breakdown: [OpPrediction]
    /// Safety margin from the model's held-out residuals (upper quantile), as a fraction of
    /// `totalMs`: plan with `totalMs · (1 + relativeMargin)`.
    public var relativeMargin: Double

    public init(totalMs: Double, prefillMs: Double, breakdown: [OpPrediction], relativeMargin: Double) {
        self.totalMs = totalMs; self.prefillMs = prefillMs; self.breakdown = breakdown; self.relativeMargin = relativeMargin
    }

    enum CodingKeys: String, CodingKey {
        case totalMs = "total_ms", prefillMs = "prefill_ms", breakdown, relativeMargin = "relative_margin"
    }
}

/// Anything that predicts a request's latency: the fitted cost model, or (in tests) a formula.
/// The planner and the virtual-time replay see only this.
public protocol PlanLatencyPredicting: Sendable {
    func predict(_ query: PlanQuery) throws -> LatencyPrediction
}
