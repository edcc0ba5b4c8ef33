/// What one request executes: which switchable layers (L mode) or head/neuron units (H mode)
/// run, plus the token selection. Computed once at prefill and reused for every decode step.
///
/// In H mode a layer whose units are all off is skipped entirely — attention *and* MLP — so the
/// residual stream passes through unchanged, exactly like a switched-off block in L mode.
/// (With zero heads and zero neurons both sub-blocks would add zero anyway; skipping also avoids
/// their norms and empty matmuls.)
///
/// Plans are plain values: build them with ``full(_:mode:tokenSelection:)``,
/// ``enabling(_:layout:mode:tokenSelection:)`` or ``init(parsing:)``, then check them against a
/// model with ``validate(against:)`` before running.
public struct ExecutionPlan: Equatable, Codable, Sendable, CustomStringConvertible {
    public var mode: PlanMode
    /// L mode: one flag per switchable layer (index 0 = layer `prefixLayers`). Empty in H mode.
    public var layers: [Bool]
    /// H mode: per switchable layer, one flag per unit. Empty in L mode.
    public var units: [[Bool]]
    public var tokenSelection: TokenSelection

    public init(mode: PlanMode, layers: [Bool] = [], units: [[Bool]] = [], tokenSelection: TokenSelection = .none) {
        self.mode = mode
        self.layers = layers
        self.units = units
        self.tokenSelection = tokenSelection
    }

    /// Everything on: the plan of budget 1.
    public static func full(_ layout: KnobLayout, mode: PlanMode, tokenSelection: TokenSelection = .none) -> ExecutionPlan {
        enabling(Array(0..<layout.knobCount(mode)), layout: layout, mode: mode, tokenSelection: tokenSelection)
    }

    /// The plan with exactly the given knobs on (L: switchable layer index; H:
    /// `layer · unitsPerLayer + unit`, layer counted from the first switchable one) and every
    /// other knob off — the scheduler's top-k turned into a plan. Repeated indices are harmless.
    /// An index outside `0..<knobCount(mode)` is a programming error and traps.
    public static func enabling(
        _ knobs: [Int], layout: KnobLayout, mode: PlanMode, tokenSelection: TokenSelection = .none
    ) -> ExecutionPlan {
        let count = layout.knobCount(mode)
        var flags = [Bool](repeating: false, count: count)
        for knob in knobs {
            precondition((0..<count).contains(knob), "knob \(knob) outside 0..<\(count) (\(mode))")
            flags[knob] = true
        }
        switch mode {
        case .layers:
            return ExecutionPlan(mode: mode, layers: flags, tokenSelection: tokenSelection)
        case .heads:
            let u = layout.unitsPerLayer
            let units = (0..<layout.switchableLayers).map { Array(flags[($0 * u)..<(($0 + 1) * u)]) }
            return ExecutionPlan(mode: mode, units: units, tokenSelection: tokenSelection)
        }
    }

    // MARK: Text form

    /// The compact, stable string; ``init(parsing:)`` reads it back to an equal plan.
    ///
    /// L mode: `"L:"` + one `1`/`0` per switchable layer (`"L:1111111111100000"`). H mode: `"H:"` +
    /// each switchable layer's unit bits, layers separated by `.` (`"H:1111.1101.0000"`). Then,
    /// unless token selection is none, `"+"` and its option string (`"L:1111+fastv(2,0.5)"`,
    /// `"H:11.01+prumerge+"`). A plan with no switchable layers prints as `"L:"` / `"H:"`.
    public var description: String {
        let bits: String
        switch mode {
        case .layers: bits = "L:" + Self.bitString(layers)
        case .heads: bits = "H:" + units.map(Self.bitString).joined(separator: ".")
        }
        return tokenSelection == .none ? bits : bits + "+" + tokenSelection.description
    }

    private static func bitString(_ flags: [Bool]) -> String {
        String(flags.map { $0 ? "1" : "0" })
    }

    /// Parses the form ``description`` prints. Only the shape of the text is checked here; whether
    /// the plan fits a model is ``validate(against:)``'s job.
    ///
    /// Throws ``AdaptiveError/invalidPlan(plan:reason:)`` with a reason naming the bad part; any
    /// input (empty, huge, arbitrary Unicode) either parses or throws, never traps.
    public init(parsing text: String) throws {
        func failure(_ reason: String) -> AdaptiveError {
            .invalidPlan(plan: planExcerpt(text, limit: 80), reason: reason)
        }
        // The bits never contain '+', so the first one starts the token selection (which may
        // itself end in '+', as in "prumerge+").
        let body: Substring
        var selection = TokenSelection.none
        if let plus = text.firstIndex(of: "+") {
            body = text[..<plus]
            let option = text[text.index(after: plus)...]
            guard !option.isEmpty else { throw failure("nothing after '+' (expected a token selection)") }
            do {
                selection = try TokenSelection(parsing: String(option))
            } catch let AdaptiveError.invalidTokenSelection(reason) {
                throw failure("token selection '\(planExcerpt(option))': \(reason)")
            }
        } else {
            body = text[...]
        }

        let mode: PlanMode
        if body.hasPrefix("L:") {
            mode = .layers
        } else if body.hasPrefix("H:") {
            mode = .heads
        } else {
            throw failure("starts with '\(planExcerpt(body.prefix(2)))', expected 'L:' or 'H:'")
        }
        let bits = body.dropFirst(2)

        switch mode {
        case .layers:
            self.init(mode: mode, layers: try Self.parseBits(bits, what: "layer bits", failure), tokenSelection: selection)
        case .heads:
            // "H:" alone is the plan with no switchable layers, not one layer with no units.
            let groups = bits.isEmpty ? [] : bits.split(separator: ".", omittingEmptySubsequences: false)
            var units: [[Bool]] = []
            units.reserveCapacity(groups.count)
            for (i, group) in groups.enumerated() {
                guard !group.isEmpty else { throw failure("switchable layer \(i) has no unit bits") }
                units.append(try Self.parseBits(group, what: "unit bits of switchable layer \(i)", failure))
            }
            self.init(mode: mode, units: units, tokenSelection: selection)
        }
    }

