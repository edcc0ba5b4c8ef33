import AdaptiveInference
import Contention
import CostModel
import Foundation
import LLaVAModel
import Profiling

extension LiveReplay {
    /// Runs `count` timed requests (after one untimed) on the quiet machine, before the
    /// replay's clock and background load start, with plans spread from the cheapest to the
    /// full model, and records each one's engine ÷ predicted ratio in `feedback`'s idle window.
    ///
    /// Why: without it the first `LatencyFeedback.minimumSamples` idle requests of a replay
    /// plan on the fit's static margin with the guard's prior at 1, and the first request also
    /// pays the BLAS threads' and caches' first touch. In the stop-12 llava-mini replays, two of
    /// the contention-aware run's misses were request 0 and request 16, both in that window.
    /// The shapes are the replay's first requests' (prompt length, image, new tokens), so the
    /// ratios are of the work the replay will ask for; the warm-up's rows are not results.
    /// Returns the engine ÷ predicted ratios it measured (nil when none ran).
    @discardableResult
    public func warmUp(_ requests: [TraceRequest], count: Int) throws -> Summary? {
        guard count > 0, !requests.isEmpty else { return nil }
        let pixels = model.syntheticPixels(seed: seed)
        let n = planner.totalKnobs
        var ratios: [Double] = []
        // Run 0 (the full model) pays the first touch of weights and threads: timed by no one.
        for i in 0...count {
            if isStopped { break }
            let r = requests[i % requests.count]
            let hasImage = r.image != "none"
            // k from the cheapest plan to the full model, evenly over the timed runs.
            let k = i == 0 || count == 1 ? n : ((i - 1) * n + (count - 1) / 2) / (count - 1)
            let predicted = try planner.predict(k: k, promptTokens: r.promptTokens, hasImage: hasImage, newTokens: r.maxNewTokens,
                                                contention: .idle).totalMs
            let ids = prompt(textTokens: r.promptTokens, hasImage: hasImage, request: 1_000_000 + i)
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try model.generate(prompt: ids, pixels: hasImage ? pixels : nil, options: GenerationOptions(
                maxNewTokens: r.maxNewTokens, stopAtEOS: false, adaptive: AdaptiveOptions(mode: planner.mode, plan: planner.plan(k: k))))
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            guard i > 0 else { continue }
            ratios.append(ms / predicted)
            feedback?.record(measuredMs: ms, predictedMs: predicted, plannedAt: .idle)
        }
        return ratios.isEmpty ? nil : Summary(ratios)
    }
}
