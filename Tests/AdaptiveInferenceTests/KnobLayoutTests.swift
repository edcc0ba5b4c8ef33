import Foundation
import Testing
@testable import AdaptiveInference
import TensorKernels

/// The shared seeded generator, so every property-test failure reproduces.
typealias PlanTestRNG = SplitMix64

/// A random but valid decoder shape, GQA and odd sizes included (intermediate may be smaller
/// than heads, giving empty neuron groups), with a default or random prefix.
func randomLayout(_ rng: inout PlanTestRNG) -> KnobLayout {
    let kv = Int.random(in: 1...8, using: &rng)
    let heads = kv * Int.random(in: 1...8, using: &rng)
    let total = Int.random(in: 1...48, using: &rng)
    let prefix: Int? = Bool.random(using: &rng) ? nil : Int.random(in: 0...total, using: &rng)
    return try! KnobLayout.make(
        totalLayers: total, heads: heads, kvHeads: kv,
        intermediate: Int.random(in: 1...3000, using: &rng),
        prefixLayers: prefix, schedulerRank: Int.random(in: 1...16, using: &rng))
}

let llava7B = try! KnobLayout.make(totalLayers: 32, heads: 32, kvHeads: 32, intermediate: 11008)
let llava13B = try! KnobLayout.make(totalLayers: 40, heads: 40, kvHeads: 40, intermediate: 13824)

@Suite("knob layout: prefix, H units and the budget → k rule")
struct KnobLayoutTests {
    @Test("LLaVA-1.5-7B: prefix 16, 4 units of 8 heads, 64 H knobs, neuron groups of 344")
    func llava7BLayout() {
        let l = llava7B
        #expect(l.prefixLayers == 16 && l.switchableLayers == 16)
        #expect(l.unitHeads == 8 && l.unitsPerLayer == 4)
        #expect(l.knobCount(.layers) == 16 && l.knobCount(.heads) == 64)
        #expect(l.neuronGroups.count == 32 && l.neuronGroups.allSatisfy { $0.count == 344 })
        #expect((0..<4).map { l.unitHeadRange($0) } == [0..<8, 8..<16, 16..<24, 24..<32])
        #expect((0..<4).map { l.unitKVHeadRange($0) } == [0..<8, 8..<16, 16..<24, 24..<32])
        #expect((0..<4).map { l.unitNeuronRange($0).count } == [2752, 2752, 2752, 2752])
        #expect(l.unitNeuronRange(3) == 8256..<11008)
    }

    @Test("LLaVA-1.5-13B: prefix 20, 5 units; 13824/40 leaves a remainder of 24 for the first groups")
    func llava13BLayout() {
        let l = llava13B
        #expect(l.prefixLayers == 20 && l.unitsPerLayer == 5 && l.knobCount(.heads) == 100)
        #expect(l.neuronGroups.prefix(24).allSatisfy { $0.count == 346 })
        #expect(l.neuronGroups.dropFirst(24).allSatisfy { $0.count == 345 })
        #expect((0..<5).map { l.unitNeuronRange($0).count } == [2768, 2768, 2768, 2760, 2760])
    }

    @Test("TinyLLaVA (22 layers, GQA 32/4): prefix 11, units of 8 heads = one KV head each")
    func tinyLLaVALayout() throws {
        let l = try KnobLayout.make(totalLayers: 22, heads: 32, kvHeads: 4, intermediate: 5632)
        #expect(l.prefixLayers == 11 && l.unitHeads == 8 && l.unitsPerLayer == 4)
        #expect((0..<4).map { l.unitKVHeadRange($0) } == [0..<1, 1..<2, 2..<3, 3..<4])
        #expect(l.unitNeuronRange(1) == 1408..<2816)
    }

    @Test("a tiny GQA model with scheduler rank 2 gets units of 2 heads (one KV head)")
    func tinyRank2() throws {
        let l = try KnobLayout.make(totalLayers: 4, heads: 4, kvHeads: 2, intermediate: 256, schedulerRank: 2)
        #expect(l.prefixLayers == 2 && l.unitHeads == 2 && l.unitsPerLayer == 2 && l.knobCount(.heads) == 4)
        #expect(l.unitKVHeadRange(1) == 1..<2 && l.unitNeuronRange(1) == 128..<256)
    }

