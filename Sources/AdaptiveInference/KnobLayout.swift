/// Which kind of knob the scheduler switches.
///
/// `layers` is AdaLLaVA-L (a knob is one whole decoder block); `heads` is AdaLLaVA-H (a knob is
/// one unit of attention heads plus their MLP neuron groups inside one block).
public enum PlanMode: String, Codable, CaseIterable, Sendable {
    case layers
    case heads
}

/// How a model's decoder is cut into knobs.
///
/// The first `prefixLayers` blocks always run (the scheduler reads the latency token after
/// them); every later block is either one knob (L mode) or `unitsPerLayer` knobs (H mode).
/// Build it with ``make(totalLayers:heads:kvHeads:intermediate:prefixLayers:schedulerRank:)``,
/// which checks the shape, so the unit arithmetic below never has to.
public struct KnobLayout: Codable, Equatable, Sendable {
    /// Decoder layers.
    public let totalLayers: Int
    /// Layers that always run (16 of 32 for 7B, 20 of 40 for 13B).
    public let prefixLayers: Int
    /// Query heads per layer.
    public let heads: Int
    /// Key/value heads per layer (grouped-query attention when fewer than `heads`).
    public let kvHeads: Int
    /// MLP width (gate/up output, down input).
    public let intermediate: Int
    /// Query heads in one H unit; a multiple of the GQA group size that divides `heads`.
    public let unitHeads: Int

    /// Layers the scheduler may switch.
    public var switchableLayers: Int { totalLayers - prefixLayers }
    /// H units in one layer.
    public var unitsPerLayer: Int { heads / unitHeads }
    /// Query heads sharing one key/value head.
    public var groupSize: Int { heads / kvHeads }

    private init(totalLayers: Int, prefixLayers: Int, heads: Int, kvHeads: Int, intermediate: Int, unitHeads: Int) {
        self.totalLayers = totalLayers
        self.prefixLayers = prefixLayers
        self.heads = heads
        self.kvHeads = kvHeads
        self.intermediate = intermediate
        self.unitHeads = unitHeads
    }

    /// Builds the layout for a decoder shape.
    ///
    /// - `prefixLayers` defaults to the paper's split: 16 of 32 layers (7B), 20 of 40 (13B), and
    ///   half the layers (rounded down) for any other depth.
    /// - `unitHeads` starts from `schedulerRank` (the paper's 8), rounded up to a multiple of the
    ///   GQA group size (`heads / kvHeads`) so a unit never splits a key/value head, capped at
    ///   `heads`, then raised to the next multiple of the group that divides `heads`, so every
    ///   unit is the same size. `heads` itself always qualifies, so this terminates.
    ///
    /// Throws ``AdaptiveError/invalidLayout(_:)`` for non-positive sizes, `heads` not a multiple
    /// of `kvHeads`, or a prefix outside `0...totalLayers`.
    public static func make(
        totalLayers: Int, heads: Int, kvHeads: Int, intermediate: Int,
        prefixLayers: Int? = nil, schedulerRank: Int = 8
    ) throws -> KnobLayout {
        for (name, value) in [("totalLayers", totalLayers), ("heads", heads), ("kvHeads", kvHeads),
                              ("intermediate", intermediate), ("schedulerRank", schedulerRank)] where value <= 0 {
            throw AdaptiveError.invalidLayout("\(name) must be positive, got \(value)")
        }
        guard heads % kvHeads == 0 else {
            throw AdaptiveError.invalidLayout("heads (\(heads)) must be a multiple of kvHeads (\(kvHeads))")
        }
        // Knob counts multiply layers by units; refuse shapes where that could overflow.
        guard !totalLayers.multipliedReportingOverflow(by: heads).overflow else {
            throw AdaptiveError.invalidLayout("\(totalLayers) layers × \(heads) heads is too large")
        }
        let prefix = prefixLayers ?? defaultPrefix(totalLayers: totalLayers)
        guard (0...totalLayers).contains(prefix) else {
            throw AdaptiveError.invalidLayout("prefixLayers must be in 0...\(totalLayers), got \(prefix)")
        }
        let layout = KnobLayout(
            totalLayers: totalLayers, prefixLayers: prefix, heads: heads, kvHeads: kvHeads,
            intermediate: intermediate,
            unitHeads: unitHeads(heads: heads, group: heads / kvHeads, rank: schedulerRank))
        try layout.check()
        return layout
    }

    /// The paper's always-run prefix: half the decoder (16/32, 20/40), which generalises as-is.
    static func defaultPrefix(totalLayers: Int) -> Int { totalLayers / 2 }

    /// The unit size rule documented on `make`.
    static func unitHeads(heads: Int, group: Int, rank: Int) -> Int {
        // Round up without overflow for absurd ranks: the cap at `heads` applies first.
        var size = rank >= heads ? heads : min(heads, (rank + group - 1) / group * group)
        while heads % size != 0 { size += group }
        return size
    }

    /// Re-checks the invariants the unit arithmetic relies on; `make` satisfies them by
    /// construction, decoded JSON might not.
    private func check() throws {
        guard totalLayers > 0, heads > 0, kvHeads > 0, intermediate > 0, unitHeads > 0,
              heads % kvHeads == 0, (0...totalLayers).contains(prefixLayers),
              heads % unitHeads == 0, unitHeads % (heads / kvHeads) == 0
        else {
            throw AdaptiveError.invalidLayout(
                "inconsistent layout: \(totalLayers) layers (prefix \(prefixLayers)), \(heads) heads, "
                    + "\(kvHeads) kv heads, \(intermediate) neurons, \(unitHeads) heads per unit")
        }
    }

