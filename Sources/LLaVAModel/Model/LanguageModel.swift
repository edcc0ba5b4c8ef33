import TensorKernels

/// The LLaMA language model: embeddings, decoder blocks, final RMSNorm and `lm_head`.
public struct LanguageModel: Sendable {
    public let config: LlamaConfig
    let embedTokens: Tensor      // [vocab, hidden]
    public let layers: [DecoderLayer]
    let finalNorm: Tensor        // [hidden]
    let lmHead: WeightMatrix     // [vocab, hidden]; the embedding matrix when tied
    public let rope: RotaryEmbedding

    /// Loads the decoder; its block projections and `lm_head` are stored as `dtype`, the
    /// embedding table (read a row at a time) and norms stay fp32.
    public static func load(from source: WeightSource, config c: LlamaConfig, dtype: WeightDType = .f32) throws -> LanguageModel {
        let embed = try source.tensor(WeightName.embedTokens, shape: [c.vocabSize, c.hiddenSize])
        let head = c.tieWordEmbeddings && !source.contains(WeightName.lmHead)
            ? WeightMatrix(embed, as: dtype) : try source.matrix(WeightName.lmHead, shape: [c.vocabSize, c.hiddenSize], dtype: dtype)
        return LanguageModel(
            config: c, embedTokens: embed,
            layers: try (0..<c.numHiddenLayers).map { try .load(from: source, config: c, index: $0, dtype: dtype) },
            finalNorm: try source.tensor(WeightName.finalNorm, shape: [c.hiddenSize]),
            lmHead: head,
            rope: RotaryEmbedding(headDim: c.headDim, theta: c.ropeTheta))
    }

    /// Fresh KV caches, one per layer, for up to `capacity` positions; a layer that a
    /// schedule slices gets a cache of its active KV heads only.
    public func makeCaches(capacity: Int, schedule: LayerSchedule? = nil) -> [KVCache] {
        layers.indices.map { i in
            let kv = schedule?.runs[i].block(default: layers[i])?.kvHeads ?? config.numKeyValueHeads
            return KVCache(kvHeads: kv, headDim: config.headDim, capacity: capacity)
        }
    }

    /// Embedding rows for `ids` (already range-checked): `[ids.count, hidden]`.
    public func embed(_ ids: [Int]) -> Tensor {
        let h = config.hiddenSize
        var out = [Float](repeating: 0, count: ids.count * h)
        for (t, id) in ids.enumerated() {
            for d in 0..<h { out[t * h + d] = embedTokens.storage[id * h + d] }
        }
        return Tensor(shape: [ids.count, h], storage: out)
    }

    /// Runs every decoder block over `x` (`[tokens, hidden]`) at `positions`, appending to
    /// `caches`; returns the final RMSNorm-ed hidden states. `observe(i, h)` sees the output
    /// of block `i` (for golden tests and probes).
    public func forward(_ x: Tensor, positions: [Int], caches: inout [KVCache],
                        observe: ((Int, Tensor) -> Void)? = nil) -> Tensor {
        var state = SequenceState(hidden: x, positions: positions)
        runLayers(0..<layers.count, state: &state, caches: &caches, observe: observe)
        return normed(state.hidden)
    }

    /// Runs blocks `range` on `state` as `schedule` says (all full when nil): skipped blocks
    /// cost nothing (the residual stream passes through), sliced blocks run their smaller
    /// GEMMs. With `pruning`, visual tokens are dropped before block `pruning.layer` (FastV).
    public func runLayers(_ range: Range<Int>, state: inout SequenceState, caches: inout [KVCache],
                          schedule: LayerSchedule? = nil, pruning: TokenPruning? = nil,
                          statistics: [LayerStatistics]? = nil, observe: ((Int, Tensor) -> Void)? = nil) {
        for i in range {
            if let pruning, i == pruning.layer, !state.pruned { pruning.apply(to: &state, caches: caches, layer: i) }
            let run = schedule?.runs[i] ?? .full
            guard let block = run.block(default: layers[i]) else {
                observe?(i, state.hidden)
                continue
            }
            // FastV ranks visual tokens by the attention the last token pays them in the last
            // block that runs before pruning.
            let probe = pruning.flatMap { p in
                i < p.layer && !state.pruned ? AttentionProbe(row: state.hidden.rows - 1, context: caches[i].length + state.hidden.rows) : nil
            }
            state.hidden = block(state.hidden, positions: state.positions, cache: &caches[i], rope: rope,
                                 probe: probe, statistics: statistics?[i])
            if let probe { state.lastAttention = (probe.meanOverHeads, caches[i].length - state.hidden.rows) }
            observe?(i, state.hidden)
        }
    }

    /// The final RMSNorm.
    public func normed(_ h: Tensor) -> Tensor {
        rmsNorm(h, weight: finalNorm, eps: Float(config.rmsNormEps))
    }

    /// `lm_head` on one normed hidden row `[hidden]` → logits `[vocab]`.
    public func logits(_ normed: Tensor, row: Int) -> Tensor {
        let x = Tensor(shape: [1, config.hiddenSize], storage: normed.row(row))
        return linear(x, weight: lmHead).reshaped([config.vocabSize])
    }
}
