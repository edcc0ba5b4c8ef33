import TensorKernels

/// One LLaMA decoder block (`OpName.llmBlock`) = `llm.attn` then `llm.mlp`, each pre-RMSNorm
/// and residual. Loadable on its own, so a profiler can time one block of a 7B/13B model.
public struct DecoderLayer: Sendable {
    let inputNorm, postAttentionNorm: Tensor
    let qWeight, kWeight, vWeight, oWeight: WeightMatrix
    let qBias, kBias, vBias, oBias: Tensor?
    let gateWeight, upWeight, downWeight: WeightMatrix
    let gateBias, upBias, downBias: Tensor?
    let config: LlamaConfig
    /// The gate activation (`hidden_act`, SiLU for LLaMA), resolved once at load.
    let activation: Activation
    /// AdaLLaVA-H without copies: when set, only these weight rows/columns take part, through
    /// GEMMs on strided sub-blocks of the full weights (see `strided(heads:kvHeads:neurons:)`).
    var active: ActiveParts? = nil

    /// Loads decoder layer `index` from `source`, its seven projection weights stored as
    /// `dtype` (norms and biases stay fp32).
    public static func load(from source: WeightSource, config c: LlamaConfig, index: Int,
                            dtype: WeightDType = .f32) throws -> DecoderLayer {
        let p = WeightName.decoderLayer(index), h = c.hiddenSize, m = c.intermediateSize
        func w(_ name: String, _ shape: [Int]) throws -> Tensor { try source.tensor("\(p).\(name)", shape: shape) }
        func mat(_ name: String, _ shape: [Int]) throws -> WeightMatrix {
            try source.matrix("\(p).\(name)", shape: shape, dtype: dtype)
        }
        func b(_ name: String, _ n: Int, _ present: Bool) throws -> Tensor? { present ? try w(name, [n]) : nil }
        return DecoderLayer(
            inputNorm: try w("input_layernorm.weight", [h]),
            postAttentionNorm: try w("post_attention_layernorm.weight", [h]),
            qWeight: try mat("self_attn.q_proj.weight", [c.qWidth, h]),
            kWeight: try mat("self_attn.k_proj.weight", [c.kvWidth, h]),
            vWeight: try mat("self_attn.v_proj.weight", [c.kvWidth, h]),
            oWeight: try mat("self_attn.o_proj.weight", [h, c.qWidth]),
            qBias: try b("self_attn.q_proj.bias", c.qWidth, c.attentionBias),
            kBias: try b("self_attn.k_proj.bias", c.kvWidth, c.attentionBias),
            vBias: try b("self_attn.v_proj.bias", c.kvWidth, c.attentionBias),
            oBias: try b("self_attn.o_proj.bias", h, c.attentionBias),
            gateWeight: try mat("mlp.gate_proj.weight", [m, h]),
            upWeight: try mat("mlp.up_proj.weight", [m, h]),
            downWeight: try mat("mlp.down_proj.weight", [h, m]),
            gateBias: try b("mlp.gate_proj.bias", m, c.mlpBias),
            upBias: try b("mlp.up_proj.bias", m, c.mlpBias),
            downBias: try b("mlp.down_proj.bias", h, c.mlpBias),
            config: c,
            activation: Activation(huggingFaceName: c.hiddenAct) ?? .silu)
    }

