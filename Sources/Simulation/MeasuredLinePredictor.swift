import AdaptiveInference
import Contention
import CostModel
import Foundation
import LLaVAModel

/// A stop-gap predictor timed on the spot: end-to-end latency of one request shape as a line
/// in the number of enabled knobs, `intercept + slope·k`, least squares over real runs of the
/// engine at a few k (idle machine, the threads in force). It ignores prompt and generation
/// lengths other than the measured ones and has no contention term (so under it
/// `contention-aware` plans like `profile`); the margin is the largest relative residual of
/// the fit. The planner's and simulator's tests plan with it (real timings, no cost model
/// needed); replays use the fitted `CostModel` (`--db`, `--cost-model` or `--quick-profile`).
public struct MeasuredLinePredictor: PlanLatencyPredicting, Codable, Equatable {
    public var intercept: Double
    public var slopePerKnob: Double
    public var relativeMargin: Double
    public var totalKnobs: Int
    public var mode: PlanMode
    /// The (k, ms) points the line was fitted to.
    public var points: [[Double]]

    public init(points: [(k: Int, ms: Double)], totalKnobs: Int, mode: PlanMode) {
        let n = Double(points.count)
        let mk = points.map { Double($0.k) }.reduce(0, +) / n
        let mt = points.map(\.ms).reduce(0, +) / n
        let sxx = points.map { (Double($0.k) - mk) * (Double($0.k) - mk) }.reduce(0, +)
        let sxy = points.map { (Double($0.k) - mk) * ($0.ms - mt) }.reduce(0, +)
        slopePerKnob = sxx > 0 ? max(0, sxy / sxx) : 0
        intercept = mt - slopePerKnob * mk
        let fit = (intercept, slopePerKnob)
        relativeMargin = points.map { p in max(0, (p.ms - (fit.0 + fit.1 * Double(p.k))) / p.ms) }.max() ?? 0
        self.totalKnobs = totalKnobs
        self.mode = mode
        self.points = points.map { [Double($0.k), $0.ms] }
    }

    public func predict(_ q: PlanQuery) throws -> LatencyPrediction {
        let k = q.plan?.enabledKnobCount ?? totalKnobs
        let ms = intercept + slopePerKnob * Double(k)
        return LatencyPrediction(totalMs: ms, prefillMs: ms, breakdown: [], relativeMargin: relativeMargin)
    }

    /// Times `planner`'s plans at `ks` (each the fastest of `repeats` runs after a warm-up) on
    /// a request of `promptTokens` text tokens (+ image) and `newTokens` new tokens.
    public static func measure(model: LlavaModel, planner: Planner, ks: [Int], promptTokens: Int, newTokens: Int,
                               repeats: Int = 3) throws -> MeasuredLinePredictor {
        let replay = LiveReplay(model: model, planner: planner, sensor: nil)
        let ids = replay.prompt(textTokens: promptTokens, hasImage: true, request: 0)
        let pixels = model.syntheticPixels(seed: 0)
        var points: [(k: Int, ms: Double)] = []
        for k in ks {
            let options = GenerationOptions(maxNewTokens: newTokens, stopAtEOS: false,
                                            adaptive: AdaptiveOptions(mode: planner.mode, plan: planner.plan(k: k)))
            _ = try model.generate(prompt: ids, pixels: pixels, options: options)
            var best = Double.infinity
            for _ in 0..<max(1, repeats) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try model.generate(prompt: ids, pixels: pixels, options: options)
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            points.append((k, best))
        }
        return MeasuredLinePredictor(points: points, totalKnobs: planner.totalKnobs, mode: planner.mode)
    }
}
