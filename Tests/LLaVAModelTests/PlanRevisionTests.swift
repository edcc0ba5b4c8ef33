import AdaptiveInference
import Foundation
import Testing
import TensorKernels
@testable import LLaVAModel

/// Drops the given blocks at the given checkpoints and records every checkpoint it is asked at.
final class ScriptedRevision: PlanRevision, @unchecked Sendable {
    let script: [RequestCheckpoint: [Int]]
    /// Image-token keep ratios to answer with at prefill checkpoints.
    let pruning: [RequestCheckpoint: Double]
    private(set) var asked: [RequestCheckpoint] = []
    private(set) var askedToPrune: [RequestCheckpoint] = []
    init(_ script: [RequestCheckpoint: [Int]], pruning: [RequestCheckpoint: Double] = [:]) { self.script = script; self.pruning = pruning }
    func revise(at checkpoint: RequestCheckpoint, schedule: LayerSchedule) -> [Int] {
        asked.append(checkpoint)
        return script[checkpoint] ?? []
    }
    func imageKeepRatio(at checkpoint: RequestCheckpoint) -> Double? {
        askedToPrune.append(checkpoint)
        return pruning[checkpoint]
    }
}

/// The engine's side of the deadline guard: a block switched off part-way is really gone from
/// then on, and everything before the switch computes what the unrevised plan computes.
@Suite("plan revision inside a request")
struct PlanRevisionTests {
    static let tiny = try! ModelSpec.resolve("tiny", seed: 5).load()   // 4 blocks, 2 prefix
    let prompt = [1, 7, 11, 19, 23]

    func run(_ plan: String, revision: (any PlanRevision)? = nil, tokens: Int = 4) throws -> GenerationResult {
        try Self.tiny.generate(prompt: prompt, pixels: nil, options: GenerationOptions(
            maxNewTokens: tokens, stopAtEOS: false, adaptive: AdaptiveOptions(plan: try ExecutionPlan(parsing: plan)),
            revision: revision))
    }

    @Test("asked before every prefill block and every decode step, in order")
    func checkpoints() throws {
        let revision = ScriptedRevision([:])
        let result = try run("L:11", revision: revision, tokens: 4)
        #expect(revision.asked == (0..<4).map { .prefillBlock(layer: $0) } + (0..<3).map { .decodeStep(step: $0) })
        #expect(result.adaptive?.ranPlan == nil)
        // Asking changes nothing when nothing is dropped.
        #expect(sameLogits(result.firstLogits, (try run("L:11")).firstLogits))
        #expect(result.tokens == (try run("L:11")).tokens)
    }

    @Test("a block dropped before its prefill runs is the plan without it, prefill and decode")
    func dropBeforePrefill() throws {
        let revised = try run("L:11", revision: ScriptedRevision([.prefillBlock(layer: 3): [3]]))
        let without = try run("L:10")
        #expect(sameLogits(revised.firstLogits, without.firstLogits))
        #expect(revised.tokens == without.tokens)
        #expect(revised.adaptive?.ranPlan?.description == "L:10")
        #expect(revised.adaptive?.plan.description == "L:11")   // what was chosen stays on record
    }

    @Test("a block dropped at a decode step: the first token is the full plan's, later steps skip it")
    func dropInDecode() throws {
        let revised = try run("L:11", revision: ScriptedRevision([.decodeStep(step: 1): [3]]))
        let full = try run("L:11")
        #expect(sameLogits(revised.firstLogits, full.firstLogits))
        #expect(Array(revised.tokens.prefix(2)) == Array(full.tokens.prefix(2)))
        #expect(revised.adaptive?.ranPlan?.description == "L:10")
    }

    @Test("prefix blocks, blocks already off and indices outside the decoder are not dropped")
    func refusedDrops() throws {
        let revised = try run("L:10", revision: ScriptedRevision([.prefillBlock(layer: 0): [0, 1, 3, 4, -1, 99]]))
        let plain = try run("L:10")
        #expect(sameLogits(revised.firstLogits, plain.firstLogits))
        #expect(revised.tokens == plain.tokens)
        #expect(revised.adaptive?.ranPlan == nil)
    }

    @Test("in H mode a dropped block loses all its units")
    func headsMode() throws {
        let layout = Self.tiny.layout
        let full = ExecutionPlan.full(layout, mode: .heads)
        let revised = try Self.tiny.generate(prompt: prompt, pixels: nil, options: GenerationOptions(
            maxNewTokens: 2, stopAtEOS: false, adaptive: AdaptiveOptions(plan: full),
            revision: ScriptedRevision([.prefillBlock(layer: 2): [2]])))
        var expected = full
        expected.switchOff(layer: 2, layout: layout)
        #expect(revised.adaptive?.ranPlan == expected)
        #expect(expected.units[0].allSatisfy { !$0 } && expected.units[1].allSatisfy { $0 })
        let direct = try Self.tiny.generate(prompt: prompt, pixels: nil, options: GenerationOptions(
            maxNewTokens: 2, stopAtEOS: false, adaptive: AdaptiveOptions(plan: expected)))
        #expect(sameLogits(revised.firstLogits, direct.firstLogits))
    }

    /// A request with an image on the tiny preset (16 image tokens).
    func runImage(_ plan: String, revision: (any PlanRevision)? = nil) throws -> GenerationResult {
        let model = Self.tiny
        return try model.generate(prompt: [1, model.config.imageTokenIndex, 5, 9], pixels: model.syntheticPixels(seed: 3),
                                  options: GenerationOptions(maxNewTokens: 3, stopAtEOS: false,
                                                             adaptive: AdaptiveOptions(plan: try ExecutionPlan(parsing: plan)),
                                                             revision: revision))
    }

    @Test("image tokens pruned at a prefill checkpoint are FastV with K at that block, prefill and decode")
    func pruneImageTokens() throws {
        let revision = ScriptedRevision([:], pruning: [.prefillBlock(layer: 2): 0.25])
        let revised = try runImage("L:11", revision: revision)
        let fastV = try runImage("L:11+fastv(2,0.25)")
        #expect(sameLogits(revised.firstLogits, fastV.firstLogits))
        #expect(revised.tokens == fastV.tokens)
        #expect(revised.adaptive?.imageTokensAfterSelection == 4)   // ceil(0.25 · 16)
        #expect(revised.adaptive?.ranPlan?.description == "L:11+fastv(2,0.25)")
        #expect(revised.adaptive?.plan.description == "L:11")
        // Not asked before block 0 (no attention to rank by yet), nor once pruned.
        #expect(revision.askedToPrune == [.prefillBlock(layer: 1), .prefillBlock(layer: 2)])
        // Asking without pruning changes nothing.
        #expect(sameLogits(try runImage("L:11", revision: ScriptedRevision([:])).firstLogits, (try runImage("L:11")).firstLogits))
    }

    @Test("pruning and dropping at the same checkpoint: both happen; a text-only request is never asked to prune")
    func pruneAndDrop() throws {
        let revision = ScriptedRevision([.prefillBlock(layer: 3): [3]], pruning: [.prefillBlock(layer: 3): 0.5])
        let revised = try runImage("L:11", revision: revision)
        let direct = try runImage("L:10+fastv(3,0.5)")
        #expect(sameLogits(revised.firstLogits, direct.firstLogits))
        #expect(revised.adaptive?.ranPlan?.description == "L:10+fastv(3,0.5)")
        let text = ScriptedRevision([:], pruning: [.prefillBlock(layer: 2): 0.5])
        _ = try run("L:11", revision: text)
        #expect(text.askedToPrune.isEmpty)
    }
}
