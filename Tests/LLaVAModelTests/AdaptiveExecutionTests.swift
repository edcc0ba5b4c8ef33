import AdaptiveInference
import Foundation
import Testing
import TensorKernels
@testable import LLaVAModel

/// The engine executing AdaLLaVA plans: work a plan switches off is really gone, and what
/// remains computes what the full model computes for those parts (to OpenBLAS's rounding, `sameLogits`).
@Suite("adaptive execution in the engine")
struct AdaptiveExecutionTests {
    static let tiny = try! ModelSpec.resolve("tiny", seed: 3).load()

    func run(_ model: LlavaModel, _ prompt: [Int], pixels: Tensor? = nil, adaptive: AdaptiveOptions?, tokens: Int = 4) throws -> GenerationResult {
        try model.generate(prompt: prompt, pixels: pixels,
                           options: GenerationOptions(maxNewTokens: tokens, stopAtEOS: false, adaptive: adaptive))
    }

    @Test("budget 1.0 with no token selection reproduces the plain engine's logits (to OpenBLAS's rounding), on both golden checkpoints",
          arguments: ["llava-tiny-fp32", "llava-tiny-bf16"])
    func fullPlanIsThePlainEngine(fixture: String) throws {
        let dir = Fixtures.path(fixture)
        let model = try ModelSpec.resolve(dir).load()
        let golden = try SafeTensorsFile(path: "\(dir)/golden.safetensors")
        let ids = try golden.integers("input_ids"), pixels = try golden.tensor("pixel_values")
        let plain = try run(model, ids, pixels: pixels, adaptive: nil, tokens: 8)
        for mode in PlanMode.allCases {
            let full = try run(model, ids, pixels: pixels, adaptive: AdaptiveOptions(budget: 1, mode: mode), tokens: 8)
            #expect(sameLogits(full.firstLogits, plain.firstLogits))
            #expect(full.tokens == plain.tokens)
            #expect(full.adaptive?.latencyToken == false)
            #expect(full.adaptive?.plan == .full(model.layout, mode: mode))
        }
    }

    @Test("a skipped block costs nothing: L plans equal running only the kept blocks by hand")
    func skippedBlocksArePassedThrough() throws {
        let model = Self.tiny, lm = model.language
        let plan = try ExecutionPlan(parsing: "L:01")   // tiny: blocks 0,1 prefix; 2 off, 3 on
        let result = try run(model, [1, 5, 9, 13], adaptive: AdaptiveOptions(plan: plan), tokens: 1)
        var caches = lm.makeCaches(capacity: 4)
        var state = SequenceState(hidden: lm.embed([1, 5, 9, 13]), positions: [0, 1, 2, 3])
        lm.runLayers(0..<2, state: &state, caches: &caches)
        lm.runLayers(3..<4, state: &state, caches: &caches)
        #expect(sameLogits(result.firstLogits, lm.logits(lm.normed(state.hidden), row: 3)))
    }

