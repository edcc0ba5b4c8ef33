import AdaptiveInference
import ArgumentParser
import Foundation
import LLaVAModel
import Profiling
import TensorKernels

/// `adallava bench plans`: measured prefill under AdaLLaVA plans vs the FLOPs they keep.
struct BenchPlans: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plans",
        abstract: "Time prefill under budgets, modes and FastV, next to the FLOPs fraction each plan keeps.",
        discussion: """
        One image prompt of --prompt-tokens tokens (the image's features plus text) is encoded \
        once; then, for every budget × mode (and with FastV in layers mode when --fastv), one \
        warm-up and --repeats prefills run through the adaptive engine. Reported: the plan, k, \
        median/min/max prefill time, the share of the full model's prefill FLOPs the plan \
        executes, and the median time over the full plan's, measured in the same run.

        EXAMPLE
          adallava bench plans --model tinyllava-1.1b --prompt-tokens 600 --budgets 1,0.85,0.75,0.6,0.5 --fastv
        """
    )

    @Option(help: ArgumentHelp("Preset or checkpoint directory.", valueName: "dir|preset"))
    var model: String = "tinyllava-1.1b"

    @Option(help: "Seed of a preset's synthetic weights and image.")
    var seed: UInt64 = 0

    @Option(help: "Prompt length in tokens, image features included.")
    var promptTokens: Int = 600

    @Option(help: ArgumentHelp("Budgets, comma-separated.", valueName: "b,b"))
    var budgets: String = "1,0.85,0.75,0.6,0.5"

    @Option(help: ArgumentHelp("Modes, comma-separated.", valueName: "layers,heads"))
    var modes: String = "layers,heads"

    @Flag(help: "Also measure each budget with FastV (layers mode).")
    var fastv = false

    @Option(help: "FastV K.") var fastvK: Int = 2
    @Option(help: "FastV kept share R.") var fastvR: Double = 0.5

    @Option(help: ArgumentHelp("How partly-on H blocks run, comma-separated: copy (weights sliced once per plan), strided (GEMMs on sub-blocks).", valueName: "copy,strided"))
    var slicing: String = SlicingStrategy.default.rawValue

    @Option(help: "OpenBLAS threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed repetitions per configuration (after one warm-up).")
    var repeats: Int = 2

    @Option(help: ArgumentHelp("Knob order from this calibration file instead of the scheduler.", valueName: "file"))
    var calibration: String?

    @Flag(help: "Print CSV instead of the table.") var csv = false
    @OptionGroup var output: OutputOptions

    mutating func validate() throws {
        if repeats < 1 { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
        if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        _ = try budgetList()
        _ = try modeList()
        _ = try slicingList()
    }

    func budgetList() throws -> [Double] {
        try budgets.split(separator: ",").map {
            guard let b = Double($0.trimmingCharacters(in: .whitespaces)), b.isFinite, (0...1).contains(b) else {
                throw ValidationError("--budgets: '\($0)' is not a budget in [0, 1]")
            }
            return b
        }
    }

    func modeList() throws -> [PlanMode] {
        try modes.split(separator: ",").map {
            guard let m = PlanMode(rawValue: String($0)) else { throw ValidationError("--modes: '\($0)' is not layers or heads") }
            return m
        }
    }

    func slicingList() throws -> [SlicingStrategy] {
        try slicing.split(separator: ",").map {
            guard let s = SlicingStrategy(rawValue: String($0)) else { throw ValidationError("--slicing: '\($0)' is not copy or strided") }
            return s
        }
    }

    func run() throws {
        reportBLASKernels()
        let spec = try ModelSpec.resolve(model, seed: seed)
        try spec.checkFits(contextTokens: promptTokens + 2)
        progress("building \(model) (\(spec.origin))")
        BLAS.setThreads(threads)
        let loaded = try spec.load(calibrationPath: calibration)
        let bench = PlanBenchmark(model: loaded, label: model, pixels: loaded.syntheticPixels(seed: seed), promptTokens: promptTokens)
        var configs: [AdaptiveOptions] = [AdaptiveOptions(budget: 1, mode: .layers)]
        for mode in try modeList() {
            for b in try budgetList() where !(b == 1 && mode == .layers) {
                for s in try slicingList() where mode == .heads || s == SlicingStrategy.default {
                    configs.append(AdaptiveOptions(budget: b, mode: mode, slicing: s))
                }
            }
        }
        if fastv {
            let selection = TokenSelection.fastV(k: fastvK, keepRatio: fastvR)
            try selection.validate(totalLayers: spec.config.textConfig.numHiddenLayers)
            for b in try budgetList() { configs.append(AdaptiveOptions(budget: b, mode: .layers, tokenSelection: selection)) }
        }
        var rows: [PlanBenchmarkRow] = []
        for options in configs {
            rows.append(try bench.row(options, threads: threads, repeats: repeats, baselineMs: rows.first?.medianMs,
                                      progress: progress))
        }
        let provenance = Provenance.current(threads: threads)
        try printRows(rows, provenance: provenance, json: output.json, csv: csv,
                      title: "model \(model), \(rows.first?.promptTokens ?? 0)-token prompt (\(bench.features.rows) image features), \(threads) thread(s), knob order: \(loaded.ranking.source)")
    }
}

