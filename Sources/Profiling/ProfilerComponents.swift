import AdaptiveInference
import LLaVAModel
import TensorKernels

/// The engine pieces the profiler times, built one at a time from the model's weight source
/// (a preset's synthetic weights or the checkpoint's own) so the full 7B/13B is never in memory.
/// Every body calls the same engine code a request runs.
enum ProfilerComponent: Int, CaseIterable, Sendable {
    /// CLIP embeddings, one encoder layer, PruMerge (which reads that layer's q/k).
    case vision
    case projector
    /// The token-embedding table and `lm_head` (a language model with no blocks), FastV's gather.
    case embedding
    /// One decoder block, full and restricted to the sampled H units.
    case decoder

    static func of(_ op: OpName) -> ProfilerComponent {
        switch op {
        case .visionEmbed, .visionBlock, .pruMergeSelect: return .vision
        case .projector: return .projector
        case .llmEmbed, .lmHead, .fastVSelect: return .embedding
        case .llmAttention, .llmMLP, .llmBlock: return .decoder
        }
    }
}

/// A built component: hands out the body that runs one point once.
protocol ProfilerBench: AnyObject {
    /// The work to time for `point`; its setup (inputs, KV cache fill) happens here, untimed.
    func body(for point: ProfilePoint) -> () -> Void
}

/// Bytes a timed op's weights must be rotated through so each call finds them out of cache, as
/// in a real forward pass, where a layer's weights come back only after every other layer's
/// have streamed through: 8× the 32 MB L3 this VM reports (the host's may be larger). Timing one
/// llava-mini block over and over from cache measured its decode at half the time it takes
/// inside a request.
let coldRotationBytes = 256.0 * 1024 * 1024

/// How many copies of a component holding `bytes` of weights to rotate through (at most `cap`).
func coldCopies(weightBytes bytes: Double, cap: Int) -> Int {
    max(1, min(cap, Int((coldRotationBytes / max(bytes, 1)).rounded(.up))))
}

/// Cycles through `items`, one per call: the next copy's weights are the least recently used.
final class Rotation<Item>: @unchecked Sendable {
    let items: [Item]
    private var next = 0
    init(_ items: [Item]) { precondition(!items.isEmpty); self.items = items }
    func take() -> Item {
        defer { next = (next + 1) % items.count }
        return items[next]
    }
}

/// Deterministic activations in [-1, 1): timing does not depend on the values.
func syntheticInput(rows: Int, width: Int, salt: Int = 0) -> Tensor {
    Tensor(shape: [rows, width], storage: (0..<(rows * width)).map { Float((($0 &+ salt) &* 2_654_435_761) % 2001) / 1000 - 1 })
}

final class VisionBench: ProfilerBench {
    let config: LlavaConfig
    let embeddings: VisionEmbeddings
    let layer: VisionEncoderLayer
    let pixels: Tensor
    let hidden: Tensor

    init(config: LlavaConfig, weights: WeightSource) throws {
        self.config = config
        let v = config.visionConfig
        embeddings = try VisionEmbeddings.load(from: weights, config: v)
        layer = try VisionEncoderLayer.load(from: weights, config: v, index: 0)
        let side = v.imageSize
        pixels = syntheticInput(rows: 1, width: v.numChannels * side * side).reshaped([1, v.numChannels, side, side])
        hidden = syntheticInput(rows: v.numPatches + 1, width: v.hiddenSize)
    }

    func body(for point: ProfilePoint) -> () -> Void {
        switch point.op {
        case .visionEmbed:
            return { [embeddings, pixels] in _ = embeddings(pixels) }
        case .visionBlock:
            return { [layer, hidden] in _ = layer(hidden) }
        default:
            // PruMerge: q/k of the CLS + patches through the (last) CLIP layer's projections, the
            // CLS attention, then selection and merge. The scores fed to the selection are
            // shaped so exactly `point.context` patches are IQR outliers (synthetic weights give
            // near-uniform attention, which would keep one token and time nothing useful).
            let n = point.tokens, kept = point.context
            let step = max(1, n / max(1, kept))
            let scores = (0..<n).map { i -> Float in
                let outlier = i % step == 0 && i / step < kept
                return (outlier ? 100 : 1) + Float((i &* 7919) % 100) / 10_000
            }
            let features = syntheticInput(rows: n, width: config.projectorInputWidth, salt: 1)
            return { [layer, hidden] in
                let (q, k) = layer.queriesAndKeys(hidden)
                _ = PruMerge.clsAttention(clsQuery: q.row(0), keys: k)
                let patchKeys = Tensor(shape: [n, k.lastDim], storage: Array(k.storage[k.lastDim...]))
                _ = PruMerge.select(clsAttention: scores, keys: patchKeys, features: features, plus: false)
            }
        }
    }
}

final class ProjectorBench: ProfilerBench {
    let config: LlavaConfig
    let projector: Projector

