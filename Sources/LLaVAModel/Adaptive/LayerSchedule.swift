import AdaptiveInference
import TensorKernels

/// How one decoder block runs under a plan.
public enum LayerRun: Sendable {
    /// Switched off: costs nothing, the residual stream passes through.
    case skip
    /// Every head and neuron.
    case full
    /// AdaLLaVA-H: the block restricted to its active heads and neurons (a sliced copy or a
    /// strided view, per `SlicingStrategy`).
    case sliced(DecoderLayer)

    public var isSkipped: Bool {
        if case .skip = self { return true }
        return false
    }

    /// The block to run, or nil when skipped.
    func block(default full: DecoderLayer) -> DecoderLayer? {
        switch self {
        case .skip: return nil
        case .full: return full
        case let .sliced(layer): return layer
        }
    }
}

/// An execution plan resolved against a model: one `LayerRun` per decoder block, built once
/// per request (at prefill) and reused by every decode step. A `PlanRevision` may switch
/// blocks off part-way (`skip(layer:layout:)`); `plan` follows, so it always says what ran last.
public struct LayerSchedule: Sendable {
    public private(set) var plan: ExecutionPlan
    public private(set) var runs: [LayerRun]

    /// Resolves `plan` (already validated against `layout`) for `model`'s blocks.
    public init(plan: ExecutionPlan, layout: KnobLayout, model: LanguageModel, slicing: SlicingStrategy = .default) {
        self.plan = plan
        runs = model.layers.indices.map { i in
            guard plan.runsLayer(i, layout: layout) else { return .skip }
            let units = plan.activeUnits(layer: i, layout: layout)
            if units.count == layout.unitsPerLayer { return .full }
            let heads = merged(units.map(layout.unitHeadRange))
            let kv = merged(units.map(layout.unitKVHeadRange))
            let neurons = merged(units.map(layout.unitNeuronRange))
            switch slicing {
            case .copy: return .sliced(model.layers[i].sliced(heads: heads, kvHeads: kv, neurons: neurons))
            case .strided: return .sliced(model.layers[i].strided(heads: heads, kvHeads: kv, neurons: neurons))
            }
        }
    }

    /// Switches decoder block `layer` off from now on (its KV cache, if any, is simply no
    /// longer read). Only switchable blocks can go: a prefix block, an index outside the decoder
    /// or a block already off is left alone, and the answer is false.
    @discardableResult
    public mutating func skip(layer: Int, layout: KnobLayout) -> Bool {
        guard (layout.prefixLayers..<min(layout.totalLayers, runs.count)).contains(layer),
              !runs[layer].isSkipped else { return false }
        runs[layer] = .skip
        plan.switchOff(layer: layer, layout: layout)
        return true
    }
}

/// How an AdaLLaVA-H block with some units off is executed.
public enum SlicingStrategy: String, Sendable, CaseIterable, Codable {
    /// Copy the active weights into a smaller dense block once per plan.
    case copy
    /// GEMMs on strided sub-blocks of the full weights; nothing copied.
    case strided

    /// What the engine uses unless told otherwise. Chosen by measurement (`bench plans
    /// --slicing copy,strided`, tinyllava-1.1b, 600 tokens, 2 threads): strided was faster at
    /// every partial budget (0.85: 9.40 s vs 10.67 s; 0.75: 8.87 vs 9.19; 0.6: 6.81 vs 7.55),
    /// since copying the active weights costs more than the slightly smaller GEMM efficiency.
    public static let `default`: SlicingStrategy = .strided
}

/// Adjacent ranges joined, so consecutive active units become one GEMM-friendly block.
func merged(_ ranges: [Range<Int>]) -> [Range<Int>] {
    var out: [Range<Int>] = []
    for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
        if let last = out.last, last.upperBound == r.lowerBound {
            out[out.count - 1] = last.lowerBound..<r.upperBound
        } else {
            out.append(r)
        }
    }
    return out
}

/// The token sequence flowing through the decoder: hidden states, their position ids, and
/// which rows are visual tokens (FastV drops some of them part-way).
public struct SequenceState: Sendable {
    public var hidden: Tensor
    public var positions: [Int]
    /// Rows of `hidden` that hold image features.
    public var imageRows: [Int] = []
    /// Set once FastV has pruned.
    public var pruned = false
    /// The last attention probe: mean attention of the last row over keys, and the cache
    /// offset of this call's first row.
    var lastAttention: (probabilities: [Float], offset: Int)?

    public init(hidden: Tensor, positions: [Int], imageRows: [Int] = []) {
        self.hidden = hidden
        self.positions = positions
        self.imageRows = imageRows
    }
}

/// FastV: before block `layer`, keep the `keepRatio` share of visual tokens that received
/// the most attention from the last token in the last block that ran; the others are dropped
/// from every later block (kept tokens keep their position ids).
public struct TokenPruning: Sendable {
    public let layer: Int
    public let keepRatio: Double

    public init(layer: Int, keepRatio: Double) {
        self.layer = layer
        self.keepRatio = keepRatio
    }

    func apply(to state: inout SequenceState, caches: [KVCache], layer: Int) {
        state.pruned = true
        guard !state.imageRows.isEmpty, let attention = state.lastAttention else { return }
        let scores = state.imageRows.map { attention.probabilities[attention.offset + $0] }
        let kept = Set(FastV.keptIndices(scores: scores, keepRatio: keepRatio).map { state.imageRows[$0] })
        let dropped = Set(state.imageRows).subtracting(kept)
        let rows = (0..<state.hidden.rows).filter { !dropped.contains($0) }
        let width = state.hidden.lastDim
        var storage: [Float] = []
        storage.reserveCapacity(rows.count * width)
        for r in rows { storage.append(contentsOf: state.hidden.storage[(r * width)..<((r + 1) * width)]) }
        state.hidden = Tensor(shape: [rows.count, width], storage: storage)
        state.positions = rows.map { state.positions[$0] }
        state.imageRows = rows.enumerated().filter { kept.contains($0.element) }.map(\.offset)
    }
}
