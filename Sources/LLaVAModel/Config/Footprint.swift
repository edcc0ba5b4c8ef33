import TensorKernels

/// Parameter counts and floating-point work, derived from a config alone — used to refuse a
/// model that does not fit before allocating it, and to turn measured times into GFLOP/s.
extension LlavaConfig {
    /// Parameters of one vision encoder layer.
    public var visionLayerParameters: Int {
        let h = visionConfig.hiddenSize, m = visionConfig.intermediateSize
        return 4 * (h * h + h) + 2 * h * m + m + h + 4 * h
    }

    /// Parameters the engine loads: the vision layers it runs, embeddings, projector, decoder.
    public var loadedParameters: Int {
        let v = visionConfig, t = textConfig
        let visionEmbed = v.hiddenSize * v.numChannels * v.patchSize * v.patchSize
            + v.hiddenSize * (v.numPatches + 2) + 2 * v.hiddenSize
        let projector = t.hiddenSize * projectorInputWidth + t.hiddenSize * t.hiddenSize + 2 * t.hiddenSize
        let head = t.tieWordEmbeddings ? 0 : t.vocabSize * t.hiddenSize
        return visionEmbed + visionLayersToRun * visionLayerParameters + projector
            + t.vocabSize * t.hiddenSize + t.numHiddenLayers * textConfig.decoderLayerParameters
            + t.hiddenSize + head
    }
}

extension LlamaConfig {
    /// Parameters of one decoder block (attention + MLP + two norms, no biases).
    public var decoderLayerParameters: Int {
        hiddenSize * (2 * qWidth + 2 * kvWidth) + 3 * hiddenSize * intermediateSize + 2 * hiddenSize
    }

    /// FLOPs of one decoder block for `tokens` new tokens attending over `context` positions
    /// (including themselves), counting what the engine executes: every linear (2·m·n·k) and
    /// both attention GEMMs over the causal blocks the kernel scores (`causalAttentionPairs`).
    public func blockFLOPs(tokens: Int, context: Int) -> Double {
        blockFLOPs(tokens: tokens, context: context, heads: numAttentionHeads, kvHeads: numKeyValueHeads,
                   neurons: intermediateSize)
    }

    /// FLOPs of a prefill of `tokens` prompt tokens: every block plus `lm_head` for the last
    /// position.
    public func prefillFLOPs(tokens: Int) -> Double {
        Double(numHiddenLayers) * blockFLOPs(tokens: tokens, context: tokens) + 2 * Double(hiddenSize * vocabSize)
    }
}
