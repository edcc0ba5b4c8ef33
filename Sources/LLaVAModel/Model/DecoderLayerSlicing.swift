import TensorKernels

/// AdaLLaVA-H executes a block with a subset of its heads and MLP neurons, in one of two ways
/// (`bench plans --slicing` measures both): `sliced` copies the active weights once per plan
/// into a smaller dense block; `strided` keeps the full weights and runs GEMMs on their active
/// sub-blocks. Either way removed work is really gone, and the block's KV cache only holds
/// the active KV heads.
extension DecoderLayer {
    /// The same block computing only `heads`, `kvHeads` and `neurons` (ascending, disjoint
    /// ranges; with GQA `heads` holds whole KV groups in `kvHeads`' order), without copies.
    public func strided(heads: [Range<Int>], kvHeads: [Range<Int>], neurons: [Range<Int>]) -> DecoderLayer {
        var layer = self
        layer.active = ActiveParts(heads: heads, kvHeads: kvHeads, neurons: neurons)
        return layer
    }

    /// A block restricted to query heads `heads`, KV heads `kvHeads` and neurons `neurons`
    /// (each a list of ascending, disjoint ranges). With GQA, `heads` must hold whole KV groups
    /// in the same order as `kvHeads`, so query head → KV head mapping is preserved.
    public func sliced(heads: [Range<Int>], kvHeads: [Range<Int>], neurons: [Range<Int>]) -> DecoderLayer {
        let d = config.headDim
        let qRows = heads.map { ($0.lowerBound * d)..<($0.upperBound * d) }
        let kvRows = kvHeads.map { ($0.lowerBound * d)..<($0.upperBound * d) }
        var c = config
        c.numAttentionHeads = heads.reduce(0) { $0 + $1.count }
        c.numKeyValueHeads = kvHeads.reduce(0) { $0 + $1.count }
        c.intermediateSize = neurons.reduce(0) { $0 + $1.count }
        return DecoderLayer(
            inputNorm: inputNorm, postAttentionNorm: postAttentionNorm,
            qWeight: qWeight.selectingRows(qRows), kWeight: kWeight.selectingRows(kvRows),
            vWeight: vWeight.selectingRows(kvRows), oWeight: oWeight.selectingColumns(qRows),
            qBias: qBias.map { rows($0, qRows) }, kBias: kBias.map { rows($0, kvRows) },
            vBias: vBias.map { rows($0, kvRows) }, oBias: oBias,
            gateWeight: gateWeight.selectingRows(neurons), upWeight: upWeight.selectingRows(neurons),
            downWeight: downWeight.selectingColumns(neurons),
            gateBias: gateBias.map { rows($0, neurons) }, upBias: upBias.map { rows($0, neurons) },
            downBias: downBias, config: c, activation: activation)
    }
}

/// Rows `ranges` of a `[rows, cols]` (or `[rows]`) tensor, concatenated.
func rows(_ t: Tensor, _ ranges: [Range<Int>]) -> Tensor {
    let width = t.rank == 1 ? 1 : t.lastDim
    var out: [Float] = []
    out.reserveCapacity(ranges.reduce(0) { $0 + $1.count } * width)
    for r in ranges { out.append(contentsOf: t.storage[(r.lowerBound * width)..<(r.upperBound * width)]) }
    let n = out.count / width
    return Tensor(shape: t.rank == 1 ? [n] : [n, width], storage: out)
}

/// Per-head and per-neuron activation energy of one block, accumulated over calibration
/// inputs: the training-free importance of H units.
public final class LayerStatistics: @unchecked Sendable {
    /// Σ over tokens of ‖attention output of head h‖² (before `o_proj`).
    public private(set) var headEnergy: [Double]
    /// Σ over tokens of (silu(gate)·up)² per neuron.
    public private(set) var neuronEnergy: [Double]

    public init(heads: Int, intermediate: Int) {
        headEnergy = [Double](repeating: 0, count: heads)
        neuronEnergy = [Double](repeating: 0, count: intermediate)
    }

    /// `a`: `[tokens, heads · headDim]`.
    func addHeads(_ a: Tensor, heads: Int) {
        let d = a.lastDim / heads
        for t in 0..<a.rows {
            for h in 0..<heads {
                var s = 0.0
                for i in 0..<d { let v = Double(a.storage[t * a.lastDim + h * d + i]); s += v * v }
                headEnergy[h] += s
            }
        }
    }

    /// `g`: `[tokens, intermediate]`.
    func addNeurons(_ g: Tensor) {
        for t in 0..<g.rows {
            for n in 0..<g.lastDim { let v = Double(g.storage[t * g.lastDim + n]); neuronEnergy[n] += v * v }
        }
    }
}
