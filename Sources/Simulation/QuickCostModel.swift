import Contention
import CostModel
import Foundation
import LLaVAModel
import Profiling

/// A cost model fitted on the spot from real op timings of the loaded model (`OpSampler`'s
/// quick grid), at idle and under a few background loads made by `adallava stress`: for a
/// replay on a device `adallava profile` never measured. Coarser than a full profile (few
/// shapes, few repeats), fitted by the same `CostModel.fit`.
public enum QuickCostModel {
    /// The prompt lengths and KV lengths a request trace needs, as a small grid.
    static func grid(_ requests: [TraceRequest], imageTokens: Int) -> (prompts: [Int], contexts: [Int]) {
        let prompts = requests.map(\.promptTokens).sorted()
        let pick = { (q: Double) in prompts[min(prompts.count - 1, Int(Double(prompts.count - 1) * q))] }
        let p = Array(Set([pick(0), pick(0.5), pick(1)])).sorted()
        let longest = (prompts.last ?? 1) + imageTokens + (requests.map(\.maxNewTokens).max() ?? 1)
        let shortest = (prompts.first ?? 1) + imageTokens
        return (p, Array(Set([shortest, (shortest + longest) / 2, longest])).sorted())
    }

    /// Samples the grid at idle and at each of `levels` (the load running in a child process,
    /// its achieved level recorded), then fits. `executable` is the `adallava` binary that
    /// runs `stress` (default: this process).
    public static func fit(model: LlavaModel, name: String, requests: [TraceRequest], threads: Int,
                           levels: [ContentionLevel], executable: URL? = nil, repeats: Int = 3,
                           progress: (String) -> Void = { _ in }) throws -> (CostModel, FitReport) {
        let (prompts, contexts) = grid(requests, imageTokens: model.config.imageFeatureTokens)
        let sampler = OpSampler(model: model, name: name)
        var samples: [ProfileSample] = []
        for level in [ContentionLevel.idle] + levels where !(level.isIdle && !samples.isEmpty) {
            let load = level.isIdle ? nil : try BackgroundLoad.start(level: level, executable: executable)
            defer { _ = load?.stop() }
            if load != nil { Thread.sleep(forTimeInterval: 0.5) }  // let the load settle
            var rows = sampler.quickProfile(prompts: prompts, contexts: contexts, threads: threads, repeats: repeats)
            let achieved = load?.achieved() ?? .idle
            for i in rows.indices { rows[i].contention = level; rows[i].achievedContention = achieved }
            progress("quick profile at contention \(level): \(rows.count) op timings (achieved \(achieved))")
            samples += rows
        }
        return try CostModel.fit(samples: samples, model: name, config: model.config,
                                 options: FitOptions(cores: ProcessInfo.processInfo.activeProcessorCount))
    }
}