    @Test(
        "unitHeads: rank rounded up to the GQA group, capped at heads, raised until it divides heads",
        arguments: [
            (32, 32, 8, 8), (40, 40, 8, 8), (32, 4, 8, 8), (4, 2, 2, 2),
            (12, 3, 8, 12),  // group 4: 8 is a multiple but does not divide 12 → 12
            (12, 12, 8, 12), // group 1: 9, 10, 11 do not divide 12
            (24, 8, 4, 6),   // group 3: 4 → 6
            (40, 8, 8, 10),  // group 5: 8 → 10
            (32, 32, 3, 4), (32, 8, 1, 4), (8, 8, 100, 8), (4, 2, 8, 4), (7, 7, 8, 7),
        ])
    func unitHeadsRule(heads: Int, kvHeads: Int, rank: Int, expected: Int) throws {
        let l = try KnobLayout.make(totalLayers: 2, heads: heads, kvHeads: kvHeads, intermediate: 100, schedulerRank: rank)
        #expect(l.unitHeads == expected)
    }

    @Test("the default prefix is half the decoder; an explicit prefix wins")
    func prefixDefaults() throws {
        for (total, prefix) in [(32, 16), (40, 20), (22, 11), (2, 1), (1, 0), (7, 3)] {
            #expect(try KnobLayout.make(totalLayers: total, heads: 4, kvHeads: 4, intermediate: 8).prefixLayers == prefix)
        }
        let l = try KnobLayout.make(totalLayers: 32, heads: 32, kvHeads: 32, intermediate: 11008, prefixLayers: 8)
        #expect(l.prefixLayers == 8 && l.knobCount(.layers) == 24)
    }

    @Test("neuron groups spread the remainder one each over the first groups (10 over 4 → 3,3,2,2)")
    func neuronRemainder() throws {
        let l = try KnobLayout.make(totalLayers: 2, heads: 4, kvHeads: 4, intermediate: 10, schedulerRank: 1)
        #expect(l.neuronGroups == [0..<3, 3..<6, 6..<8, 8..<10])
        #expect((0..<4).map { l.unitNeuronRange($0) } == l.neuronGroups)
    }

