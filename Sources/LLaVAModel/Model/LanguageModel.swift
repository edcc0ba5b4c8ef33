import TensorKernels

/// The LLaMA language model: embeddings, decoder blocks, final RMSNorm and `lm_head`.
public struct LanguageModel: Sendable {
    public let config: LlamaConfig
    let embedTokens: Tensor      // [vocab, hidden]
    public let layers: [DecoderLayer]
    let finalNorm: Tensor        // [hidden]
    let lmHead: Tensor           // [vocab, hidden]; the embedding matrix when tied
    public let rope: RotaryEmbedding

    public static func load(from source: WeightSource, config c: LlamaConfig) throws -> LanguageModel {
        let embed = try source.tensor(WeightName.embedTokens, shape: [c.vocabSize, c.hiddenSize])
        let head = c.tieWordEmbeddings && !source.contains(WeightName.lmHead)
            ? embed : try source.tensor(WeightName.lmHead, shape: [c.vocabSize, c.hiddenSize])
        return LanguageModel(
            config: c, embedTokens: embed,
            layers: try (0..<c.numHiddenLayers).map { try .load(from: source, config: c, index: $0) },
            finalNorm: try source.tensor(WeightName.finalNorm, shape: [c.hiddenSize]),
            lmHead: head,
            rope: RotaryEmbedding(headDim: c.headDim, theta: c.ropeTheta))
    }

    /// Fresh KV caches, one per layer, for up to `capacity` positions.
    public func makeCaches(capacity: Int) -> [KVCache] {
        layers.map { _ in KVCache(kvHeads: config.numKeyValueHeads, headDim: config.headDim, capacity: capacity) }
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
        var h = x
        for (i, layer) in layers.enumerated() {
            h = layer(h, positions: positions, cache: &caches[i], rope: rope)
            observe?(i, h)
        }
        return rmsNorm(h, weight: finalNorm, eps: Float(config.rmsNormEps))
    }

    /// `lm_head` on one normed hidden row `[hidden]` → logits `[vocab]`.
    public func logits(_ normed: Tensor, row: Int) -> Tensor {
        let x = Tensor(shape: [1, config.hiddenSize], storage: normed.row(row))
        return linear(x, weight: lmHead).reshaped([config.vocabSize])
    }
}
