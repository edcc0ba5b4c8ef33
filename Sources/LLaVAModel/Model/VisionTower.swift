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

    /// The layer's queries and keys for input `x` (`[tokens, hidden]` each, heads concatenated):
    /// what PruMerge hooks on the last CLIP layer.
    public func queriesAndKeys(_ x: Tensor) -> (q: Tensor, k: Tensor) {
        let n1 = layerNorm(x, weight: norm1Weight, bias: norm1Bias, eps: eps)
        return (linear(n1, weight: qWeight, bias: qBias), linear(n1, weight: kWeight, bias: kBias))
    }

    /// `x`: `[tokens, hidden]` → `[tokens, hidden]`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let hidden = x.lastDim, headDim = hidden / heads
        let n1 = layerNorm(x, weight: norm1Weight, bias: norm1Bias, eps: eps)
        let q = linear(n1, weight: qWeight, bias: qBias)
        let k = linear(n1, weight: kWeight, bias: kBias)
        let v = linear(n1, weight: vWeight, bias: vBias)
        // Every patch attends to every patch (no mask): [tokens, hidden] each.
        let a = k.storage.withUnsafeBufferPointer { kp in
            v.storage.withUnsafeBufferPointer { vp in
                attention(q: q, k: kp.baseAddress!, v: vp.baseAddress!, kvStride: hidden, context: k.rows,
                          heads: heads, kvHeads: heads, headDim: headDim, causalOffset: nil)
            }
        }
        var h = linear(a, weight: outWeight, bias: outBias)
        addInPlace(&h, x)
        let n2 = layerNorm(h, weight: norm2Weight, bias: norm2Bias, eps: eps)
        var f = linear(n2, weight: fc1Weight, bias: fc1Bias)
        activation.apply(&f)
        var out = linear(f, weight: fc2Weight, bias: fc2Bias)
        addInPlace(&out, h)
        return out
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
    /// The last CLIP layer, whose q/k PruMerge reads even though LLaVA does not run it
    /// (nil when `layers` already ends with it).
    let lastLayer: VisionEncoderLayer?
    let config: LlavaConfig

    public static func load(from source: WeightSource, config: LlavaConfig) throws -> VisionTower {
        let total = config.visionConfig.numHiddenLayers, run = config.visionLayersToRun
        return VisionTower(
            embeddings: try .load(from: source, config: config.visionConfig),
            layers: try (0..<run).map { try .load(from: source, config: config.visionConfig, index: $0) },
            lastLayer: run < total ? try .load(from: source, config: config.visionConfig, index: total - 1) : nil,
            config: config)
    }

    /// `pixels` `[1, C, H, W]` → selected features `[imageFeatureTokens, hidden · nLayers]`.
    public func features(_ pixels: Tensor) -> Tensor {
        features(pixels, pruMerge: nil)
    }

    /// Selected features, optionally reduced by PruMerge / PruMerge+ (`plus`). As the
    /// reference (LLaVA-PruMerge's clip_encoder.py) does, the CLS attention and keys come from
    /// the last CLIP layer's q/k projections applied to that layer's input (hidden state
    /// L − 1, the output LLaVA-1.5 takes its features from), as one head over the full width.
    public func features(_ pixels: Tensor, pruMerge plus: Bool?) -> Tensor {
        let total = config.visionConfig.numHiddenLayers
        // Hidden state i is the embeddings (i = 0) or the output of layer i − 1.
        let wanted = config.visionFeatureLayers.map { $0 < 0 ? total + 1 + $0 : $0 }
        var states: [Int: Tensor] = [:]
        var x = embeddings(pixels)
        if wanted.contains(0) { states[0] = x }
        // Input of the last CLIP layer: hidden state total − 1.
        var lastInput: Tensor? = total == 1 ? x : nil
        for (i, layer) in layers.enumerated() {
            x = layer(x)
            if wanted.contains(i + 1) { states[i + 1] = x }
            if i + 1 == total - 1 { lastInput = x }
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
        guard let plus, let probeLayer = lastLayer ?? layers.last else { return selected }
        let probeInput = lastInput ?? x   // features from an earlier layer: probe the last one run
        let (q, keys) = probeLayer.queriesAndKeys(probeInput)
        let attention = PruMerge.clsAttention(clsQuery: q.row(0), keys: keys)   // [patches]
        // PruMerge works on patch tokens: drop the CLS row of the keys (and of the features
        // when the strategy keeps it, re-attaching it in front afterwards).
        let patches = tokens - 1
        let patchKeys = Tensor(shape: [patches, keys.lastDim], storage: Array(keys.storage[keys.lastDim...]))
        let patchFeatures = skip == 1 ? selected
            : Tensor(shape: [patches, width], storage: Array(selected.storage[width...]))
        let merged = PruMerge.select(clsAttention: attention, keys: patchKeys,
                                     features: patchFeatures, plus: plus).features
        if skip == 1 { return merged }
        return Tensor(shape: [merged.rows + 1, width], storage: Array(selected.storage[..<width]) + merged.storage)
    }
}
