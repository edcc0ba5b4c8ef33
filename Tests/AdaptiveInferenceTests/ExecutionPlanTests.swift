import Foundation
import Testing
@testable import AdaptiveInference

/// Three switchable layers of four units: small enough to write plan strings by hand.
let handLayout = try! KnobLayout.make(totalLayers: 6, heads: 8, kvHeads: 4, intermediate: 64, schedulerRank: 2)

/// A token selection that fits a decoder of `totalLayers` layers.
func randomSelection(totalLayers: Int, _ rng: inout PlanTestRNG) -> TokenSelection {
    switch Int.random(in: 0..<4, using: &rng) {
    case 1: return .pruMerge
    case 2: return .pruMergePlus
    case 3 where totalLayers > 1:
        let ratios = [1.0, 0.5, 0.25, .leastNonzeroMagnitude, Double.random(in: 0.000_001...1, using: &rng)]
        return .fastV(k: Int.random(in: 1..<totalLayers, using: &rng), keepRatio: ratios.randomElement(using: &rng)!)
    default: return .none
    }
}

/// A plan of random bits with the layout's shape.
func randomPlan(_ l: KnobLayout, mode: PlanMode, _ rng: inout PlanTestRNG) -> ExecutionPlan {
    let bits = (0..<l.knobCount(mode)).filter { _ in Bool.random(using: &rng) }
    return .enabling(bits, layout: l, mode: mode, tokenSelection: randomSelection(totalLayers: l.totalLayers, &rng))
}

/// Which case an error is, so tests can check the kind without repeating its message.
func adaptiveErrorKind(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as AdaptiveError {
        switch error {
        case .invalidBudget: return "invalidBudget"
        case .invalidPlan: return "invalidPlan"
        case .planDoesNotFit: return "planDoesNotFit"
        case .invalidTokenSelection: return "invalidTokenSelection"
        case .invalidLayout: return "invalidLayout"
        }
    } catch {
        return "foreign error \(error)"
    }
}

@Suite("execution plans: building, the text form, fitting a model")
struct ExecutionPlanTests {
    @Test("the 7B budget-0.85 L plan prints as eleven 1s then five 0s and keeps 27/32 of the decoder")
    func llava7BPlan() throws {
        let k = try llava7B.enabledKnobs(budget: 0.85, mode: .layers)
        let plan = ExecutionPlan.enabling(Array(0..<k), layout: llava7B, mode: .layers)
        #expect(plan.description == "L:1111111111100000")
        #expect(plan.enabledKnobCount == 11 && plan.keptFraction(layout: llava7B) == 27.0 / 32)
        #expect(ExecutionPlan.full(llava7B, mode: .heads).description == "H:" + Array(repeating: "1111", count: 16).joined(separator: "."))
        #expect(ExecutionPlan.full(llava7B, mode: .heads).keptFraction(layout: llava7B) == 1)
    }

    @Test("H knob index = layer · unitsPerLayer + unit; token selection follows a '+'")
    func handWrittenStrings() throws {
        let plan = ExecutionPlan.enabling([0, 1, 2, 3, 4, 5, 7], layout: handLayout, mode: .heads)
        #expect(plan.description == "H:1111.1101.0000")
        #expect(plan.keptFraction(layout: handLayout) == (12.0 + 7) / 24)
        var withSelection = plan
        withSelection.tokenSelection = .pruMergePlus
        #expect(withSelection.description == "H:1111.1101.0000+prumerge+")
        let l = ExecutionPlan(mode: .layers, layers: [true, true, true, true], tokenSelection: .defaultFastV)
        #expect(l.description == "L:1111+fastv(2,0.5)")
        #expect(try ExecutionPlan(parsing: "H:11.01+prumerge+") == ExecutionPlan(mode: .heads, units: [[true, true], [false, true]], tokenSelection: .pruMergePlus))
        #expect(try ExecutionPlan(parsing: "L:") == ExecutionPlan(mode: .layers))
        #expect(try ExecutionPlan(parsing: "H:") == ExecutionPlan(mode: .heads))
        #expect(try ExecutionPlan(parsing: "L:10+none") == ExecutionPlan(mode: .layers, layers: [true, false]))
        #expect(try ExecutionPlan(parsing: "L:1+FastV(3,0.25)").tokenSelection == .fastV(k: 3, keepRatio: 0.25))
    }

