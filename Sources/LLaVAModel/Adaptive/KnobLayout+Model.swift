import AdaptiveInference

extension LlavaConfig {
    /// The decoder's knob layout: the paper's prefix (16 of 32 layers, 20 of 40, otherwise
    /// half) and scheduler rank 8 heads per H unit; models with fewer than 16 heads (test
    /// presets) use units of a quarter of their heads so H mode still has several units.
    public func knobLayout(prefixLayers: Int? = nil, schedulerRank: Int? = nil) throws -> KnobLayout {
        let t = textConfig
        let rank = schedulerRank ?? (t.numAttentionHeads >= 16 ? 8 : max(1, t.numAttentionHeads / 4))
        return try KnobLayout.make(totalLayers: t.numHiddenLayers, heads: t.numAttentionHeads,
                                   kvHeads: t.numKeyValueHeads, intermediate: t.intermediateSize,
                                   prefixLayers: prefixLayers, schedulerRank: rank)
    }
}