    @Test("a sliced H block equals the full block with the removed heads' and neurons' output weights zeroed")
    func slicedBlockMatchesMaskedBlock() throws {
        let model = Self.tiny, layout = model.layout, layer = model.language.layers[3]
        #expect(layout.unitsPerLayer == 2)
        let unit = 1
        let sliced = layer.sliced(heads: [layout.unitHeadRange(unit)], kvHeads: [layout.unitKVHeadRange(unit)],
                                  neurons: [layout.unitNeuronRange(unit)])
        #expect(sliced.heads == layout.unitHeadRange(unit).count)
        #expect(sliced.intermediate == layout.unitNeuronRange(unit).count)
        // Mask: zero o_proj columns of heads outside the unit and down_proj columns of its neurons.
        let d = model.config.textConfig.headDim
        let keepCols = (layout.unitHeadRange(unit).lowerBound * d)..<(layout.unitHeadRange(unit).upperBound * d)
        var masked = layer
        masked = DecoderLayer(
            inputNorm: layer.inputNorm, postAttentionNorm: layer.postAttentionNorm,
            qWeight: layer.qWeight, kWeight: layer.kWeight, vWeight: layer.vWeight,
            oWeight: WeightMatrix(zeroColumns(layer.oWeight.dequantized(), keep: keepCols)),
            qBias: nil, kBias: nil, vBias: nil, oBias: nil,
            gateWeight: layer.gateWeight, upWeight: layer.upWeight,
            downWeight: WeightMatrix(zeroColumns(layer.downWeight.dequantized(), keep: layout.unitNeuronRange(unit))),
            gateBias: nil, upBias: nil, downBias: nil, config: layer.config, activation: layer.activation)
        let x = Tensor(shape: [5, 128], storage: (0..<640).map { Float(($0 * 37) % 101) / 50 - 1 })
        let rope = model.language.rope
        var c1 = KVCache(kvHeads: sliced.kvHeads, headDim: d, capacity: 5)
        var c2 = KVCache(kvHeads: masked.kvHeads, headDim: d, capacity: 5)
        let a = sliced(x, positions: Array(0..<5), cache: &c1, rope: rope)
        let b = masked(x, positions: Array(0..<5), cache: &c2, rope: rope)
        #expect(zip(a.storage, b.storage).map { abs($0 - $1) }.max()! < 1e-5)
        #expect(c1.width < c2.width)   // the sliced block caches only its KV heads
    }

    @Test("the scheduler path enables exactly the paper's k knobs and appends a latency token",
          arguments: [(PlanMode.layers, 0.75), (.heads, 0.75), (.heads, 0.9)])
    func schedulerPicksK(mode: PlanMode, budget: Double) throws {
        let model = Self.tiny
        let r = try run(model, [1, 5, 9, 13, 17], adaptive: AdaptiveOptions(budget: budget, mode: mode))
        let k = try model.layout.enabledKnobs(budget: budget, mode: mode)
        let decision = try #require(r.adaptive)
        #expect(decision.enabledKnobs == k)
        #expect(decision.plan.enabledKnobCount == k)
        #expect(decision.latencyToken)
        #expect(decision.ranking.hasPrefix("scheduler"))
        // The same request gives the same plan, and `decidePlan` agrees without generating.
        let again = try model.decidePlan(prompt: [1, 5, 9, 13, 17], pixels: nil, adaptive: AdaptiveOptions(budget: budget, mode: mode))
        #expect(again.plan == decision.plan)
    }

    @Test("FastV keeps ceil(R·n) visual tokens, and R = 1 changes nothing")
    func fastVPrunes() throws {
        let model = Self.tiny, image = model.config.imageTokenIndex
        let pixels = model.syntheticPixels(seed: 1)
        let prompt = [1, image, 5, 9]
        let plain = try run(model, prompt, pixels: pixels, adaptive: nil)
        let keepAll = try run(model, prompt, pixels: pixels, adaptive: AdaptiveOptions(budget: 1, tokenSelection: .fastV(k: 1, keepRatio: 1)))
        #expect(sameLogits(keepAll.firstLogits, plain.firstLogits))
        let half = try run(model, prompt, pixels: pixels, adaptive: AdaptiveOptions(budget: 1, tokenSelection: .fastV(k: 2, keepRatio: 0.3)))
        #expect(half.adaptive?.imageTokensAfterSelection == 5)   // ceil(0.3 · 16)
        #expect(half.firstLogits != plain.firstLogits)
        #expect(half.tokens.count == 4)
    }

    @Test("PruMerge and PruMerge+ reduce the visual tokens the decoder sees, PruMerge+ keeping more")
    func pruMergeReduces() throws {
        let model = Self.tiny, image = model.config.imageTokenIndex
        let pixels = model.syntheticPixels(seed: 2)
        let a = try run(model, [1, image, 5], pixels: pixels, adaptive: AdaptiveOptions(budget: 1, tokenSelection: .pruMerge))
        let b = try run(model, [1, image, 5], pixels: pixels, adaptive: AdaptiveOptions(budget: 1, tokenSelection: .pruMergePlus))
        #expect(a.imageTokens >= 1 && a.imageTokens < 16)
        #expect(b.imageTokens >= a.imageTokens && b.imageTokens < 16)
        #expect(a.promptTokens == 2 + a.imageTokens)
    }

