import Foundation
import Testing
import TensorKernels
@testable import LLaVAModel

/// The engine against Hugging Face transformers on a tiny random LLaVA (GQA on): fixtures made
/// by `scripts/make_golden.py`, loaded through the same path a user's checkpoint takes.
/// `llava-tiny-fp32` is save_pretrained's own layout; `llava-tiny-bf16` is BF16, sharded, in
/// the other key layout, with a config that leaves defaults out.
@Suite("golden: the engine reproduces Hugging Face transformers")
struct GoldenTests {
    static let fixtures = ["llava-tiny-fp32", "llava-tiny-bf16"]

    struct Case {
        let model: LlavaModel
        let golden: SafeTensorsFile
        let ids: [Int]
        let pixels: Tensor

        init(_ name: String) throws {
            let dir = Fixtures.path(name)
            model = try ModelSpec.resolve(dir).load()
            golden = try SafeTensorsFile(path: "\(dir)/golden.safetensors")
            ids = try golden.integers("input_ids")
            pixels = try SafeTensorsFile(path: "\(dir)/pixels.safetensors").tensor("pixel_values")
        }
    }

    func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        #expect(a.shape == b.shape)
        return zip(a.storage, b.storage).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test("vision features (layer −2, CLS dropped) and projector output match", arguments: fixtures)
    func visionAndProjector(name: String) throws {
        let c = try Case(name)
        let features = c.model.vision.features(c.pixels)
        #expect(maxAbsDiff(features, try c.golden.tensor("vision_features")) <= 1e-4)
        #expect(maxAbsDiff(c.model.projector(features), try c.golden.tensor("image_features")) <= 1e-4)
    }

    @Test("first-step logits match to 1e-4 and hidden states match", arguments: fixtures)
    func logitsAndHiddenStates(name: String) throws {
        let c = try Case(name)
        let layerOutputs = LockedBox<[Int: Tensor]>([:])
        let result = try c.model.generate(
            prompt: c.ids, pixels: c.pixels,
            options: GenerationOptions(maxNewTokens: 1, observePrefill: { i, h in layerOutputs.mutate { $0[i] = h } }))
        #expect(maxAbsDiff(result.firstLogits, try c.golden.tensor("logits")) <= 1e-4)
        let layer0 = try #require(layerOutputs.value[0])
        #expect(maxAbsDiff(layer0, try c.golden.tensor("llm_hidden_layer1")) <= 1e-4)

        let features = c.model.projector(c.model.vision.features(c.pixels))
        let lm = c.model.language
        var caches = lm.makeCaches(capacity: c.ids.count)
        let last = lm.forward(c.model.inputEmbeddings(c.ids, imageFeatures: features),
                              positions: Array(0..<c.ids.count), caches: &caches)
        #expect(maxAbsDiff(last, try c.golden.tensor("llm_last_hidden")) <= 1e-4)
    }

    @Test("8 greedy tokens are identical", arguments: fixtures)
    func greedyTokens(name: String) throws {
        let c = try Case(name)
        let result = try c.model.generate(prompt: c.ids, pixels: c.pixels, options: GenerationOptions(maxNewTokens: 8))
        #expect(result.tokens == (try c.golden.integers("generated_ids")))
    }

    @Test("a single image token in the prompt expands to the same result as the expanded prompt")
    func singleImageTokenExpands() throws {
        let c = try Case("llava-tiny-fp32")
        let image = c.model.config.imageTokenIndex
        var collapsed: [Int] = []
        for id in c.ids where !(id == image && collapsed.last == image) { collapsed.append(id) }
        #expect(collapsed.count == c.ids.count - c.model.config.imageFeatureTokens + 1)
        let result = try c.model.generate(prompt: collapsed, pixels: c.pixels, options: GenerationOptions(maxNewTokens: 8))
        #expect(result.tokens == (try c.golden.integers("generated_ids")))
    }
}

/// A value shared with a `@Sendable` callback.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
