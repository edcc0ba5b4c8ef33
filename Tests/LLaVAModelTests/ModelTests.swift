import Foundation
import Testing
import TensorKernels
@testable import LLaVAModel

@Suite("the engine on presets and synthetic weights")
struct ModelTests {
    @Test("synthetic weights are the same whether built whole or one block at a time")
    func syntheticWeightsAreDeterministic() throws {
        let w = SyntheticWeights(seed: 7)
        let a = try w.tensor("language_model.model.layers.3.mlp.up_proj.weight", shape: [300, 257])
        let b = try SyntheticWeights(seed: 7).tensor("language_model.model.layers.3.mlp.up_proj.weight", shape: [300, 257])
        let other = try w.tensor("language_model.model.layers.4.mlp.up_proj.weight", shape: [300, 257])
        #expect(a == b)
        #expect(a != other)
        let mean = a.storage.reduce(0, +) / Float(a.count)
        let std = (a.storage.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(a.count)).squareRoot()
        #expect(abs(std - 0.02) < 0.002)
        #expect(try w.tensor("x.input_layernorm.weight", shape: [4]).storage == [1, 1, 1, 1])
        #expect(try w.tensor("x.q_proj.bias", shape: [3]).storage == [0, 0, 0])
    }

    @Test("the tiny preset generates deterministically and stops at max-new-tokens")
    func tinyGenerates() throws {
        let model = try ModelSpec.resolve("tiny", seed: 1).load()
        let r1 = try model.generate(prompt: [1, 2, 3], pixels: nil, options: GenerationOptions(maxNewTokens: 6, stopAtEOS: false))
        let r2 = try model.generate(prompt: [1, 2, 3], pixels: nil, options: GenerationOptions(maxNewTokens: 6, stopAtEOS: false))
        #expect(r1.tokens.count == 6)
        #expect(r1.tokens == r2.tokens)
        #expect(r1.firstLogits.shape == [1024])
    }

    @Test("decoding with the KV cache equals re-running the whole sequence")
    func kvCacheMatchesFullRecompute() throws {
        let model = try ModelSpec.resolve("tiny", seed: 2).load()
        let result = try model.generate(prompt: [5, 6, 7, 8], pixels: nil, options: GenerationOptions(maxNewTokens: 4, stopAtEOS: false))
        // Feed prompt + first 3 generated tokens at once: the last position's argmax must be the 4th.
        let ids = [5, 6, 7, 8] + result.tokens.prefix(3)
        let lm = model.language
        var caches = lm.makeCaches(capacity: ids.count)
        let normed = lm.forward(lm.embed(ids), positions: Array(0..<ids.count), caches: &caches)
        #expect(argmax(lm.logits(normed, row: ids.count - 1)) == result.tokens[3])
    }

    @Test("an image prompt with one image token is expanded to one token per feature")
    func imageTokenExpansion() throws {
        let model = try ModelSpec.resolve("tiny").load()
        let image = model.config.imageTokenIndex, n = model.config.imageFeatureTokens
        #expect(try model.preparePrompt([1, image, 2], hasImage: true).count == n + 2)
        #expect(try model.preparePrompt([1] + Array(repeating: image, count: n), hasImage: true).count == n + 1)
        let pixels = Tensor(zeros: [1, 3, 56, 56])
        let r = try model.generate(prompt: [1, image, 2], pixels: pixels, options: GenerationOptions(maxNewTokens: 2))
        #expect(r.imageTokens == n)
        #expect(r.promptTokens == n + 2)
    }

