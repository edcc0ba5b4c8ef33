import AdaptiveInference
import TensorKernels

/// One CLIP encoder layer (`OpName.visionBlock`): pre-LN attention and pre-LN MLP, both residual.
public struct VisionEncoderLayer: Sendable {
    let norm1Weight, norm1Bias, norm2Weight, norm2Bias: Tensor
    let qWeight, qBias, kWeight, kBias, vWeight, vBias, outWeight, outBias: Tensor
    let fc1Weight, fc1Bias, fc2Weight, fc2Bias: Tensor
    let heads: Int
    let eps: Float
    let activation: Activation

    /// Loads layer `index` of the vision tower from `source`.
    public static func load(from source: WeightSource, config c: CLIPVisionConfig, index: Int) throws -> VisionEncoderLayer {
        let p = WeightName.visionLayer(index), h = c.hiddenSize, m = c.intermediateSize
        func w(_ name: String, _ shape: [Int]) throws -> Tensor { try source.tensor("\(p).\(name)", shape: shape) }
        return VisionEncoderLayer(
            norm1Weight: try w("layer_norm1.weight", [h]), norm1Bias: try w("layer_norm1.bias", [h]),
            norm2Weight: try w("layer_norm2.weight", [h]), norm2Bias: try w("layer_norm2.bias", [h]),
            qWeight: try w("self_attn.q_proj.weight", [h, h]), qBias: try w("self_attn.q_proj.bias", [h]),
            kWeight: try w("self_attn.k_proj.weight", [h, h]), kBias: try w("self_attn.k_proj.bias", [h]),
            vWeight: try w("self_attn.v_proj.weight", [h, h]), vBias: try w("self_attn.v_proj.bias", [h]),
            outWeight: try w("self_attn.out_proj.weight", [h, h]), outBias: try w("self_attn.out_proj.bias", [h]),
            fc1Weight: try w("mlp.fc1.weight", [m, h]), fc1Bias: try w("mlp.fc1.bias", [m]),
            fc2Weight: try w("mlp.fc2.weight", [h, m]), fc2Bias: try w("mlp.fc2.bias", [h]),
            heads: c.numAttentionHeads, eps: Float(c.layerNormEps),
            activation: Activation(huggingFaceName: c.hiddenAct) ?? .quickGelu)
    }

    /// `x`: `[tokens, hidden]` → `[tokens, hidden]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        forward(x, probe: nil).output
    }

    /// The layer, also returning its keys `[tokens, hidden]`; `probe` collects one query row's
    /// attention (PruMerge reads the CLS row).
    public func forward(_ x: Tensor, probe: AttentionProbe?) -> (output: Tensor, keys: Tensor) {
        let hidden = x.lastDim, headDim = hidden / heads
        let n1 = layerNorm(x, weight: norm1Weight, bias: norm1Bias, eps: eps)
        let q = linear(n1, weight: qWeight, bias: qBias)
        let k = linear(n1, weight: kWeight, bias: kBias)
        let v = linear(n1, weight: vWeight, bias: vBias)
        // Every patch attends to every patch (no mask): [tokens, hidden] each.
        let a = k.storage.withUnsafeBufferPointer { kp in
            v.storage.withUnsafeBufferPointer { vp in
                attention(q: q, k: kp.baseAddress!, v: vp.baseAddress!, kvStride: hidden, context: k.rows,
                          heads: heads, kvHeads: heads, headDim: headDim, causalOffset: nil, probe: probe)
            }
        }
        var h = linear(a, weight: outWeight, bias: outBias)
        addInPlace(&h, x)
        let n2 = layerNorm(h, weight: norm2Weight, bias: norm2Bias, eps: eps)
        var f = linear(n2, weight: fc1Weight, bias: fc1Bias)
        activation.apply(&f)
        var out = linear(f, weight: fc2Weight, bias: fc2Bias)
        addInPlace(&out, h)
        return (out, k)
    }
}

/// CLIP ViT patch/class/position embeddings and pre-LayerNorm (`OpName.visionEmbed`).
public struct VisionEmbeddings: Sendable {
    /// Conv weight `[hidden, channels, patch, patch]` viewed as `[hidden, channels·patch²]`.
    let patchWeight: Tensor
    let classEmbedding: Tensor
    let positionEmbedding: Tensor
    let preNormWeight, preNormBias: Tensor
    let config: CLIPVisionConfig

    public static func load(from source: WeightSource, config c: CLIPVisionConfig) throws -> VisionEmbeddings {
        let p = WeightName.vision, h = c.hiddenSize
        return VisionEmbeddings(
            patchWeight: try source.tensor("\(p).embeddings.patch_embedding.weight",
                                           shape: [h, c.numChannels, c.patchSize, c.patchSize])
                .reshaped([h, c.numChannels * c.patchSize * c.patchSize]),
            classEmbedding: try source.tensor("\(p).embeddings.class_embedding", shape: [h]),
            positionEmbedding: try source.tensor("\(p).embeddings.position_embedding.weight", shape: [c.numPatches + 1, h]),
            preNormWeight: try source.tensor("\(p).pre_layrnorm.weight", shape: [h]),
            preNormBias: try source.tensor("\(p).pre_layrnorm.bias", shape: [h]),
            config: c)
    }