    @Test(
        "nonsense shapes throw invalidLayout",
        arguments: [
            (32, 32, 5, 100, nil, 8),  // heads not a multiple of kvHeads
            (32, 32, 32, 100, 33, 8),  // prefix beyond the decoder
            (32, 32, 32, 100, -1, 8),
            (0, 32, 32, 100, nil, 8), (32, 0, 32, 100, nil, 8), (32, 32, 0, 100, nil, 8),
            (32, 32, 32, 0, nil, 8), (32, 32, 32, 100, nil, 0), (32, -4, -4, 100, nil, 8),
        ] as [(Int, Int, Int, Int, Int?, Int)])
    func invalidLayouts(total: Int, heads: Int, kv: Int, intermediate: Int, prefix: Int?, rank: Int) {
        #expect(throws: AdaptiveError.self) {
            try KnobLayout.make(totalLayers: total, heads: heads, kvHeads: kv, intermediate: intermediate,
                                prefixLayers: prefix, schedulerRank: rank)
        }
    }

    @Test(
        "the paper's budget → k for 7B (L: floor(32b) − 16; H: floor(128b) − 64)",
        arguments: [
            (PlanMode.layers, 1.0, 16), (.layers, 0.85, 11), (.layers, 0.75, 8), (.layers, 0.6, 3),
            (.layers, 0.5, 0), (.layers, 0.3, 0), (.layers, 0.0, 0), (.layers, 0.53125, 1),
            (.heads, 1.0, 64), (.heads, 0.85, 44), (.heads, 0.6, 12), (.heads, 0.5, 0), (.heads, 0.7, 25),
        ])
    func paperBudgets7B(mode: PlanMode, budget: Double, k: Int) throws {
        #expect(try llava7B.enabledKnobs(budget: budget, mode: mode) == k)
    }

    @Test("13B budgets land on the grid too (40·0.85 = 34 → 14 layers, 200·0.85 = 170 → 70 units)")
    func budgets13B() throws {
        #expect(try llava13B.enabledKnobs(budget: 0.85, mode: .layers) == 14)
        #expect(try llava13B.enabledKnobs(budget: 0.85, mode: .heads) == 70)
        #expect(try llava13B.enabledKnobs(budget: 1, mode: .layers) == 20)
    }

    @Test("the encoded budget is k / (knobs + 1): 7B-L units / 17")
    func encodedBudget() throws {
        #expect(try llava7B.encodedBudget(budget: 0.85, mode: .layers) == 11.0 / 17)
        #expect(try llava7B.encodedBudget(budget: 1, mode: .layers) == 16.0 / 17)
        #expect(try llava7B.encodedBudget(budget: 0.5, mode: .layers) == 0)
        #expect(try llava7B.encodedBudget(budget: 1, mode: .heads) == 64.0 / 65)
    }

    @Test("budgets that are not finite numbers in [0, 1] throw invalidBudget",
          arguments: [-0.1, 1.5, Double.nan, .infinity, -.infinity, 1.0000001, -.leastNonzeroMagnitude])
    func invalidBudgets(budget: Double) {
        for mode in PlanMode.allCases {
            #expect(throws: AdaptiveError.invalidBudget("\(budget) is not a number in [0, 1]")) {
                try llava7B.enabledKnobs(budget: budget, mode: mode)
            }
            #expect(throws: AdaptiveError.self) { try llava7B.encodedBudget(budget: budget, mode: mode) }
        }
    }

    @Test("random layouts: units tile heads, KV heads and neurons; groups are contiguous and balanced")
    func unitsTileRandomLayouts() {
        var rng = PlanTestRNG(seed: 11)
        for _ in 0..<300 {
            let l = randomLayout(&rng)
            let group = l.heads / l.kvHeads
            #expect(l.unitHeads % group == 0 && l.heads % l.unitHeads == 0)
            let groups = l.neuronGroups
            #expect(groups.first?.lowerBound == 0 && groups.last?.upperBound == l.intermediate)
            #expect(zip(groups, groups.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(groups.map(\.count).max()! - groups.map(\.count).min()! <= 1)
            var heads = 0, kv = 0, neurons = 0
            for u in 0..<l.unitsPerLayer {
                #expect(l.unitHeadRange(u).lowerBound == heads && l.unitHeadRange(u).count == l.unitHeads)
                #expect(l.unitKVHeadRange(u).lowerBound == kv && l.unitKVHeadRange(u).count == l.unitHeads / group)
                #expect(l.unitNeuronRange(u).lowerBound == neurons)
                heads = l.unitHeadRange(u).upperBound
                kv = l.unitKVHeadRange(u).upperBound
                neurons = l.unitNeuronRange(u).upperBound
            }
            #expect(heads == l.heads && kv == l.kvHeads && neurons == l.intermediate)
        }
    }

    @Test("random layouts: grid budgets j/n give exactly max(0, j − prefix·u) knobs; off-grid ones round down")
    func budgetGridProperty() throws {
        var rng = PlanTestRNG(seed: 12)
        for _ in 0..<300 {
            let l = randomLayout(&rng)
            for mode in PlanMode.allCases {
                let u = mode == .layers ? 1 : l.unitsPerLayer
                let n = l.totalLayers * u
                let j = Int.random(in: 0...n, using: &rng)
                let expected = max(0, j - l.prefixLayers * u)
                #expect(try l.enabledKnobs(budget: Double(j) / Double(n), mode: mode) == expected)
                if j < n {
                    let offGrid = (Double(j) + Double.random(in: 0.01...0.99, using: &rng)) / Double(n)
                    #expect(try l.enabledKnobs(budget: offGrid, mode: mode) == expected)
                }
                let encoded = try l.encodedBudget(budget: Double(j) / Double(n), mode: mode)
                #expect(encoded >= 0 && encoded < 1)
            }
        }
    }

    @Test("Codable round-trips a layout, and decoding one whose units do not tile the heads fails")
    func codable() throws {
        let data = try JSONEncoder().encode(llava13B)
        #expect(try JSONDecoder().decode(KnobLayout.self, from: data) == llava13B)
        let bad = #"{"totalLayers":32,"prefixLayers":16,"heads":32,"kvHeads":32,"intermediate":11008,"unitHeads":5}"#
        #expect(throws: AdaptiveError.self) { try JSONDecoder().decode(KnobLayout.self, from: Data(bad.utf8)) }
    }
}
