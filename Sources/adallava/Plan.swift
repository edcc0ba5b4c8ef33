import AdaptiveInference
import ArgumentParser
import Foundation
import LLaVAModel
import TensorKernels

/// `adallava plan`: the execution plan a budget gives, without running the request.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the execution plan a budget gives, without running the request.",
        discussion: """
        Prints the plan string, k (knobs enabled) and where the knob order came from. When \
        the model has a scheduler (every preset: synthetic weights) and 0 < k < all, the plan \
        depends on the input, so the vision tower and the prefix blocks run on --tokens \
        (default 1) to read the scheduler; nothing after them runs.

        EXAMPLES
          adallava plan --model llava-1.5-7b --budget 0.85 --calibration cal.json --json
          adallava plan --model tinyllava-1.1b --budget 0.6 --mode heads
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup(title: "Adaptive execution") var adaptiveFlags: AdaptiveFlags

    @Option(help: ArgumentHelp("Prompt token ids the scheduler reads, comma-separated.", valueName: "ids"))
    var tokens: String = "1"

    @Option(help: ArgumentHelp("Pixels for an image prompt: a safetensors file or 'synthetic'.", valueName: "file|synthetic"))
    var pixels: String?

    func run() throws {
        BLAS.setThreads(modelOptions.resolvedThreads)
        let prompt = try parseIntList(tokens, option: "--tokens")
        let spec = try ModelSpec.resolve(modelOptions.model, seed: modelOptions.seed, dtype: modelOptions.dtype)
        guard let adaptive = try adaptiveFlags.options() else {
            throw ValidationError("give --budget or --plan (and optionally --token-selection)")
        }
        let layout = try spec.config.knobLayout()
        if let plan = adaptive.plan { try plan.validate(against: layout) } else {
            _ = try layout.enabledKnobs(budget: adaptive.budget ?? 1, mode: adaptive.mode)
        }
        try spec.checkFits(contextTokens: prompt.count + spec.config.imageFeatureTokens + 1)
        let model = try spec.load(calibrationPath: adaptiveFlags.calibration)
        let pixelTensor = try loadPixels(pixels, model: model, seed: modelOptions.seed)
        let decision = try model.decidePlan(prompt: prompt, pixels: pixelTensor, adaptive: adaptive)
        let flops = spec.config.textConfig
        let tokensForCost = max(prompt.count, 1)
        let fraction = flops.prefillFLOPs(plan: decision.plan, layout: layout, tokens: tokensForCost, imageTokens: 0)
            / flops.prefillFLOPs(plan: nil, layout: layout, tokens: tokensForCost, imageTokens: 0)
        let report = AdaptiveReport(decision, budget: adaptive.plan == nil ? adaptive.budget : nil, flopsFraction: fraction)
        print(output.json ? try jsonString(report) : report.lines
              + "\nflops kept       \(String(format: "%.3f", fraction)) of the full prefill at \(tokensForCost) tokens")
    }
}

/// `--pixels FILE|synthetic` → a validated pixel tensor.
func loadPixels(_ argument: String?, model: LlavaModel, seed: UInt64) throws -> Tensor? {
    guard let path = argument else { return nil }
    if path == "synthetic" { return model.syntheticPixels(seed: seed) }
    let t = try SafeTensorsFile(path: path).tensor("pixel_values")
    try model.validatePixels(t, path: path)
    return t
}