    init(config: LlavaConfig, weights: WeightSource) throws {
        self.config = config
        projector = try Projector.load(from: weights, config: config)
    }

    func body(for point: ProfilePoint) -> () -> Void {
        let x = syntheticInput(rows: point.tokens, width: config.projectorInputWidth)
        return { [projector] in _ = projector(x) }
    }
}

final class EmbeddingBench: ProfilerBench {
    let language: LanguageModel
    /// Copies of the language model (embeddings + lm_head) that `lm_head` rotates through.
    let heads: Rotation<LanguageModel>

    init(config: LlavaConfig, weights: WeightSource) throws {
        var c = config.textConfig
        c.numHiddenLayers = 0   // embedding table, final norm and lm_head only
        language = try LanguageModel.load(from: weights, config: c)
        let headBytes = Double(c.vocabSize * c.hiddenSize * 4)
        let copies = coldCopies(weightBytes: headBytes, cap: 4)
        heads = Rotation([language] + (try (1..<copies).map { _ in try LanguageModel.load(from: weights, config: c) }))
    }

    func body(for point: ProfilePoint) -> () -> Void {
        let c = language.config
        switch point.op {
        case .llmEmbed:
            let ids = (0..<point.tokens).map { ($0 * 7919 + 1) % c.vocabSize }
            return { [language] in _ = language.embed(ids) }
        case .lmHead:
            let x = syntheticInput(rows: 1, width: c.hiddenSize)
            return { [heads] in
                let head = heads.take()
                _ = head.logits(head.normed(x), row: 0)
            }
        default:
            // FastV at layer K: rank the image tokens (half the sequence, at most the image's)
            // by attention and gather the surviving rows, as `TokenPruning` does.
            let n = point.tokens, keptRows = point.context, width = c.hiddenSize
            let image = 2 * (n - keptRows)
            let hidden = syntheticInput(rows: n, width: width)
            let scores = (0..<image).map { Float(($0 &* 2_654_435_761) % 10_007) / 10_007 }
            return {
                let kept = Set(FastV.keptIndices(scores: scores, keepRatio: 0.5))
                var storage: [Float] = []
                storage.reserveCapacity(keptRows * width)
                for r in 0..<n where r >= image || kept.contains(r) {
                    storage.append(contentsOf: hidden.storage[(r * width)..<((r + 1) * width)])
                }
                _ = Tensor(shape: [storage.count / width, width], storage: storage)
            }
        }
    }
}

final class DecoderBench: ProfilerBench {
    /// Decoder layers 0, 1, … of the model (as many as `coldCopies` asks, at most all of them):
    /// each timed call runs the next one, so its weights come from memory as in a request.
    let layers: [DecoderLayer]
    let text: LlamaConfig
    let layout: KnobLayout
    let rope: RotaryEmbedding

    init(config: LlavaConfig, weights: WeightSource, layout: KnobLayout) throws {
        let c = config.textConfig
        text = c
        let copies = coldCopies(weightBytes: 4 * Double(c.decoderLayerParameters), cap: c.numHiddenLayers)
        layers = try (0..<copies).map { try DecoderLayer.load(from: weights, config: c, index: $0) }
        self.layout = layout
        rope = RotaryEmbedding(headDim: c.headDim, theta: c.ropeTheta)
    }

    /// Every copy as an H plan with the first `units` units runs it.
    func blocks(units: Int) -> Rotation<DecoderLayer> {
        if units >= layout.unitsPerLayer { return Rotation(layers) }
        let p = ProfileGrid.unitParts(layout: layout, units: units)
        return Rotation(layers.map { $0.strided(heads: [p.heads], kvHeads: [p.kvHeads], neurons: [p.neurons]) })
    }

    func body(for point: ProfilePoint) -> () -> Void {
        let blocks = blocks(units: point.units), block = blocks.items[0], rope = rope
        let c = text, headDim = c.headDim
        let x = syntheticInput(rows: point.tokens, width: c.hiddenSize)
        switch (point.op, point.phase) {
        case (.llmMLP, _):
            return { _ = blocks.take().mlpBlock(x) }
        case (_, .prefill):
            let positions = Array(0..<point.tokens)
            return {
                var cache = KVCache(kvHeads: block.kvHeads, headDim: headDim, capacity: point.tokens)
                _ = blocks.take().attentionBlock(x, positions: positions, cache: &cache, rope: rope)
            }
        case (_, .decode):
            // One new token over a cache already holding `context − 1` positions; every repeat
            // sees the same past.
            var cache = KVCache(kvHeads: block.kvHeads, headDim: headDim, capacity: point.context)
            if point.context > 1 {
                let past = syntheticInput(rows: point.context - 1, width: block.kvHeads * headDim)
                cache.append(keys: past, values: past)
            }
            let past = point.context - 1
            return {
                cache.truncate(to: past)
                _ = blocks.take().attentionBlock(x, positions: [past], cache: &cache, rope: rope)
            }
        }
    }
}