    private static func parseBits(
        _ text: Substring, what: String, _ failure: (String) -> AdaptiveError
    ) throws -> [Bool] {
        var flags: [Bool] = []
        flags.reserveCapacity(text.utf8.count)
        for (i, ch) in text.enumerated() {
            switch ch {
            case "1": flags.append(true)
            case "0": flags.append(false)
            default: throw failure("\(what): character \(i) is '\(ch)', expected '0' or '1'")
            }
        }
        return flags
    }

    // MARK: Fitting a model

    /// Checks the plan's shape against `layout`: L mode needs one flag per switchable layer and no
    /// unit flags; H mode needs `unitsPerLayer` flags for each switchable layer and no layer flags;
    /// the token selection must fit the decoder (FastV K below `totalLayers`, …).
    /// Throws ``AdaptiveError/planDoesNotFit(plan:reason:)``.
    public func validate(against layout: KnobLayout) throws {
        func failure(_ reason: String) -> AdaptiveError {
            .planDoesNotFit(plan: planExcerpt(description, limit: 80), reason: reason)
        }
        let switchable = "this model has \(layout.switchableLayers) switchable layers "
            + "(\(layout.totalLayers) minus a prefix of \(layout.prefixLayers))"
        switch mode {
        case .layers:
            guard units.isEmpty else { throw failure("an L-mode plan must not carry unit flags") }
            guard layers.count == layout.switchableLayers else {
                throw failure("\(layers.count) layer bits, but \(switchable)")
            }
        case .heads:
            guard layers.isEmpty else { throw failure("an H-mode plan must not carry layer flags") }
            guard units.count == layout.switchableLayers else {
                throw failure("\(units.count) layers of unit bits, but \(switchable)")
            }
            if let bad = units.firstIndex(where: { $0.count != layout.unitsPerLayer }) {
                throw failure("layer \(layout.prefixLayers + bad) has \(units[bad].count) unit bits, "
                    + "expected \(layout.unitsPerLayer) (\(layout.heads) heads / \(layout.unitHeads) per unit)")
            }
        }
        do {
            try tokenSelection.validate(totalLayers: layout.totalLayers)
        } catch let AdaptiveError.invalidTokenSelection(reason) {
            throw failure(reason)
        }
    }

    // MARK: Queries

    /// Knobs switched on (layers in L mode, units in H mode; the prefix is not counted).
    public var enabledKnobCount: Int {
        switch mode {
        case .layers: return layers.lazy.filter { $0 }.count
        case .heads: return units.reduce(0) { $0 + $1.lazy.filter { $0 }.count }
        }
    }

    /// Whether decoder layer `layer` runs: prefix layers always; L mode: its flag; H mode: when any
    /// of its units is on (a layer with no unit on is skipped, attention and MLP both). Indices
    /// outside the decoder, or beyond an unvalidated plan's flags, answer `false` rather than trap.
    public func runsLayer(_ layer: Int, layout: KnobLayout) -> Bool {
        guard (0..<layout.totalLayers).contains(layer) else { return false }
        if layer < layout.prefixLayers { return true }
        let i = layer - layout.prefixLayers
        switch mode {
        case .layers: return i < layers.count && layers[i]
        case .heads: return i < units.count && units[i].contains(true)
        }
    }

    /// The H units decoder layer `layer` runs: all of them in prefix layers and in L-mode layers
    /// that run, the flagged ones in H mode, `[]` for a skipped layer (or an index outside the
    /// decoder). The engine slices heads and neurons by these.
    public func activeUnits(layer: Int, layout: KnobLayout) -> [Int] {
        guard runsLayer(layer, layout: layout) else { return [] }
        let all = Array(0..<layout.unitsPerLayer)
        guard layer >= layout.prefixLayers, mode == .heads else { return all }
        let flags = units[layer - layout.prefixLayers]
        // An unvalidated plan may carry more flags than the layout has units; ignore the extras.
        return all.filter { $0 < flags.count && flags[$0] }
    }

    /// Switches decoder layer `layer` off: its flag in L mode, all its units in H mode. Prefix
    /// layers and indices outside the plan are left alone (they cannot be switched).
    public mutating func switchOff(layer: Int, layout: KnobLayout) {
        let i = layer - layout.prefixLayers
        switch mode {
        case .layers: if layers.indices.contains(i) { layers[i] = false }
        case .heads: if units.indices.contains(i) { units[i] = units[i].map { _ in false } }
        }
    }

    /// Fraction of the decoder's knobs enabled, counting the prefix, as the paper's budget does:
    /// `(prefixLayers·u + enabled) / (totalLayers·u)`, u = 1 in L mode, `unitsPerLayer` in H mode.
    /// For a plan from ``enabling(_:layout:mode:tokenSelection:)`` with
    /// `k = layout.enabledKnobs(budget: b, …)`, this is `b` rounded down to the knob grid
    /// (and at least the prefix fraction).
    public func keptFraction(layout: KnobLayout) -> Double {
        let u = layout.knobsPerLayer(mode)
        return Double(layout.prefixLayers * u + enabledKnobCount) / Double(layout.totalLayers * u)
    }
}