    @Test("bad prompts fail with a clear error",
          arguments: [([1, 5000, 2], false, "token id 5000 at position 1 is out of range"),
                      ([1, -1], false, "token id -1 at position 1"),
                      ([1, 1000, 2], false, "no pixels were given"),
                      ([1, 2], true, "holds no image token"),
                      ([1, 1000, 1000, 2], true, "holds 2 image tokens"),
                      ([], false, "no tokens")])
    func badPrompts(prompt: [Int], hasImage: Bool, message: String) throws {
        let model = try ModelSpec.resolve("tiny").load()
        do {
            _ = try model.preparePrompt(prompt, hasImage: hasImage)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test("pixels of the wrong shape are rejected with the expected shape")
    func badPixels() throws {
        let model = try ModelSpec.resolve("tiny").load()
        #expect(throws: LLaVAModelError.invalidPixels(path: "p.safetensors", reason: "shape [1, 3, 28, 28], expected [1, 3, 56, 56] (one preprocessed image)")) {
            try model.validatePixels(Tensor(zeros: [1, 3, 28, 28]), path: "p.safetensors")
        }
    }

    @Test("a model that does not fit is refused before anything is allocated", arguments: [Preset.llava1_5_7b, .llava1_5_13b])
    func doesNotFit(preset: Preset) throws {
        let spec = try ModelSpec.resolve(preset.rawValue)
        #expect(spec.requiredBytes(contextTokens: 600) > 24 << 30)
        #expect(throws: LLaVAModelError.self) { try spec.checkFits(contextTokens: 600, availableBytes: 24 << 30) }
        #expect(throws: Never.self) { try ModelSpec.resolve(Preset.tinyllava1_1b.rawValue).checkFits(contextTokens: 600, availableBytes: 20 << 30) }
    }

    @Test("llava-1.5-7b fits in 24 GiB with bf16 or q8_0 decoder weights, and 13B in bf16 does not")
    func narrowWeightsFit() throws {
        for dtype in [WeightDType.bf16, .q8_0] {
            let spec = try ModelSpec.resolve(Preset.llava1_5_7b.rawValue, dtype: dtype)
            #expect(throws: Never.self) { try spec.checkFits(contextTokens: 4096, availableBytes: 24 << 30) }
        }
        let bf16 = try ModelSpec.resolve(Preset.llava1_5_7b.rawValue, dtype: .bf16).requiredBytes(contextTokens: 600)
        let f32 = try ModelSpec.resolve(Preset.llava1_5_7b.rawValue).requiredBytes(contextTokens: 600)
        #expect(bf16 > 13 << 30 && bf16 < f32 * 6 / 10)   // ≈ 6.7G·2 bytes + fp32 vision tower and embeddings
        let big = try ModelSpec.resolve(Preset.llava1_5_13b.rawValue, dtype: .bf16)
        #expect(throws: LLaVAModelError.self) { try big.checkFits(contextTokens: 600, availableBytes: 24 << 30) }
    }

    @Test("one decoder block of a 7B preset can be built and run on its own")
    func sevenBBlockAlone() throws {
        let config = Preset.llava1_5_7b.config.textConfig
        let layer = try DecoderLayer.load(from: SyntheticWeights(seed: 0), config: config, index: 31)
        var cache = KVCache(kvHeads: config.numKeyValueHeads, headDim: config.headDim, capacity: 4)
        let x = Tensor(shape: [4, config.hiddenSize], storage: (0..<(4 * config.hiddenSize)).map { Float($0 % 13) * 0.01 })
        let y = layer(x, positions: [0, 1, 2, 3], cache: &cache, rope: RotaryEmbedding(headDim: config.headDim, theta: config.ropeTheta))
        #expect(y.shape == [4, 4096])
        #expect(y.storage.allSatisfy { $0.isFinite })
        #expect(cache.length == 4)
    }

    @Test("the parameter count of each preset matches its published size",
          arguments: [(Preset.llava1_5_7b, 7.0e9, 7.2e9), (.llava1_5_13b, 13.2e9, 13.5e9), (.tinyllava1_1b, 1.3e9, 1.45e9)])
    func parameterCounts(preset: Preset, low: Double, high: Double) {
        let n = Double(preset.config.loadedParameters)
        #expect(n > low && n < high, "\(preset.rawValue): \(n)")
    }

    @Test("unknown model names list the presets")
    func unknownModel() {
        #expect(throws: LLaVAModelError.unknownModel(name: "llava-99b", presets: Preset.names)) {
            try ModelSpec.resolve("llava-99b")
        }
    }
}
