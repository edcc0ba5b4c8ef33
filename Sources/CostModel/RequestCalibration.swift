import AdaptiveInference
import Contention
import LLaVAModel
import Profiling

/// The cost model's end-to-end correction, fitted on whole requests the profiler timed
/// (`RequestSample`): the sums of per-op predictions to the first token and after it, times
/// their scales, are the request's predicted latency; `ratios` is how the measured requests
/// scattered around that.
///
/// Why: ops timed one at a time leave out what a real request adds between them and the
/// machine's request-to-request spread. On this 2-core VM llava-mini requests took ≈ 1.2× the
/// sum of their ops (the same in a standalone process, in `bench predict` and in a live replay),
/// and repeated identical requests spread by ±10–25%. A per-op residual margin sees neither.
public struct RequestCalibration: Codable, Sendable, Equatable {
    /// One state (idle, or under the profiled background loads).
    public struct State: Codable, Sendable, Equatable {
        /// Requests it was fitted on.
        public var count: Int
        /// Median of measured ÷ predicted time to first token (vision + prefill), and of the
        /// decode steps after it: the two multiplicative corrections. Apart, because what the
        /// ops miss differs between a prefill (compute-bound, many hand-offs between BLAS and
        /// the elementwise work) and a decode step (bandwidth-bound).
        public var prefillScale: Double
        public var decodeScale: Double
        /// Every request's measured ÷ calibrated prediction, sorted: the residual spread a
        /// simulation draws from.
        public var ratios: [Double]
        /// P95 of `ratios` − 1, never negative: the planner's safety margin.
        public var margin: Double

        enum CodingKeys: String, CodingKey {
            case count, prefillScale = "prefill_scale", decodeScale = "decode_scale", ratios, margin
        }

        /// The calibrated total of a prediction split into prefill and decode.
        public func total(prefillMs: Double, decodeMs: Double) -> Double { prefillMs * prefillScale + decodeMs * decodeScale }

        init?(_ rows: [Row]) {
            let usable = rows.filter { $0.measuredMs > 0 && $0.summedMs > 0 && $0.summedPrefillMs > 0 && $0.measuredTTFTMs > 0 }
            guard !usable.isEmpty else { return nil }
            func median(_ v: [Double]) -> Double? {
                let s = v.filter { $0.isFinite && $0 > 0 }.sorted()
                return s.isEmpty ? nil : quantile(sorted: s, 0.5)
            }
            let p = median(usable.map { $0.measuredTTFTMs / $0.summedPrefillMs }) ?? 1
            let decoding = usable.filter { $0.summedMs - $0.summedPrefillMs > 1e-9 }
            let d = median(decoding.map { ($0.measuredMs - $0.measuredTTFTMs) / ($0.summedMs - $0.summedPrefillMs) }) ?? p
            let residuals = usable.map { $0.measuredMs / ($0.summedPrefillMs * p + ($0.summedMs - $0.summedPrefillMs) * d) }
                .filter(\.isFinite).sorted()
            guard !residuals.isEmpty else { return nil }
            count = usable.count
            prefillScale = p
            decodeScale = d
            ratios = residuals
            margin = max(0, quantile(sorted: residuals, 0.95) - 1)
        }
    }

    public var idle: State?
    public var contended: State?

    enum CodingKeys: String, CodingKey { case idle, contended }

    /// The state for a request at `level` (contended falls back to idle when the profile timed
    /// no request under load).
    public func state(at level: ContentionLevel) -> State? {
        level.isIdle ? idle : (contended ?? idle)
    }

    /// One request's check against the uncalibrated model.
    public struct Row: Codable, Sendable, Equatable {
        public var plan: String
        public var contended: Bool
        public var measuredMs: Double
        public var measuredTTFTMs: Double
        /// Sum of the op predictions (before calibration), whole and to the first token.
        public var summedMs: Double
        public var summedPrefillMs: Double
        enum CodingKeys: String, CodingKey {
            case plan, contended, measuredMs = "measured_ms", measuredTTFTMs = "measured_ttft_ms"
            case summedMs = "summed_ms", summedPrefillMs = "summed_prefill_ms"
        }
    }

    /// Fits the calibration of `model` (which must carry none yet) on `samples` of its model.
    /// Requests whose plan does not parse or whose shape the model cannot predict are skipped.
    public static func fit(model: CostModel, config: LlavaConfig, samples: [RequestSample]) throws -> (RequestCalibration, [Row]) {
        var uncalibrated = model
        uncalibrated.requestCalibration = nil
        let layout = try config.knobLayout()
        var rows: [Row] = []
        for s in samples where s.model == model.model {
            let plan: ExecutionPlan?   // nil: the full model
            if s.plan == "full" { plan = nil } else if let parsed = try? ExecutionPlan(parsing: s.plan) { plan = parsed } else { continue }
            var q = PlanQuery(config: config, plan: plan, layout: layout, promptTokens: s.promptTokens, hasImage: s.hasImage,
                              newTokens: s.newTokens, threads: s.threads, contention: s.achievedContention)
            q.imageTokens = s.imageTokens
            q.latencyToken = s.latencyToken
            guard let p = try? uncalibrated.predict(q), p.totalMs > 0 else { continue }
            rows.append(Row(plan: s.plan, contended: !s.contention.isIdle, measuredMs: s.measuredMs, measuredTTFTMs: s.ttftMs,
                            summedMs: p.totalMs, summedPrefillMs: p.prefillMs))
        }
        let calibration = RequestCalibration(idle: State(rows.filter { !$0.contended }), contended: State(rows.filter(\.contended)))
        return (calibration, rows)
    }
}