    @Test("a calibration ranks every knob, round-trips through JSON and drives budget plans")
    func calibrationDrivesPlans() throws {
        let model = Self.tiny
        let file = try model.calibrate(prompts: [[1, 4, 8, 15], [2, 7, 30]], pixels: nil, layout: model.layout, label: "tiny")
        #expect(file.layerOrder.sorted() == [0, 1])
        #expect(file.unitOrder.sorted() == [0, 1, 2, 3])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cal-\(UUID().uuidString).json").path
        try file.write(to: path)
        #expect(try CalibrationFile.load(path: path, layout: model.layout) == file)
        let calibrated = try ModelSpec.resolve("tiny", seed: 3).load(calibrationPath: path)
        let r = try run(calibrated, [1, 5, 9], adaptive: AdaptiveOptions(budget: 0.75, mode: .layers), tokens: 1)
        #expect(r.adaptive?.plan == .enabling([file.layerOrder[0]], layout: model.layout, mode: .layers))
        #expect(r.adaptive?.ranking.hasPrefix("calibration") == true)
        #expect(r.adaptive?.latencyToken == false)
    }

    @Test("plans that do not fit the model and out-of-range budgets are rejected before any work",
          arguments: ["L:1", "L:111", "H:11", "H:11.11.11", "L:11+fastv(9,0.5)"])
    func badPlans(text: String) throws {
        let plan = try ExecutionPlan(parsing: text)
        #expect(throws: AdaptiveError.self) {
            _ = try Self.tiny.generate(prompt: [1], pixels: nil, options: GenerationOptions(adaptive: AdaptiveOptions(plan: plan)))
        }
    }

    @Test("prefill FLOPs shrink with the plan and with FastV")
    func planFLOPs() throws {
        let config = Preset.llava1_5_7b.config
        let layout = try config.knobLayout(), t = config.textConfig
        let full = t.prefillFLOPs(plan: nil, layout: layout, tokens: 600, imageTokens: 576)
        #expect(abs(full - t.prefillFLOPs(tokens: 600)) / full < 1e-12)
        let half = ExecutionPlan.enabling(Array(0..<8), layout: layout, mode: .layers)
        let f = t.prefillFLOPs(plan: half, layout: layout, tokens: 600, imageTokens: 576) / full
        #expect(abs(f - 0.75) < 0.01)   // 24 of 32 blocks (lm_head is small)
        var fastv = ExecutionPlan.full(layout, mode: .layers)
        fastv.tokenSelection = .fastV(k: 2, keepRatio: 0.5)
        #expect(t.prefillFLOPs(plan: fastv, layout: layout, tokens: 600, imageTokens: 576) < 0.6 * full)
    }
}

/// `t` with every column outside `keep` set to zero.
func zeroColumns(_ t: Tensor, keep: Range<Int>) -> Tensor {
    var out = t
    for r in 0..<t.rows { for c in 0..<t.lastDim where !keep.contains(c) { out.storage[r * t.lastDim + c] = 0 } }
    return out
}

@Suite("the two ways of running a partly-on H block agree")
struct SlicingStrategyTests {
    @Test("strided sub-block GEMMs and sliced copies give the same logits for the same H plan",
          arguments: ["H:10.01", "H:01.00", "H:11.10"])
    func stridedEqualsCopy(text: String) throws {
        let model = AdaptiveExecutionTests.tiny
        let plan = try ExecutionPlan(parsing: text)
        func logits(_ s: SlicingStrategy) throws -> GenerationResult {
            try model.generate(prompt: [1, 5, 9, 13], pixels: nil,
                               options: GenerationOptions(maxNewTokens: 3, stopAtEOS: false, adaptive: AdaptiveOptions(plan: plan, slicing: s)))
        }
        let copy = try logits(.copy), strided = try logits(.strided)
        #expect(zip(copy.firstLogits.storage, strided.firstLogits.storage).map { abs($0 - $1) }.max()! < 1e-5)
        #expect(copy.tokens == strided.tokens)
    }
}
