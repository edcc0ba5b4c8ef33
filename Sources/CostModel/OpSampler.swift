import AdaptiveInference
import Contention
import Foundation
import LLaVAModel
import Profiling
import TensorKernels

/// Times single ops of a loaded model through the engine's own components (the same calls
/// `LlavaModel.generate` makes), producing profile rows. A small, quick self-profile for tests
/// and first runs on small models; `adallava profile` is the real profiler (controlled
/// contention, stable-median repeats, every preset one block at a time).
public struct OpSampler {
    public let model: LlavaModel
    public let name: String

    public init(model: LlavaModel, name: String) { self.model = model; self.name = name }

    /// One op at one shape: `units` of the layout's H units active (all when nil). Sets the BLAS
    /// thread count (process-wide) to `threads`; one warm-up, then `repeats` timed runs.
    public func sample(_ op: OpName, _ phase: Phase, tokens: Int, context: Int? = nil, units: Int? = nil,
                       threads: Int, repeats: Int) -> ProfileSample {
        BLAS.setThreads(threads)
        let c = model.config, t = c.textConfig, layout = model.layout
        let ctx = phase == .decode ? max(1, context ?? tokens) : tokens
        let n = phase == .decode ? 1 : tokens
        let u = min(units ?? layout.unitsPerLayer, layout.unitsPerLayer)
        let active = Array(0..<u)
        let heads = active.reduce(0) { $0 + layout.unitHeadRange($1).count }
        let neurons = active.reduce(0) { $0 + layout.unitNeuronRange($1).count }
        var layer = model.language.layers[0]
        if u < layout.unitsPerLayer {
            layer = layer.strided(heads: active.map(layout.unitHeadRange), kvHeads: active.map(layout.unitKVHeadRange),
                                  neurons: active.map(layout.unitNeuronRange))
        }
        let body: () -> Void
        switch op {
        case .visionEmbed:
            let pixels = model.syntheticPixels(seed: 1)
            body = { _ = model.vision.embeddings(pixels) }
        case .visionBlock:
            let x = Self.input(rows: n, width: c.visionConfig.hiddenSize)
            body = { _ = model.vision.layers[0](x) }
        case .projector:
            let x = Self.input(rows: n, width: c.projectorInputWidth)
            body = { _ = model.projector(x) }
        case .llmEmbed:
            let ids = (0..<n).map { $0 % t.vocabSize }
            body = { _ = model.language.embed(ids) }
        case .lmHead:
            let x = Self.input(rows: n, width: t.hiddenSize)
            body = { _ = model.language.logits(model.language.normed(x), row: n - 1) }
        case .llmMLP:
            let x = Self.input(rows: n, width: t.hiddenSize)
            body = { [layer] in _ = layer.mlpBlock(x) }
        default:   // llm.attn, llm.block: need a KV cache holding the past
            let x = Self.input(rows: n, width: t.hiddenSize)
            let kv = layer.kvHeads
            var cache = KVCache(kvHeads: kv, headDim: t.headDim, capacity: ctx)
            let past = ctx - n
            if past > 0 { let p = Self.input(rows: past, width: kv * t.headDim); cache.append(keys: p, values: p) }
            let positions = Array(past..<ctx), rope = model.language.rope, whole = op == .llmBlock
            body = { [layer] in
                cache.truncate(to: past)   // every repeat sees the same past
                _ = whole ? layer(x, positions: positions, cache: &cache, rope: rope)
                    : layer.attentionBlock(x, positions: positions, cache: &cache, rope: rope)
            }
        }
        body()
        let times = (0..<max(1, repeats)).map { _ in secondsTaken(body) * 1000 }
        let s = Summary(times), mean = times.reduce(0, +) / Double(times.count)
        let std = (times.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, times.count - 1))).squareRoot()
        let sorted = times.sorted()
        let row = OpFeatures.row(op, phase, OpShape(tokens: Double(n), context: Double(ctx), heads: Double(heads),
                                                    neurons: Double(neurons)), ModelDims(c))
        return ProfileSample(model: name, op: op, phase: phase, tokens: n, context: ctx, heads: heads, neurons: neurons,
                             threads: threads, contention: .idle, achievedContention: .idle, flops: row.flops, bytes: row.bytes,
                             stats: SampleStats(minMs: s.min, medianMs: s.median, meanMs: mean, stdMs: std,
                                                p90Ms: quantile(sorted: sorted, 0.9), p99Ms: quantile(sorted: sorted, 0.99), n: times.count))
    }

    /// A small idle grid over every op the request walk needs: prefill over `prompts` (plus the
    /// image tokens), decode over `contexts`, all and half of the H units, at `threads`.
    public func quickProfile(prompts: [Int], contexts: [Int], threads: Int, repeats: Int) -> [ProfileSample] {
        let c = model.config, image = c.imageFeatureTokens, vt = c.visionConfig.numPatches + 1
        let all = model.layout.unitsPerLayer, fractions = Array(Set([all, max(1, all / 2)])).sorted()
        var out = [sample(.visionEmbed, .prefill, tokens: vt, threads: threads, repeats: repeats),
                   sample(.visionBlock, .prefill, tokens: vt, threads: threads, repeats: repeats),
                   sample(.lmHead, .prefill, tokens: 1, threads: threads, repeats: repeats),
                   sample(.lmHead, .decode, tokens: 1, context: 1, threads: threads, repeats: repeats),
                   sample(.llmEmbed, .decode, tokens: 1, context: 1, threads: threads, repeats: repeats)]
        for n in Set([max(1, image / 8), max(1, image / 2), image]).sorted() {
            out.append(sample(.projector, .prefill, tokens: n, threads: threads, repeats: repeats))
        }
        for p in prompts {
            out.append(sample(.llmEmbed, .prefill, tokens: p + image, threads: threads, repeats: repeats))
            for u in fractions {
                for op in [OpName.llmAttention, .llmMLP] {
                    out.append(sample(op, .prefill, tokens: p + image, units: u, threads: threads, repeats: repeats))
                }
            }
        }
        for ctx in contexts {
            for u in fractions {
                for op in [OpName.llmAttention, .llmMLP] {
                    out.append(sample(op, .decode, tokens: 1, context: ctx, units: u, threads: threads, repeats: repeats))
                }
            }
        }
        return out
    }

    private static func input(rows: Int, width: Int) -> Tensor {
        Tensor(shape: [rows, width], storage: (0..<(rows * width)).map { Float(($0 &* 2_654_435_761) % 2001) / 1000 - 1 })
    }
}
