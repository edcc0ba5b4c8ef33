import AdaptiveInference
import ArgumentParser
import LLaVAModel

extension PlanMode: ExpressibleByArgument {}

/// Budget, plan and token-selection options shared by `run`, `plan` and `bench plans`.
struct AdaptiveFlags: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Latency budget as a fraction of the full model, in [0, 1] (the paper's relative budget).",
        discussion: "k = max(0, floor(L·b) − P) blocks of the L − P switchable ones run (layers mode; heads mode counts units likewise). 1 runs everything."))
    var budget: Double?

    @Option(help: "Knob granularity: layers (AdaLLaVA-L, whole blocks) or heads (AdaLLaVA-H, head + MLP-neuron units).")
    var mode: PlanMode = .layers

    @Option(help: ArgumentHelp("An explicit execution plan, e.g. L:1111000011110000 or H:1111.1100+fastv(2,0.5); overrides --budget.", valueName: "plan"))
    var plan: String?

    @Option(help: ArgumentHelp("Visual token selection: none, fastv, prumerge or prumerge+.", valueName: "kind"))
    var tokenSelection: String = "none"

    @Option(help: "FastV: drop visual tokens before this decoder block.")
    var fastvK: Int = 2

    @Option(help: ArgumentHelp("FastV: share of visual tokens KEPT, in (0, 1].",
                               discussion: "FastV's paper states R as the share dropped; its R = 50% is --fastv-r 0.5 here, its R = 75% is --fastv-r 0.25."))
    var fastvR: Double = 0.5

    @Option(help: ArgumentHelp("Knob order from this calibration file (see `adallava calibrate`) instead of the scheduler.", valueName: "file"))
    var calibration: String?

    /// The token selection the flags name.
    func selection() throws -> TokenSelection {
        switch tokenSelection {
        case "fastv": return .fastV(k: fastvK, keepRatio: fastvR)
        default: return try TokenSelection(parsing: tokenSelection)
        }
    }

    /// Adaptive options, or nil when no budget, plan or token selection was asked for.
    func options() throws -> AdaptiveOptions? {
        let selection = try selection()
        let parsedPlan = try plan.map { try ExecutionPlan(parsing: $0) }
        guard budget != nil || parsedPlan != nil || selection != .none else { return nil }
        if budget == nil && parsedPlan == nil {
            // Token selection alone: the plain model with fewer visual tokens.
            return AdaptiveOptions(budget: 1, mode: mode, plan: nil, tokenSelection: selection)
        }
        return AdaptiveOptions(budget: budget, mode: parsedPlan?.mode ?? mode, plan: parsedPlan, tokenSelection: selection)
    }
}

/// The adaptive part of a report: one schema for the table and `--json`.
struct AdaptiveReport: Codable {
    var mode: String
    var budget: Double?
    var k: Int
    var knobs: Int
    var plan: String
    var ranking: String
    var latencyToken: Bool
    var imageTokensAfterSelection: Int?
    /// Share of the full model's prefill FLOPs this plan executes.
    var flopsFraction: Double?

    enum CodingKeys: String, CodingKey {
        case mode, budget, k, knobs, plan, ranking, latencyToken = "latency_token"
        case imageTokensAfterSelection = "image_tokens_after_selection", flopsFraction = "flops_fraction"
    }

    init(_ d: AdaptiveDecision, budget: Double?, flopsFraction: Double? = nil) {
        mode = d.plan.mode.rawValue
        self.budget = budget
        k = d.enabledKnobs
        knobs = d.knobs
        plan = d.plan.description
        ranking = d.ranking
        latencyToken = d.latencyToken
        imageTokensAfterSelection = d.imageTokensAfterSelection
        self.flopsFraction = flopsFraction
    }

    var lines: String {
        """
        plan             \(plan)  (\(mode), k = \(k) of \(knobs)\(budget.map { ", budget \($0)" } ?? ""))
        ranking          \(ranking)\(latencyToken ? ", latency token appended" : "")
        """
    }
}
