import Contention
@testable import CostModel
import LLaVAModel
import Profiling
import TensorKernels

/// Profile rows from a known formula plus multiplicative noise, for testing the statistics:
/// idle time linear in each op's work features, slowed by background load as
/// `ContentionTerms` describes. Not measurements — the measured tests are in MeasuredFitTests.
struct SyntheticProfile {
    var config = Preset.tinyllava1_1b.config
    var noise = 0.02
    var seed: UInt64 = 7
    var levels: [ContentionLevel] = [.idle, .init(cpuBusyCores: 1, memBandwidthGBps: 0),
                                     .init(cpuBusyCores: 0, memBandwidthGBps: 10), .init(cpuBusyCores: 1, memBandwidthGBps: 10)]
    var threads = [1, 2]
    /// True slowdown γ (overload, busy share, GB/s × memory share).
    var gamma = [0.6, 0.08, 0.012]
    let terms = ContentionTerms(cores: 2)

    /// Idle ms from features: 0.05 ms fixed cost, 10 ms/GFLOP GEMM (halved on 2 threads), 20 ms/GFLOP
    /// attention pairs, 0.5 ms per M elementwise, 0.04 ms per MB streamed.
    func idleMs(_ names: [String], _ x: [Double], threads: Int) -> Double {
        let speed = threads == 2 ? 1.8 : 1.0
        var ms = 0.0
        for (n, v) in zip(names, x) {
            switch n {
            case "1": ms += 0.05 * v
            case "gemm_gflop": ms += 10 / speed * v
            case "attn_pair_gflop": ms += 20 / speed * v
            case "elementwise_melem": ms += 0.5 * v
            case "weight_mb", "kv_mb": ms += 0.04 / (threads == 2 ? 1.3 : 1) * v
            default: ms += v
            }
        }
        return ms
    }

    func samples(ops: [(OpName, Phase)] = SyntheticProfile.allOps) -> [ProfileSample] {
        var rng = SplitMix64(seed: seed)
        let dims = ModelDims(config), t = config.textConfig
        var out: [ProfileSample] = []
        for (op, phase) in ops {
            for th in threads {
                for level in levels {
                    for shape in shapes(op, phase) {
                        let row = OpFeatures.row(op, phase, shape, dims)
                        let z = terms.row(level, threads: th, flops: row.flops, bytes: row.bytes)
                        let factor = 1 + zip(gamma, z).map { $0 * $1 }.reduce(0, +)
                        // Gaussian-ish noise from the sum of uniforms.
                        let u = (0..<4).map { _ in rng.unit() - 0.5 }.reduce(0, +) * (3.0).squareRoot()
                        let ms = idleMs(OpFeatures.names(op, phase), row.x, threads: th) * factor * (1 + noise * u)
                        out.append(ProfileSample(
                            model: "tinyllava-1.1b", op: op, phase: phase, tokens: Int(shape.tokens), context: Int(shape.context),
                            heads: Int(shape.heads), neurons: Int(shape.neurons), threads: th, contention: level,
                            achievedContention: level, flops: row.flops, bytes: row.bytes,
                            stats: SampleStats(minMs: ms * 0.98, medianMs: ms, meanMs: ms, stdMs: ms * noise,
                                               p90Ms: ms * 1.02, p99Ms: ms * 1.05, n: 10)))
                    }
                }
            }
        }
        _ = t
        return out
    }

    static let allOps: [(OpName, Phase)] = [
        (.visionEmbed, .prefill), (.visionBlock, .prefill), (.projector, .prefill), (.llmEmbed, .prefill),
        (.llmEmbed, .decode), (.llmAttention, .prefill), (.llmAttention, .decode), (.llmMLP, .prefill),
        (.llmMLP, .decode), (.lmHead, .prefill), (.lmHead, .decode),
    ]

    func shapes(_ op: OpName, _ phase: Phase) -> [OpShape] {
        let t = config.textConfig, v = config.visionConfig
        let fractions = [0.25, 0.5, 0.75, 1.0]
        switch (op, phase) {
        case (.visionEmbed, _), (.visionBlock, _):
            let n = Double(v.numPatches + 1)
            return [OpShape(tokens: n, context: n, heads: Double(v.numAttentionHeads), neurons: Double(v.intermediateSize))]
        case (.projector, _):
            return [32, 144, 288, 576].map { OpShape(tokens: $0, context: $0, heads: 0, neurons: 0) }
        case (.lmHead, _), (.llmEmbed, .decode):
            return [OpShape(tokens: 1, context: 1, heads: 0, neurons: 0)]
        case (.llmEmbed, .prefill):
            return [32, 128, 512, 1024].map { OpShape(tokens: $0, context: $0, heads: 0, neurons: 0) }
        case (_, .prefill):
            return [32, 64, 128, 256, 512, 1024].flatMap { n in fractions.map { f in
                OpShape(tokens: n, context: n, heads: Double(t.numAttentionHeads) * f, neurons: Double(t.intermediateSize) * f) } }
        case (_, .decode):
            return [128, 256, 512, 1024, 2048, 4096].flatMap { c in fractions.map { f in
                OpShape(tokens: 1, context: c, heads: Double(t.numAttentionHeads) * f, neurons: Double(t.intermediateSize) * f) } }
        }
    }
}