    private enum CodingKeys: String, CodingKey {
        case totalLayers, prefixLayers, heads, kvHeads, intermediate, unitHeads
    }

    /// Decodes and validates, so a hand-edited file cannot produce a layout whose units do not
    /// tile the heads (which would make the ranges below wrong rather than failing).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            totalLayers: try c.decode(Int.self, forKey: .totalLayers),
            prefixLayers: try c.decode(Int.self, forKey: .prefixLayers),
            heads: try c.decode(Int.self, forKey: .heads),
            kvHeads: try c.decode(Int.self, forKey: .kvHeads),
            intermediate: try c.decode(Int.self, forKey: .intermediate),
            unitHeads: try c.decode(Int.self, forKey: .unitHeads))
        try check()
    }

    // MARK: Knobs and budgets

    /// Number of knobs: L → `switchableLayers`; H → `switchableLayers · unitsPerLayer`.
    public func knobCount(_ mode: PlanMode) -> Int {
        switch mode {
        case .layers: return switchableLayers
        case .heads: return switchableLayers * unitsPerLayer
        }
    }

    /// Knobs per layer in `mode` (1 for L): the budget counts prefix layers in these units.
    func knobsPerLayer(_ mode: PlanMode) -> Int { mode == .layers ? 1 : unitsPerLayer }

    /// The paper's budget → number of enabled knobs k, generalised to any depth and unit count.
    ///
    /// L: `k = max(0, floor(totalLayers·b) − prefixLayers)`;
    /// H: `k = max(0, floor(totalLayers·unitsPerLayer·b) − prefixLayers·unitsPerLayer)`;
    /// both clamped to ``knobCount(_:)``. The budget is the fraction of the decoder executed,
    /// prefix included, so any budget at or below `prefix/total` gives k = 0 (the prefix still runs).
    /// For 7B, L: b = 1 → 16, 0.85 → 11, 0.6 → 3, 0.5 → 0; H: b = 1 → 64.
    ///
    /// The product is floored after adding 1e-9, because e.g. `32 · 0.85` is 27.199999… in
    /// binary and `0.7 · 10` is 6.9999…; the grid values users type must land on their knob
    /// count. 1e-9 is far above the rounding error of a product of ≤ 10⁶ and far below the grid
    /// spacing (1), so it never moves a genuinely off-grid budget.
    ///
    /// Throws ``AdaptiveError/invalidBudget(_:)`` unless `budget` is finite and in [0, 1].
    public func enabledKnobs(budget: Double, mode: PlanMode) throws -> Int {
        guard budget.isFinite, (0...1).contains(budget) else {
            throw AdaptiveError.invalidBudget("\(budget) is not a number in [0, 1]")
        }
        let perLayer = knobsPerLayer(mode)
        let executed = Int((Double(totalLayers * perLayer) * budget + 1e-9).rounded(.down))
        return min(knobCount(mode), max(0, executed - prefixLayers * perLayer))
    }

    /// The value the latency encoder embeds: the budget quantised to the knob grid,
    /// `k / (knobCount + 1)` (the paper's `units / 17` for 7B-L).
    public func encodedBudget(budget: Double, mode: PlanMode) throws -> Double {
        let k = try enabledKnobs(budget: budget, mode: mode)
        return Double(k) / Double(knobCount(mode) + 1)
    }

    // MARK: H units

    /// MLP neuron groups, one per query head: `intermediate / heads` neurons each, the remainder
    /// spread one each over the first groups (as the reference code does). Contiguous ranges
    /// covering `0..<intermediate` in order.
    public var neuronGroups: [Range<Int>] {
        (0..<heads).map { neuronGroupStart($0)..<neuronGroupStart($0 + 1) }
    }

    /// First neuron of group `g` (for `g == heads`: `intermediate`), in closed form so unit
    /// ranges need not build the whole array.
    private func neuronGroupStart(_ g: Int) -> Int {
        g * (intermediate / heads) + min(g, intermediate % heads)
    }

    /// Query heads of H unit `u`: a contiguous block of `unitHeads` heads.
    public func unitHeadRange(_ u: Int) -> Range<Int> {
        precondition((0..<unitsPerLayer).contains(u), "unit \(u) outside 0..<\(unitsPerLayer)")
        return (u * unitHeads)..<((u + 1) * unitHeads)
    }

    /// Key/value heads of H unit `u`. Contiguous, and because `unitHeads` is a multiple of the
    /// GQA group, a unit always owns whole key/value heads (no head is shared between units).
    public func unitKVHeadRange(_ u: Int) -> Range<Int> {
        precondition((0..<unitsPerLayer).contains(u), "unit \(u) outside 0..<\(unitsPerLayer)")
        let perUnit = unitHeads / groupSize
        return (u * perUnit)..<((u + 1) * perUnit)
    }

    /// MLP neurons of H unit `u`: the union of the neuron groups of its heads, contiguous because
    /// its heads are.
    public func unitNeuronRange(_ u: Int) -> Range<Int> {
        let h = unitHeadRange(u)
        return neuronGroupStart(h.lowerBound)..<neuronGroupStart(h.upperBound)
    }
}