    @Test(
        "malformed plan strings throw invalidPlan",
        arguments: [
            "", "X:101", "l:11", "L11", "L:10a1", "L: 11", "L:11 ", "H:11..01", "H:11.", "H:.11", "H:1 1",
            "L:11+", "L:11+prumerge++", "L:11+fastv(a,b)", "L:11+fastv(0,0.5)", "L:11+fastv(2,0)",
            "L:11+fastv(2,1.5)", "L:1\u{301}1", "H:11\u{FF0E}01", "L:１１", "+fastv", "L:+prumerge+extra",
        ])
    func malformedPlans(text: String) {
        #expect(adaptiveErrorKind { _ = try ExecutionPlan(parsing: text) } == "invalidPlan")
    }

    @Test("the parse error names the bad part")
    func parseErrorsNameTheBadPart() {
        #expect(throws: AdaptiveError.invalidPlan(plan: "L:10a1", reason: "layer bits: character 2 is 'a', expected '0' or '1'")) {
            try ExecutionPlan(parsing: "L:10a1")
        }
        #expect(throws: AdaptiveError.invalidPlan(plan: "H:11..01", reason: "switchable layer 1 has no unit bits")) {
            try ExecutionPlan(parsing: "H:11..01")
        }
    }

    @Test("plans whose shape does not match the layout fail validate with planDoesNotFit")
    func shapeMismatches() throws {
        let bad: [ExecutionPlan] = [
            ExecutionPlan(mode: .layers, layers: [true, true]),  // 3 switchable layers
            ExecutionPlan(mode: .layers, layers: [true, true, true], units: [[true]]),
            ExecutionPlan(mode: .heads, units: [[true, true, true, true], [true, true, true, true]]),
            ExecutionPlan(mode: .heads, units: [[true, true, true, true], [true, true, true], [true, true, true, true]]),
            ExecutionPlan(mode: .heads, layers: [true], units: Array(repeating: [true, true, true, true], count: 3)),
            try ExecutionPlan(parsing: "L:111+fastv(6,0.5)"),  // K must be below the 6 layers
            ExecutionPlan(mode: .layers, layers: [true, true, true], tokenSelection: .fastV(k: 0, keepRatio: 0.5)),
        ]
        for plan in bad {
            #expect(adaptiveErrorKind { try plan.validate(against: handLayout) } == "planDoesNotFit", "\(plan)")
        }
        #expect(throws: Never.self) { try ExecutionPlan(parsing: "L:111+fastv(5,0.5)").validate(against: handLayout) }
    }

    @Test("prefix layers always run; an H layer with no unit on is skipped (attention and MLP)")
    func layerQueries() throws {
        let h = try ExecutionPlan(parsing: "H:1111.0100.0000")
        #expect((0..<6).map { h.runsLayer($0, layout: handLayout) } == [true, true, true, true, true, false])
        #expect(h.activeUnits(layer: 0, layout: handLayout) == [0, 1, 2, 3])
        #expect(h.activeUnits(layer: 4, layout: handLayout) == [1])
        #expect(h.activeUnits(layer: 5, layout: handLayout) == [])
        let l = try ExecutionPlan(parsing: "L:101")
        #expect((0..<6).map { l.runsLayer($0, layout: handLayout) } == [true, true, true, true, false, true])
        #expect(l.activeUnits(layer: 5, layout: handLayout) == [0, 1, 2, 3])
        #expect(l.activeUnits(layer: 4, layout: handLayout) == [])
        for plan in [h, l, ExecutionPlan(mode: .heads), ExecutionPlan(mode: .layers, layers: [true])] {
            // Outside the decoder, or past an unvalidated plan's flags: false, not a trap.
            #expect(!plan.runsLayer(-1, layout: handLayout) && !plan.runsLayer(6, layout: handLayout))
            #expect(!plan.runsLayer(5, layout: handLayout) || plan == l)
        }
    }

    @Test("random layouts and budgets: enabling the top k gives exactly k knobs, fits, and keeps b on the grid")
    func topKProperty() throws {
        var rng = PlanTestRNG(seed: 21)
        for _ in 0..<300 {
            let l = randomLayout(&rng)
            for mode in PlanMode.allCases {
                let budget = Bool.random(using: &rng)
                    ? Double(Int.random(in: 0...20, using: &rng)) / 20 : Double.random(in: 0...1, using: &rng)
                let k = try l.enabledKnobs(budget: budget, mode: mode)
                let topK = Array((0..<l.knobCount(mode)).shuffled(using: &rng).prefix(k))
                let plan = ExecutionPlan.enabling(topK, layout: l, mode: mode)
                #expect(plan.enabledKnobCount == k)
                #expect(throws: Never.self) { try plan.validate(against: l) }
                let u = Double(mode == .layers ? 1 : l.unitsPerLayer)
                let kept = plan.keptFraction(layout: l)
                // Rounded down to the grid, but never below the always-run prefix.
                #expect(kept <= max(budget, Double(l.prefixLayers) / Double(l.totalLayers)) + 1e-9)
                #expect(kept > budget - 1 / (Double(l.totalLayers) * u) - 1e-9)
                let runs = (0..<l.totalLayers).filter { plan.runsLayer($0, layout: l) }.count
                let active = (0..<l.totalLayers).reduce(0) { $0 + plan.activeUnits(layer: $1, layout: l).count }
                if mode == .layers { #expect(runs == l.prefixLayers + k) }
                if mode == .heads { #expect(active == l.prefixLayers * l.unitsPerLayer + k) }
            }
        }
    }

    @Test("random plans (both modes, random token selection) round-trip through their string and JSON")
    func roundTripProperty() throws {
        var rng = PlanTestRNG(seed: 22)
        for _ in 0..<400 {
            let l = randomLayout(&rng)
            let plan = randomPlan(l, mode: PlanMode.allCases.randomElement(using: &rng)!, &rng)
            #expect(try ExecutionPlan(parsing: plan.description) == plan, "\(plan)")
            #expect(throws: Never.self) { try plan.validate(against: l) }
            let json = try JSONEncoder().encode(plan)
            #expect(try JSONDecoder().decode(ExecutionPlan.self, from: json) == plan)
        }
    }

    @Test("random strings and mutated plan strings never trap the parser: they parse (and round-trip) or throw AdaptiveError")
    func parserFuzz() throws {
        var rng = PlanTestRNG(seed: 23)
        let alphabet = Array("LH:01.+()fastvprumerge,0.5e-nanif9 lh\u{301}é🙂\u{0}\n\r\n١")
        func check(_ text: String) {
            do {
                let plan = try ExecutionPlan(parsing: text)
                #expect(try ExecutionPlan(parsing: plan.description) == plan, "\(text)")
            } catch is AdaptiveError {
            } catch {
                Issue.record("foreign error \(error) for \(text.debugDescription)")
            }
        }
        for _ in 0..<400 {
            check(String((0..<Int.random(in: 0...24, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
            var chars = Array(randomPlan(randomLayout(&rng), mode: .heads, &rng).description)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0...chars.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: chars.insert(alphabet.randomElement(using: &rng)!, at: at)
                case 1 where at < chars.count: chars.remove(at: at)
                default: if at < chars.count { chars[at] = alphabet.randomElement(using: &rng)! }
                }
            }
            check(String(chars))
        }
        for huge in ["L:" + String(repeating: "1", count: 200_000), "H:" + String(repeating: "10.", count: 50_000) + "1",
                     String(repeating: "🙂", count: 100_000), "L:1+fastv(99999999999999999999999,0.5)",
                     "L:1+fastv(2," + String(repeating: "9", count: 5000) + ")", "L:1+fastv(2,nan)", "L:1+fastv(2,-inf)",
                     "L:1+" + String(repeating: "+", count: 10_000)] {
            check(huge)
        }
        #expect(try ExecutionPlan(parsing: "L:" + String(repeating: "1", count: 200_000)).enabledKnobCount == 200_000)
    }
}

@Suite("token selection options: parsing and validation (ExecutionPlan)")
struct ExecutionPlanTokenSelectionTests {
    @Test(
        "good option strings parse and print canonically",
        arguments: [
            ("none", TokenSelection.none, ""), ("", .none, ""), ("fastv", .fastV(k: 2, keepRatio: 0.5), "fastv(2,0.5)"),
            ("fastv(2,0.5)", .fastV(k: 2, keepRatio: 0.5), "fastv(2,0.5)"), ("fastv(3,1)", .fastV(k: 3, keepRatio: 1), "fastv(3,1.0)"),
            ("fastv(10,0.125)", .fastV(k: 10, keepRatio: 0.125), "fastv(10,0.125)"), ("FastV(02,.5)", .fastV(k: 2, keepRatio: 0.5), "fastv(2,0.5)"),
            ("prumerge", .pruMerge, "prumerge"), ("prumerge+", .pruMergePlus, "prumerge+"), ("PruMerge+", .pruMergePlus, "prumerge+"),
        ])
    func goodForms(text: String, expected: TokenSelection, canonical: String) throws {
        let parsed = try TokenSelection(parsing: text)
        #expect(parsed == expected && parsed.description == canonical)
        #expect(try TokenSelection(parsing: canonical) == expected)
    }

    @Test(
        "bad option strings throw invalidTokenSelection",
        arguments: [
            "prumerge++", "fastv(a,b)", "fastv(2)", "fastv()", "fastv(", "fastv(2,0.5", "fastv(2,0.5,1)", "fastv(+2,0.5)",
            "fastv(-1,0.5)", "fastv(2, 0.5)", "fastv(0,0.5)", "fastv(2,0)", "fastv(2,1.5)", "fastv(2,nan)", "fastv(2,inf)",
            "fastv(2,-0.5)", "fast", "pru", "nonee", " none", "fastv(99999999999999999999,0.5)",
        ])
    func badForms(text: String) {
        #expect(adaptiveErrorKind { _ = try TokenSelection(parsing: text) } == "invalidTokenSelection")
    }

    @Test("validate bounds FastV K by the decoder and R to (0, 1]; the others always fit")
    func validation() throws {
        #expect(throws: Never.self) { try TokenSelection.fastV(k: 31, keepRatio: 1).validate(totalLayers: 32) }
        for bad in [TokenSelection.fastV(k: 0, keepRatio: 0.5), .fastV(k: 32, keepRatio: 0.5), .fastV(k: 2, keepRatio: 0),
                    .fastV(k: 2, keepRatio: 1.5), .fastV(k: 2, keepRatio: .nan), .fastV(k: 2, keepRatio: .infinity)] {
            #expect(adaptiveErrorKind { try bad.validate(totalLayers: 32) } == "invalidTokenSelection", "\(bad)")
        }
        for ok in [TokenSelection.none, .pruMerge, .pruMergePlus] {
            #expect(throws: Never.self) { try ok.validate(totalLayers: 1) }
        }
    }

    @Test("Codable stores the option string")
    func codable() throws {
        for s in [TokenSelection.none, .pruMerge, .pruMergePlus, .fastV(k: 4, keepRatio: 0.3)] {
            let json = try JSONEncoder().encode([s])
            #expect(try JSONDecoder().decode([TokenSelection].self, from: json) == [s])
        }
        #expect(String(decoding: try JSONEncoder().encode([TokenSelection.none]), as: UTF8.self) == #"["none"]"#)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([TokenSelection].self, from: Data(#"["fastv(0,1)"]"#.utf8)) }
    }
}