    /// `llm.attn`: `x` `[tokens, hidden]` at `positions` → `x + attention(norm(x))`.
    /// Appends this step's keys/values to `cache`. `probe` collects one query row's attention
    /// (FastV); `statistics` accumulates per-head output energy (importance calibration).
    public func attentionBlock(_ x: Tensor, positions: [Int], cache: inout KVCache, rope: RotaryEmbedding,
                               probe: AttentionProbe? = nil, statistics: LayerStatistics? = nil) -> Tensor {
        let c = config
        let n = rmsNorm(x, weight: inputNorm, eps: Float(c.rmsNormEps))
        let qRows = active?.rows(active?.heads, width: c.headDim)
        let kvRows = active?.rows(active?.kvHeads, width: c.headDim)
        var q = project(n, qWeight, qBias, rows: qRows)    // [tokens, heads · headDim]
        var k = project(n, kWeight, kBias, rows: kvRows)   // [tokens, kvHeads · headDim]
        let v = project(n, vWeight, vBias, rows: kvRows)   // [tokens, kvHeads · headDim]
        rope.apply(&q, heads: heads, positions: positions)
        rope.apply(&k, heads: kvHeads, positions: positions)
        cache.append(keys: k, values: v)
        let a = causalAttention(q: q, cache: cache, heads: heads, probe: probe)
        statistics?.addHeads(a, heads: heads)
        var out = qRows.map { linear(a, weight: oWeight, columns: $0, bias: oBias) }
            ?? linear(a, weight: oWeight, bias: oBias)
        addInPlace(&out, x)
        return out
    }

    /// `llm.mlp`: `x` `[tokens, hidden]` → `x + down(silu(gate(norm x)) · up(norm x))`.
    public func mlpBlock(_ x: Tensor, statistics: LayerStatistics? = nil) -> Tensor {
        let n = rmsNorm(x, weight: postAttentionNorm, eps: Float(config.rmsNormEps))
        let neurons = active?.neurons
        var gate = project(n, gateWeight, gateBias, rows: neurons)   // [tokens, intermediate]
        activation.apply(&gate)
        multiplyInPlace(&gate, project(n, upWeight, upBias, rows: neurons))
        statistics?.addNeurons(gate)
        var out = neurons.map { linear(gate, weight: downWeight, columns: $0, bias: downBias) }
            ?? linear(gate, weight: downWeight, bias: downBias)
        addInPlace(&out, x)
        return out
    }

    /// `llm.block`: attention then MLP.
    public func callAsFunction(_ x: Tensor, positions: [Int], cache: inout KVCache, rope: RotaryEmbedding,
                               probe: AttentionProbe? = nil, statistics: LayerStatistics? = nil) -> Tensor {
        mlpBlock(attentionBlock(x, positions: positions, cache: &cache, rope: rope, probe: probe, statistics: statistics),
                 statistics: statistics)
    }

    /// How the projection weights are stored.
    public var dtype: WeightDType { qWeight.dtype }

    /// Bytes of the stored projection weights plus the fp32 norms: what one decode step of
    /// this block streams besides its KV cache.
    public var weightBytes: Int {
        [qWeight, kWeight, vWeight, oWeight, gateWeight, upWeight, downWeight].reduce(0) { $0 + $1.storedBytes }
            + (inputNorm.count + postAttentionNorm.count) * 4
    }

    /// Query heads, KV heads and MLP width this block computes with.
    public var heads: Int { active?.heads.reduce(0) { $0 + $1.count } ?? config.numAttentionHeads }
    public var kvHeads: Int { active?.kvHeads.reduce(0) { $0 + $1.count } ?? config.numKeyValueHeads }
    public var intermediate: Int { active?.neurons.reduce(0) { $0 + $1.count } ?? config.intermediateSize }

    /// A full or row-restricted projection.
    private func project(_ x: Tensor, _ w: WeightMatrix, _ b: Tensor?, rows: [Range<Int>]?) -> Tensor {
        rows.map { linear(x, weight: w, rows: $0, bias: b) } ?? linear(x, weight: w, bias: b)
    }
}

/// The heads, KV heads and neurons of a block that an AdaLLaVA-H plan keeps.
struct ActiveParts: Sendable {
    var heads: [Range<Int>]
    var kvHeads: [Range<Int>]
    var neurons: [Range<Int>]

    /// Head ranges as weight-row ranges of `width` rows per head.
    func rows(_ ranges: [Range<Int>]?, width: Int) -> [Range<Int>] {
        (ranges ?? []).map { ($0.lowerBound * width)..<($0.upperBound * width) }
    }
}