    /// `pixels`: `[1, channels, imageSize, imageSize]` → `[1 + patches, hidden]` (CLS first).
    public func callAsFunction(_ pixels: Tensor) -> Tensor {
        let c = config, p = c.patchSize, side = c.patchesPerSide, size = c.imageSize
        let patchLen = c.numChannels * p * p
        // im2col: row (py·side + px) holds the patch's [channel][i][j] values, matching the
        // stride-p convolution with the weight viewed as [hidden, channels·p·p].
        var cols = [Float](repeating: 0, count: c.numPatches * patchLen)
        for py in 0..<side {
            for px in 0..<side {
                let row = (py * side + px) * patchLen
                for ch in 0..<c.numChannels {
                    for i in 0..<p {
                        let src = ch * size * size + (py * p + i) * size + px * p
                        let dst = row + ch * p * p + i * p
                        for j in 0..<p { cols[dst + j] = pixels.storage[src + j] }
                    }
                }
            }
        }
        let patches = linear(Tensor(shape: [c.numPatches, patchLen], storage: cols), weight: patchWeight)
        var x = Tensor(shape: [c.numPatches + 1, c.hiddenSize], storage: classEmbedding.storage + patches.storage)
        addInPlace(&x, positionEmbedding)
        return layerNorm(x, weight: preNormWeight, bias: preNormBias, eps: Float(c.layerNormEps))
    }
}

/// The CLIP vision tower up to the hidden state(s) LLaVA selects.
///
/// Only the layers needed for `vision_feature_layer` are loaded and run (23 of 24 for
/// LLaVA-1.5); the post-LayerNorm is never used by LLaVA and is not loaded.
public struct VisionTower: Sendable {
    public let embeddings: VisionEmbeddings
    public let layers: [VisionEncoderLayer]
    let config: LlavaConfig

    public static func load(from source: WeightSource, config: LlavaConfig) throws -> VisionTower {
        VisionTower(
            embeddings: try .load(from: source, config: config.visionConfig),
            layers: try (0..<config.visionLayersToRun).map {
                try .load(from: source, config: config.visionConfig, index: $0)
            },
            config: config)
    }

    /// `pixels` `[1, C, H, W]` → selected features `[imageFeatureTokens, hidden · nLayers]`.
    public func features(_ pixels: Tensor) -> Tensor {
        features(pixels, pruMerge: nil)
    }

    /// Selected features, optionally reduced by PruMerge / PruMerge+ (`plus`): the CLS
    /// attention and keys come from the last layer that runs, whose output is the feature
    /// layer for LLaVA-1.5 (−2).
    public func features(_ pixels: Tensor, pruMerge plus: Bool?) -> Tensor {
        let total = config.visionConfig.numHiddenLayers
        // Hidden state i is the embeddings (i = 0) or the output of layer i − 1.
        let wanted = config.visionFeatureLayers.map { $0 < 0 ? total + 1 + $0 : $0 }
        var states: [Int: Tensor] = [:]
        var x = embeddings(pixels)
        if wanted.contains(0) { states[0] = x }
        var clsAttention: [Float] = [], keys = Tensor(zeros: [0, 0])
        for (i, layer) in layers.enumerated() {
            let last = plus != nil && i == layers.count - 1
            let probe = last ? AttentionProbe(row: 0, context: x.rows) : nil
            let step = layer.forward(x, probe: probe)
            x = step.output
            if let probe { clsAttention = probe.meanOverHeads; keys = step.keys }
            if wanted.contains(i + 1) { states[i + 1] = x }
        }
        let tokens = x.rows, hidden = x.lastDim
        let skip = config.visionFeatureSelectStrategy == "default" ? 1 : 0
        let width = hidden * wanted.count
        var out = [Float](repeating: 0, count: (tokens - skip) * width)
        for (n, index) in wanted.enumerated() {
            let s = states[index]!
            for t in skip..<tokens {
                for d in 0..<hidden { out[(t - skip) * width + n * hidden + d] = s.storage[t * hidden + d] }
            }
        }
        let selected = Tensor(shape: [tokens - skip, width], storage: out)
        guard let plus, !layers.isEmpty else { return selected }
        // PruMerge works on patch tokens: drop the CLS row of the attention and keys (and of
        // the features when the strategy keeps it, re-attaching it in front afterwards).
        let patches = tokens - 1
        let patchKeys = Tensor(shape: [patches, keys.lastDim], storage: Array(keys.storage[keys.lastDim...]))
        let patchFeatures = skip == 1 ? selected
            : Tensor(shape: [patches, width], storage: Array(selected.storage[width...]))
        let merged = PruMerge.select(clsAttention: Array(clsAttention[1...]), keys: patchKeys,
                                     features: patchFeatures, plus: plus).features
        if skip == 1 { return merged }
        return Tensor(shape: [merged.rows + 1, width], storage: Array(selected.storage[..<width]) + merged.storage)
    }
}
